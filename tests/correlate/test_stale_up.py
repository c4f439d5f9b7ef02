"""Never a stale `up`: a poll that failed to refresh an entity makes it `unknown` at once."""

from __future__ import annotations

from factories import SCOPE, UP, at, connection, gateway, rid, run, settings

from vpnwatch.correlate import Correlator, Health
from vpnwatch.observations import FailureCause

GW = gateway("gw1")
C1 = connection("c1", GW)
C2 = connection("c2", GW)
CONNECTIONS = "arm.connections"


def watching() -> Correlator:
    corr = Correlator(settings(state={"staleness_seconds": 90}))
    listed = run(CONNECTIONS, resource_ids=[C1.resource_id, C2.resource_id])
    corr.process([GW, C1, C2, listed, run("arm.gateways", resource_ids=[GW.resource_id])], at(0))
    assert corr.state.health_of(C1.resource_id, at(0)) is Health.UP
    return corr


def test_a_failed_poll_makes_what_it_polls_unknown_at_once() -> None:
    corr = watching()
    corr.process([run(CONNECTIONS, t=15, ok=False, cause=FailureCause.AUTH)], at(15))
    for cid in (C1.resource_id, C2.resource_id):
        assert corr.state.health_of(cid, at(15)) is Health.UNKNOWN  # not 75 s later
        entity = corr.state.entities[cid]
        assert entity.health is Health.UP  # the last known state stays: "last seen up at ..."
        assert entity.unknown_reason is not None and "auth" in entity.unknown_reason


def test_what_the_failed_poll_did_refresh_stays_known() -> None:
    corr = watching()
    fresh = connection("c1", GW, t=15)
    corr.process([fresh, run(CONNECTIONS, t=15, ok=False, cause=FailureCause.THROTTLED)], at(15))
    assert corr.state.health_of(C1.resource_id, at(15)) is Health.UP
    assert corr.state.health_of(C2.resource_id, at(15)) is Health.UNKNOWN


def test_another_collectors_failure_leaves_it_alone() -> None:
    corr = watching()
    corr.process([run("arm.bgp", t=15, ok=False, cause=FailureCause.AUTH)], at(15))
    assert corr.state.health_of(C1.resource_id, at(15)) is Health.UP


def test_another_scopes_failure_leaves_it_alone() -> None:
    corr = watching()
    other = "/subscriptions/99999999-2222-3333-4444-555555555555"
    corr.process([run(CONNECTIONS, t=15, ok=False, cause=FailureCause.AUTH, scope=other)], at(15))
    assert corr.state.health_of(C1.resource_id, at(15)) is Health.UP


def test_the_next_successful_poll_makes_it_known_again() -> None:
    corr = watching()
    corr.process([run(CONNECTIONS, t=15, ok=False, cause=FailureCause.TIMEOUT)], at(15))
    corr.process([connection("c1", GW, t=30, status=UP), connection("c2", GW, t=30)], at(30))
    assert corr.state.health_of(C1.resource_id, at(30)) is Health.UP
    assert corr.state.health_of(C2.resource_id, at(30)) is Health.UP


def test_the_gateway_fed_by_unknown_connections_is_not_up() -> None:
    corr = watching()
    corr.process([run(CONNECTIONS, t=15, ok=False, cause=FailureCause.AUTH)], at(15))
    gw = rid("virtualNetworkGateways", "gw1")
    assert corr.state.health_of(gw, at(15)) is not Health.UP
    assert SCOPE  # the factories' one subscription
