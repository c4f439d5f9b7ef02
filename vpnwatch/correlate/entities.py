"""What the fleet state is made of: entities (a gateway, an instance, a connection, a tunnel, a
BGP peer, a site, a circuit, a peering, a link), their health, and the ids they go by.

Entity ids are the resource ids for gateways, connections, sites and circuits, and paths below
them for the parts: `<gatewayId>/instances/<ipConfigName>`, `<connectionId>/tunnels/<tunnel>`,
`<gatewayId>/bgpPeers/<localAddress>/<neighbor>`, `<circuitId>/peerings/<name>` and
`<circuitId>/peerings/<name>/links/<primary|secondary>`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from vpnwatch.correlate.records import decode_datetime
from vpnwatch.observations import FailureCause


class Health(StrEnum):
    UP = "up"
    DEGRADED = "degraded"
    DOWN = "down"
    UNKNOWN = "unknown"


SERVING = frozenset({Health.UP, Health.DEGRADED})  # carrying traffic, perhaps without redundancy

# `gateway_type` / `connection_type` values the detectors tell apart
VPN = "Vpn"
EXPRESSROUTE = "ExpressRoute"
VNET2VNET = "Vnet2Vnet"


class EntityKind(StrEnum):
    GATEWAY = "gateway"
    INSTANCE = "instance"
    CONNECTION = "connection"
    TUNNEL = "tunnel"
    SITE = "site"
    BGP_PEER = "bgp_peer"
    CIRCUIT = "circuit"
    PEERING = "peering"
    LINK = "link"


def instance_id(gateway_id: str, name: str) -> str:
    return f"{gateway_id}/instances/{name}"


def tunnel_id(connection_id: str, name: str) -> str:
    return f"{connection_id}/tunnels/{name}"


def bgp_peer_id(gateway_id: str, local_address: str, neighbor: str) -> str:
    return f"{gateway_id}/bgpPeers/{local_address}/{neighbor}"


def peering_id(circuit_id: str, name: str) -> str:
    return f"{circuit_id}/peerings/{name}"


def link_id(circuit_id: str, peering: str, device_path: str) -> str:
    return f"{circuit_id}/peerings/{peering}/links/{device_path}"


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


@dataclass(slots=True)
class EntityState:
    """One entity's health as last derived from data.

    `health`/`since` are the last health seen in data (`unknown` only before any); `health_of`
    gives the effective one, with staleness and `unknown_reason` applied. `previous` and
    `previous_since` keep the health before the last change, so a restore can be measured.
    """

    entity_id: str
    kind: str
    health: Health
    since: datetime
    last_observed: datetime | None
    evidence: str
    attributes: dict[str, str] = field(default_factory=dict)
    transitions: list[datetime] = field(default_factory=list)
    previous: Health | None = None
    previous_since: datetime | None = None
    previous_observed: datetime | None = None  # the observation before `last_observed`
    unknown_reason: str | None = None  # set by a `ResourceUnknown` until the next observation
    routes_history: list[int] = field(default_factory=list)  # BGP: routes while connected
    evidence_at: datetime | None = None  # when `evidence` last changed

    def to_record(self) -> dict[str, Any]:
        return {
            "kind": str(self.kind),
            "health": self.health.value,
            "since": _iso(self.since),
            "last_observed": _iso(self.last_observed),
            "evidence": self.evidence,
            "attributes": dict(self.attributes),
            "transitions": [t.isoformat() for t in self.transitions],
            "previous": self.previous.value if self.previous else None,
            "previous_since": _iso(self.previous_since),
            "previous_observed": _iso(self.previous_observed),
            "unknown_reason": self.unknown_reason,
            "routes_history": list(self.routes_history),
            "evidence_at": _iso(self.evidence_at),
        }

    @classmethod
    def from_record(cls, entity_id: str, data: dict[str, Any]) -> EntityState:
        since = decode_datetime(data["since"])
        assert since is not None
        return cls(
            entity_id=entity_id,
            kind=data["kind"],
            health=Health(data["health"]),
            since=since,
            last_observed=decode_datetime(data.get("last_observed")),
            evidence=data.get("evidence", ""),
            attributes=dict(data.get("attributes") or {}),
            transitions=[datetime.fromisoformat(t) for t in data.get("transitions") or ()],
            previous=Health(data["previous"]) if data.get("previous") else None,
            previous_since=decode_datetime(data.get("previous_since")),
            previous_observed=decode_datetime(data.get("previous_observed")),
            unknown_reason=data.get("unknown_reason"),
            routes_history=[int(n) for n in data.get("routes_history") or ()],
            evidence_at=decode_datetime(data.get("evidence_at")),
        )


@dataclass(slots=True)
class RunStreak:
    """Consecutive failed runs of one collector over one scope, for the blindness detector."""

    failed_runs: int = 0
    failing_since: datetime | None = None
    cause: FailureCause | None = None
    reason: str = ""
    last_ok_at: datetime | None = None
    last_failed_at: datetime | None = None
    last_failed_started_at: datetime | None = None  # when that failed pass began

    def reset(self) -> None:
        """No failure counts any more (a last success, if any, stays)."""
        self.failed_runs = 0
        self.failing_since = None
        self.cause = None
        self.reason = ""

    def to_record(self) -> dict[str, Any]:
        return {
            "failed_runs": self.failed_runs,
            "failing_since": _iso(self.failing_since),
            "cause": self.cause.value if self.cause else None,
            "reason": self.reason,
            "last_ok_at": _iso(self.last_ok_at),
            "last_failed_at": _iso(self.last_failed_at),
            "last_failed_started_at": _iso(self.last_failed_started_at),
        }

    @classmethod
    def from_record(cls, data: dict[str, Any]) -> RunStreak:
        return cls(
            failed_runs=int(data.get("failed_runs", 0)),
            failing_since=decode_datetime(data.get("failing_since")),
            cause=FailureCause(data["cause"]) if data.get("cause") else None,
            reason=data.get("reason", ""),
            last_ok_at=decode_datetime(data.get("last_ok_at")),
            last_failed_at=decode_datetime(data.get("last_failed_at")),
            last_failed_started_at=decode_datetime(data.get("last_failed_started_at")),
        )


@dataclass(frozen=True, slots=True)
class InstanceMembers:
    """What runs on one gateway instance: its tunnels and BGP sessions (entity ids)."""

    tunnels: tuple[str, ...] = ()
    peers: tuple[str, ...] = ()
