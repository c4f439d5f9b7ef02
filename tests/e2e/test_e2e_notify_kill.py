"""`vpnwatch run` killed with SIGKILL after it wrote notifications to the outbox and before it
delivered them loses none: restarted on the same store, it delivers every one, in order.

The receiver (a webhook on 127.0.0.1, in this test's process) answers 503 while the agent opens
and resolves the `site-down` incident, so every notification is written but none delivered. The
agent is killed, the receiver recovers, the agent starts again and must deliver them all.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from e2e_helpers import (
    FAST_COLLECTORS,
    LOOPBACK,
    ProcessGroup,
    free_port,
    get_json,
    run_config,
    wait_for,
)

SUBSCRIPTION = "6f1d3c2a-0000-4000-8000-00000000a201"
SPEED = 30.0
SECRET = "kill-test-secret"

pytestmark = pytest.mark.slow


class Receiver(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__((LOOPBACK, 0), _Handler)
        self.healthy = False
        self.delivered: list[dict[str, Any]] = []
        self.refused = 0
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.server_address[1]}/hook"


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with self.server.lock:
            if self.server.healthy:
                self.server.delivered.append(json.loads(body))
                status = 202
            else:
                self.server.refused += 1
                status = 503
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def agent_config(tmp_path: Path, emulator_url: str, port: int, hook_url: str) -> Path:
    return run_config(
        tmp_path,
        emulator_url,
        port,
        [SUBSCRIPTION],
        collectors=FAST_COLLECTORS,
        correlator={"state": {"staleness_seconds": 10, "clear_hold_seconds": 2}},
        notify={
            "receivers": [{"name": "hook", "kind": "webhook", "url": hook_url, "secret": SECRET}],
            "delivery": {"initial_backoff_seconds": 0.2, "max_backoff_seconds": 0.5},
            "group_wait_seconds": 0,  # the scenario plays 30x: no real-time wait
        },
    )


def test_kill_9_between_writing_and_delivering_loses_nothing(
    tmp_path: Path, processes: ProcessGroup
) -> None:
    emulator_url = processes.start_emulator("site-down", "--speed", f"{SPEED:g}")
    port = free_port()
    api = f"http://{LOOPBACK}:{port}"
    with receiver() as hook:
        config = agent_config(tmp_path, emulator_url, port, hook.url)
        agent = processes.start_run("agent", config, until=f"{api}/livez", deadline_seconds=20)

        def written() -> list[dict[str, Any]] | None:
            page = get_json(f"{api}/api/v1/notifications?status=pending")
            events = [item["event"] for item in page["items"]]
            return page["items"] if "resolve" in events else None

        # site-down opens at 120 s and ends at 360 s (scenario time): 4 s and 12 s of wall time
        pending = wait_for("the trigger and the resolve to be written", written, 40)
        # an agent that started late (a loaded machine) writes both before its first attempt
        wait_for("the receiver to refuse a delivery", lambda: hook.refused >= 1, 10)
        assert not hook.delivered
        agent.kill_hard()

        hook.healthy = True
        processes.start_run("agent-restarted", config, until=f"{api}/livez", deadline_seconds=20)

        def all_delivered() -> bool | None:
            page = get_json(f"{api}/api/v1/notifications?status=pending")
            return True if page["total"] == 0 and hook.delivered else None

        wait_for("every notification to be delivered", all_delivered, 30)
    expected = sorted(((p["dedup_key"], p["event"]) for p in pending), key=str)
    got = [(d["dedup_key"], d["event"]) for d in hook.delivered]
    assert set(expected) <= set(got), f"lost across kill -9: {set(expected) - set(got)}"
    by_key: dict[str, list[str]] = {}
    for key, event in got:
        by_key.setdefault(key, []).append(event)
    for events in by_key.values():  # in order per incident: a resolve after its trigger
        if "resolve" in events:
            assert events.index("resolve") > events.index("trigger")
    site = [d for d in hook.delivered if d["incident"]["type"] == "site_down"]
    assert site and site[0]["event"] == "trigger"
