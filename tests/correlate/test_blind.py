"""monitoring_blind: collection runs failing for long enough, per scope."""

from __future__ import annotations

from dataclasses import replace

from factories import DOWN, SCOPE, UP, at, connection, gateway, key, run, settings

from vpnwatch.correlate import Correlator, Health
from vpnwatch.incidents import IncidentType, Severity
from vpnwatch.observations import CollectionRun, FailureCause

BLIND = key(IncidentType.MONITORING_BLIND, SCOPE)
GW = gateway("gw1")


def correlator() -> Correlator:
    return Correlator(
        settings(blind={"after_seconds": 60, "min_failed_runs": 2}, state={"clear_hold_seconds": 0})
    )


def failed(t: float, collector: str = "arm.connections", cause=FailureCause.AUTH):  # type: ignore[no-untyped-def]
    return run(collector, t=t, ok=False, cause=cause)


def test_a_single_failed_run_never_opens_it() -> None:
    corr = correlator()
    corr.process([failed(0)], at(0))
    assert corr.tick(at(600)).opened == []


def test_opens_after_enough_runs_and_time_and_resolves_on_success() -> None:
    corr = correlator()
    corr.process([failed(0)], at(0))
    assert corr.process([failed(30)], at(30)).opened == []  # 2 runs, but only 30 s
    result = corr.tick(at(60))
    (inc,) = result.opened
    assert inc.key == BLIND and inc.severity is Severity.CRITICAL
    assert inc.opened_at == at(0) and inc.classification == "auth"
    assert inc.attributes["collectors"] == "arm.connections"
    corr.process([failed(90, "arm.bgp", FailureCause.THROTTLED)], at(90))
    assert inc.is_open
    result = corr.process([run("arm.connections", t=120)], at(120))
    assert result.resolved == [inc] and inc.outage_seconds == 120.0


def test_server_errors_count() -> None:
    """Five minutes of 503s is as blind as five minutes of 401s."""
    corr = correlator()
    corr.process([failed(0, cause=FailureCause.SERVER_ERROR)], at(0))
    corr.process([failed(30, cause=FailureCause.SERVER_ERROR)], at(30))
    (inc,) = corr.tick(at(60)).opened
    assert inc.key == BLIND and inc.classification == "server_error"
    assert inc.attributes["fault_side"] == "azure"


def test_the_incident_says_whose_fault_it_is() -> None:
    corr = correlator()
    corr.process([failed(0)], at(0))
    corr.process([failed(30)], at(30))
    (inc,) = corr.tick(at(60)).opened
    assert inc.attributes["fault_side"] == "vpnwatch"
    assert "credential" in inc.title and "arm.connections" in inc.title


def test_other_causes_neither_count_nor_reset() -> None:
    corr = correlator()
    corr.process([failed(0)], at(0))
    corr.process([failed(30, cause=FailureCause.INVALID_RESPONSE)], at(30))
    assert corr.tick(at(90)).opened == []
    result = corr.process([failed(100)], at(100))
    assert [i.key for i in result.opened] == [BLIND]


def test_while_blind_entities_go_unknown_and_incidents_stay_open() -> None:
    corr = Correlator(settings(state={"staleness_seconds": 90}))
    corr.process([GW, connection("c1", GW), connection("c2", GW)], at(0))
    corr.process([connection("c1", GW, t=15, status=DOWN)], at(15))
    for t in range(30, 400, 30):
        result = corr.process([failed(t)], at(t))
        assert result.resolved == []
    assert corr.state.summary(at(400))[Health.UNKNOWN] == len(corr.state.entities)
    types = {i.type for i in corr.open_incidents()}
    assert types == {IncidentType.TUNNEL_DOWN, IncidentType.MONITORING_BLIND}
    result = corr.process(
        [
            connection("c1", GW, t=410, status=UP),
            connection("c2", GW, t=410),
            run("arm.connections", t=410),
        ],
        at(410),
    )
    # seeing again is not a flap of the network: blind resolves at once, within the interval
    assert [i.type for i in result.resolved] == [IncidentType.MONITORING_BLIND]
    # the tunnel is held: it resolves after clear_hold_seconds
    assert [i.type for i in corr.tick(at(470)).resolved] == [IncidentType.TUNNEL_DOWN]


