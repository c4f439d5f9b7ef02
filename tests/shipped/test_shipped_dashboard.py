"""dashboards/vpnwatch.json: a Grafana dashboard whose every query reads metrics and labels that
vpnwatch really exports, in PromQL that Prometheus parses."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml
from shipped_helpers import (
    DASHBOARD,
    PROMTOOL,
    REPO,
    Exported,
    grafana_to_promql,
    label_values,
    legend_labels,
    load_dashboard,
    panels,
    parse,
    unknown_labels,
)

DS_UID = "${DS_PROMETHEUS}"


def queries() -> list[tuple[str, str, str]]:
    """(where, expression, legend) of every panel target and query variable."""
    dashboard = load_dashboard()
    found: list[tuple[str, str, str]] = []
    for panel in panels(dashboard):
        for target in panel.get("targets", []):
            found.append(
                (f"panel {panel['title']!r}", target["expr"], target.get("legendFormat", ""))
            )
    for var in dashboard["templating"]["list"]:
        if var["type"] == "query":
            parsed = label_values(var["query"]["query"])
            assert parsed, f"variable {var['name']}: expected label_values(selector, label)"
            selector, label = parsed
            found.append((f"variable {var['name']!r}", selector, "{{" + label + "}}"))
    return found


def test_dashboard_is_importable_grafana_json():
    dashboard = load_dashboard()
    assert dashboard["schemaVersion"] == 39
    assert dashboard["uid"] == "vpnwatch"
    (ds_input,) = dashboard["__inputs"]
    assert ds_input["name"] == "DS_PROMETHEUS"
    assert (ds_input["type"], ds_input["pluginId"]) == ("datasource", "prometheus")
    ids = [p["id"] for p in panels(dashboard)]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in panels(dashboard):
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": DS_UID}, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == DS_UID, panel["title"]
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]


def test_panels_do_not_overlap():
    cells: dict[tuple[int, int], str] = {}
    for panel in panels(load_dashboard()):
        g = panel["gridPos"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, f"{panel['title']!r} overlaps {cells[(x, y)]!r}"
                cells[(x, y)] = panel["title"]


def test_dashboard_covers_what_on_call_needs():
    """Fleet, incidents, tunnels (as a state timeline), BGP, ExpressRoute, failovers, collector
    freshness, the Azure API, and traffic and point-to-site users from Azure Monitor: each is
    read by at least one panel of the right kind."""
    used: dict[str, set[str]] = {}
    for panel in panels(load_dashboard()):
        for target in panel.get("targets", []):
            for metric in parse(target["expr"]).metrics:
                used.setdefault(metric, set()).add(panel["type"])
    expected = {
        "vpnwatch_entities": "bargauge",
        "vpnwatch_incidents_open": "stat",
        "vpnwatch_tunnel_up": "state-timeline",
        "vpnwatch_bgp_peer_up": "state-timeline",
        "vpnwatch_bgp_peer_routes_learned": "timeseries",
        "vpnwatch_expressroute_circuit_up": "state-timeline",
        "vpnwatch_expressroute_link_up": "state-timeline",
        "vpnwatch_failover_interruption_seconds_bucket": "stat",
        "vpnwatch_collector_last_success_timestamp_seconds": "timeseries",
        "vpnwatch_azure_requests_total": "timeseries",
        "vpnwatch_azure_request_duration_seconds_bucket": "timeseries",
        "vpnwatch_azure_ratelimit_remaining_reads": "timeseries",
        "vpnwatch_azure_tunnel_bandwidth_bytes_per_second": "timeseries",
        "vpnwatch_azure_tunnel_packet_drops": "timeseries",
        "vpnwatch_azure_p2s_connections": "timeseries",
        "vpnwatch_azure_p2s_bandwidth_bytes_per_second": "timeseries",
    }
    for metric, kind in expected.items():
        assert kind in used.get(metric, set()), f"no {kind} panel reads {metric}"
    exprs = " ".join(t["expr"] for p in panels(load_dashboard()) for t in p.get("targets", []))
    assert "histogram_quantile(0.5," in exprs and "histogram_quantile(0.95," in exprs


def test_queries_read_only_metrics_vpnwatch_exports(exported: Exported):
    for where, expr, _ in queries():
        query = parse(expr)
        assert query.metrics, f"{where}: no metric in {expr!r}"
        missing = query.metrics - exported.names
        assert not missing, f"{where} reads {sorted(missing)}, which vpnwatch does not export"


def test_queries_use_and_show_only_labels_the_metrics_carry(exported: Exported):
    for where, expr, legend in queries():
        problems = unknown_labels(parse(expr), exported, legend_labels(legend))
        assert problems == [], where


def test_metric_check_catches_a_name_that_is_not_exported(exported: Exported):
    """The metric check can fail: a plausible name vpnwatch does not export."""
    query = parse('sum(rate(vpnwatch_tunnel_flaps_total{job=~"$job"}[$__rate_interval]))')
    assert query.metrics - exported.names == {"vpnwatch_tunnel_flaps_total"}


@pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (apt-get install prometheus)")
def test_every_query_is_valid_promql(tmp_path: Path):
    """promtool parses each expression (Grafana's variables replaced) as a recording rule."""
    rules = [
        {"record": f"dashboard:query_{n}", "expr": grafana_to_promql(expr)}
        for n, (_, expr, _) in enumerate(queries())
    ]
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = subprocess.run(
        [PROMTOOL, "check", "rules", str(path)], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (apt-get install prometheus)")
def test_promql_check_catches_a_syntax_error(tmp_path: Path):
    path = tmp_path / "bad.yml"
    bad = grafana_to_promql("sum by (code (rate(vpnwatch_azure_requests_total[$__rate_interval]))")
    rules = [{"record": "dashboard:bad", "expr": bad}]
    path.write_text(yaml.safe_dump({"groups": [{"name": "x", "rules": rules}]}))
    result = subprocess.run(
        [PROMTOOL, "check", "rules", str(path)], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 1


def test_dashboard_file_is_formatted_json():
    """Stable diffs: two-space indentation, as Grafana exports."""
    text = DASHBOARD.read_text()
    assert text.startswith('{\n  "__inputs"')
    assert text.endswith("}\n")


def test_the_estate_scrape_has_every_metric_vpnwatch_defines(exported: Exported):
    """The name checks above are only as good as the scrape: every instrument defined in
    vpnwatch/service/metrics.py must have samples after the estate scenario. If this fails, the
    scenario no longer produces what a metric counts (a failover, an opened incident, ...)."""
    source = (REPO / "vpnwatch" / "service" / "metrics.py").read_text()
    defined = set(re.findall(r'"(vpnwatch_[a-z_]+)"', source))
    assert len(defined) >= 18
    for name in sorted(defined):
        samples = {s for s in exported.names if s == name or s.startswith(name + "_")}
        assert samples, f"no samples of {name} in the estate's /metrics"
