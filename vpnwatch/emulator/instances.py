"""Which gateway instance carries the tunnels at scenario time t, and when that changed.

Azure Monitor names gateway instances `GatewayTenantWorker_IN_0` / `_IN_1` (the `Instance`
dimension of the VPN gateway metrics and `instance_s` of `TunnelDiagnosticLog`). The ARM view
only says whether a tunnel is up; the metrics and diagnostic logs say on which instance. An
active/active gateway runs tunnel slot i on instance i. An active/standby gateway runs its one
slot on whichever instance took it over last: after each dark span of the slot the standby
carries it when it is up (that is what a failover is), otherwise the instance that came back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from vpnwatch.emulator.topology import Gateway
from vpnwatch.emulator.world import World


def instance_name(index: int) -> str:
    return f"GatewayTenantWorker_IN_{index}"


@dataclass(frozen=True)
class Switch:
    """The tunnels of an active/standby gateway left `from_instance` at `down_at` and came up on
    `to_instance` at `up_at` (`GatewayTenantPrimaryChanged`)."""

    down_at: float
    up_at: float
    from_instance: int
    to_instance: int


def switches(world: World, gw: Gateway) -> list[Switch]:
    """Every dark span of an active/standby gateway's tunnel slot, with the instances on either
    side. Active/active gateways never switch: each instance keeps its own tunnels."""
    if not gw.is_vpn or gw.active_active:
        return []
    dark = world.timeline.gateway_slot_down(gw.name, 0)
    carrier = 0
    out: list[Switch] = []
    for start, end in dark.spans:
        if math.isinf(end):
            out.append(Switch(start, math.inf, carrier, carrier))
            break
        other = 1 - carrier
        other_up = not world.timeline.gateway_instance_down(gw.name, other).contains(end)
        to = other if other_up else carrier
        out.append(Switch(start, end, carrier, to))
        carrier = to
    return out


def carrier_at(world: World, gw: Gateway, slot: int, t: float) -> int | None:
    """The instance running tunnel slot `slot` at `t`; None while the slot is dark."""
    if world.timeline.gateway_slot_down(gw.name, slot).contains(t):
        return None
    if not gw.is_vpn or gw.active_active:
        return slot
    carrier = 0
    for switch in switches(world, gw):
        if switch.up_at <= t:
            carrier = switch.to_instance
    return carrier
