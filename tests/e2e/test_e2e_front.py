"""`vpnwatch run` as two processes: the front that answers, the agent in a child.

Real processes on 127.0.0.1: auth and a webhook alert through the front, SIGTERM stopping both
(store closed), kill -9 of the front taking the child with it, a child that dies stopping the
front with one line.
"""

from __future__ import annotations

import copy
import json
import os
import signal
import sqlite3
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from e2e_helpers import (
    LOOPBACK,
    ProcessGroup,
    VpnwatchProcess,
    free_port,
    gone,
    run_config,
    wait_for,
)

TOKEN = "front-test-reader-token"
WEBHOOK_SECRET = "front-test-webhook-secret"
SUBSCRIPTION = "6f1d3c2a-0000-4000-8000-00000000a001"  # the `quiet` scenario's
ALERTS = Path(__file__).resolve().parent.parent / "service" / "alerts"

pytestmark = pytest.mark.slow


def config(tmp_path: Path, emulator_url: str, port: int) -> Path:
    return run_config(
        tmp_path,
        emulator_url,
        port,
        [SUBSCRIPTION],
        collectors={"lro_poll_interval_seconds": 0.05},
        service={
            "auth": {"bearer_token": TOKEN, "user_header": "X-Forwarded-User"},
            "webhook": {"secret": WEBHOOK_SECRET},
        },
    )


def start(
    processes: ProcessGroup, tmp_path: Path, name: str = "vpnwatch"
) -> tuple[VpnwatchProcess, str]:
    """`vpnwatch run` once it is ready, against an emulator (started once per test), on the same
    port and store every time."""
    if not (tmp_path / "port").exists():
        (tmp_path / "emulator-url").write_text(processes.start_emulator("quiet"))
        (tmp_path / "port").write_text(str(free_port()))
    url = (tmp_path / "emulator-url").read_text()
    port = int((tmp_path / "port").read_text())
    api = f"http://{LOOPBACK}:{port}"
    front = processes.start_run(name, config(tmp_path, url, port), f"{api}/readyz", 60)
    return front, api


def agent_process(front: VpnwatchProcess) -> int:
    """The front's one child: the agent process."""
    children = Path(f"/proc/{front.pid}/task/{front.pid}/children").read_text().split()
    assert len(children) == 1, children
    return int(children[0])


def socket_of(agent: int) -> Path:
    """The agent process's Unix socket, as its command line names it."""
    args = Path(f"/proc/{agent}/cmdline").read_bytes().decode().split("\0")
    return Path(args[args.index("--socket") + 1])


def alert(alert_id: str) -> dict[str, Any]:
    payload = json.loads((ALERTS / "alerts-common-schema.sample-alert-payload.json").read_text())
    payload = copy.deepcopy(payload)
    payload["data"]["essentials"]["alertId"] = alert_id
    return payload


def post_alert(api: str, payload: dict[str, Any]) -> httpx.Response:
    return httpx.post(
        f"{api}/webhooks/azure-monitor",
        json=payload,
        headers={"X-Vpnwatch-Token": WEBHOOK_SECRET},
        timeout=10,
    )


def test_auth_and_a_webhook_alert_through_the_front_and_sigterm_stops_both(
    tmp_path: Path, processes: ProcessGroup
) -> None:
    front, api = start(processes, tmp_path)
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=api, timeout=10) as client:
        assert client.get("/livez").status_code == 200  # probes stay open
        assert client.get("/readyz").status_code == 200
        for path in ("/health", "/metrics", "/api/v1/gateways", "/"):
            refused = client.get(path)
            assert refused.status_code == 401, (path, refused.text)
            assert "authentication required" in refused.json()["detail"]
            assert client.get(path, headers={"Authorization": "Bearer wrong"}).status_code == 401
            assert client.get(path, headers=bearer).status_code == 200, path
            assert client.get(path, headers={"X-Forwarded-User": "alice"}).status_code == 200
        scrape = client.get("/metrics", headers=bearer)
        assert b"vpnwatch_ready 1.0" in scrape.content
        assert client.get("/api/v1/gateways", headers=bearer).json()["total"] > 0

    accepted = post_alert(api, alert("/subscriptions/x/alerts/front-1"))
    assert accepted.status_code in (200, 202), accepted.text
    assert accepted.json()["duplicate"] is False

    child = agent_process(front)
    assert front.stop(signal.SIGTERM, deadline_seconds=40) == 0, front.describe()
    assert gone(child), "the agent process outlived its front"
    store = tmp_path / "state" / "vpnwatch.sqlite3"
    assert not Path(f"{store}-wal").exists(), "the store was not closed"  # closing removes it
    with sqlite3.connect(store) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert " ERROR " not in front.stderr(), front.stderr()

    _, api = start(processes, tmp_path, "vpnwatch-restarted")
    again = post_alert(api, alert("/subscriptions/x/alerts/front-1"))
    assert again.json()["duplicate"] is True, "the alert accepted before the restart was lost"


