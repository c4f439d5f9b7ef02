"""`vpnwatch emulator --tls` without the `emulator` extra: one clear line, not a traceback."""

from __future__ import annotations

import signal
import sys

import pytest

from vpnwatch.cli import main


@pytest.fixture
def without_cryptography(monkeypatch: pytest.MonkeyPatch) -> None:
    """As if `cryptography` were not installed: importing it raises ModuleNotFoundError."""
    monkeypatch.setitem(sys.modules, "cryptography", None)
    monkeypatch.delitem(sys.modules, "vpnwatch.emulator.certs", raising=False)
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    yield
    for signum, handler in handlers.items():
        signal.signal(signum, handler)


def test_tls_without_the_extra_names_the_extra(without_cryptography, capsys):
    code = main(["emulator", "--scenario", "quiet", "--port", "0", "--tls"])
    err = capsys.readouterr().err
    assert code == 2
    assert "pip install 'vpnwatch[emulator]'" in err
    assert "Traceback" not in err
    assert "emulator listening" not in err  # it never served anything


def test_plain_http_needs_no_cryptography(without_cryptography):
    """Only https needs the extra: the emulator itself starts and serves without it."""
    import asyncio

    from vpnwatch.emulator import Emulator, load_scenario

    async def serve_once() -> str:
        async with Emulator(load_scenario("quiet"), port=0) as emu:
            return emu.base_url

    assert asyncio.run(serve_once()).startswith("http://127.0.0.1:")
