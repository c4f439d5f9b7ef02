"""Each kind of configuration problem names the right file, key and line, and all are reported."""

from __future__ import annotations

from datetime import UTC, datetime, time
from pathlib import Path

import pytest

from vpnwatch.config import (
    Cloud,
    ConfigError,
    ConfigProblem,
    Settings,
    TargetSettings,
    check_config,
    load_settings,
)

MINIMAL = "targets:\n  discover_all: true\n"


def write(tmp_path: Path, text: str | bytes, name: str = "vpnwatch.yaml") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def problems_of(path: Path, environ: dict[str, str] | None = None) -> list[ConfigProblem]:
    return check_config(path, environ=environ or {})


def only(problems: list[ConfigProblem]) -> ConfigProblem:
    assert len(problems) == 1, [str(p) for p in problems]
    return problems[0]


def by_key(problems: list[ConfigProblem]) -> dict[str, ConfigProblem]:
    return {p.key: p for p in problems}


def test_a_minimal_file_is_valid(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL)
    assert problems_of(path) == []
    settings = load_settings(path, environ={})
    assert settings.targets.discover_all is True
    assert settings.azure.cloud is Cloud.PUBLIC


def test_unknown_nested_key_names_key_line_and_a_suggestion(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        MINIMAL + "service:\n  port: 8080\n  webhook:\n    headr: X-Token\n",
    )
    problem = only(problems_of(path))
    assert problem == ConfigProblem(
        str(path), "service.webhook.headr", 6, "unknown key (did you mean 'header'?)"
    )


def test_unknown_top_level_section(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "\npaging:\n  pagerduty: {}\n")
    problem = only(problems_of(path))
    assert (problem.key, problem.line, problem.message) == ("paging", 4, "unknown key")


def test_wrong_type(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "service:\n  host: 127.0.0.1\n  port: eighty\n")
    problem = only(problems_of(path))
    assert (problem.key, problem.line) == ("service.port", 5)
    assert "valid integer" in problem.message


def test_out_of_range_value(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "collectors:\n  connections:\n    interval_seconds: 0\n")
    problem = only(problems_of(path))
    assert (problem.key, problem.line) == ("collectors.connections.interval_seconds", 5)
    assert "greater than 0" in problem.message


def test_bad_enum_value_lists_the_choices(tmp_path: Path) -> None:
    path = write(tmp_path, "azure:\n  cloud: AzureMars\n" + MINIMAL)
    problem = only(problems_of(path))
    assert (problem.key, problem.line) == ("azure.cloud", 2)
    assert "'AzurePublicCloud'" in problem.message and "'custom'" in problem.message


def test_cloud_names_ignore_case_and_accept_the_az_cli_name(tmp_path: Path) -> None:
    for written, cloud in (("azurechinacloud", Cloud.CHINA), ("AzureCloud", Cloud.PUBLIC)):
        path = write(tmp_path, f"azure:\n  cloud: {written}\n" + MINIMAL)
        assert load_settings(path, environ={}).azure.cloud is cloud


def test_list_items_get_their_own_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        MINIMAL
        + "correlator:\n"
        + "  maintenance_windows:\n"
        + "    - weekday: sat\n"
        + "      start_time: '02:00'\n"
        + "      duration_minutes: 60\n"
        + "    - weekday: someday\n"
        + "      start_time: '03:00'\n"
        + "      duration_minutes: 60\n",
    )
    problem = only(problems_of(path))
    assert (problem.key, problem.line) == ("correlator.maintenance_windows[1].weekday", 8)


def test_list_of_scalars_item(tmp_path: Path) -> None:
    path = write(tmp_path, "targets:\n  subscriptions:\n    - sub-a\n    - [nested]\n")
    problem = only(problems_of(path))
    assert (problem.key, problem.line) == ("targets.subscriptions[1]", 4)


def test_custom_cloud_without_endpoints_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "azure:\n  allow_http: true\n  cloud: custom\n")
    problem = only(problems_of(path))
    # the key is missing from the file: the line is that of its section
    assert (problem.key, problem.line) == ("azure.endpoints", 3)
    assert "cloud 'custom' needs azure.endpoints.resource_manager" in problem.message
    with pytest.raises(ConfigError):
        load_settings(path, environ={})