def test_kill_9_of_the_front_takes_the_agent_process_with_it(
    tmp_path: Path, processes: ProcessGroup
) -> None:
    """... and the agent process removes the private directory of its socket on its way out:
    the front, killed, cannot."""
    front, _ = start(processes, tmp_path)
    child = agent_process(front)
    nice = int(Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()[16])
    assert nice == 10, "the agent process does not yield the CPU to the front"
    directory = socket_of(child).parent
    assert socket_of(child).is_socket()
    assert directory.name.startswith("vpnwatch-") and directory.stat().st_mode & 0o777 == 0o700
    front.kill_hard()
    wait_for("the agent process to be gone", lambda: gone(child), 5)
    wait_for("its socket directory to be removed", lambda: not directory.exists(), 5)


def test_an_agent_process_that_dies_stops_the_front_with_one_line(
    tmp_path: Path, processes: ProcessGroup
) -> None:
    front, _ = start(processes, tmp_path)
    os.kill(agent_process(front), signal.SIGKILL)
    started = time.monotonic()
    code = front.popen.wait(timeout=20)
    assert code == 1, front.describe()
    assert time.monotonic() - started < 15
    errors = [line for line in front.stderr().splitlines() if " ERROR " in line]
    assert len(errors) == 1, front.stderr()
    assert "agent process exited unexpectedly (killed by SIGKILL)" in errors[0], errors
    assert "Traceback" not in front.stderr()


def test_the_probes_and_metrics_answer_while_the_agent_process_is_stopped(
    tmp_path: Path, processes: ProcessGroup
) -> None:
    front, api = start(processes, tmp_path)
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=api, timeout=10, headers=bearer) as client:
        first = client.get("/metrics")  # the first scrape waits for a snapshot, in the child
        assert first.status_code == 200
        child = agent_process(front)

        def served_without_the_child() -> bool:
            # The child publishes the body it rendered within a moment; from then on the front
            # serves it. Stopped (as a long step or a stuck loop would hold it), it cannot help.
            os.kill(child, signal.SIGSTOP)
            try:
                return client.get("/metrics", timeout=1).status_code == 200
            except httpx.TimeoutException:
                os.kill(child, signal.SIGCONT)
                time.sleep(0.2)
                return False

        wait_for("/metrics answered by the front alone", served_without_the_child, 15)
        try:
            for path in ("/livez", "/readyz", "/health", "/metrics"):
                started = time.monotonic()
                response = client.get(path)
                assert response.status_code == 200, (path, response.text)
                assert time.monotonic() - started < 0.5, path
            assert b"vpnwatch_ready 1.0" in client.get("/metrics").content
            with pytest.raises(httpx.ReadTimeout):  # the rest waits for the agent process
                client.get("/api/v1/gateways", timeout=1)
        finally:
            os.kill(child, signal.SIGCONT)
        assert client.get("/api/v1/gateways").status_code == 200


def children_of(pid: int) -> list[int]:
    """Every process started with `--parent <pid>` (an agent process of that front)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            ours = b"--parent" in cmdline and cmdline[cmdline.index(b"--parent") + 1] == b"%d" % pid
            if ours and not gone(int(entry.name)):
                found.append(int(entry.name))
    return found


def test_sigterm_while_the_agent_process_starts_stops_both(
    tmp_path: Path, processes: ProcessGroup
) -> None:
    url = processes.start_emulator("quiet")
    front = processes.start("vpnwatch", "run", "--config", str(config(tmp_path, url, free_port())))
    wait_for("the start-up line", lambda: "starting:" in front.stderr(), 20)
    wait_for("the agent process", lambda: children_of(front.pid), 10)
    assert front.stop(signal.SIGTERM, deadline_seconds=30) == 0, front.describe()
    assert not children_of(front.pid), "the agent process outlived its front"
    assert " ERROR " not in front.stderr(), front.stderr()


def test_a_second_vpnwatch_on_the_same_store_stops_with_one_line(
    tmp_path: Path, processes: ProcessGroup
) -> None:
    first, _ = start(processes, tmp_path)
    url = (tmp_path / "emulator-url").read_text()
    other = tmp_path / "other"
    other.mkdir()
    second_config = config(other, url, free_port())
    shared = yaml.safe_load(second_config.read_text())
    shared["store"]["path"] = str(tmp_path / "state" / "vpnwatch.sqlite3")  # the first's store
    second_config.write_text(yaml.safe_dump(shared))
    second = processes.start("second", "run", "--config", str(second_config))
    code = second.popen.wait(timeout=40)
    assert code != 0, second.describe()
    errors = [line for line in second.stderr().splitlines() if " ERROR " in line]
    assert len(errors) == 1, second.stderr()
    assert f"in use by another vpnwatch (process {first.pid})" in errors[0], errors
    assert "Traceback" not in second.stderr()
    assert first.popen.poll() is None  # the first one runs on
