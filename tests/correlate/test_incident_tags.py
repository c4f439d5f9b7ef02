"""Which Azure tags an incident carries (`correlate/tags.py`): its subject's, then those every
other resource of it agrees on."""

from __future__ import annotations

from datetime import UTC, datetime

from vpnwatch.config import StateSettings
from vpnwatch.correlate.state import FleetState
from vpnwatch.correlate.tags import incident_tags, retag
from vpnwatch.observations import GatewayObserved

RG = "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Network/virtualNetworkGateways/"


def _gateway(name: str, **tags: str) -> GatewayObserved:
    return GatewayObserved(
        observed_at=datetime(2026, 1, 1, tzinfo=UTC), source="arm.gateways",
        resource_id=RG + name, name=name, subscription_id="s1", resource_group="rg",
        region="westeurope", vnet_id=None, gateway_type="Vpn", sku="VpnGw2AZ",
        active_active=False, bgp_enabled=False, asn=None, provisioning_state="Succeeded",
        tags=tuple(sorted(tags.items())),
    )  # fmt: skip


def _inventory(*gateways: GatewayObserved) -> FleetState:
    state = FleetState(StateSettings())
    for gw in gateways:
        state.apply(gw)
    return state


def test_the_subject_wins_and_the_rest_must_agree():
    inventory = _inventory(
        _gateway("gw-a", env="prod", team="net"),
        _gateway("gw-b", env="dev", team="net", tier="gold"),
    )
    about_a = incident_tags(inventory, f"failover:{RG}gw-a", [RG + "gw-a", RG + "gw-b"])
    assert about_a == {"tag:env": "prod", "tag:team": "net", "tag:tier": "gold"}
    # a zone outage is about no one resource: env disagrees, so it carries none
    zone = incident_tags(inventory, "zone_outage:westeurope/1", [RG + "gw-a", RG + "gw-b"])
    assert zone == {"tag:team": "net", "tag:tier": "gold"}


def test_entity_ids_below_a_resource_take_its_tags_and_unknown_ids_none():
    inventory = _inventory(_gateway("gw-a", env="prod"))
    key = f"redundancy_lost:{RG}GW-A"  # ids are matched ignoring case, as Azure does
    assert incident_tags(inventory, key, [RG + "gw-a/instances/default"]) == {"tag:env": "prod"}
    assert incident_tags(inventory, "blind:s1", ["/subscriptions/s1", "nonsense"]) == {}


def test_retag_drops_a_tag_removed_in_azure():
    attributes = {"gateway": "gw-a", "tag:env": "prod", "tag:old": "x"}
    retag(attributes, {"tag:env": "dev"})
    assert attributes == {"gateway": "gw-a", "tag:env": "dev"}


def test_tags_survive_a_restart_in_the_entity_records():
    from vpnwatch.correlate.records import decode_observation, encode_observation

    gw = _gateway("gw-a", env="prod", team="net")
    assert decode_observation(encode_observation(gw)) == gw
