"""What Azure's `lastConnectionEstablishedUtcTime` tells about a gap in the data.

A tunnel seen connected before the gap and connected again after it, whose last connection was
established after that last observation, dropped and came back in the gap: an outage nobody saw,
recorded as an incident opened and resolved at once (its end is the reconnection, its start
unknown). A tunnel still down after the gap, established after the last observation, dropped
after that reconnection: its start is narrowed to "between the reconnection and first seen".
"""

from __future__ import annotations

from datetime import datetime

from factories import DOWN, at, connection, gateway, key, rid, settings
from test_restart import Store

from vpnwatch.correlate import Correlator
from vpnwatch.incidents import IncidentType, Severity

GW = gateway("gw1")
AA = gateway("gwaa", active_active=True, n=2)
C1 = rid("connections", "c1")
LONG_AGO = at(-7200)
NO_HOLD = {"clear_hold_seconds": 0}


def _quiet_before_stop(store: Store) -> None:
    """c1 (and c2) seen connected at 0 and 15 s, established two hours ago; then a stop."""
    corr = Correlator(settings())
    store.save(
        corr.process(
            [GW, *(connection(n, GW, established=[LONG_AGO]) for n in ("c1", "c2"))], at(0)
        )
    )
    store.save(corr.process([connection("c1", GW, t=15, established=[LONG_AGO])], at(15)))


def test_an_outage_that_began_and_ended_while_stopped_is_recorded_as_over() -> None:
    store = Store()
    _quiet_before_stop(store)
    corr = store.resume()  # restarted at 600 s; c1 dropped and came back at 400 s meanwhile
    result = corr.process([connection("c1", GW, t=600, established=[at(400)])], at(600))
    (inc,) = result.opened
    assert result.resolved == [inc] and not inc.is_open
    assert corr.open_incidents() == []
    assert inc.key == key(IncidentType.TUNNEL_DOWN, C1)
    assert inc.severity is Severity.INFO and inc.classification == "unobserved"
    assert inc.resolved_at == at(400)  # the reconnection Azure reports
    assert inc.attributes["start"] == "unknown"
    assert inc.attributes["reconnected_at"] == at(400).isoformat()
    last_seen = datetime.fromisoformat(inc.attributes["last_seen_healthy"])
    assert at(0) <= last_seen <= at(15)
    assert inc.opened_at >= last_seen  # never an invented start before what was seen
    assert inc.outage_seconds is None  # unknown; at most:
    assert float(inc.attributes["outage_at_most_seconds"]) == (at(400) - last_seen).total_seconds()
    assert "while vpnwatch was not running" in inc.title
    assert "reconnected at 10:06:40" in inc.title
    messages = " | ".join(e.message for e in inc.timeline)
    assert "lastConnectionEstablishedUtcTime" in messages
    assert last_seen.isoformat() in messages
    store.save(result)
    assert store.incidents[inc.id].resolved_at == at(400)


def test_a_second_restart_does_not_record_it_again() -> None:
    store = Store()
    _quiet_before_stop(store)
    corr = store.resume()
    store.save(corr.process([connection("c1", GW, t=600, established=[at(400)])], at(600)))
    assert len(store.incidents) == 1
    corr = store.resume()  # and again, at 900 s: nothing happened since
    result = corr.process([connection("c1", GW, t=900, established=[at(400)])], at(900))
    assert result.opened == [] and result.resolved == []


def test_a_tunnel_established_before_the_last_observation_records_nothing() -> None:
    store = Store()
    _quiet_before_stop(store)
    corr = store.resume()
    result = corr.process([connection("c1", GW, t=600, established=[LONG_AGO])], at(600))
    assert result.opened == []


def test_a_reconnection_between_two_regular_polls_is_not_a_gap() -> None:
    corr = Correlator(settings())
    corr.process([GW, connection("c1", GW, established=[LONG_AGO])], at(0))
    result = corr.process([connection("c1", GW, t=15, established=[at(10)])], at(15))
    assert [i for i in result.opened if i.type is IncidentType.TUNNEL_DOWN] == []


