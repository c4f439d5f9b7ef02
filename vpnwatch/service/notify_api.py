"""`/api/v1/silences` and `/api/v1/notifications`: muting notifications, and what was sent.

Silences take Alertmanager's shape (`matchers` with `name`, `value`, `isRegex`, `isEqual`;
`startsAt`, `endsAt`, `createdBy`, `comment`). Reading them is like reading the rest of the API
(`service.auth`); creating or expiring one needs an authenticated caller (`auth.require_writer`).
Silences from the config file are listed too, and cannot be deleted here. The notification list
shows the outbox: pending, delivered (a bounded history) and dead letters, with the last error;
never a credential.
"""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query
from pydantic import BaseModel, ConfigDict, Field, field_validator

from vpnwatch.agent import Agent
from vpnwatch.notify.pipeline import Notifications
from vpnwatch.notify.settings import SilenceMatcher
from vpnwatch.notify.silences import Silence, new_silence_id
from vpnwatch.service.auth import require_writer
from vpnwatch.service.deps import AgentDep
from vpnwatch.service.schemas import ErrorResponse
from vpnwatch.service.silenced import silences_holding
from vpnwatch.store.outbox import OutboxRow
from vpnwatch.store.silences import StoredSilence

router = APIRouter(prefix="/api/v1", tags=["notifications"])


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class MatcherIn(_Model):
    name: str = Field(min_length=1, max_length=100)
    value: str = Field(max_length=1000)
    is_regex: bool = Field(False, alias="isRegex")
    is_equal: bool = Field(True, alias="isEqual")