def test_plain_http_needs_allow_http_and_loopback(tmp_path: Path) -> None:
    endpoints = "azure:\n  cloud: custom\n  endpoints:\n    resource_manager: {url}\n"
    path = write(tmp_path, MINIMAL + endpoints.format(url="http://127.0.0.1:8081"))
    problem = only(problems_of(path))
    assert (problem.key, problem.line) == ("azure.endpoints.resource_manager", 6)
    assert "allow_http" in problem.message

    path = write(
        tmp_path, MINIMAL + endpoints.format(url="http://10.1.2.3") + "  allow_http: true\n"
    )
    problem = only(problems_of(path))
    assert (problem.key, problem.line) == ("azure.endpoints.resource_manager", 6)
    assert "only to loopback" in problem.message

    for url in ("http://[::1]:8081", "http://localhost:8081", "http://127.0.0.1"):
        path = write(tmp_path, MINIMAL + endpoints.format(url=url) + "  allow_http: true\n")
        assert problems_of(path) == [], url


def test_an_endpoint_must_be_a_url(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "azure:\n  endpoints:\n    metrics: metrics.example\n")
    problem = only(problems_of(path))
    assert (problem.key, problem.line) == ("azure.endpoints.metrics", 5)


def test_cross_field_rules_point_at_the_key(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        MINIMAL
        + "correlator:\n"
        + "  failover:\n"
        + "    planned_max_seconds: 120\n"
        + "  maintenance_windows:\n"
        + "    - start: 2026-05-02T03:00:00Z\n"
        + "      end: 2026-05-02T01:00:00Z\n"
        + "    - start: 2026-05-02 01:00\n"
        + "      end: 2026-05-02T03:00:00Z\n"
        + "    - weekday: sun\n"
        + "      start_time: '01:00'\n"
        + "azure:\n"
        + "  credential:\n"
        + "    kind: static_token\n",
    )
    found = by_key(problems_of(path))
    assert {k: p.line for k, p in found.items()} == {
        "correlator.failover.planned_max_seconds": 5,
        "correlator.maintenance_windows[0].end": 8,
        "correlator.maintenance_windows[1].start": 9,  # no UTC offset
        "correlator.maintenance_windows[2].duration_minutes": 11,  # missing: the item's line
        "azure.credential.token": 14,
    }
    assert "below failover.slo_seconds" in found["correlator.failover.planned_max_seconds"].message
    assert "UTC offset" in found["correlator.maintenance_windows[1].start"].message


def test_targets_are_required(tmp_path: Path) -> None:
    path = write(tmp_path, "service:\n  port: 8080\n")
    problem = only(problems_of(path))
    assert (problem.key, problem.line) == ("targets", None)
    assert problem.message == "required, but not set"

    path = write(tmp_path, "targets:\n  resource_groups: [rg-hub]\n")
    problem = only(problems_of(path))
    assert (problem.key, problem.line) == ("targets.subscriptions", 1)


def test_every_problem_is_reported_in_line_order(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "azure:\n"
        "  cloud: nowhere\n"
        "  verify_tls: 3.5\n"
        "targets:\n"
        "  subscription: [a]\n"
        "service:\n"
        "  port: -1\n"
        "log_level: chatty\n"
        "collectors:\n"
        "  bgp: {interval_seconds: x}\n",
    )
    problems = problems_of(path)
    assert [(p.key, p.line) for p in problems] == [
        ("azure.cloud", 2),
        ("azure.verify_tls", 3),
        ("targets.subscription", 5),
        ("service.port", 7),
        ("log_level", 8),
        ("collectors.bgp.interval_seconds", 10),
    ]
    assert "CA bundle" in problems[1].message  # one message for the union bool | str
    with pytest.raises(ConfigError) as raised:
        load_settings(path, environ={})
    assert raised.value.problems == problems
    lines = str(raised.value).splitlines()
    assert len(lines) == len(problems)
    assert lines[0] == f"{path}:2: azure.cloud: {problems[0].message}"


def test_yaml_syntax_error_has_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "service:\n  port: 8080\n host: 0.0.0.0\n")
    problem = only(problems_of(path))
    assert (problem.file, problem.key, problem.line) == (str(path), "", 5)
    assert problem.message.startswith("YAML syntax error: ")
    assert str(problem) == f"{path}:5: {problem.message}"


def test_tabs_and_unclosed_quotes(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "service:\n\tport: 8080\n")
    assert only(problems_of(path)).line == 4
    path = write(tmp_path, MINIMAL + 'log_level: "INFO\nservice: {}\n')
    problem = only(problems_of(path))
    assert "started on line 3" in problem.message


