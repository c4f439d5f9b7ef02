"""Running the shipped `vpnwatch` commands as real processes on 127.0.0.1, with bounded waits.

Every process writes its stdout and stderr to files in the test's temp directory (a pipe nobody
reads can fill up and stall the process), runs with `TMPDIR` there (the demo and the TLS
emulator create temp directories) and without the caller's `VPNWATCH_*` environment, which
would otherwise override the test's settings.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import yaml

from vpnwatch.replay import emulator_cloud

LOOPBACK = "127.0.0.1"
POLL_SECONDS = 0.2
# Collectors every second or few, with short waits between retries and LRO polls: for a
# scenario the emulator plays 20 or 30 times faster than the wall clock.
FAST_COLLECTORS: dict[str, Any] = {
    "gateways": {"interval_seconds": 5},
    "connections": {"interval_seconds": 1},
    "bgp": {"interval_seconds": 2},
    "expressroute": {"interval_seconds": 2},
    "retry_backoff_seconds": 0.05,
    "lro_poll_interval_seconds": 0.05,
}

T = TypeVar("T")


class WaitTimeout(AssertionError):
    """A condition did not come true before its deadline; the message says what was awaited."""


def free_port() -> int:
    """A TCP port nothing listens on right now: bind port 0 on loopback, read it, release it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def listening(port: int) -> bool:
    """Whether something accepts TCP connections on loopback `port`."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((LOOPBACK, port)) == 0


def child_environment(tmp_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VPNWATCH_")}
    env["TMPDIR"] = str(tmp_dir)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def vpnwatch_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "vpnwatch", *args]


def run_vpnwatch(*args: str, cwd: Path, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    """Run a `vpnwatch` command to completion and capture its output."""
    return subprocess.run(
        vpnwatch_command(*args),
        cwd=cwd,
        env=child_environment(cwd),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def wait_for(what: str, probe: Callable[[], T | None], deadline_seconds: float) -> T:
    """Call `probe` until it returns something other than None (or False); fail at the deadline.

    `probe` may raise `httpx.HTTPError` while a server is still starting; that counts as "not yet".
    """
    deadline = time.monotonic() + deadline_seconds
    last_error: Exception | None = None
    while True:
        try:
            value = probe()
        except httpx.HTTPError as exc:
            value, last_error = None, exc
        if value is not None and value is not False:
            return value
        if time.monotonic() >= deadline:
            detail = f" (last error: {last_error!r})" if last_error else ""
            raise WaitTimeout(f"gave up after {deadline_seconds:g} s waiting for {what}{detail}")
        time.sleep(POLL_SECONDS)


def gone(pid: int) -> bool:
    """The process has ended (a zombie waiting to be reaped counts as ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state == "Z"


@dataclass
class VpnwatchProcess:
    """One `python -m vpnwatch ...` process and the files its output goes to."""

    name: str
    popen: subprocess.Popen[bytes]
    stdout_path: Path
    stderr_path: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.popen.poll() is None

    def first_stdout_line(self, deadline_seconds: float) -> str:
        """The first complete line the process printed on stdout."""

        def probe() -> str | None:
            self._still_running("printing a line")
            text = self.stdout()
            return text.split("\n", 1)[0].strip() if "\n" in text else None

        return wait_for(f"{self.name} to print a line on stdout", probe, deadline_seconds)

    def wait_answering(self, url: str, deadline_seconds: float) -> None:
        """Until `url` (the process's `/livez`, `/readyz`, ...) answers 200."""

        def probe() -> bool:
            self._still_running(f"answering {url}")
            return status_of(url) == 200

        wait_for(f"{self.name} to answer {url}", probe, deadline_seconds)

    def _still_running(self, before: str) -> None:
        """Fail at once, with what the process said, if it has exited: waiting on is pointless."""
        if not self.alive():
            raise AssertionError(
                f"{self.name} exited with {self.popen.returncode} before {before}; "
                f"stderr:\n{self.stderr()}"
            )

    def signal(self, signum: int) -> None:
        if self.alive():
            self.popen.send_signal(signum)

    def kill_hard(self) -> None:
        """SIGKILL and reap: no cleanup of any kind runs in the process."""
        if self.alive():
            self.popen.kill()
        self.popen.wait(timeout=10)

    def interrupt(self, deadline_seconds: float) -> int:
        """Ctrl-C (SIGINT) and wait for the exit; returns the exit code."""
        return self.stop(signal.SIGINT, deadline_seconds)

    def stop(self, signum: int, deadline_seconds: float) -> int:
        """Send `signum` and wait for the exit; returns the exit code."""
        self.signal(signum)
        try:
            return self.popen.wait(timeout=deadline_seconds)
        except subprocess.TimeoutExpired as exc:
            name = signal.Signals(signum).name
            raise WaitTimeout(
                f"{self.name} still running {deadline_seconds:g} s after {name}"
            ) from exc

    def describe(self) -> str:
        return f"--- {self.name} stdout:\n{self.stdout()}\n--- {self.name} stderr:\n{self.stderr()}"


@dataclass
class ProcessGroup:
    """Starts `vpnwatch` processes in `directory` and stops every one of them at the end."""

    directory: Path
    started: list[VpnwatchProcess] = field(default_factory=list)

    def start(self, name: str, *args: str, sigint_ignored: bool = False) -> VpnwatchProcess:
        """Start `vpnwatch *args`; with `sigint_ignored` it inherits SIGINT ignored, as every
        child of a shell's background job (`make test &`) does."""
        n = len(self.started)
        stdout_path = self.directory / f"{n:02d}-{name}.stdout"
        stderr_path = self.directory / f"{n:02d}-{name}.stderr"
        with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
            popen = subprocess.Popen(
                vpnwatch_command(*args),
                cwd=self.directory,
                env=child_environment(self.directory),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                preexec_fn=_ignore_sigint if sigint_ignored else None,
            )
        process = VpnwatchProcess(name, popen, stdout_path, stderr_path)
        self.started.append(process)
        return process

    def start_emulator(self, scenario: str | Path, *args: str) -> str:
        """`vpnwatch emulator --scenario <scenario> *args` on a free loopback port; the URL it
        printed once it listens."""
        port = free_port()
        emulator = self.start(
            "emulator", "emulator", "--scenario", str(scenario), "--port", str(port), *args
        )
        url = emulator.first_stdout_line(deadline_seconds=20)
        assert url == f"http://{LOOPBACK}:{port}", url
        return url

    def start_run(
        self, name: str, config: Path, until: str, deadline_seconds: float = 30.0
    ) -> VpnwatchProcess:
        """`vpnwatch run --config <config>`, once `until` (its `/livez` or `/readyz`) answers
        200."""
        process = self.start(name, "run", "--config", str(config))
        process.wait_answering(until, deadline_seconds)
        return process

    def stop_all(self) -> None:
        """SIGINT every process still running, then SIGKILL whichever ignores it."""
        for process in self.started:
            process.signal(signal.SIGINT)
        deadline = time.monotonic() + 10
        for process in self.started:
            try:
                process.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill_hard()

    def diagnostics(self) -> str:
        return "\n".join(p.describe() for p in self.started)


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@contextmanager
def process_group(directory: Path) -> Iterator[ProcessGroup]:
    group = ProcessGroup(directory)
    try:
        yield group
    finally:
        group.stop_all()


def run_config(
    tmp_path: Path, emulator_url: str, port: int, subscriptions: list[str], **sections: Any
) -> Path:
    """Write a `vpnwatch run` config: the emulator as a custom cloud with a static token, the
    store under `tmp_path/state`, the service on loopback `port`, INFO logs. Each of `sections`
    (collectors, correlator, service, notify, ...) is added, its keys over the ones here."""
    settings: dict[str, Any] = {
        "azure": emulator_cloud(emulator_url),
        "targets": {"subscriptions": subscriptions},
        "store": {"path": str(tmp_path / "state" / "vpnwatch.sqlite3")},
        "service": {"host": LOOPBACK, "port": port},
        "log_level": "INFO",
    }
    for name, section in sections.items():
        held = settings.get(name)
        settings[name] = {**held, **section} if isinstance(held, dict) else section
    path = tmp_path / "vpnwatch.yaml"
    path.write_text(yaml.safe_dump(settings, sort_keys=False))
    return path


def get_json(url: str, timeout: float = 5.0) -> Any:
    response = httpx.get(url, timeout=timeout)
    response.raise_for_status()
    return response.json()


def status_of(url: str, timeout: float = 5.0) -> int:
    return httpx.get(url, timeout=timeout).status_code
