"""Logging: JSON lines for log shippers, and a failing credential in one line, only on change."""

from __future__ import annotations

import json
import logging

import pytest

from vpnwatch.config import Settings
from vpnwatch.logs import configure
from vpnwatch.startup import startup_line

# what azure-identity logs for every request while the credential fails (shortened)
CREDENTIAL_FAILURE = (
    "DefaultAzureCredential failed to retrieve a token from the included credentials.\n"
    "Attempted credentials:\n"
    "\tEnvironmentCredential: Authentication failed: AADSTS7000215: Invalid client secret\n"
    "\tManagedIdentityCredential: ManagedIdentityCredential authentication unavailable.\n"
    "To mitigate this issue, please refer to the troubleshooting guidelines here at "
    "https://aka.ms/azsdk/python/identity/defaultazurecredential/troubleshoot."
)


@pytest.fixture(autouse=True)
def _restore_logging():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_json_format_writes_one_object_per_line(capsys):
    configure("INFO", "json")
    logging.getLogger("vpnwatch.agent").warning("incident opened: %s", "tunnel_down")
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("vpnwatch.agent").exception("collector crashed")
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert first["level"] == "warning" and first["logger"] == "vpnwatch.agent"
    assert first["message"] == "incident opened: tunnel_down"
    assert first["time"].endswith("+00:00")
    assert "ValueError: boom" in second["exception"]


def test_a_failing_credential_is_one_line_repeated_only_when_it_changes(capsys):
    configure("INFO", "text")
    identity = logging.getLogger("azure.identity.aio._credentials.default")
    for _ in range(161):
        identity.warning(CREDENTIAL_FAILURE)
    identity.warning(CREDENTIAL_FAILURE.replace("Invalid client secret", "Secret expired"))
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2, lines
    assert "AADSTS7000215" in lines[0] and "Secret expired" in lines[1]
    other = logging.getLogger("vpnwatch.agent")
    other.warning("same")
    other.warning("same")
    assert len(capsys.readouterr().err.splitlines()) == 2, "only credential noise is folded"


def test_log_format_is_a_setting():
    assert Settings.model_fields["log_format"].default == "text"
    settings = Settings(targets={"subscriptions": ["s1"]}, log_format="json")
    assert settings.log_format == "json"


def test_startup_line_names_cloud_credential_subscriptions_state_and_address():
    settings = Settings(
        targets={"subscriptions": ["sub-a", "sub-b"]},
        store={"path": "/var/lib/vpnwatch/x.sqlite3"},
        service={"host": "0.0.0.0", "port": 9000},
    )
    line = startup_line(settings)
    assert "\n" not in line
    for part in ("AzurePublicCloud", "credential default", "sub-a, sub-b", "/var/lib/vpnwatch/x",
                 "http://0.0.0.0:9000/"):  # fmt: skip
        assert part in line, part
