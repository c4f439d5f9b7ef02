"""`vpnwatch notify-test` and `vpnwatch replay --deliver`, run as real processes against
receivers on 127.0.0.1; and the demo's on-call receiver."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import httpx
import yaml
from notify_helpers import Answer, CaptureServer, assert_valid

from vpnwatch.notify import demo_receiver

ROUTING_KEY = "CLIroutingKEY0123456789abcdefABCD"[:32]


async def vpnwatch(*args: str, cwd: Path, timeout: float = 120) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VPNWATCH_")}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "vpnwatch", *args, cwd=cwd, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), timeout)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def config(tmp_path: Path, receivers: list[dict], **notify: object) -> Path:
    path = tmp_path / "vpnwatch.yaml"
    path.write_text(
        yaml.safe_dump(
            {"targets": {"discover_all": True}, "notify": {"receivers": receivers, **notify}}
        )
    )
    return path


async def test_notify_test_sends_one_event_and_prints_the_answer(tmp_path: Path) -> None:
    async with CaptureServer(lambda r, n: Answer(202, '{"status":"success","message":"ok"}')) as pd:
        path = config(
            tmp_path,
            [{"name": "oncall", "kind": "pagerduty", "url": f"{pd.url}/v2/enqueue",
              "routing_key": ROUTING_KEY}],
        )  # fmt: skip
        code, out, err = await vpnwatch(
            "notify-test", "oncall", "--config", str(path), cwd=tmp_path
        )
    assert code == 0, err
    assert "oncall (pagerduty at http://127.0.0.1:" in out
    assert "test: delivered, HTTP 202" in out and '"message":"ok"' in out
    assert [r.json()["event_action"] for r in pd.requests] == ["trigger", "resolve"]
    for request in pd.requests:
        assert_valid("pagerduty", request.json())
    assert ROUTING_KEY not in out + err


async def test_notify_test_reports_a_refusal_and_unknown_names(tmp_path: Path) -> None:
    async with CaptureServer(lambda r, n: Answer(403, '{"message":"bad token"}')) as hook:
        path = config(
            tmp_path,
            [{"name": "hook", "kind": "webhook", "url": f"{hook.url}/in/SECRETPATH",
              "secret": "whsec"}],
        )  # fmt: skip
        code, out, _ = await vpnwatch("notify-test", "hook", "--config", str(path), cwd=tmp_path)
        assert code == 1
        assert "not delivered, refused" in out and "HTTP 403" in out
        assert "SECRETPATH" not in out
        code, _, err = await vpnwatch("notify-test", "nope", "--config", str(path), cwd=tmp_path)
        assert code == 2 and "no receiver named 'nope' (known: hook)" in err


async def test_replay_deliver_sends_the_scenarios_pages_and_waits(tmp_path: Path) -> None:
    async with CaptureServer() as hook:
        path = config(
            tmp_path,
            [{"name": "hook", "kind": "webhook", "url": f"{hook.url}/in", "secret": "whsec"}],
            routes=[{"match": {"severities": ["critical"]}, "receivers": ["hook"]}],
        )
        code, out, err = await vpnwatch(
            "replay", "site-down", "--config", str(path), "--deliver", "--json", cwd=tmp_path
        )
        sent = [r.json() for r in hook.requests]
    assert code == 0, err
    incidents = [json.loads(line) for line in out.splitlines()]
    assert any(i["type"] == "site_down" for i in incidents)
    assert [(s["incident"]["type"], s["event"]) for s in sent] == [
        ("site_down", "trigger"),
        ("site_down", "resolve"),
    ]
    for body in sent:
        assert_valid("webhook", body)


async def test_the_demo_receiver_prints_what_on_call_gets(caplog) -> None:
    caplog.set_level("WARNING", logger="vpnwatch.demo.oncall")
    async with demo_receiver.serving(secret="demo") as url, httpx.AsyncClient() as client:
        answer = await client.post(
            f"{url}/pagerduty/v2/enqueue",
            json={"event_action": "trigger", "routing_key": "k", "dedup_key": "d",
                  "payload": {"summary": "Zone outage in westeurope", "severity": "critical",
                              "source": "x"}},
        )  # fmt: skip
        assert answer.status_code == 202
        forged = await client.post(
            f"{url}/webhook", content=b"{}", headers={"X-Vpnwatch-Signature": "t=1,v1=00"}
        )
        assert forged.status_code == 401
    assert "PAGER   critical  Zone outage in westeurope" in caplog.text
