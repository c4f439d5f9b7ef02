"""`vpnwatch demo`: the README's first command serves a watched fleet on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

import httpx
from e2e_helpers import LOOPBACK, ProcessGroup, free_port, get_json, status_of, wait_for

from vpnwatch.service.schemas import OverallStatus


def test_demo_serves_api_health_metrics_and_status_page(
    tmp_path: Path, processes: ProcessGroup
) -> None:
    port = free_port()
    api = f"http://{LOOPBACK}:{port}"
    demo = processes.start("demo", "demo", "--port", str(port))

    def ready() -> bool:
        assert demo.alive(), f"the demo exited with {demo.popen.returncode}"
        return status_of(f"{api}/readyz") == 200

    wait_for("the demo to be ready", ready, 60)

    gateways = get_json(f"{api}/api/v1/gateways")
    names = [g["name"] for g in gateways["items"]]
    assert names and gateways["total"] == len(names)
    assert all(g["id"].startswith("/subscriptions/") for g in gateways["items"])

    health = httpx.get(f"{api}/health", timeout=5)
    assert health.json()["status"] in {s.value for s in OverallStatus}

    metrics = httpx.get(f"{api}/metrics", timeout=5)
    assert metrics.status_code == 200
    assert any(line.startswith("# TYPE vpnwatch_") for line in metrics.text.splitlines())

    page = httpx.get(f"{api}/", timeout=5)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert [n for n in names if n not in page.text] == []
    # the banner says it is a demo, which scenario, and how far it has got
    assert 'id="demo-banner"' in page.text and "scenario <strong>demo</strong>" in page.text
    assert "Progress:" in page.text or "The scenario has ended" in page.text

    # Its state lives in a temp directory ($TMPDIR is tmp_path here) for as long as it runs.
    assert [p.name for p in tmp_path.glob("vpnwatch-demo-*/*.sqlite3")] == ["demo.sqlite3"]

    assert demo.interrupt(deadline_seconds=15) == 0
    assert list(tmp_path.glob("vpnwatch-demo-*")) == [], "the demo left its state behind"