class SilenceIn(_Model):
    matchers: list[MatcherIn] = Field(min_length=1, max_length=20)
    starts_at: datetime = Field(alias="startsAt")
    ends_at: datetime = Field(alias="endsAt")
    created_by: str = Field(alias="createdBy", min_length=1, max_length=200)
    comment: str = Field("", max_length=2000)

    @field_validator("starts_at", "ends_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.utcoffset() is None:
            raise ValueError("give a UTC offset, e.g. 2026-05-02T01:00:00Z")
        return value


class SilenceOut(BaseModel):
    id: str
    source: Literal["config", "api"]
    state: Literal["active", "pending", "expired"]
    matchers: list[MatcherIn]
    starts_at: datetime | None = Field(None, serialization_alias="startsAt")
    ends_at: datetime | None = Field(None, serialization_alias="endsAt")
    weekly: str | None = None
    created_by: str = Field("", serialization_alias="createdBy")
    comment: str = ""


class SilenceCreated(BaseModel):
    silence_id: str = Field(serialization_alias="silenceID")


class NotificationOut(BaseModel):
    seq: int
    receiver: str
    incident_id: str
    dedup_key: str
    event: str
    status: Literal["pending", "delivered", "dead"]
    attempts: int
    created_at: str
    next_attempt_at: datetime | None
    last_error: str | None
    answer: str | None


class NotificationPage(BaseModel):
    items: list[NotificationOut]
    total: int
    limit: int
    offset: int


class NotificationStateOut(BaseModel):
    receiver: str
    phase: Literal["triggered", "silenced", "resolved"]


class IncidentNotifications(BaseModel):
    incident_id: str
    receivers: list[NotificationStateOut]
    silenced_by: list[str] = Field(description="Silences that hold for this incident now")
    notifications: list[NotificationOut]


UNAUTHORIZED = {
    401: {"model": ErrorResponse, "description": "Not authenticated"},
    403: {"model": ErrorResponse, "description": "API authentication is off: no one may write"},
    409: {"model": ErrorResponse},
}
WRITER = [Depends(require_writer)]


def _notifications(agent: Agent) -> Notifications:
    if agent.notifications is None:
        raise HTTPException(409, "no notify.receivers are configured, so nothing is sent or muted")
    return agent.notifications


def _silence_out(silence: Silence, now: datetime) -> SilenceOut:
    weekly = None
    if silence.weekly is not None:
        w = silence.weekly
        days = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
        weekly = (
            f"{days[w.weekday]} {w.start.isoformat(timespec='minutes')} "
            f"for {w.duration.total_seconds() / 60:g} min ({w.zone.key})"
        )
    return SilenceOut(
        id=silence.id,
        source="config" if silence.source == "config" else "api",
        state=silence.state(now),  # type: ignore[arg-type]
        matchers=[MatcherIn(**m.model_dump()) for m in silence.matchers],
        starts_at=silence.starts_at,
        ends_at=silence.ends_at,
        weekly=weekly,
        created_by=silence.created_by,
        comment=silence.comment,
    )


def _row_out(row: OutboxRow) -> NotificationOut:
    pending = row.status == "pending"
    return NotificationOut(
        seq=row.seq,
        receiver=row.receiver,
        incident_id=row.incident_id,
        dedup_key=row.dedup_key,
        event=row.event,
        status=row.status.value,  # type: ignore[arg-type]
        attempts=row.attempts,
        created_at=row.created_at,
        next_attempt_at=datetime.fromtimestamp(row.next_attempt_at, UTC) if pending else None,
        last_error=row.last_error,
        answer=row.answer,
    )


@router.get(
    "/silences",
    response_model=list[SilenceOut],
    responses={409: {"model": ErrorResponse}},
    summary="Silences",
)
async def list_silences(agent: AgentDep) -> list[SilenceOut]:
    notify = _notifications(agent)
    now = agent.clock.now()
    return [_silence_out(s, now) for s in notify.silences.all()]


@router.post(
    "/silences",
    response_model=SilenceCreated,
    responses={
        **UNAUTHORIZED,
        400: {"model": ErrorResponse, "description": "The body is not JSON"},
    },
    summary="Mute matching incidents' notifications from startsAt to endsAt",
    dependencies=WRITER,
)
async def create_silence(body: SilenceIn, agent: AgentDep) -> SilenceCreated:
    notify = _notifications(agent)
    if body.ends_at <= body.starts_at:
        raise HTTPException(422, "endsAt must be after startsAt")
    for m in body.matchers:
        if m.is_regex:
            try:
                re.compile(m.value)
            except re.error as exc:
                raise HTTPException(422, f"matcher {m.name}: not a valid regex ({exc})") from None
    now = datetime.now(UTC)
    stored = StoredSilence(
        id=new_silence_id(),
        matchers=[SilenceMatcher(**m.model_dump()).model_dump() for m in body.matchers],
        starts_at=body.starts_at.astimezone(UTC).isoformat(),
        ends_at=body.ends_at.astimezone(UTC).isoformat(),
        created_by=body.created_by,
        comment=body.comment,
        created_at=now.isoformat(),
    )
    await asyncio.to_thread(notify.store.add_silence, stored)
    notify.silences.add(Silence.from_stored(stored))
    return SilenceCreated(silence_id=stored.id)


@router.delete(
    "/silences/{silence_id}",
    response_model=SilenceOut,
    responses={**UNAUTHORIZED, 404: {"model": ErrorResponse}},
    summary="Expire a silence made through the API; answers it, expired",
    dependencies=WRITER,
)
async def delete_silence(
    agent: AgentDep, silence_id: Annotated[str, Path(max_length=64)]
) -> SilenceOut:
    notify = _notifications(agent)
    found = notify.silences.get(silence_id)
    if found is None:
        raise HTTPException(404, f"no silence {silence_id}")
    if found.source == "config":
        raise HTTPException(409, "silences from the config file are changed in the file")
    await asyncio.to_thread(notify.store.expire_silence, silence_id, datetime.now(UTC).isoformat())
    notify.silences.expire(silence_id)
    expired = notify.silences.get(silence_id)
    assert expired is not None
    return _silence_out(expired, agent.clock.now())


@router.get(
    "/notifications",
    response_model=NotificationPage,
    responses={409: {"model": ErrorResponse}},
    summary="The outbox: pending, delivered (recent) and dead-letter notifications",
)
async def list_notifications(
    agent: AgentDep,
    status: Annotated[Literal["pending", "delivered", "dead"] | None, Query()] = None,
    receiver: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> NotificationPage:
    notify = _notifications(agent)
    rows, total = await asyncio.to_thread(
        notify.store.list_notifications,
        status=status,
        receiver=receiver,
        limit=limit,
        offset=offset,
    )
    return NotificationPage(
        items=[_row_out(r) for r in rows], total=total, limit=limit, offset=offset
    )


@router.get(
    "/incidents/{incident_id}/notifications",
    response_model=IncidentNotifications,
    responses={404: {"model": ErrorResponse}, 409: {"model": ErrorResponse}},
    summary="Where an incident was sent, and whether a silence holds it back",
)
async def incident_notifications(
    agent: AgentDep, incident_id: Annotated[str, Path(max_length=64)]
) -> IncidentNotifications:
    notify = _notifications(agent)
    incident = await asyncio.to_thread(notify.store.get_incident, incident_id)
    if incident is None:
        raise HTTPException(404, f"no incident {incident_id}")
    silenced_by = [s.id for s in silences_holding(notify, incident, agent.clock.now())]
    states = await asyncio.to_thread(notify.store.load_notification_states, [incident_id])
    rows = await asyncio.to_thread(notify.store.notifications_of, incident_id)
    return IncidentNotifications(
        incident_id=incident_id,
        receivers=[
            NotificationStateOut(receiver=s.receiver, phase=s.phase)  # type: ignore[arg-type]
            for s in states
        ],
        silenced_by=silenced_by,
        notifications=[_row_out(r) for r in rows],
    )
