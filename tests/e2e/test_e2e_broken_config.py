"""`vpnwatch run` with a broken configuration refuses to start and says why."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from e2e_helpers import free_port, listening, run_config, run_vpnwatch

SUBSCRIPTION = "6f1d3c2a-0000-4000-8000-00000000c001"

BROKEN: dict[str, tuple[dict[str, Any], str]] = {
    "unknown key": (
        {"collectors": {"connections": {"intervall_seconds": 5}}},
        "collectors.connections.intervall_seconds",
    ),
    "rule broken": (
        {"correlator": {"failover": {"planned_max_seconds": 120, "slo_seconds": 90}}},
        "correlator.failover.planned_max_seconds",
    ),
}


@pytest.mark.parametrize("broken", BROKEN.values(), ids=list(BROKEN))
def test_run_refuses_a_broken_config(tmp_path: Path, broken: tuple[dict[str, Any], str]) -> None:
    section, named = broken
    port = free_port()
    config = run_config(tmp_path, "http://127.0.0.1:9", port, [SUBSCRIPTION], **section)

    done = run_vpnwatch("run", "--config", str(config), cwd=tmp_path, timeout=30)

    assert done.returncode == 1
    assert named in done.stderr
    assert str(config) in done.stderr
    assert "Traceback" not in done.stderr
    assert not listening(port), "a refused configuration still left the service listening"
    assert not (tmp_path / "state").exists(), "a refused configuration still created the store"
