"""The `AzureDiagnostics` rows VPN gateways write, derived from the scenario timeline.

Columns and values follow the VPN Gateway diagnostics documentation (MicrosoftDocs/azure-docs:
articles/vpn-gateway/troubleshoot-vpn-with-azure-diagnostics.md and
monitor-vpn-gateway-reference.md): `Category` selects the log, `ResourceId` is upper-case, tunnel
rows carry `instance_s` (`GatewayTenantWorker_IN_0`/`_IN_1`), `remoteIP_s`, `status_s` and
`stateChangeReason_s`.

What a failover writes: a `TunnelDisconnected` per connection on the instance that failed, a
`GatewayTenantPrimaryChanged` naming the instance that took over, and a `TunnelConnected` per
connection on that instance. Planned maintenance adds a `HostMaintenanceEvent` first. A tunnel
that fails on the remote side writes a disconnect with the reason and a connect when it is back,
and BGP sessions over it write `BgpDisconnectedEvent`/`BgpConnectedEvent`.

Every row becomes queryable only after an ingestion delay of 3 to 10 minutes, chosen per row
from the seed (resource logs reach a workspace minutes after the event: learn.microsoft.com/
azure/azure-monitor/logs/data-ingestion-time). `ingested_at` is when a query first sees it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from vpnwatch.emulator.instances import instance_name, switches
from vpnwatch.emulator.scenario import PlannedMaintenance
from vpnwatch.emulator.topology import Connection, Gateway, rng
from vpnwatch.emulator.world import World

MIN_DELAY_SECONDS = 180.0
MAX_DELAY_SECONDS = 600.0

COLUMNS: tuple[tuple[str, str], ...] = (
    ("TenantId", "string"),
    ("TimeGenerated", "datetime"),
    ("ResourceId", "string"),
    ("Category", "string"),
    ("ResourceGroup", "string"),
    ("SubscriptionId", "string"),
    ("ResourceProvider", "string"),
    ("Resource", "string"),
    ("ResourceType", "string"),
    ("OperationName", "string"),
    ("Message", "string"),
    ("Level", "string"),
    ("instance_s", "string"),
    ("remoteIP_s", "string"),
    ("status_s", "string"),
    ("stateChangeReason_s", "string"),
    ("Type", "string"),
)

REASON_INSTANCE = "Gateway instance unavailable: tunnel moved to the other instance"
REASON_REMOTE = "Peer not responding: dead peer detection timed out"
REASON_MAINTENANCE = "Planned maintenance of the gateway host"


@dataclass(frozen=True)
class LogRow:
    at: float  # scenario seconds of TimeGenerated
    ingested_at: float  # scenario seconds when a query first sees the row
    values: dict[str, object]


class Diagnostics:
    """Every row of the scenario, computed once, sorted by TimeGenerated."""

    def __init__(self, world: World, started_at: datetime, tenant: str = "") -> None:
        self.world = world
        self.started_at = started_at
        self.tenant = tenant
        self.rows: list[LogRow] = []
        for gw in world.topology.gateways:
            if gw.is_vpn:
                self._gateway(gw)
        self.rows.sort(key=lambda r: (r.at, str(r.values["OperationName"])))

    # --- building rows ---------------------------------------------------------------------

    def _add(
        self,
        gw: Gateway,
        at: float,
        category: str,
        operation: str,
        message: str,
        **extra: str,
    ) -> None:
        if math.isinf(at) or at < 0:
            return
        delay = rng(self.world.seed, "ingestion", gw.name, category, operation, at, message)
        when = self.started_at + timedelta(seconds=at)
        rid = gw.resource_id.upper()
        values: dict[str, object] = {
            "TenantId": self.tenant,
            "TimeGenerated": when,
            "ResourceId": rid,
            "Category": category,
            "ResourceGroup": gw.rg.name.upper(),
            "SubscriptionId": gw.rg.subscription.id,
            "ResourceProvider": "MICROSOFT.NETWORK",
            "Resource": gw.name.upper(),
            "ResourceType": "VIRTUALNETWORKGATEWAYS",
            "OperationName": operation,
            "Message": message,
            "Level": "Informational",
            "instance_s": extra.get("instance", ""),
            "remoteIP_s": extra.get("remote_ip", ""),
            "status_s": extra.get("status", ""),
            "stateChangeReason_s": extra.get("reason", ""),
            "Type": "AzureDiagnostics",
        }
        ingested = at + delay.uniform(MIN_DELAY_SECONDS, MAX_DELAY_SECONDS)
        self.rows.append(LogRow(at, ingested, values))

    def _tunnel(
        self, gw: Gateway, conn: Connection, at: float, instance: int, up: bool, reason: str = ""
    ) -> None:
        remote = conn.remote_ip
        name = instance_name(instance)
        operation = "TunnelConnected" if up else "TunnelDisconnected"
        status = "Connected" if up else "Disconnected"
        self._add(
            gw,
            at,
            "TunnelDiagnosticLog",
            operation,
            f"{operation} to {remote} ({conn.name}) on {name}" + (f": {reason}" if reason else ""),
            instance=name,
            remote_ip=remote,
            status=status,
            reason=reason,
        )
        site = conn.site
        if conn.bgp_enabled and site is not None and site.bgp_peering_address:
            event = "BgpConnectedEvent" if up else "BgpDisconnectedEvent"
            self._add(
                gw,
                at + (7.0 if up else 0.5),
                "RouteDiagnosticLog",
                event,
                f"{event}: BGP peer {site.bgp_peering_address} (AS {site.asn}) on {name}",
                instance=name,
                remote_ip=site.bgp_peering_address,
            )

    def _gateway(self, gw: Gateway) -> None:
        vpn = [c for c in gw.connections if c.circuit is None]
        for fault in self.world.scenario.timeline:
            if isinstance(fault, PlannedMaintenance) and fault.gateway.lower() == gw.name.lower():
                self._add(
                    gw,
                    fault.at,
                    "GatewayDiagnosticLog",
                    "HostMaintenanceEvent",
                    "Host maintenance of the gateway started; tunnels move to the other instance",
                )
        for switch in switches(self.world, gw):
            reason = REASON_INSTANCE
            for conn in vpn:
                self._tunnel(gw, conn, switch.down_at, switch.from_instance, False, reason)
            if math.isinf(switch.up_at):
                continue
            if switch.to_instance != switch.from_instance:
                self._add(
                    gw,
                    switch.up_at - 1.0,
                    "GatewayDiagnosticLog",
                    "GatewayTenantPrimaryChanged",
                    f"Primary changed from {instance_name(switch.from_instance)} to "
                    f"{instance_name(switch.to_instance)}",
                    instance=instance_name(switch.to_instance),
                )
            for conn in vpn:
                self._tunnel(gw, conn, switch.up_at, switch.to_instance, True)
        if gw.active_active:
            for slot in range(2):
                down = self.world.timeline.gateway_slot_down(gw.name, slot)
                for start, end in down.spans:
                    for conn in vpn:
                        self._tunnel(gw, conn, start, slot, False, REASON_INSTANCE)
                        self._tunnel(gw, conn, end, slot, True)
        for conn in vpn:
            for start, end in self.world.far_side_down(conn).spans:  # Vnet2Vnet: the far gateway
                if start <= 0:
                    continue  # never connected: nothing changed to log
                for slot in range(gw.tunnels_per_connection):
                    instance = slot if gw.active_active else _carrier(self.world, gw, start)
                    self._tunnel(gw, conn, start, instance, False, REASON_REMOTE)
                    if not math.isinf(end):
                        self._tunnel(gw, conn, end, instance, True)
            for slot in range(gw.tunnels_per_connection):
                remote_down = self.world.timeline.connection_link_down(conn.name, slot)
                for start, end in remote_down.spans:
                    instance = slot if gw.active_active else _carrier(self.world, gw, start)
                    self._tunnel(gw, conn, start, instance, False, REASON_REMOTE)
                    self._tunnel(gw, conn, end, instance, True)

    # --- reading ----------------------------------------------------------------------------

    def visible(self, t: float) -> list[LogRow]:
        """The rows a query at scenario time `t` can see."""
        return [r for r in self.rows if r.ingested_at <= t]


def _carrier(world: World, gw: Gateway, t: float) -> int:
    carrier = 0
    for switch in switches(world, gw):
        if switch.up_at <= t:
            carrier = switch.to_instance
    return carrier
