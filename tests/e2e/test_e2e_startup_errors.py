"""`vpnwatch run` that cannot start says why in one line; the traceback only at debug level."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from e2e_helpers import LOOPBACK, free_port, run_config, run_vpnwatch


def config(tmp_path: Path, *, store: Path, port: int, log_level: str = "INFO") -> Path:
    return run_config(
        tmp_path,
        "http://127.0.0.1:9",
        port,
        ["6f1d3c2a-0000-4000-8000-00000000c001"],
        store={"path": str(store)},
        log_level=log_level,
    )


def errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if " ERROR " in line]


@pytest.mark.parametrize("level", ["INFO", "DEBUG"])
def test_a_store_that_cannot_be_opened_is_one_line(tmp_path: Path, level: str) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the store's directory should be\n")
    store = blocker / "vpnwatch.sqlite3"
    cfg = config(tmp_path, store=store, port=free_port(), log_level=level)

    done = run_vpnwatch("run", "--config", str(cfg), cwd=tmp_path, timeout=60)

    assert done.returncode == 1, done.stderr
    [line] = errors(done.stderr)
    assert "vpnwatch could not start" in line and "agent could not start" in line, line
    if level == "INFO":
        assert "Traceback" not in done.stderr, done.stderr
    else:  # the traceback is there for whoever asks for it
        assert "Traceback" in done.stderr, done.stderr


def test_a_port_in_use_is_named_without_a_traceback(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind((LOOPBACK, 0))
        taken.listen()
        port = taken.getsockname()[1]
        cfg = config(tmp_path, store=tmp_path / "state" / "vpnwatch.sqlite3", port=port)
        done = run_vpnwatch("run", "--config", str(cfg), cwd=tmp_path, timeout=60)

    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    starting = [line for line in errors(done.stderr) if "could not start" in line]
    assert len(starting) == 1 and str(port) in starting[0], done.stderr
