"""Which record each entity belongs to, and which records changed since the store last took
them.

A record is what the store keeps of one observed resource (its last observation and the entities
derived from it), so that a restart resumes where it stopped. A record is due when anything in
it changed (`touch`); when only its data time moved (`fresh`), once it is `refresh_seconds`
newer than the stored one, so the store does not rewrite the whole fleet on every poll.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from vpnwatch.observations import (
    BgpStatusObserved,
    CircuitObserved,
    ConnectionObserved,
    Observation,
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPSILON = timedelta(microseconds=1)


class RecordBook:
    """Record membership, ownership (collector and resource) and the change log of records."""

    def __init__(self) -> None:
        self.members: dict[str, set[str]] = defaultdict(set)  # record id -> entity ids
        self.record_of: dict[str, str] = {}  # entity id -> record id
        self.source: dict[str, str] = {}  # record id -> the collector that observed it
        self.resource: dict[str, str] = {}  # record id -> the resource id it is about
        self.by_source: dict[str, set[str]] = defaultdict(set)
        self.changed: set[str] = set()  # touched or fresher since the tally last looked
        self._dirty: set[str] = set()
        self._removed: set[str] = set()
        self._fresh: set[str] = set()
        self._data_at: dict[str, datetime] = {}  # newest data time per record
        self._persisted_at: dict[str, datetime] = {}  # data time when last handed out

    def join(self, rid: str, eid: str) -> None:
        self.members[rid].add(eid)
        self.record_of[eid] = rid

    def leave(self, rid: str, eid: str) -> None:
        self.members.get(rid, set()).discard(eid)
        self.record_of.pop(eid, None)

    def own(self, rid: str, source: str, resource: str) -> None:
        old = self.source.get(rid)
        if old is not None and old != source:
            self.by_source[old].discard(rid)
        self.source[rid] = source
        self.resource[rid] = resource
        self.by_source[source].add(rid)

    def touch(self, rid: str) -> None:
        """Something in this record changed that a restart must know."""
        self._dirty.add(rid)
        self.changed.add(rid)
        self._removed.discard(rid)

    def touch_entity(self, eid: str) -> None:
        self.touch(self.record_of[eid])

    def fresh(self, rid: str, at: datetime, *, recount: bool = True) -> None:
        """This record's data is newer, perhaps with the same content. `recount=False`: its
        entities were observed again as they were and the caller counted them
        (`HealthTally.observed_again`), so the tally need not look at the record."""
        if recount:
            self.changed.add(rid)
        if at > self._data_at.get(rid, at - _EPSILON):
            self._data_at[rid] = at
            self._fresh.add(rid)

    def forget(self, rid: str) -> tuple[set[str], str]:
        """Drop a record; returns the entities it held and the resource it was about."""
        members = self.members.pop(rid, set())
        for eid in members:
            self.record_of.pop(eid, None)
        source = self.source.pop(rid, None)
        if source is not None:
            self.by_source[source].discard(rid)
        resource = self.resource.pop(rid, rid)
        self._dirty.discard(rid)
        self._fresh.discard(rid)
        self.changed.discard(rid)
        self._data_at.pop(rid, None)
        self._persisted_at.pop(rid, None)
        self._removed.add(rid)
        return members, resource

    def take(self, refresh_seconds: float) -> tuple[list[str], list[str]]:
        """The records due (sorted) and the records removed since the last call; forgets both
        and counts the due ones as handed out."""
        refresh = timedelta(seconds=refresh_seconds)
        data_at, persisted_at, dirty = self._data_at, self._persisted_at, self._dirty
        for rid in self._fresh:
            persisted = persisted_at.get(rid)
            if persisted is None or data_at[rid] - persisted >= refresh:
                dirty.add(rid)
        due = sorted(self._dirty)
        for rid in due:
            if rid in self._data_at:
                self._persisted_at[rid] = self._data_at[rid]
        removed = sorted(self._removed)
        self._dirty.clear()
        self._fresh.clear()
        self._removed.clear()
        return due, removed

    def settle(self) -> None:
        """After loading what the store holds: nothing is due, everything is as persisted."""
        self._dirty.clear()
        self._fresh.clear()
        self._persisted_at.update(self._data_at)


def same_material(old: Observation, new: Observation) -> bool:
    """`material(old) == material(new)`, without building either: a connection is compared
    field by field (every poll of every connection asks this)."""
    if isinstance(old, ConnectionObserved) and isinstance(new, ConnectionObserved):
        return same_connection(old, new)
    if isinstance(old, BgpStatusObserved) and isinstance(new, BgpStatusObserved):
        return same_bgp(old, new)
    return material(old) == material(new)


def same_bgp(old: BgpStatusObserved, new: BgpStatusObserved) -> bool:
    """`same_material` for two observations of a gateway's BGP status."""
    if old.source != new.source or len(old.peers) != len(new.peers):
        return False
    for a, b in zip(old.peers, new.peers, strict=True):
        if (
            a.state != b.state
            or a.routes_received != b.routes_received
            or a.neighbor != b.neighbor
            or a.local_address != b.local_address
            or a.asn != b.asn
        ):
            return False
    return True


def same_connection(old: ConnectionObserved, new: ConnectionObserved) -> bool:
    """`same_material` for two observations of a connection."""
    if (
        old.status is not new.status
        or old.gateway_id != new.gateway_id
        or old.peer_id != new.peer_id
        or old.name != new.name
        or old.source != new.source
        or old.subscription_id != new.subscription_id
        or old.resource_group != new.resource_group
        or old.region != new.region
        or old.connection_type != new.connection_type
        or old.bgp_enabled != new.bgp_enabled
        or len(old.tunnels) != len(new.tunnels)
    ):
        return False
    for a, b in zip(old.tunnels, new.tunnels, strict=True):
        if (
            a.status is not b.status
            or a.name != b.name
            or a.last_connection_established != b.last_connection_established
            or a.gateway_public_ip != b.gateway_public_ip
        ):
            return False
    return True


def material(o: Observation) -> object:
    """What of an observation a restart must know: all of it but its time and the counters and
    durations that move on every poll."""
    match o:
        case ConnectionObserved():
            return (
                o.source,
                o.name,
                o.subscription_id,
                o.resource_group,
                o.region,
                o.connection_type,
                o.gateway_id,
                o.peer_id,
                o.status,
                o.bgp_enabled,
                tuple(
                    (t.name, t.status, t.last_connection_established, t.gateway_public_ip)
                    for t in o.tunnels
                ),
            )
        case BgpStatusObserved():
            return (
                o.source,
                tuple(
                    (p.local_address, p.neighbor, p.asn, p.state, p.routes_received)
                    for p in o.peers
                ),
            )
        case CircuitObserved():
            return replace(
                o,
                observed_at=_EPOCH,
                primary_bytes_in=0,
                primary_bytes_out=0,
                secondary_bytes_in=0,
                secondary_bytes_out=0,
            )
        case _:
            return replace(o, observed_at=_EPOCH)
