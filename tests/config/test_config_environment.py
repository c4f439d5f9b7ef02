"""`VPNWATCH_*` environment variables override the file, and their problems name the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from vpnwatch.config import ConfigError, ConfigProblem, check_config, load_settings

FILE = """\
azure:
  cloud: custom
  endpoints:
    resource_manager: https://arm.example.net
targets:
  subscriptions: [sub-from-file]
service:
  port: 8080
  host: 127.0.0.1
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "vpnwatch.yaml"
    path.write_text(FILE, encoding="utf-8")
    return path


def test_environment_wins_over_the_file(config: Path) -> None:
    settings = load_settings(
        config,
        environ={
            "VPNWATCH_SERVICE__PORT": "9000",
            "VPNWATCH_TARGETS__SUBSCRIPTIONS": '["sub-a", "sub-b"]',
            "VPNWATCH_AZURE__CREDENTIAL__KIND": "static_token",
            "VPNWATCH_AZURE__CREDENTIAL__TOKEN": "{not json, a secret}",
            "VPNWATCH_AZURE__VERIFY_TLS": "false",
            "VPNWATCH_LOG_LEVEL": "debug",
            "UNRELATED": "x",
        },
    )
    assert settings.service.port == 9000
    assert settings.service.host == "127.0.0.1"  # the rest of the section is the file's
    assert settings.targets.subscriptions == ["sub-a", "sub-b"]
    assert settings.azure.credential.token is not None
    assert settings.azure.credential.token.get_secret_value() == "{not json, a secret}"
    assert settings.azure.verify_tls is False
    assert settings.azure.resolved_endpoints().resource_manager == "https://arm.example.net"
    assert settings.log_level == "DEBUG"


def test_a_whole_section_as_json_merges_with_the_file(config: Path) -> None:
    settings = load_settings(config, environ={"VPNWATCH_SERVICE": '{"port": 7000}'})
    assert (settings.service.port, settings.service.host) == (7000, "127.0.0.1")


def test_an_empty_variable_counts_as_unset(config: Path) -> None:
    settings = load_settings(config, environ={"VPNWATCH_SERVICE__PORT": ""})
    assert settings.service.port == 8080


def test_problems_name_the_variable(config: Path) -> None:
    problems = check_config(
        config,
        environ={
            "VPNWATCH_SERVICE__PORT": "eighty",
            "VPNWATCH_SERVCE__PORT": "1",
            "VPNWATCH_TARGETS__SUBSCRIPTIONS": "sub-a,sub-b",
            "VPNWATCH_CORRELATOR__MAINTENANCE_WINDOWS": '[{"weekday": "someday"}]',
            "VPNWATCH_SERVICE____HOST": "x",
        },
    )
    assert all(p.file == "environment" and p.line is None for p in problems)
    found = {p.key: p.message for p in problems}
    assert set(found) == {
        "VPNWATCH_SERVICE__PORT",
        "VPNWATCH_SERVCE__PORT",
        "VPNWATCH_TARGETS__SUBSCRIPTIONS",
        "VPNWATCH_CORRELATOR__MAINTENANCE_WINDOWS",
        "VPNWATCH_SERVICE____HOST",
    }
    assert "valid integer" in found["VPNWATCH_SERVICE__PORT"]
    assert found["VPNWATCH_SERVCE__PORT"] == "servce: unknown key (did you mean 'service'?)"
    assert "JSON" in found["VPNWATCH_TARGETS__SUBSCRIPTIONS"]
    assert found["VPNWATCH_CORRELATOR__MAINTENANCE_WINDOWS"].startswith(
        "correlator.maintenance_windows[0].weekday: "
    )
    assert "SECTION__KEY" in found["VPNWATCH_SERVICE____HOST"]
    assert str(ConfigProblem("environment", "VPNWATCH_SERVICE__PORT", None, "bad")) == (
        "environment: VPNWATCH_SERVICE__PORT: bad"
    )


def test_file_and_environment_problems_are_reported_together(tmp_path: Path) -> None:
    path = tmp_path / "vpnwatch.yaml"
    path.write_text("targets:\n  discover_all: true\nservice:\n  port: x\n", encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_settings(path, environ={"VPNWATCH_COLLECTORS__BGP__INTERVAL_SECONDS": "-5"})
    assert [(p.file, p.key, p.line) for p in raised.value.problems] == [
        (str(path), "service.port", 4),
        ("environment", "VPNWATCH_COLLECTORS__BGP__INTERVAL_SECONDS", None),
    ]


def test_a_rule_broken_by_a_variable_names_it(tmp_path: Path) -> None:
    path = tmp_path / "vpnwatch.yaml"
    path.write_text("targets:\n  discover_all: true\n", encoding="utf-8")
    problems = check_config(path, environ={"VPNWATCH_AZURE__CLOUD": "custom"})
    assert [(p.file, p.key) for p in problems] == [("environment", "VPNWATCH_AZURE__CLOUD")]
    assert "needs azure.endpoints.resource_manager" in problems[0].message

    problems = check_config(
        path,
        environ={
            "VPNWATCH_AZURE__CLOUD": "custom",
            "VPNWATCH_AZURE__ENDPOINTS__RESOURCE_MANAGER": "http://127.0.0.1:8081",
        },
    )
    assert [p.key for p in problems] == ["VPNWATCH_AZURE__ENDPOINTS__RESOURCE_MANAGER"]
    assert "allow_http" in problems[0].message


def test_no_file_at_all_means_environment_only() -> None:
    settings = load_settings(None, environ={"VPNWATCH_TARGETS__DISCOVER_ALL": "true"})
    assert settings.targets.discover_all is True
    assert check_config(None, environ={}) == [
        ConfigProblem("environment", "targets", None, "required, but not set")
    ]


def test_vpnwatch_config_names_the_file_and_is_not_a_setting(config: Path) -> None:
    settings = load_settings(None, environ={"VPNWATCH_CONFIG": str(config)})
    assert settings.targets.subscriptions == ["sub-from-file"]
    # given a file explicitly, the variable is simply not a setting
    assert check_config(config, environ={"VPNWATCH_CONFIG": "/elsewhere.yaml"}) == []
