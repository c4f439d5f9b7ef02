"""`Store`: the one boundary the rest of vpnwatch calls for anything durable.

Each method takes the lock once, through a read or a write transaction, and hands the connection
to the module that owns the tables (incidents, entities, alerts, meta). A PostgreSQL store for an
HA pair can follow with the same methods.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from types import MappingProxyType

from vpnwatch.incidents import Incident
from vpnwatch.store import alerts, entities, meta, outbox, silences, watermarks
from vpnwatch.store import incidents as incident_rows  # `incidents` is apply's argument
from vpnwatch.store.alerts import FIRED, AlertKey, StoredAlert
from vpnwatch.store.connection import Database
from vpnwatch.store.outbox import NotificationState, OutboxEntry, OutboxRow
from vpnwatch.store.silences import StoredSilence
from vpnwatch.store.watermarks import LogWatermark

_NO_RECORDS: Mapping[str, dict] = MappingProxyType({})


class Store(Database):
    """SQLite-backed persistence. Open with `Store.open(path)`; close with `close()` or `with`."""

    # --- incidents and entity records --------------------------------------------------------

    def apply(
        self,
        *,
        incidents: Sequence[Incident] = (),
        entity_records: Mapping[str, dict] = _NO_RECORDS,
        removed_entities: Sequence[str] = (),
        notifications: Sequence[OutboxEntry] = (),
        notification_states: Sequence[NotificationState] = (),
    ) -> None:
        """Write one correlation cycle atomically: all of it is committed, or none of it.

        Incidents are upserted by `id` (every field replaced) and their timelines appended to:
        evidence already stored is kept even if absent from `timeline`, and an entry equal on
        (at, message, resource) to a stored one is not added twice. Entity records are replaced
        whole; `removed_entities` are deleted last, so an id in both ends up removed. The
        notifications the change causes go to the outbox in the same transaction.
        """
        with self._transaction() as db:
            written = incident_rows.write(db, incidents)
            entities.write_records(db, entity_records, removed_entities)
            outbox.write(db, notifications, notification_states)
        incident_rows.mark_written(written)

    def load_open_incidents(self) -> list[Incident]:
        """Every open incident with its full timeline, oldest first: what a restart resumes."""
        with self._reading() as db:
            return incident_rows.load_open(db)

    def load_resolved_since(self, since: datetime) -> list[Incident]:
        """Incidents resolved at or after `since` with their timelines: the recently resolved
        ones that late evidence (Azure Monitor logs) may still update after a restart."""
        with self._reading() as db:
            return incident_rows.load_resolved_since(db, since)

    def prune_resolved_incidents(self, *, before: datetime) -> int:
        """Forget incidents resolved before `before`: their rows, resources, timelines and
        notification state; returns how many. Open incidents are kept whatever their age."""
        with self._transaction() as db:
            pruned = incident_rows.prune_resolved(db, before)
            outbox.forget_states(db, pruned)
            return len(pruned)

    def load_entity_records(self) -> dict[str, dict]:
        with self._reading() as db:
            return entities.load_records(db)

    def get_incident(self, incident_id: str) -> Incident | None:
        with self._reading() as db:
            return incident_rows.get(db, incident_id)

    def children(self, incident: Incident) -> list[Incident]:
        """Incidents grouped under `incident` (their `parent_key` is its key), oldest first.

        A key is reused once an incident resolves, so only children whose lifetime overlaps the
        parent's count: opened before the parent resolved, and not resolved before it opened.
        That includes children opened during the parent's lifetime, and those (typical for a
        zone outage) that opened a little earlier and were still open when it was decided.
        """
        with self._reading() as db:
            return incident_rows.children(db, incident)

    def list_incidents(
        self,
        *,
        status: str | None = None,
        type: str | None = None,
        severity: str | None = None,
        resource: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[Incident], int]:
        """One page of incidents, newest opened first, and how many match in all.

        `resource` matches any of an incident's resources, exactly but ignoring case (Azure
        resource ids are case-insensitive).
        """
        if limit < 0 or offset < 0:
            raise ValueError("limit and offset must not be negative")
        with self._reading() as db:
            return incident_rows.page(
                db,
                status=status,
                type=type,
                severity=severity,
                resource=resource,
                limit=limit,
                offset=offset,
            )

    # --- diagnostic-log watermarks -------------------------------------------------------------

    def load_log_watermark(self, source: str) -> LogWatermark | None:
        with self._reading() as db:
            return watermarks.load(db, source)

    def save_log_watermark(self, watermark: LogWatermark, now: datetime) -> None:
        with self._transaction() as db:
            watermarks.save(db, watermark, now)

    # --- inbound alerts ----------------------------------------------------------------------

    def record_alert(
        self, alert_id: str, received_at: datetime, payload: dict, *, condition: str = FIRED
    ) -> bool:
        """Persist an inbound alert before the webhook answers; False if it is known already.

        Azure Monitor retries a webhook it thinks failed, so the same alert may arrive twice; it
        also sends the Resolved notification under the Fired one's id, so an alert is known by
        (`alert_id`, `condition`).
        """
        with self._transaction() as db:
            return alerts.record(db, alert_id, condition, received_at, payload)

    def unprocessed_alerts(self) -> list[StoredAlert]:
        """Alerts the correlator has not taken yet, in the order they were received."""
        with self._reading() as db:
            return alerts.unprocessed(db)

    def mark_alerts_processed(self, keys: Sequence[AlertKey]) -> None:
        """Mark alerts, each given by its `StoredAlert.key` (alert id, condition), processed."""
        with self._transaction() as db:
            alerts.mark_processed(db, keys)

    def prune_alerts(self, *, before: datetime) -> int:
        """Forget alerts received before `before` once correlated (their evidence stays in the
        incidents' timelines); returns how many. Unprocessed ones are kept whatever their age."""
        with self._transaction() as db:
            return alerts.prune(db, before)

    def get_alert(self, alert_id: str, condition: str = FIRED) -> StoredAlert | None:
        with self._reading() as db:
            return alerts.get(db, alert_id, condition)

    # --- metadata ----------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        with self._reading() as db:
            return meta.get(db, key)

    def set_meta(self, key: str, value: str) -> None:
        with self._transaction() as db:
            meta.put(db, key, value)

    # --- the notification outbox -------------------------------------------------------------

    def load_notification_states(self, incident_ids: Sequence[str]) -> list[NotificationState]:
        with self._reading() as db:
            return outbox.load_states(db, incident_ids)

    def due_notifications(self, receiver: str, now: float, limit: int) -> list[OutboxRow]:
        """The next notifications to send to `receiver`: per incident, only its oldest."""
        with self._reading() as db:
            return outbox.due(db, receiver, now, limit)

    def next_notification_due(self, receiver: str) -> float | None:
        with self._reading() as db:
            return outbox.next_due(db, receiver)

    def notification_outcomes(
        self,
        delivered: Sequence[tuple[int, str, float]],
        retried: Sequence[tuple[int, str, float, float]],
    ) -> None:
        """Record a batch of sends in one transaction: (seq, answer, at) delivered, and
        (seq, error, at, next attempt at) to try again."""
        if not delivered and not retried:
            return
        with self._transaction() as db:
            outbox.delivered(db, delivered)
            outbox.retry(db, retried)

    def notification_dead(
        self,
        seq: int,
        error: str,
        at: float,
        *,
        incidents: Sequence[Incident] = (),
        notifications: Sequence[OutboxEntry] = (),
        notification_states: Sequence[NotificationState] = (),
    ) -> None:
        """A dead letter, and (same transaction) the incident and notifications it causes."""
        with self._transaction() as db:
            outbox.dead(db, seq, error, at)
            written = incident_rows.write(db, incidents)
            outbox.write(db, notifications, notification_states)
        incident_rows.mark_written(written)

    def list_notifications(
        self,
        *,
        status: str | None = None,
        receiver: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[OutboxRow], int]:
        """One page of the outbox, newest first, and how many match in all."""
        with self._reading() as db:
            return outbox.page(db, status=status, receiver=receiver, limit=limit, offset=offset)

    def notifications_of(self, incident_id: str) -> list[OutboxRow]:
        with self._reading() as db:
            return outbox.of_incident(db, incident_id)

    def notification_counts(self) -> dict[tuple[str, str], int]:
        with self._reading() as db:
            return outbox.counts(db)

    def prune_outbox(self, keep: int) -> int:
        with self._transaction() as db:
            return outbox.prune(db, keep)

    # --- silences made through the API -------------------------------------------------------

    def add_silence(self, silence: StoredSilence) -> None:
        with self._transaction() as db:
            silences.add(db, silence)

    def expire_silence(self, silence_id: str, at: str) -> bool:
        with self._transaction() as db:
            return silences.expire(db, silence_id, at)

    def list_silences(self) -> list[StoredSilence]:
        with self._reading() as db:
            return silences.all_(db)