def test_a_second_blind_collector_joins_the_scope_incident() -> None:
    corr = correlator()
    corr.process([failed(0), failed(0, "arm.bgp", FailureCause.THROTTLED)], at(0))
    corr.process([failed(30)], at(30))
    (inc,) = corr.tick(at(60)).opened
    assert inc.attributes["collectors"] == "arm.connections"
    result = corr.process([failed(60, "arm.bgp", FailureCause.THROTTLED)], at(60))
    assert inc in result.updated
    assert inc.attributes["collectors"] == "arm.bgp, arm.connections"
    # the first pass that sees again began after every failure: it resolves the scope
    result = corr.process([run("arm.connections", t=90)], at(90))
    assert result.resolved == [inc] and inc.resolved_at == at(90)


def test_by_default_the_second_failed_poll_of_the_connections_opens_it() -> None:
    """Blind within two poll intervals: the default `after_seconds` is one connections poll."""
    corr = Correlator(settings())
    corr.process([failed(0)], at(0))
    assert corr.process([failed(14)], at(14)).opened == []  # two runs, not yet one poll apart
    (inc,) = corr.process([failed(15)], at(15)).opened
    assert inc.key == BLIND and inc.opened_at == at(0)


def test_a_slow_collector_that_has_not_run_again_does_not_hold_it_open() -> None:
    # every collector failed; gateways poll every 300 s, so they have not run again when the
    # connections see again at 360 s
    corr = correlator()
    for t in range(0, 331, 30):
        gateways = [failed(t, "arm.gateways")] if t % 300 == 0 else []
        corr.process([failed(t), *gateways], at(t))
    (inc,) = corr.open_incidents()
    assert inc.attributes["collectors"] == "arm.connections, arm.gateways"
    result = corr.process([run("arm.connections", t=360)], at(360))
    assert result.resolved == [inc] and inc.resolved_at == at(360)


def started(run_: CollectionRun, t: float) -> CollectionRun:
    """`run_`, from a pass that began at `t`."""
    return replace(run_, started_at=at(t))


def test_a_pass_that_began_before_the_recovery_does_not_reopen_it() -> None:
    """Issue 14: a BGP pass that began during the fault and fails after the connections pass
    already saw again must not reopen what that pass closed (pass starts are compared)."""
    corr = correlator()
    corr.process([failed(0)], at(0))
    corr.process([failed(30), started(failed(30, "arm.bgp"), 25)], at(30))
    (inc,) = corr.tick(at(60)).opened  # and a third failed connections poll at 60
    corr.process([failed(60)], at(60))
    result = corr.process([started(run("arm.connections", t=90), 88)], at(90))
    assert result.resolved == [inc] and inc.resolved_at == at(90)
    # the BGP pass under way since 70 s (in the fault) fails at 97 s, after the recovery
    result = corr.process([started(failed(97, "arm.bgp"), 70)], at(97))
    assert result.opened == [] and corr.open_incidents() == []
    assert corr.tick(at(200)).opened == []
    streak = corr.state.run_streaks[("arm.bgp", SCOPE)]
    assert streak.failed_runs == 0


def test_failures_of_passes_begun_after_the_recovery_count_afresh() -> None:
    corr = correlator()
    for t in (0, 30, 60):
        corr.process([failed(t), started(failed(t, "arm.bgp"), t - 2)], at(t))
    (inc,) = corr.open_incidents()
    corr.process([started(run("arm.connections", t=90), 88)], at(90))
    assert not inc.is_open
    # BGP alone keeps failing, pass after pass begun after 88 s: a new, BGP-only blindness
    for t in (100, 130):
        assert corr.process([started(failed(t, "arm.bgp"), t - 2)], at(t)).opened == []
    (again,) = corr.process([started(failed(160, "arm.bgp"), 158)], at(160)).opened
    assert again.attributes["collectors"] == "arm.bgp" and again.opened_at == at(100)


def test_a_collector_failing_on_its_own_still_blinds() -> None:
    """Other collectors succeeding (they never failed) do not excuse BGP's own failures."""
    corr = correlator()
    for t in (0, 30, 60):
        corr.process(
            [started(run("arm.connections", t=t), t - 1), started(failed(t, "arm.bgp"), t - 2)],
            at(t),
        )
    (inc,) = corr.open_incidents()
    assert inc.attributes["collectors"] == "arm.bgp"


def test_without_pass_starts_the_run_time_is_the_start() -> None:
    corr = correlator()
    for t in (0, 30, 60, 90):
        corr.process([failed(t), failed(t, "arm.bgp")], at(t))
    (inc,) = corr.open_incidents()
    corr.process([run("arm.connections", t=120)], at(120))
    assert not inc.is_open  # the first pass that sees again resolves it
    assert corr.process([failed(121, "arm.bgp")], at(121)).opened == []  # one fresh failure
    assert corr.process([run("arm.bgp", t=150)], at(150)).opened == []
