"""The front of `vpnwatch run` (`vpnwatch.runtime`), in this process: the probes answered from
publications, `/livez` failing once they stop, and every other request forwarded to an app on a
Unix socket with the caller's address and headers, bodies streamed both ways."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import uvicorn
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from vpnwatch.config import ApiAuthSettings
from vpnwatch.runtime.channel import FleetMetrics, Publication
from vpnwatch.runtime.child import ThroughFront
from vpnwatch.runtime.front import Front, Latest
from vpnwatch.runtime.proxy import ChildProxy
from vpnwatch.runtime.server import QuietServer
from vpnwatch.service.published import Published

TOKEN = "front-unit-token"


async def echo(scope: Scope, receive: Receive, send: Send) -> None:
    """Stands in for the child's app: says what it was asked, by whom, with what body."""
    if scope["type"] != "http":
        return
    body = await Request(scope, receive).body()
    answer = {
        "path": scope["path"],
        "query": scope["query_string"].decode(),
        "client": list(scope["client"]) if scope["client"] else None,
        "headers": [[k.decode(), v.decode()] for k, v in scope["headers"]],
        "body_length": len(body),
    }
    data = json.dumps(answer).encode()
    await send({"type": "http.response.start", "status": 207, "headers": [(b"x-child", b"1")]})
    for i in range(0, len(data), 1000):  # streamed, no content-length
        await send({"type": "http.response.body", "body": data[i : i + 1000], "more_body": True})
    await send({"type": "http.response.body", "body": b""})


def publication(*, events: bytes | None = None, version: int = 0) -> Publication:
    return Publication(
        answers=Published(
            health=b'{"status":"healthy"}',
            health_status=200,
            ready=b'{"ready":true}',
            ready_status=200,
        ),
        metrics_events=events,
        fleet_version=version,
    )


@asynccontextmanager
async def serving(app, **uds: str) -> AsyncIterator[str]:
    config = uvicorn.Config(app, lifespan="off", log_config=None, access_log=False, **uds)
    server = QuietServer(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done()
        await asyncio.sleep(0.01)
    try:
        sockets = server.servers[0].sockets
        yield uds.get("uds") or f"http://127.0.0.1:{sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        await task


@asynccontextmanager
async def front_over_child(
    tmp_path: Path, *, stuck_seconds: float = 60.0
) -> AsyncIterator[tuple[httpx.AsyncClient, Latest, list[float]]]:
    socket_path = str(tmp_path / "child.sock")
    latest = Latest()
    scraped: list[float] = []

    async def on_scrape() -> None:
        scraped.append(time.monotonic())

    proxy = ChildProxy(socket_path)
    front = Front(
        latest, ApiAuthSettings(bearer_token=TOKEN), proxy, on_scrape, stuck_seconds=stuck_seconds
    )
    async with (
        serving(ThroughFront(echo), uds=socket_path),
        serving(front, host="127.0.0.1", port=0) as base_url,
        httpx.AsyncClient(base_url=base_url) as client,
    ):
        yield client, latest, scraped
    await proxy.aclose()


async def test_a_request_reaches_the_child_as_the_caller_sent_it(tmp_path: Path):
    async with front_over_child(tmp_path) as (client, _, _):
        body = b"x" * (3 * 1024 * 1024)
        response = await client.post(
            "/api/v1/silences?a=1&b=%20",
            content=body,
            headers={"X-Forwarded-User": "alice", "X-Vpnwatch-Client": "10.9.9.9 1"},
        )
        assert response.status_code == 207
        assert response.headers["x-child"] == "1"
        assert len(response.headers.get_list("date")) == 1  # the front's, not the child's too
        assert len(response.headers.get_list("server")) == 1
        seen = response.json()
        assert seen["path"] == "/api/v1/silences" and seen["query"] == "a=1&b=%20"
        assert seen["body_length"] == len(body)
        host, port = seen["client"]
        assert host == "127.0.0.1" and port != 1, "the caller named its own address"
        headers = dict(seen["headers"])
        assert headers["x-forwarded-user"] == "alice"
        assert "x-vpnwatch-client" not in headers
        assert headers["host"] == client.base_url.netloc.decode()
        assert "user-agent" in headers and headers["user-agent"].startswith("python-httpx")
        assert "connection" not in headers


async def test_the_probes_answer_from_the_last_publication(tmp_path: Path):
    async with front_over_child(tmp_path) as (client, latest, _):
        starting = await client.get("/readyz")
        assert starting.status_code == 503 and starting.json()["detail"] == "starting"
        latest.update(publication())
        assert (await client.get("/readyz")).json() == {"ready": True}
        bearer = {"Authorization": f"Bearer {TOKEN}"}
        assert (await client.get("/health", headers=bearer)).json() == {"status": "healthy"}
        # not admitted: the child answers (and says what to send)
        assert (await client.get("/health")).status_code == 207
        assert (await client.get("/livez")).json() == {"status": "alive"}


async def test_metrics_from_a_fresh_publication_else_from_the_child(tmp_path: Path):
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    async with front_over_child(tmp_path) as (client, latest, scraped):
        latest.update(publication())  # no fleet body the child calls fresh
        assert (await client.get("/metrics", headers=bearer)).status_code == 207
        latest.update(FleetMetrics(3, b"fleet 1\n"))
        latest.update(publication(events=b"events 1\n", version=2))  # an older body: not served
        assert (await client.get("/metrics", headers=bearer)).status_code == 207
        assert not scraped
        latest.update(publication(events=b"events 1\n", version=3))
        served = await client.get("/metrics", headers=bearer)
        assert served.status_code == 200
        assert served.text == "events 1\nfleet 1\n"
        assert served.headers["content-type"].startswith("text/plain; version=0.0.4")
        assert len(scraped) == 1, "the child was not told of the scrape"


async def test_livez_fails_once_the_child_stops_publishing(tmp_path: Path):
    async with front_over_child(tmp_path, stuck_seconds=0.3) as (client, latest, _):
        latest.update(publication())
        assert (await client.get("/livez")).status_code == 200
        await asyncio.sleep(0.5)
        stuck = await client.get("/livez")
        assert stuck.status_code == 503
        assert stuck.json()["status"].startswith("stuck: the agent process has not published")
        latest.update(publication())
        assert (await client.get("/livez")).status_code == 200


async def test_a_child_that_does_not_answer_is_a_503_not_a_hang(tmp_path: Path):
    latest = Latest()

    async def on_scrape() -> None:
        pass

    proxy = ChildProxy(str(tmp_path / "nobody.sock"))
    front = Front(latest, ApiAuthSettings(), proxy, on_scrape)
    async with (
        serving(front, host="127.0.0.1", port=0) as base_url,
        httpx.AsyncClient(base_url=base_url) as client,
    ):
        response = await client.get("/api/v1/incidents")
    await proxy.aclose()
    assert response.status_code == 503
    assert response.json()["error"] == "unavailable"
    assert response.headers["retry-after"] == "5"
