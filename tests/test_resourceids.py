"""The parts of Azure resource ids, as every module reads them (`vpnwatch/resourceids.py`)."""

from __future__ import annotations

import pytest

from vpnwatch.resourceids import (
    name_of,
    provider_type_of,
    resource_group_of,
    resource_type_of,
    subscription_of,
)

GW = (
    "/subscriptions/0000-AA/resourceGroups/rg-Hub/providers/Microsoft.Network/"
    "virtualNetworkGateways/vgw-1"
)


def test_a_gateway_id():
    assert subscription_of(GW) == "0000-AA"
    assert resource_group_of(GW) == "rg-Hub"
    assert name_of(GW) == "vgw-1"
    assert resource_type_of(GW) == "virtualNetworkGateways"
    assert provider_type_of(GW) == "Microsoft.Network/virtualNetworkGateways"


def test_segment_names_in_any_case_and_a_trailing_slash():
    rid = GW.replace("resourceGroups", "resourcegroups").replace("subscriptions", "SUBSCRIPTIONS")
    assert subscription_of(rid + "/") == "0000-AA"
    assert resource_group_of(rid + "/") == "rg-Hub"
    assert name_of(rid + "/") == "vgw-1"


def test_a_child_resource_is_named_by_its_own_name():
    child = GW + "/ipConfigurations/default"
    assert name_of(child) == "default"
    assert resource_type_of(child) == "ipConfigurations"
    assert provider_type_of(child) == "Microsoft.Network/virtualNetworkGateways"
    assert subscription_of(child) == "0000-AA"


@pytest.mark.parametrize("text", ["vgw-1", "", "/subscriptions/0000-AA"])
def test_what_is_not_a_resource_id(text):
    assert resource_group_of(text) == ""
    assert resource_type_of(text) == ""
    assert provider_type_of(text) == ""
    assert name_of(text) == ("vgw-1" if text == "vgw-1" else "")
    assert subscription_of(text) == ("0000-AA" if text.startswith("/subscriptions") else "")
