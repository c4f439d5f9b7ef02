"""Customer-controlled gateway maintenance: `Microsoft.Maintenance` configurations and their
assignments to gateways, from the scenario's `maintenance_configurations`.

Served paths (`azure-mgmt-maintenance` 2.1, api-version 2023-04-01):

* `GET /subscriptions/{sub}/providers/Microsoft.Maintenance/maintenanceConfigurations`
  (`maintenance_configurations.list`);
* `GET /subscriptions/{sub}/providers/Microsoft.Maintenance/configurationAssignments`
  (`configuration_assignments_within_subscription.list`).

Bodies have the shapes of `MaintenanceConfigurations_List.json` and
`ConfigurationAssignments_List.json` (Azure/azure-rest-api-specs, specification/maintenance/
resource-manager/Microsoft.Maintenance/stable/2023-04-01/examples). Neither list operation is
pageable in that spec (`x-ms-pageable` with `nextLinkName: null`): one page holds everything.
Both are ordinary ARM reads, charged to the subscription's read bucket by the server.

A window's `startDateTime` is local to its `timeZone` and has minute resolution, as Azure writes
it ("yyyy-MM-dd HH:mm"); `expirationDateTime` is "9999-12-31 00:00" when it never expires.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from vpnwatch.emulator.arm import Reply, error
from vpnwatch.emulator.scenario import MaintenanceConfigurationSpec
from vpnwatch.emulator.world import World
from vpnwatch.windowszones import iana_zone

PROVIDER = "/providers/microsoft.maintenance/"
CONFIGURATIONS = "maintenanceconfigurations"
ASSIGNMENTS = "configurationassignments"
NEVER = "9999-12-31 00:00"


def serves(path: str) -> bool:
    return PROVIDER in path.lower()


class MaintenanceApi:
    def __init__(self, world: World, started_at: datetime) -> None:
        self.world = world
        self.started_at = started_at

    def handle(self, method: str, path: str, t: float) -> Reply:
        if method != "GET":
            return error(405, "MethodNotAllowed", f"'{method}' is not allowed for '{path}'.")
        parts = [p for p in path.lower().split("/") if p]
        if (
            len(parts) != 5
            or parts[0] != "subscriptions"
            or parts[2:4]
            != [
                "providers",
                "microsoft.maintenance",
            ]
        ):
            return error(404, "InvalidResourceType", f"No route for '{path}'.")
        subscription = next(
            (
                s
                for s in self.world.scenario.spec.topology.subscriptions
                if s.id.lower() == parts[1]
            ),
            None,
        )
        if subscription is None:
            return error(
                404, "SubscriptionNotFound", f"The subscription '{parts[1]}' could not be found."
            )
        configured = [
            (group.name, group.location, spec)
            for group in subscription.resource_groups
            for spec in group.maintenance_configurations
        ]
        if parts[4] == CONFIGURATIONS:
            items = [
                self._configuration(subscription.id, g, loc, spec) for g, loc, spec in configured
            ]
        elif parts[4] == ASSIGNMENTS:
            items = [
                item
                for g, loc, spec in configured
                for item in self._assignments(subscription.id, g, loc, spec, t)
            ]
        else:
            return error(404, "InvalidResourceType", f"No route for '{path}'.")
        return Reply(200, {"value": items})

    def _configuration(
        self, subscription: str, group: str, location: str, spec: MaintenanceConfigurationSpec
    ) -> dict[str, Any]:
        zone = ZoneInfo(iana_zone(spec.time_zone))
        window: dict[str, Any] = {
            "startDateTime": self._local(spec.start_offset, zone),
            "expirationDateTime": (
                NEVER if spec.expires_offset is None else self._local(spec.expires_offset, zone)
            ),
            "duration": spec.duration,
            "timeZone": spec.time_zone,
        }
        if spec.recur_every:
            window["recurEvery"] = spec.recur_every
        return {
            "id": configuration_id(subscription, group, spec.name),
            "name": spec.name,
            "type": "Microsoft.Maintenance/maintenanceConfigurations",
            "location": location,
            "properties": {
                "namespace": "Microsoft.Maintenance",
                "extensionProperties": {},
                "maintenanceScope": "Resource",
                "visibility": "Custom",
                "maintenanceWindow": window,
            },
        }

    def _assignments(
        self,
        subscription: str,
        group: str,
        location: str,
        spec: MaintenanceConfigurationSpec,
        t: float,
    ) -> list[dict[str, Any]]:
        items = []
        for name in spec.gateways:
            gateway = self.world.topology.gateway(name)
            if not self.world.exists(gateway, t):
                continue  # an assignment goes with its resource
            items.append(
                {
                    "id": f"{gateway.resource_id}/providers/Microsoft.Maintenance/"
                    f"configurationAssignments/{spec.name}",
                    "name": spec.name,
                    "type": "Microsoft.Maintenance/configurationAssignments",
                    "location": location,
                    "properties": {
                        "maintenanceConfigurationId": configuration_id(
                            subscription, group, spec.name
                        ),
                        "resourceId": gateway.resource_id,
                    },
                }
            )
        return items

    def _local(self, offset: float, zone: ZoneInfo) -> str:
        at = (self.started_at + timedelta(seconds=offset)).astimezone(zone)
        return at.strftime("%Y-%m-%d %H:%M")


def configuration_id(subscription: str, group: str, name: str) -> str:
    return (
        f"/subscriptions/{subscription}/resourceGroups/{group}"
        f"/providers/Microsoft.Maintenance/maintenanceConfigurations/{name}"
    )
