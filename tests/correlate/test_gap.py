"""A condition first seen after a gap in the data says its start is unknown; one seen beginning
does not."""

from __future__ import annotations

from factories import DOWN, UP, at, connection, gateway, settings

from vpnwatch.correlate import Correlator
from vpnwatch.incidents import IncidentType

GW = gateway("gw1")


def _start(corr: Correlator) -> list[tuple[IncidentType, str | None]]:
    return [(i.type, i.attributes.get("start")) for i in corr.open_incidents()]


def test_a_drop_seen_beginning_is_timed_from_the_poll_that_saw_it() -> None:
    corr = Correlator(settings())
    corr.process([GW, connection("c1", GW), connection("c2", GW)], at(0))
    corr.process([connection("c1", GW, t=15, status=DOWN)], at(15))
    (inc,) = corr.open_incidents()
    assert inc.type is IncidentType.TUNNEL_DOWN and inc.opened_at == at(15)
    assert "start" not in inc.attributes and "started between" not in inc.title


def test_a_drop_first_seen_after_a_gap_in_the_data_says_its_start_is_unknown() -> None:
    corr = Correlator(settings())
    corr.process([GW, connection("c1", GW), connection("c2", GW)], at(0))
    corr.process([connection("c2", GW, t=15, status=UP)], at(15))
    # c1 unread for ten minutes (the agent ran, but could not read it), then seen down
    corr.process([connection("c1", GW, t=615, status=DOWN)], at(615))
    (inc,) = corr.open_incidents()
    assert inc.opened_at == at(615)
    assert inc.attributes["start"] == "unknown"
    assert inc.attributes["last_seen_healthy"] == at(0).isoformat()
    assert inc.title.endswith("while vpnwatch could not read it)")
    corr.process([connection("c1", GW, t=630, status=DOWN)], at(630))
    assert corr.open_incidents()[0].title == inc.title  # kept as the incident goes on
