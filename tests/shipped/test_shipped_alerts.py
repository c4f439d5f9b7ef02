"""alerts/: the Prometheus rules and their promtool unit tests, and the Alertmanager example
(checked by amtool, its routes resolved, its inhibit rule exercised on a real Alertmanager)."""

from __future__ import annotations

import re
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from shipped_helpers import (
    ALERTMANAGER,
    ALERTMANAGER_EXAMPLE,
    AMTOOL,
    PROMTOOL,
    RULES,
    RULES_TEST,
    Exported,
    parse,
    unknown_labels,
)

needs_promtool = pytest.mark.skipif(
    PROMTOOL is None,
    reason="promtool not installed (Debian: apt-get install prometheus; or make system-deps)",
)
needs_amtool = pytest.mark.skipif(
    AMTOOL is None,
    reason="amtool not installed (Debian: apt-get install prometheus-alertmanager)",
)
needs_alertmanager = pytest.mark.skipif(
    ALERTMANAGER is None,
    reason="Alertmanager not installed (Debian: apt-get install prometheus-alertmanager)",
)

RECEIVER_FOR = {"critical": "pager", "warning": "chat"}
SEVERITIES = set(RECEIVER_FOR)
COMPONENTS = {"network", "vpnwatch"}


def rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load(RULES.read_text())
    return [rule for group in doc["groups"] for rule in group["rules"]]


def alert(name: str) -> dict[str, Any]:
    return next(r for r in rules() if r["alert"] == name)


def run(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=30, cwd=cwd
    )


# --- the rules themselves -------------------------------------------------------------------------


def test_every_rule_is_an_alert_with_routing_labels_and_annotations():
    found = rules()
    assert len(found) >= 9
    for rule in found:
        assert "alert" in rule, f"recording rules do not belong here: {rule}"
        assert rule["labels"]["severity"] in SEVERITIES, rule["alert"]
        assert rule["labels"]["component"] in COMPONENTS, rule["alert"]
        assert {"summary", "description"} <= set(rule["annotations"]), rule["alert"]
    critical = {r["alert"] for r in found if r["labels"]["severity"] == "critical"}
    assert {"VpnwatchDown", "VpnwatchNotificationFailing"} <= critical


def test_no_rule_pages_for_what_vpnwatch_notifies_itself():
    """vpnwatch sends one message per root incident through its receivers; a rule over the
    incident counts would send a second one, per type, naming no gateway."""
    for rule in rules():
        query = parse(rule["expr"])
        if "vpnwatch_incidents_open" in query.metrics:
            assert 'type="notification_failing"' in rule["expr"], rule["alert"]
        assert "vpnwatch_tunnel_up" not in query.metrics, rule["alert"]


def test_rules_read_only_metrics_vpnwatch_exports(exported: Exported):
    known = exported.with_up()
    for rule in rules():
        query = parse(rule["expr"])
        assert query.metrics, rule["alert"]
        assert query.metrics <= known.names, (
            f"{rule['alert']} reads {sorted(query.metrics - known.names)}, which vpnwatch does "
            "not export"
        )


def test_rules_use_and_show_only_labels_the_metrics_carry(exported: Exported):
    known = exported.with_up()
    for rule in rules():
        query = parse(rule["expr"])
        shown = set()
        for text in rule["annotations"].values():
            shown |= set(re.findall(r"\$labels\.([a-zA-Z_]\w*)", text))
        assert unknown_labels(query, known, shown) == [], rule["alert"]


def test_label_check_catches_a_typo(exported: Exported):
    """The check above can fail: a `by` list naming a label vpnwatch does not export."""
    query = parse('sum by (job, connection_name) (vpnwatch_tunnel_up{gateway="g"})')
    assert unknown_labels(query, exported, {"connection_name"}) != []


def test_every_alert_has_a_firing_and_a_silent_unit_test():
    doc = yaml.safe_load(RULES_TEST.read_text())
    cases = [case for test in doc["tests"] for case in test.get("alert_rule_test", [])]
    for rule in rules():
        mine = [c for c in cases if c["alertname"] == rule["alert"]]
        assert any(c.get("exp_alerts") for c in mine), f"{rule['alert']}: no case where it fires"
        assert any(not c.get("exp_alerts") for c in mine), f"{rule['alert']}: no silent case"


# --- promtool -------------------------------------------------------------------------------------


@needs_promtool
def test_promtool_checks_the_rules():
    result = run(PROMTOOL, "check", "rules", RULES)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules())} rules found" in result.stdout


@needs_promtool
def test_promtool_unit_tests_pass():
    result = run(PROMTOOL, "test", "rules", RULES_TEST)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def _mutated_tests(tmp_path: Path, change) -> Path:
    doc = yaml.safe_load(RULES_TEST.read_text())
    doc["rule_files"] = [str(RULES)]
    change(doc)
    path = tmp_path / "wrong.test.yml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


@needs_promtool
def test_promtool_fails_when_a_silent_case_is_expected_to_fire(tmp_path: Path):
    """The unit tests can fail: claim instance b (whose notifications work) also raises the
    notification-failing alert."""

    def change(doc: dict[str, Any]) -> None:
        case = next(
            c
            for c in doc["tests"][0]["alert_rule_test"]
            if c["alertname"] == "VpnwatchNotificationFailing" and c["exp_alerts"]
        )
        extra = {**case["exp_alerts"][0]["exp_labels"], "instance": "b:8080"}
        case["exp_alerts"].append({"exp_labels": extra})

    result = run(PROMTOOL, "test", "rules", _mutated_tests(tmp_path, change))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "FAILED" in result.stdout + result.stderr
    assert "VpnwatchNotificationFailing" in result.stdout + result.stderr


