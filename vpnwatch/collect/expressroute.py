"""ExpressRoute circuits: provisioning, per-link BGP sessions and traffic counters.

A circuit has two links (`devicePath` primary and secondary). Whether each one carries routes
shows only in the route-table summary of a peering, a long-running POST per link: `statePfxRcd`
is a prefix count while the session is established and a BGP state name ("Idle", "Active")
otherwise. If any part of a circuit cannot be read, the whole circuit is reported unknown: half a
circuit would look like a lost link.
"""

from __future__ import annotations

from typing import Any

from vpnwatch.collect.base import (
    ArmCollector,
    GroupResult,
    RunMemo,
    Scope,
    all_of,
    name_of,
    resource_group_of,
    subscription_of,
)
from vpnwatch.collect.parse import as_int, tags, text
from vpnwatch.observations import CircuitObserved, LinkObserved, PeeringObserved

DEVICE_PATHS = ("primary", "secondary")
_PRIVATE_PEERING = "azureprivatepeering"


class ExpressRouteCollector(ArmCollector):
    name = "arm.expressroute"
    kind = "circuit"

    async def collect_group(self, scope: Scope, resource_group: str, memo: RunMemo) -> GroupResult:
        network = self.clients.network(scope.subscription_id)
        circuits = await self.list_all(
            f"list ExpressRoute circuits in resource group {resource_group}",
            lambda: network.express_route_circuits.list(resource_group),
        )
        observed = await self.observe_each(circuits, "circuit", lambda c: self._circuit(network, c))
        return GroupResult(observations=observed, resource_ids=[c.id for c in circuits])

    async def _circuit(self, network: Any, circuit: Any) -> CircuitObserved:
        props = circuit.properties
        if props is None:
            raise ValueError(f"circuit {circuit.id} has no properties")
        group = resource_group_of(circuit.id)
        name = circuit.name or name_of(circuit.id)
        provisioned = text(props.service_provider_provisioning_state).lower() == "provisioned"
        peerings_listed, stats = await all_of(
            self.list_all(
                f"list peerings of circuit {circuit.id}",
                lambda: network.express_route_circuit_peerings.list(group, name),
            ),
            self.call(
                f"read stats of circuit {circuit.id}",
                lambda: network.express_route_circuits.get_stats(group, name),
            ),
        )
        peerings = await all_of(
            *(self._peering(network, group, name, p, provisioned) for p in peerings_listed)
        )
        provider = props.service_provider_properties
        bandwidth = as_int(provider.bandwidth_in_mbps) if provider else None
        if bandwidth is None and props.bandwidth_in_gbps is not None:
            bandwidth = int(float(props.bandwidth_in_gbps) * 1000)
        return CircuitObserved(
            observed_at=self.clock.now(),
            source=self.name,
            resource_id=circuit.id,
            name=name,
            subscription_id=subscription_of(circuit.id),
            resource_group=group,
            region=circuit.location or "",
            circuit_provisioning_state=text(props.circuit_provisioning_state),
            service_provider_provisioning_state=text(props.service_provider_provisioning_state),
            bandwidth_mbps=bandwidth,
            service_provider=provider.service_provider_name if provider else None,
            peering_location=provider.peering_location if provider else None,
            peerings=tuple(peerings),
            primary_bytes_in=as_int(stats.primarybytes_in) or 0,
            primary_bytes_out=as_int(stats.primarybytes_out) or 0,
            secondary_bytes_in=as_int(stats.secondarybytes_in) or 0,
            secondary_bytes_out=as_int(stats.secondarybytes_out) or 0,
            tags=tags(circuit.tags),
        )

    async def _peering(
        self, network: Any, group: str, circuit: str, peering: Any, provisioned: bool
    ) -> PeeringObserved:
        props = peering.properties
        peering_type = text(props.peering_type) if props else ""
        state = text(props.state) if props else ""
        links: tuple[LinkObserved, ...] = ()
        wanted = (
            provisioned and peering_type.lower() == _PRIVATE_PEERING and state.lower() == "enabled"
        )
        if wanted:
            per_path = await all_of(
                *(self._links(network, group, circuit, peering.name, path) for path in DEVICE_PATHS)
            )
            links = tuple(link for path_links in per_path for link in path_links)
        return PeeringObserved(
            name=peering.name or peering_type,
            peering_type=peering_type,
            state=state,
            links=links,
        )

    async def _links(
        self, network: Any, group: str, circuit: str, peering: str, device_path: str
    ) -> list[LinkObserved]:
        result = await self.lro(
            f"routeTablesSummary {device_path} of peering {peering} on circuit {circuit}",
            lambda: network.express_route_circuits.begin_list_routes_table_summary(
                group, circuit, peering, device_path
            ),
        )
        rows = (result.value if result is not None else None) or ()
        if not rows:
            return [LinkObserved(device_path=device_path, up=False, state="NoNeighbor")]
        return [_link(device_path, row) for row in rows]


def _link(device_path: str, row: Any) -> LinkObserved:
    raw = text(row.state_pfx_rcd).strip()
    prefixes = as_int(raw)
    return LinkObserved(
        device_path=device_path,
        up=prefixes is not None,
        state="Established" if prefixes is not None else (raw or "Unknown"),
        prefixes_received=prefixes,
        neighbor=text(row.neighbor) or None,
    )
