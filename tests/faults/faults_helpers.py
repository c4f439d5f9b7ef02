"""The fault suite's pieces: `vpnwatch run`'s settings, a sampler that watches the agent from
outside, and an Azure Monitor alert sender. The fleet, one small hub per fault in a subscription
of its own, is `vpnwatch.emulator.estates.fault_hubs`.

Time: the emulator plays the scenario `SPEED` times faster than the wall clock; the agent runs on
the wall clock with every interval divided by `SPEED` and every other setting at its default, so
its deadlines and blind timing are the defaults' (they follow the connections interval).
"""

from __future__ import annotations

import contextlib
import copy
import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml
from e2e_helpers import run_config

from vpnwatch.emulator.counters import read_counters

SPEED = 10.0
CONNECTIONS_INTERVAL = 3.0  # wall seconds: 30 scenario seconds
DEADLINE = CONNECTIONS_INTERVAL / 2  # the default call deadline
SLACK = 1.5  # wall seconds for a loaded machine: process scheduling, the sampler's own period
SECRET = "fault-suite-secret"
WEBHOOK = "/webhooks/azure-monitor"
ALERTS = Path(__file__).resolve().parent.parent / "service" / "alerts"


@dataclass(frozen=True)
class ScenarioTime:
    """Where the emulator's scenario second 0 fell on the wall clock: between `earliest` and
    `latest`. Read from the emulator's own count of scenario seconds, so the span is one local
    request; the moment its URL was read is later than second 0 by the emulator's start-up and
    the wait for its line, enough for a poll to see a fault end before the test thinks it has."""

    earliest: float
    latest: float

    @classmethod
    def of(cls, emulator_url: str) -> ScenarioTime:
        before = time.time()
        elapsed = read_counters(emulator_url).elapsed / SPEED
        after = time.time()
        return cls(before - elapsed, after - elapsed)

    def come_by(self, seconds: float) -> float:
        """A wall time by which scenario second `seconds` has surely come."""
        return self.latest + seconds / SPEED

    def not_yet_at(self, seconds: float) -> float:
        """A wall time at which scenario second `seconds` has surely not come yet."""
        return self.earliest + seconds / SPEED


def write_scenario(tmp_path: Path, raw: dict[str, Any]) -> Path:
    path = tmp_path / f"{raw['name']}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def agent_config(tmp_path: Path, emulator_url: str, port: int, subscriptions: list[str]) -> Path:
    """`vpnwatch run` settings: intervals divided by `SPEED`, every other setting the default."""
    return run_config(
        tmp_path,
        emulator_url,
        port,
        subscriptions,
        collectors={
            "gateways": {"interval_seconds": 300 / SPEED},
            "connections": {"interval_seconds": CONNECTIONS_INTERVAL},
            "bgp": {"interval_seconds": 60 / SPEED},
            "expressroute": {"interval_seconds": 60 / SPEED},
            "resourcehealth": {"enabled": False},
            "discovery_resource_graph": False,
            "lro_poll_interval_seconds": 0.1,
        },
        service={"webhook": {"secret": SECRET}},
    )


# --- watching the agent from outside -------------------------------------------------------------


@dataclass
class Sample:
    at: float  # wall clock (time.time())
    health_status: int
    blind: bool
    connections: dict[str, str]  # connection id -> health
    blind_scopes: set[str]  # scopes of open monitoring_blind incidents
    incidents: list[dict[str, Any]]


@dataclass
class Sampler:
    """Reads `/health`, the connections and the incidents every `period` seconds in a thread."""

    api: str
    period: float = 0.25
    samples: list[Sample] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Sampler:
        self._thread = threading.Thread(target=self._run, name="fault-sampler", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        with httpx.Client(timeout=5.0) as client:
            while not self._stop.is_set():
                with contextlib.suppress(httpx.HTTPError):  # restarting, or too busy this once
                    self.samples.append(self._sample(client))
                self._stop.wait(self.period)

    def _sample(self, client: httpx.Client) -> Sample:
        at = time.time()
        health = client.get(f"{self.api}/health")
        connections = client.get(f"{self.api}/api/v1/connections", params={"limit": 1000})
        incidents = client.get(f"{self.api}/api/v1/incidents", params={"limit": 1000})
        connections.raise_for_status()
        incidents.raise_for_status()
        items = incidents.json()["items"]
        return Sample(
            at=at,
            health_status=health.status_code,
            blind=bool(health.json().get("blind")),
            connections={c["id"]: c["health"] for c in connections.json()["items"]},
            blind_scopes={
                i["attributes"].get("scope", "")
                for i in items
                if i["type"] == "monitoring_blind" and i["status"] != "resolved"
            },
            incidents=items,
        )

    # --- reading what was seen ---------------------------------------------------------------

    def first(self, condition: Any, after: float = 0.0) -> Sample | None:
        return next((s for s in self.samples if s.at >= after and condition(s)), None)

    def between(self, start: float, end: float) -> list[Sample]:
        return [s for s in self.samples if start <= s.at <= end]


def scope_of(sub: str) -> str:
    return f"/subscriptions/{sub}"


def in_subscription(sample: Sample, sub: str) -> dict[str, str]:
    prefix = scope_of(sub).lower() + "/"
    return {k: v for k, v in sample.connections.items() if k.lower().startswith(prefix)}


# --- Azure Monitor alerts ---------------------------------------------------------------------


def alert(alert_id: str, target: str) -> dict[str, Any]:
    """A documented Resource Health alert (common alert schema) about `target`."""
    payload = json.loads((ALERTS / "alerts-common-schema.sample-alert-payload.json").read_text())
    payload = copy.deepcopy(payload)
    fragment = json.loads(
        (ALERTS / "alerts-common-schema.resourcehealth.alertContext.json").read_text()
    )
    essentials = payload["data"]["essentials"]
    essentials.update(
        alertId=alert_id,
        signalType="Activity Log",
        monitoringService="Resource Health",
        monitorCondition="Fired",
        alertTargetIDs=[target],
    )
    essentials.pop("resolvedDateTime", None)
    payload["data"]["alertContext"] = fragment["alertContext"]
    return payload


def post_alert(client: httpx.Client, api: str, payload: dict[str, Any]) -> httpx.Response:
    return client.post(f"{api}{WEBHOOK}", json=payload, headers={"X-Vpnwatch-Token": SECRET})
