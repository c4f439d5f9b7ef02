"""site_down: every connection to one on-premises site down while Azure's side is fine."""

from __future__ import annotations

from factories import DOWN, UP, at, bgp, connection, gateway, key, keys, settings, site

from vpnwatch.correlate import Correlator
from vpnwatch.incidents import IncidentType, Severity
from vpnwatch.observations import BgpPeerState

BRANCH = site("branch", bgp_address="192.168.7.1")
GW_A, GW_B = gateway("gwa", n=1), gateway("gwb", n=2)
SITE_KEY = key(IncidentType.SITE_DOWN, BRANCH.resource_id)


def fleet(**sections: object) -> Correlator:
    corr = Correlator(settings(**sections))  # type: ignore[arg-type]
    corr.process(
        [
            GW_A,
            GW_B,
            BRANCH,
            connection("a-branch", GW_A, peer=BRANCH.resource_id),
            connection("b-branch", GW_B, peer=BRANCH.resource_id),
            connection("a-other", GW_A),
            connection("b-other", GW_B),
            bgp(GW_A, [("10.1.255.4", "192.168.7.1", BgpPeerState.CONNECTED, 5)]),
        ],
        at(0),
    )
    return corr


def branch(t: float, a=DOWN, b=DOWN):  # type: ignore[no-untyped-def]
    return [
        connection("a-branch", GW_A, t=t, status=a, peer=BRANCH.resource_id),
        connection("b-branch", GW_B, t=t, status=b, peer=BRANCH.resource_id),
    ]


def test_site_down_is_one_critical_page_explaining_tunnels_and_bgp() -> None:
    corr = fleet()
    peer_down = bgp(GW_A, [("10.1.255.4", "192.168.7.1", BgpPeerState.IDLE, 0)], t=15)
    result = corr.process([*branch(15), peer_down], at(15))
    (inc,) = result.opened
    assert inc.key == SITE_KEY and inc.severity is Severity.CRITICAL
    assert inc.attributes["site"] == "branch" and inc.opened_at == at(15)
    assert f"{GW_A.resource_id}/bgpPeers/10.1.255.4/192.168.7.1" in {
        e.resource for e in inc.timeline
    }


def test_partial_restore_downgrades_then_resolves_when_all_are_back() -> None:
    corr = fleet(state={"clear_hold_seconds": 0})
    (inc,) = corr.process(branch(15), at(15)).opened
    corr.process(branch(30, a=UP), at(30))
    assert inc.severity is Severity.WARNING and inc.classification == "partial"
    result = corr.process(branch(45, a=UP, b=UP), at(45))
    assert result.resolved == [inc] and inc.outage_seconds == 30.0


def test_gateway_with_its_other_connections_down_is_not_a_site_problem() -> None:
    corr = fleet()
    result = corr.process([*branch(15), connection("a-other", GW_A, t=15, status=DOWN)], at(15))
    assert SITE_KEY not in keys(result.opened)


def test_one_connection_down_is_not_the_site() -> None:
    corr = fleet()
    result = corr.process(branch(15, b=UP), at(15))
    assert keys(result.opened) == {key(IncidentType.TUNNEL_DOWN, result.opened[0].resources[0])}
    assert result.opened[0].type is IncidentType.TUNNEL_DOWN


def test_a_gateway_connected_only_to_the_site_is_not_paged_as_a_failover() -> None:
    corr = fleet()
    only = gateway("gw-only-branch", n=3)
    corr.process([only, connection("o-branch", only, peer=BRANCH.resource_id)], at(0))
    lone = connection("o-branch", only, t=15, status=DOWN, peer=BRANCH.resource_id)
    result = corr.process([*branch(15), lone], at(15))
    assert keys(result.opened) == {SITE_KEY}
