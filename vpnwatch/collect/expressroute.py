"""ExpressRoute circuits: provisioning, per-link BGP sessions and traffic counters.

A circuit has two links (`devicePath` primary and secondary). Whether each one carries routes
shows only in the route-table summary of a peering, a long-running POST per link: `statePfxRcd`
is a prefix count while the session is established and a BGP state name ("Idle", "Active")
otherwise. If any part of a circuit cannot be read, the whole circuit is reported unknown: half a
circuit would look like a lost link.

A circuit's peerings come with it in the list of circuits (`properties.peerings`: the REST
spec's `ExpressRouteCircuitPropertiesFormat`, and Azure's own list example), so reading one costs
five reads (its stats, and the two summaries' polls) and two writes (the POSTs); the read planner
picks the circuits each pass may afford: those whose reading changed or that Resource Health
flags first, the rest in rotation (`planner.py`).
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
from vpnwatch.collect.planner import Candidate, Cost
from vpnwatch.observations import CircuitObserved, LinkObserved, Observation, PeeringObserved

DEVICE_PATHS = ("primary", "secondary")
# What reading one circuit costs: its stats, and per link a route-table summary (a POST,
# charged as a write, and its Location polled twice). Its peerings came with the list.
CIRCUIT_READS = 1.0 + 2 * len(DEVICE_PATHS)
CIRCUIT_WRITES = float(len(DEVICE_PATHS))
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
        memo.later.extend(circuits)
        return GroupResult(resource_ids=[c.id for c in circuits])

    async def finish(self, scope: Scope, memo: RunMemo, groups: int) -> list[Observation]:
        """Read the circuits the planner picks for this pass."""
        listed = {c.id.lower(): c for c in memo.later}
        plan = self.clients.planner.plan(
            self.name,
            scope.subscription_id,
            [Candidate(c.id, c.id) for c in memo.later],
            self.interval_seconds,
            Cost(
                reads=CIRCUIT_READS,
                writes=CIRCUIT_WRITES,
                fixed_reads=float(max(groups, memo.listed)),
            ),
            pass_seconds=self.pass_seconds,
        )
        network = self.clients.network(scope.subscription_id)
        chosen = [listed[rid.lower()] for rid in plan.read]
        return await self.observe_each(chosen, "circuit", lambda c: self._circuit(network, c))

    def promise(self, scope: Scope) -> float | None:
        return self.clients.planner.promise(self.name, scope.subscription_id)

    async def _circuit(self, network: Any, circuit: Any) -> CircuitObserved:
        try:
            observed = await self._observe(network, circuit)
        except Exception:
            self.clients.planner.missed(self.name, circuit.id)
            raise
        signature = (
            observed.circuit_provisioning_state,
            observed.service_provider_provisioning_state,
            tuple(
                (p.name, p.state, tuple((k.device_path, k.up, k.state) for k in p.links))
                for p in observed.peerings
            ),
        )
        self.clients.planner.record(self.name, circuit.id, signature, group=circuit.id)
        return observed

    async def _observe(self, network: Any, circuit: Any) -> CircuitObserved:
        props = circuit.properties
        if props is None:
            raise ValueError(f"circuit {circuit.id} has no properties")
        group = resource_group_of(circuit.id)
        name = circuit.name or name_of(circuit.id)
        provisioned = text(props.service_provider_provisioning_state).lower() == "provisioned"
        stats = await self.call(
            f"read stats of circuit {circuit.id}",
            lambda: network.express_route_circuits.get_stats(group, name),
        )
        peerings = await all_of(
            *(self._peering(network, group, name, p, provisioned) for p in props.peerings or ())
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
