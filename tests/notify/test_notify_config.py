"""`notify:` settings: receivers, routes and silences, with file/line problems and environment
overrides per receiver; credentials never appear in a problem."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from vpnwatch.config import check_config, load_settings
from vpnwatch.notify.settings import ReceiverKind

MINIMAL = "targets:\n  discover_all: true\n"
KEY = "PDKEY0123456789PDKEY0123456789ab"

GOOD = (
    MINIMAL
    + f"""notify:
  receivers:
    - name: oncall
      kind: pagerduty
      routing_key: {KEY}
    - name: ops-chat
      kind: slack
      url: https://hooks.slack.example/services/T0/B0/XYZSECRET
    - name: am
      kind: alertmanager
      url: http://127.0.0.1:9093, http://127.0.0.1:9094
  routes:
    - match: {{severities: [critical], labels: {{region: westeurope}}}}
      receivers: [oncall]
    - match: {{types: [zone_outage]}}
      receivers: [ops-chat, am]
  silences:
    - name: sunday patching
      matchers: [{{name: gateway, value: gw-.*, is_regex: true}}]
      weekday: sun
      start_time: "02:00"
      duration_minutes: 120
      timezone: Europe/Berlin
"""
)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "vpnwatch.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_full_notify_block_is_valid(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, GOOD), environ={})
    notify = settings.notify
    assert [r.kind for r in notify.receivers] == [
        ReceiverKind.PAGERDUTY,
        ReceiverKind.SLACK,
        ReceiverKind.ALERTMANAGER,
    ]
    assert notify.receivers[0].urls() == ["https://events.pagerduty.com/v2/enqueue"]
    assert notify.receivers[2].urls() == ["http://127.0.0.1:9093", "http://127.0.0.1:9094"]
    assert notify.routes is not None and notify.routes[1].receivers == ["ops-chat", "am"]
    assert notify.silences[0].timezone == "Europe/Berlin"


def test_problems_name_file_line_and_key(tmp_path: Path) -> None:
    text = (
        MINIMAL
        + """notify:
  receivers:
    - name: oncall
      kind: pagerduty
    - name: chat
      kind: slak
      url: https://hooks.slack.example/x
    - name: hook
      kind: webhook
      url: not a url at all SECRETPATH
      secret: s3cr3t
  routes:
    - receivers: [nobody]
  silences:
    - matchers: [{name: type, value: failover}]
      weekday: sun
      timezone: Mars/Olympus
"""
    )
    path = write(tmp_path, text)
    problems = {p.key: p for p in check_config(path, environ={})}
    assert problems["notify.receivers[0].routing_key"].line == 5
    assert "needs routing_key" in problems["notify.receivers[0].routing_key"].message
    assert problems["notify.receivers[1].kind"].line == 8
    assert problems["notify.receivers[2].url"].line == 12
    assert problems["notify.silences[0].timezone"].line == 19
    assert all(p.file == str(path) for p in problems.values())
    assert "SECRETPATH" not in "\n".join(str(p) for p in problems.values())


def test_routes_name_known_receivers(tmp_path: Path) -> None:
    text = MINIMAL + "notify:\n  routes:\n    - receivers: [nobody]\n"
    (problem,) = check_config(write(tmp_path, text), environ={})
    assert problem.key == "notify.routes[0].receivers[0]"
    assert problem.line == 5
    assert "no receiver named 'nobody'" in problem.message


def test_credentials_come_from_the_environment_by_receiver_name(tmp_path: Path) -> None:
    text = MINIMAL + "notify:\n  receivers:\n    - name: on-call\n      kind: pagerduty\n"
    path = write(tmp_path, text)
    assert check_config(path, environ={})  # no routing_key yet
    settings = load_settings(
        path,
        environ={
            "VPNWATCH_NOTIFY__RECEIVERS__ON_CALL__ROUTING_KEY": KEY,
            "VPNWATCH_NOTIFY__RECEIVERS__0__URL": "https://events.eu.pagerduty.com/v2/enqueue",
            # a whole receiver from the environment alone
            "VPNWATCH_NOTIFY__RECEIVERS__OPSG__KIND": "opsgenie",
            "VPNWATCH_NOTIFY__RECEIVERS__OPSG__API_KEY": "genie-key",
            "VPNWATCH_NOTIFY__RECEIVERS__OPSG__URL": "https://api.eu.opsgenie.com",
        },
    )
    pd, genie = settings.notify.receivers
    assert pd.name == "on-call" and pd.routing_key is not None
    assert pd.routing_key.get_secret_value() == KEY
    assert pd.urls() == ["https://events.eu.pagerduty.com/v2/enqueue"]
    assert genie.name == "opsg" and genie.kind is ReceiverKind.OPSGENIE
    assert genie.api_key is not None and genie.api_key.get_secret_value() == "genie-key"


def test_a_bad_receiver_from_the_environment_names_the_variable(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL)
    (problem,) = check_config(
        path, environ={"VPNWATCH_NOTIFY__RECEIVERS__PAGER__KIND": "pagerduty"}
    )
    assert problem.file == "environment"
    assert "needs routing_key" in problem.message


def test_check_config_command_reports_notify_problems(tmp_path: Path) -> None:
    text = (
        MINIMAL
        + f"notify:\n  receivers:\n    - name: x\n      kind: opsgenie\n      routing_key: {KEY}\n"
    )
    path = write(tmp_path, text)
    done = subprocess.run(
        [sys.executable, "-m", "vpnwatch", "check-config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 1
    # api_key is missing: the problem points at the receiver's line
    assert (
        f"{path}:5: notify.receivers[0].api_key: a opsgenie receiver needs api_key" in done.stderr
    )
    assert KEY not in done.stderr + done.stdout


def test_the_documented_notify_block_is_valid(tmp_path: Path) -> None:
    """docs/notify.md's example, with its `...` placeholders filled in, passes check-config."""
    import re

    doc = (Path(__file__).parents[2] / "docs" / "notify.md").read_text()
    block = re.search(r"```yaml\n(notify:\n.*?)```", doc, re.S)
    assert block, "docs/notify.md shows a notify: block"
    text = MINIMAL + block.group(1).replace(": ...", ": placeholder-secret-value")
    text = text.replace("https://hooks.slack.com/services/...", "https://hooks.slack.example/x")
    assert check_config(write(tmp_path, text), environ={}) == []