@needs_promtool
def test_promtool_fails_when_a_firing_alert_is_expected_silent(tmp_path: Path):
    def change(doc: dict[str, Any]) -> None:
        for test in doc["tests"]:
            for case in test["alert_rule_test"]:
                if case["alertname"] == "VpnwatchNotificationsPending":
                    case["exp_alerts"] = []

    result = run(PROMTOOL, "test", "rules", _mutated_tests(tmp_path, change))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "VpnwatchNotificationsPending" in result.stdout + result.stderr


# --- Alertmanager ---------------------------------------------------------------------------------


@needs_amtool
def test_amtool_accepts_the_alertmanager_example():
    result = run(AMTOOL, "check-config", ALERTMANAGER_EXAMPLE)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@needs_amtool
def test_every_alert_routes_by_severity():
    """Each rule's labels, as Alertmanager receives them, reach the pager when critical and the
    chat when warning."""
    for rule in rules():
        labels = {"alertname": rule["alert"], **rule["labels"], "job": "vpnwatch"}
        args = [f"{k}={v}" for k, v in labels.items()]
        config = f"--config.file={ALERTMANAGER_EXAMPLE}"
        result = run(AMTOOL, "config", "routes", "test", config, *args)
        assert result.returncode == 0, result.stderr
        expected = RECEIVER_FOR[rule["labels"]["severity"]]
        assert result.stdout.strip() == expected, (rule["alert"], result.stdout)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[str]:
    """The example's routes and inhibit rules on a real Alertmanager on 127.0.0.1. Its receivers
    are swapped for a webhook on a closed loopback port, so nothing can leave the machine."""
    config = yaml.safe_load(ALERTMANAGER_EXAMPLE.read_text())
    nowhere = f"http://127.0.0.1:{_free_port()}/"
    config["receivers"] = [
        {"name": r["name"], "webhook_configs": [{"url": nowhere}]} for r in config["receivers"]
    ]
    path = tmp_path / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config))
    port = _free_port()
    process = subprocess.Popen(
        [
            str(ALERTMANAGER),
            f"--config.file={path}",
            f"--storage.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                if httpx.get(f"{base}/-/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"Alertmanager did not start: {process.stderr.read().decode()}")
            time.sleep(0.05)
        yield base
    finally:
        process.kill()
        process.wait(timeout=10)


def _posted(name: str, instance: str, **extra: str) -> dict[str, Any]:
    rule = alert(name)
    labels = {"alertname": name, **rule["labels"], "job": "vpnwatch", "instance": instance}
    return {"labels": {**labels, **extra}, "annotations": {"summary": name}}


def _incident(type_: str, severity: str) -> dict[str, Any]:
    """An alert as vpnwatch's `kind: alertmanager` receiver sends it (vpnwatch/notify)."""
    labels = {"alertname": "VpnwatchIncident", "type": type_, "severity": severity,
              "incident": f"{type_}:x#1", "instance": type_}  # fmt: skip
    return {"labels": labels, "annotations": {"summary": type_}}


@needs_amtool
def test_vpnwatch_incidents_route_by_severity_and_info_goes_nowhere():
    config = f"--config.file={ALERTMANAGER_EXAMPLE}"
    for severity, receiver in (("critical", "pager"), ("warning", "chat"), ("info", "none")):
        labels = [f"{k}={v}" for k, v in _incident("failover", severity)["labels"].items()]
        result = run(AMTOOL, "config", "routes", "test", config, *labels)
        assert result.stdout.strip() == receiver, (severity, result.stdout + result.stderr)


@needs_alertmanager
def test_blind_vpnwatch_holds_back_its_other_incidents_only(alertmanager: str):
    alerts = [
        _incident("monitoring_blind", "critical"),
        _incident("zone_outage", "critical"),
        _incident("tunnel_down", "warning"),
        _posted("VpnwatchCollectorStale", "a:8080", collector="arm.connections"),
    ]
    assert httpx.post(f"{alertmanager}/api/v2/alerts", json=alerts).status_code == 200

    def states() -> dict[tuple[str, str], str]:
        got = httpx.get(f"{alertmanager}/api/v2/alerts").json()
        return {
            (a["labels"]["alertname"], a["labels"]["instance"]): a["status"]["state"] for a in got
        }

    expected = {
        ("VpnwatchIncident", "monitoring_blind"): "active",
        ("VpnwatchIncident", "zone_outage"): "suppressed",
        ("VpnwatchIncident", "tunnel_down"): "suppressed",
        ("VpnwatchCollectorStale", "a:8080"): "active",
    }
    deadline = time.monotonic() + 5
    while (seen := states()) != expected and time.monotonic() < deadline:
        time.sleep(0.05)  # the inhibitor learns of new alerts asynchronously
    assert seen == expected


@needs_promtool
def test_readme_scrape_config_loads_the_rules(tmp_path: Path):
    """The prometheus.yml of alerts/README.md, with the rule file's path pointed at this one."""
    readme = (RULES.parent / "README.md").read_text()
    block = re.search(r"```yaml\n# prometheus.yml\n(.*?)```", readme, re.S)
    assert block, "alerts/README.md shows a prometheus.yml"
    config = yaml.safe_load(block.group(1))
    assert [job["job_name"] for job in config["scrape_configs"]] == ["vpnwatch"]
    config["rule_files"] = [str(RULES)]
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    result = run(PROMTOOL, "check", "config", path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules())} rules found" in result.stdout
