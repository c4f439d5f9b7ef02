"""Scenario `single-connection-failover` through emulator, real SDK collectors (ARM, metrics
batch, Log Analytics) and the correlator: what Azure Monitor adds after the fact."""

from __future__ import annotations

import asyncio

import pytest

from vpnwatch.emulator import load_scenario
from vpnwatch.incidents import Incident, IncidentType
from vpnwatch.replay import REPLAY_EPOCH, replay


@pytest.fixture(scope="module")
def incidents() -> list[Incident]:
    return asyncio.run(replay(load_scenario("single-connection-failover")))


def _of(incidents: list[Incident], gateway: str, kind: IncidentType) -> Incident:
    found = [i for i in incidents if i.type is kind and i.attributes.get("gateway") == gateway]
    assert len(found) == 1, [(i.type, i.attributes) for i in incidents]
    return found[0]


def test_the_log_settles_a_single_connection_drop_as_a_failover(
    incidents: list[Incident],
) -> None:
    failover = _of(incidents, "vpngw-solo-weu", IncidentType.FAILOVER)
    assert failover.attributes["instance"] == "GatewayTenantWorker_IN_1"
    assert failover.attributes["settled_by"] == "GatewayTenantPrimaryChanged"
    assert failover.classification == "unplanned"
    # It was paged when polling saw the drop, not when the log landed minutes later.
    assert (failover.opened_at - REPLAY_EPOCH).total_seconds() == pytest.approx(120, abs=15)
    messages = [e.message for e in failover.timeline]
    assert any("TunnelDisconnected on GatewayTenantWorker_IN_0" in m for m in messages)
    assert any("Gateway instance unavailable" in m for m in messages)  # stateChangeReason_s


def test_packet_drops_while_connected_are_evidence(incidents: list[Incident]) -> None:
    failover = _of(incidents, "vpngw-solo-weu", IncidentType.FAILOVER)
    drops = [e for e in failover.timeline if "PacketDropCount" in e.message]
    # Dropped from 60 s, while ARM still read the connection Connected (it dropped at 120 s).
    assert any((e.at - REPLAY_EPOCH).total_seconds() < 120 for e in drops)
    assert all("cn-solo-lyon" in e.message for e in drops)


def test_host_maintenance_makes_the_failover_planned(incidents: list[Incident]) -> None:
    planned = _of(incidents, "vpngw-maint-weu", IncidentType.FAILOVER)
    assert planned.classification == "planned"
    assert planned.attributes["maintenance"] == "host"
    assert any("HostMaintenanceEvent" in e.message for e in planned.timeline)


def test_p2s_collapse_is_explained_by_the_failover(incidents: list[Incident]) -> None:
    lost = [i for i in incidents if i.type is IncidentType.P2S_SESSIONS_LOST]
    assert len(lost) == 1
    failover = _of(incidents, "vpngw-solo-weu", IncidentType.FAILOVER)
    assert lost[0].parent_key == failover.key
    assert lost[0].resolved_at is not None  # users reconnected