def test_an_outage_over_before_vpnwatch_could_read_again_is_recorded() -> None:
    corr = Correlator(settings())
    corr.process([GW, connection("c1", GW, established=[LONG_AGO])], at(0))
    # c1 unread for ten minutes (vpnwatch ran but could not read it)
    result = corr.process([connection("c1", GW, t=600, established=[at(300)])], at(600))
    (inc,) = result.opened
    assert result.resolved == [inc] and inc.resolved_at == at(300)
    assert "while vpnwatch could not read it" in inc.title
    assert inc.attributes["last_seen_healthy"] == at(0).isoformat()


def test_one_tunnel_of_an_active_active_connection_is_named() -> None:
    store = Store()
    corr = Correlator(settings())
    store.save(corr.process([AA, connection("x1", AA, established=[LONG_AGO] * 2)], at(0)))
    corr = store.resume()
    result = corr.process([connection("x1", AA, t=600, established=[LONG_AGO, at(500)])], at(600))
    (inc,) = result.opened
    assert inc.key == key(IncidentType.TUNNEL_DOWN, rid("connections", "x1"))
    assert "x1_20.0.2.2" in inc.title and "x1_20.0.2.1" not in inc.title
    assert inc.resolved_at == at(500)


def test_a_tunnel_still_down_after_a_restart_dropped_after_its_last_reconnection() -> None:
    store = Store()
    _quiet_before_stop(store)
    corr = store.resume()
    # c1 came back at 300 s after a first drop, and dropped again before the restart at 600 s
    result = corr.process(
        [connection("c1", GW, t=600, status=DOWN, established=[at(300)])], at(600)
    )
    (inc,) = result.opened
    assert inc.is_open and inc.opened_at == at(600)
    assert inc.attributes["start"] == "unknown"
    assert inc.attributes["started_after"] == at(300).isoformat()
    assert "started between 10:05:00 and 10:10:00" in inc.title
    assert any("reconnected at" in e.message for e in inc.timeline)


def test_a_tunnel_still_down_without_a_later_reconnection_keeps_the_last_observation() -> None:
    store = Store()
    _quiet_before_stop(store)
    corr = store.resume()
    result = corr.process(
        [connection("c1", GW, t=600, status=DOWN, established=[LONG_AGO])], at(600)
    )
    (inc,) = result.opened
    last_seen = datetime.fromisoformat(inc.attributes["last_seen_healthy"])
    assert inc.attributes["started_after"] == last_seen.isoformat()
    assert f"started between {last_seen:%H:%M:%S} and 10:10:00" in inc.title


def test_it_is_not_recorded_twice_when_the_connection_is_read_again() -> None:
    store = Store()
    _quiet_before_stop(store)
    corr = store.resume()
    corr.process([connection("c1", GW, t=600, established=[at(400)])], at(600))
    result = corr.process([connection("c1", GW, t=615, established=[at(400)])], at(615))
    assert result.opened == [] and result.resolved == []
    assert corr.state.health_of(C1, at(615)).value == "up"


def test_an_outage_that_ended_while_stopped_ends_at_the_reconnection() -> None:
    store = Store()
    corr = Correlator(settings(state=NO_HOLD))
    store.save(corr.process([GW, connection("c1", GW, established=[LONG_AGO])], at(0)))
    store.save(
        corr.process([connection("c1", GW, t=15, status=DOWN, established=[LONG_AGO])], at(15))
    )
    (inc,) = corr.open_incidents()
    corr = store.resume(state=NO_HOLD)  # restarted at 600 s; c1 came back at 300 s meanwhile
    result = corr.process([connection("c1", GW, t=600, established=[at(300)])], at(600))
    (resolved,) = result.resolved
    assert resolved.id == inc.id
    assert resolved.resolved_at == at(300)  # not the restart: Azure says when it came back
    assert resolved.outage_seconds == 285.0


def test_a_restore_seen_by_regular_polling_is_still_the_poll_that_saw_it() -> None:
    corr = Correlator(settings(state=NO_HOLD))
    corr.process([GW, connection("c1", GW, established=[LONG_AGO])], at(0))
    corr.process([connection("c1", GW, t=15, status=DOWN, established=[LONG_AGO])], at(15))
    result = corr.process([connection("c1", GW, t=30, established=[at(25)])], at(30))
    (resolved,) = result.resolved
    assert resolved.resolved_at == at(30)
