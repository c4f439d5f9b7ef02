"""The planner: which notifications an incident change causes, decided before the change is
written so that both go to the store in one transaction (the outbox pattern).

Per (incident, receiver) it remembers a phase:
- `triggered`: a trigger went to the outbox. A later change that matters to that kind of
  receiver (severity, classification; for Alertmanager and webhooks also title and the children
  listed) sends a trigger again with the same dedup key: an escalation updates the page, it never
  opens a second one. Alertmanager receivers also get a re-send every `resend_seconds`.
- `silenced`: routed, but a silence held when it would have been sent; it is sent when the
  silence ends while the incident is still open.
- `resolved`: the resolve went out (or, for a silenced one, nothing ever did).
An incident that becomes a child of another (a zone outage adopting its gateways) resolves its
own notification: from then on the parent's message lists it.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from vpnwatch.incidents import Incident
from vpnwatch.notify.message import Event, Notification, labels_of
from vpnwatch.notify.routing import Router
from vpnwatch.notify.settings import CHAT, PAGING, NotifySettings, ReceiverKind
from vpnwatch.notify.silences import Silences
from vpnwatch.store.outbox import NotificationState, OutboxEntry

TRIGGERED = "triggered"
SILENCED = "silenced"
RESOLVED = "resolved"


@dataclass(slots=True)
class Plan:
    entries: list[OutboxEntry] = field(default_factory=list)
    states: list[NotificationState] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.entries or self.states)


def fingerprint(kind: ReceiverKind, incident: Incident, children: Sequence[Incident]) -> str:
    """What, when it changes, is worth a new message to this kind of receiver."""
    parts = [incident.severity.value, incident.classification or ""]
    if kind in PAGING:
        parts.append(incident.title)
    elif kind not in CHAT:
        parts.append(incident.title)
        parts.extend(sorted(c.key for c in children))
    return "\x1f".join(parts)


class Planner:
    def __init__(
        self,
        settings: NotifySettings,
        silences: Silences,
        *,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.router = Router(settings)
        self.silences = silences
        self._wall = wall
        self._kinds = {r.name: r.kind for r in settings.receivers}
        self._resend = {
            r.name: r.resend_seconds
            for r in settings.receivers
            if r.kind is ReceiverKind.ALERTMANAGER
        }
        self._states: dict[tuple[str, str], NotificationState] = {}
        self._first_seen: dict[str, datetime] = {}  # incident id -> when the planner saw it

    def resume(self, states: Sequence[NotificationState]) -> None:
        for state in states:
            if state.receiver in self._kinds:
                self._states[(state.incident_id, state.receiver)] = state

    def state_of(self, incident_id: str) -> list[NotificationState]:
        return [s for (i, _), s in self._states.items() if i == incident_id]

    def plan(
        self, changed: Sequence[Incident], open_incidents: Sequence[Incident], now: datetime
    ) -> Plan:
        """What to write with this step: every open incident is looked at (a silence may have
        ended, a re-send may be due), and every changed one (it may have resolved)."""
        plan = Plan()
        if not self._kinds:
            return plan
        incidents = {i.id: i for i in open_incidents}
        incidents.update((i.id, i) for i in changed)
        children: dict[str, list[Incident]] = defaultdict(list)
        for incident in open_incidents:
            if incident.parent_key is not None:
                children[incident.parent_key].append(incident)
        wall = self._wall()
        for incident in incidents.values():
            self._decide(incident, children.get(incident.key, []), now, wall, plan)
        for gone in [i for i in self._first_seen if i not in incidents or not incidents[i].is_open]:
            del self._first_seen[gone]
        return plan

    def _waiting(self, incident: Incident, now: datetime) -> bool:
        """Still within `group_wait_seconds` of first sight: a parent may yet claim it."""
        wait = self.settings.group_wait_seconds
        if wait <= 0:
            return False
        first = self._first_seen.setdefault(incident.id, now)
        return (now - first).total_seconds() < wait

    def commit(self, plan: Plan) -> None:
        """The plan is in the store: remember its states (resolved ones are done with)."""
        for state in plan.states:
            key = (state.incident_id, state.receiver)
            if state.phase == RESOLVED:
                self._states.pop(key, None)
            else:
                self._states[key] = state

    def _decide(
        self,
        incident: Incident,
        children: Sequence[Incident],
        now: datetime,
        wall: float,
        plan: Plan,
    ) -> None:
        ending = not incident.is_open or incident.parent_key is not None
        routed = [] if ending else self.router.receivers_for(incident)
        known = [r for r in self._kinds if (incident.id, r) in self._states]
        names = [*routed, *(r for r in known if r not in routed)]
        if not names:
            return
        silence = None
        checked = False
        for name in names:
            state = self._states.get((incident.id, name))
            kind = self._kinds[name]

            def put(
                event: Event, phase: str, fp: str, coalesce: bool = False, update: bool = False
            ) -> None:
                n = Notification.of(
                    incident,
                    event,
                    now=now,
                    children=children,
                    link_base_url=self.settings.link_base_url,
                    update=update,
                )
                self._put(plan, incident.id, name, n, phase, fp, wall, coalesce)  # noqa: B023

            if ending:
                if state is not None and state.phase == TRIGGERED:
                    put(Event.RESOLVE, RESOLVED, state.fingerprint)
                elif state is not None:
                    plan.states.append(
                        NotificationState(incident.id, name, RESOLVED, state.fingerprint, wall)
                    )
                continue
            if state is not None and state.phase == RESOLVED:
                continue
            if name not in routed and (state is None or state.phase != TRIGGERED):
                continue
            if not checked:
                silence = self.silences.silencing(labels_of(incident), now)
                checked = True
            fp = fingerprint(kind, incident, children)
            if state is None or state.phase == SILENCED:
                if silence is not None:
                    if state is None:
                        plan.states.append(NotificationState(incident.id, name, SILENCED, "", wall))
                    continue
                if state is None and self._waiting(incident, now):
                    continue
                put(Event.TRIGGER, TRIGGERED, fp)
            elif silence is not None:
                continue  # muted: updates wait for the silence to end; a resolve still goes
            elif fp != state.fingerprint:
                put(Event.TRIGGER, TRIGGERED, fp, update=True)
            elif name in self._resend and wall - state.sent_at >= self._resend[name]:
                put(Event.TRIGGER, TRIGGERED, fp, coalesce=True, update=True)

    @staticmethod
    def _put(
        plan: Plan,
        incident_id: str,
        receiver: str,
        n: Notification,
        phase: str,
        fp: str,
        wall: float,
        coalesce: bool,
    ) -> None:
        plan.entries.append(
            OutboxEntry(
                receiver=receiver,
                incident_id=incident_id,
                dedup_key=n.dedup_key,
                event=n.event.value,
                payload=n.to_json(),
                created_at=n.created_at,
                enqueued_at=wall,
                coalesce=coalesce,
            )
        )
        plan.states.append(NotificationState(incident_id, receiver, phase, fp, wall))
