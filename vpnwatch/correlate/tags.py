"""The Azure tags an incident carries, as `tag:<name>` attributes, so that notification routes
and silences can match them (`match: {labels: {"tag:env": prod}}`).

An incident carries each tag of the resource it is about (its key's subject: a gateway, a
connection, a circuit, a site). A tag its subject lacks, or an incident about no one resource
(a zone outage), is carried when every resource of the incident that has the tag agrees on its
value: a zone outage of `env=prod` gateways is `tag:env=prod`; one of prod and dev gateways
carries no `tag:env`, so it goes where untagged incidents go.
"""

from __future__ import annotations

from collections.abc import Iterable

from vpnwatch.correlate.inventory import Inventory
from vpnwatch.observations import Tags
from vpnwatch.resourceids import top_level_id

TAG_PREFIX = "tag:"


def resource_tags(inventory: Inventory, resource_id: str) -> Tags | None:
    """The tags last observed on the resource `resource_id` is or lies under; None when the
    state has no such resource (or it is a kind without tags)."""
    key = inventory.key_of(top_level_id(resource_id))
    if key is None:
        return None
    observed = inventory.observation(key)
    return getattr(observed, "tags", None)


def incident_tags(inventory: Inventory, key: str, resources: Iterable[str]) -> dict[str, str]:
    """`tag:<name>` -> value for an incident with `key` about `resources`."""
    subject = resource_tags(inventory, key.partition(":")[2]) or ()
    carried = dict(subject)
    values: dict[str, set[str]] = {}
    for tags in filter(None, (resource_tags(inventory, r) for r in resources)):
        for name, value in tags:
            values.setdefault(name, set()).add(value)
    for name, seen in values.items():
        if name not in carried and len(seen) == 1:
            carried[name] = next(iter(seen))
    return {f"{TAG_PREFIX}{name}": value for name, value in sorted(carried.items())}


def retag(attributes: dict[str, str], tags: dict[str, str]) -> None:
    """Replace the `tag:` attributes in place with `tags` (a tag removed in Azure goes too)."""
    for name in [n for n in attributes if n.startswith(TAG_PREFIX)]:
        if name not in tags:
            del attributes[name]
    attributes.update(tags)
