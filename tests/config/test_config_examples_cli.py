"""The shipped example files are valid, and `vpnwatch check-config` reports like `check_config`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from vpnwatch.config import Cloud, CredentialKind, check_config, load_settings

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


@pytest.mark.parametrize("name", ["vpnwatch.yaml", "emulator.yaml"])
def test_examples_are_valid(name: str) -> None:
    assert check_config(EXAMPLES / name, environ={}) == []


def test_the_real_azure_example_uses_the_default_credential() -> None:
    settings = load_settings(EXAMPLES / "vpnwatch.yaml", environ={})
    assert settings.azure.cloud is Cloud.PUBLIC
    assert settings.azure.credential.kind is CredentialKind.DEFAULT
    assert settings.azure.allow_http is False
    assert settings.service.webhook.secret is None  # secrets belong in the environment


def test_the_emulator_example_points_at_loopback() -> None:
    settings = load_settings(EXAMPLES / "emulator.yaml", environ={})
    assert settings.azure.cloud is Cloud.CUSTOM
    assert settings.azure.allow_http is True
    assert settings.azure.credential.kind is CredentialKind.STATIC_TOKEN
    endpoints = settings.azure.resolved_endpoints()
    assert endpoints.resource_manager == "http://127.0.0.1:8081"
    assert {url for url in endpoints.urls().values()} == {"http://127.0.0.1:8081"}


needs_cli = pytest.mark.skipif(
    not (ROOT / "vpnwatch" / "cli.py").exists(), reason="vpnwatch/cli.py not written yet"
)


def check_config_cli(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vpnwatch", "check-config", str(path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
        timeout=60,
    )


@needs_cli
def test_cli_says_ok_for_a_valid_file() -> None:
    path = EXAMPLES / "emulator.yaml"
    result = check_config_cli(path)
    assert result.returncode == 0, result.stderr
    assert f"OK: {path}" in result.stdout


@needs_cli
def test_cli_prints_every_problem_and_exits_1(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "targets:\n  discover_all: true\nservice:\n  port: eighty\n  hots: x\n", encoding="utf-8"
    )
    result = check_config_cli(path)
    assert result.returncode == 1
    output = result.stdout + result.stderr
    for problem in check_config(path, environ={}):
        assert str(problem) in output.splitlines()
    assert f"{path}:4: service.port: " in output
    assert f"{path}:5: service.hots: unknown key (did you mean 'host'?)" in output
    assert "OK:" not in output


@needs_cli
def test_cli_reports_a_missing_file(tmp_path: Path) -> None:
    result = check_config_cli(tmp_path / "absent.yaml")
    assert result.returncode == 1
    assert f"{tmp_path / 'absent.yaml'}: no such file" in result.stdout + result.stderr


@needs_cli
@pytest.mark.parametrize(
    ("auth", "said"),
    [
        ("", "notify.api_token: deprecated; set service.auth.bearer_token instead"),
        ("service:\n  auth:\n    bearer_token: t\n", "notify.api_token: ignored while"),
    ],
)
def test_cli_warns_of_the_deprecated_silences_token(tmp_path: Path, auth: str, said: str) -> None:
    path = tmp_path / "legacy.yaml"
    path.write_text(
        f"targets:\n  discover_all: true\nnotify:\n  api_token: old-token\n{auth}", encoding="utf-8"
    )
    result = check_config_cli(path)
    assert result.returncode == 0, result.stderr  # it still works
    assert f"warning: {said}" in result.stderr
    assert "old-token" not in result.stdout + result.stderr
    assert f"OK: {path}" in result.stdout