def test_duplicate_keys_are_reported(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "service:\n  port: 8080\n  host: a\n  port: 9090\n")
    problem = only(problems_of(path))
    assert (problem.key, problem.line) == ("service.port", 6)
    assert "first given on line 4" in problem.message


@pytest.mark.parametrize(
    ("content", "line", "message"),
    [
        ("", None, "the file is empty"),
        ("# nothing but a comment\n\n", None, "the file is empty"),
        ("---\n...\n", None, "the file is empty"),
        ("- targets\n- service\n", 1, "the top level must be a mapping"),
        ("just text\n", 1, "the top level must be a mapping"),
        (b"targets:\n  discover_all: tru\xe9\n", 2, "not UTF-8 text"),
        ("a: 1\n---\nb: 2\n", 2, "YAML syntax error"),
    ],
)
def test_file_level_problems(
    tmp_path: Path, content: str | bytes, line: int | None, message: str
) -> None:
    path = write(tmp_path, content)
    problem = only(problems_of(path))
    assert (problem.file, problem.key, problem.line) == (str(path), "", line)
    assert problem.message.startswith(message)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    problem = only(problems_of(path))
    assert problem == ConfigProblem(str(path), "", None, "no such file")
    assert str(problem) == f"{path}: no such file"
    assert only(problems_of(tmp_path)).message.startswith("is a directory")


def test_secrets_are_never_echoed(tmp_path: Path) -> None:
    secret = "s3cr3t-Zq8-value"
    path = write(
        tmp_path,
        MINIMAL
        + "azure:\n"
        + "  credential:\n"
        + f"    token: [{secret}]\n"
        + "service:\n"
        + "  webhook:\n"
        + f"    secret: {{{secret}: 1}}\n",
    )
    problems = problems_of(path)
    assert {p.key for p in problems} == {"azure.credential.token", "service.webhook.secret"}
    text = "\n".join(str(p) for p in problems)
    assert secret not in text

    path = write(tmp_path, MINIMAL + f'service:\n  webhook:\n    secret: "{secret}\\q"\n')
    problem = only(problems_of(path))
    assert problem.line == 5 and secret not in str(problem)

    env = {"VPNWATCH_AZURE__CREDENTIAL__KIND": secret, "VPNWATCH_SERVICE__PORT": secret}
    problems = problems_of(write(tmp_path, MINIMAL), env)
    assert len(problems) == 2
    assert secret not in "\n".join(str(p) for p in problems)


def test_base_60_numbers_are_not_numbers(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        MINIMAL
        + "correlator:\n  maintenance_windows:\n"
        + "    - {weekday: sat, start_time: 22:30, duration_minutes: 90}\n"
        + "    - {start: 2026-05-02T01:00:00+02:00, end: 2026-05-02T03:00:00Z}\n",
    )
    windows = load_settings(path, environ={}).correlator.maintenance_windows
    assert windows[0].start_time == time(22, 30)
    assert windows[1].start == datetime(2026, 5, 1, 23, 0, tzinfo=UTC)


def test_verify_tls_takes_a_boolean_or_an_existing_ca_bundle(tmp_path: Path) -> None:
    bundle = tmp_path / "emulator-ca.pem"
    path = write(tmp_path, MINIMAL + f"azure:\n  verify_tls: {bundle}\n")
    problem = only(problems_of(path))
    assert (problem.key, problem.line) == ("azure.verify_tls", 4)
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    assert load_settings(path, environ={}).azure.verify_tls == str(bundle)
    path = write(tmp_path, MINIMAL + "azure:\n  verify_tls: no\n")
    assert load_settings(path, environ={}).azure.verify_tls is False


def test_constructing_settings_directly_ignores_the_process_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VPNWATCH_SERVICE__PORT", "9999")
    settings = Settings(targets=TargetSettings(discover_all=True))
    assert settings.service.port == 8080


def test_endpoints_of_a_known_cloud_can_be_overridden_one_by_one(tmp_path: Path) -> None:
    path = write(
        tmp_path, MINIMAL + "azure:\n  endpoints:\n    metrics: https://metrics.example.net\n"
    )
    resolved = load_settings(path, environ={}).azure.resolved_endpoints()
    assert resolved.resource_manager == "https://management.azure.com"
    assert resolved.metrics == "https://metrics.example.net"


def test_custom_cloud_endpoints_need_resource_manager(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        MINIMAL + "azure:\n  cloud: custom\n  endpoints:\n    metrics: https://m.example.net\n",
    )
    problem = only(problems_of(path))
    assert (problem.key, problem.line) == ("azure.endpoints.resource_manager", 5)
