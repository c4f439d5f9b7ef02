"""`vpnwatch run` with a broken configuration refuses to start and says why."""

from __future__ import annotations

from pathlib import Path

import pytest
from e2e_helpers import LOOPBACK, free_port, listening, run_vpnwatch

BROKEN = {
    "unknown key": (
        "collectors:\n  connections: {intervall_seconds: 5}\n",
        "collectors.connections.intervall_seconds",
    ),
    "rule broken": (
        "correlator:\n  failover: {planned_max_seconds: 120, slo_seconds: 90}\n",
        "correlator.failover.planned_max_seconds",
    ),
}


@pytest.mark.parametrize("broken", BROKEN.values(), ids=list(BROKEN))
def test_run_refuses_a_broken_config(tmp_path: Path, broken: tuple[str, str]) -> None:
    section, named = broken
    port = free_port()
    config = tmp_path / "vpnwatch.yaml"
    config.write_text(
        "azure:\n"
        "  cloud: custom\n"
        "  endpoints: {resource_manager: 'http://127.0.0.1:9'}\n"
        "  credential: {kind: static_token, token: emulator-token}\n"
        "  allow_http: true\n"
        "targets:\n"
        "  subscriptions: [6f1d3c2a-0000-4000-8000-00000000c001]\n"
        f"{section}"
        f"store: {{path: '{tmp_path / 'state' / 'vpnwatch.sqlite3'}'}}\n"
        f"service: {{host: '{LOOPBACK}', port: {port}}}\n"
    )

    done = run_vpnwatch("run", "--config", str(config), cwd=tmp_path, timeout=30)

    assert done.returncode == 1
    assert named in done.stderr
    assert str(config) in done.stderr
    assert "Traceback" not in done.stderr
    assert not listening(port), "a refused configuration still left the service listening"
    assert not (tmp_path / "state").exists(), "a refused configuration still created the store"
