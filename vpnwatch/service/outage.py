"""The picture on an incident page: who was down when, around the incident, against its SLO.

One row per tunnel and instance involved (a connection stands for its tunnels, a gateway for its
instances), coloured by health over time, under a bar for the incident itself and a line where
the SLO runs out. Health over time comes from the entity's state: its current health since
`since`, and the one before it from `previous_since`, which covers an outage and its restore.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from vpnwatch.correlate import FleetState
from vpnwatch.correlate.entities import instance_id, tunnel_id
from vpnwatch.incidents import Incident
from vpnwatch.service.links import Links, entity_label

MAX_ROWS = 24
LABEL_W = 330
LABEL_CHARS = 48
PLOT_W = 640
ROW_H = 22
TOP = 34


@dataclass(slots=True)
class Segment:
    x: float
    w: float
    health: str
    title: str


@dataclass(slots=True)
class Row:
    label: str
    url: str | None
    y: float
    segments: list[Segment] = field(default_factory=list)


@dataclass(slots=True)
class Tick:
    x: float
    text: str


@dataclass(slots=True)
class OutagePicture:
    width: int
    height: int
    label_w: int
    rows: list[Row]
    ticks: list[Tick]
    incident: Segment
    slo_x: float | None
    slo_text: str
    now_x: float | None


def involved(incident: Incident, children: list[Incident], state: FleetState) -> list[str]:
    """Entity ids of the tunnels and instances involved, in a stable order (others as given)."""
    out: list[str] = []
    for resource in [r for i in (incident, *children) for r in i.resources]:
        key = state.key_of(resource)
        if key is not None and key in state.connections:
            out += [tunnel_id(key, t.name) for t in state.connections[key].tunnels]
        elif key is not None and key in state.gateways:
            out += [instance_id(key, i.name) for i in state.gateways[key].instances]
        elif key is None or key not in state.sites:
            out.append(resource)
    return list(dict.fromkeys(out))[:MAX_ROWS]


def build_outage_picture(
    incident: Incident,
    children: list[Incident],
    state: FleetState,
    links: Links,
    now: datetime,
    slo_seconds: float,
) -> OutagePicture:
    end_at = incident.resolved_at or now
    span = max((end_at - incident.opened_at).total_seconds(), slo_seconds, 60.0)
    pad = timedelta(seconds=max(30.0, span * 0.25))
    start, end = incident.opened_at - pad, min(end_at + pad, max(now, end_at))
    if end <= incident.opened_at:
        end = incident.opened_at + pad
    total = (end - start).total_seconds()

    def x(at: datetime) -> float:
        offset = (min(max(at, start), end) - start).total_seconds()
        return LABEL_W + PLOT_W * offset / total

    rows: list[Row] = []
    for n, eid in enumerate(involved(incident, children, state)):
        label = entity_label(eid)
        if len(label) > LABEL_CHARS:
            label = label[: LABEL_CHARS - 1] + "…"
        row = Row(label, links.resource(eid), TOP + 26 + n * ROW_H)
        entity = state.entities.get(eid)
        if entity is not None:
            spans: list[tuple[datetime, datetime, str]] = []
            if entity.previous is not None and entity.previous_since is not None:
                spans.append((entity.previous_since, entity.since, entity.previous.value))
            spans.append((entity.since, now, state.health_of(eid, now).value))
            for a, b, health in spans:
                if b <= start or a >= end:
                    continue
                seconds = (b - a).total_seconds()
                row.segments.append(
                    Segment(x(a), max(1.0, x(b) - x(a)), health, f"{health} for {seconds:.0f} s")
                )
        rows.append(row)

    ticks = []
    for k in range(5):
        at = start + timedelta(seconds=total * k / 4)
        ticks.append(Tick(x(at), at.strftime("%H:%M:%S")))
    outage = incident.outage_seconds
    bar_end = incident.resolved_at or now
    bar = Segment(
        x(incident.opened_at),
        max(2.0, x(bar_end) - x(incident.opened_at)),
        "down" if incident.is_open else "resolved",
        f"incident {incident.status.value}",
    )
    slo_at = incident.opened_at + timedelta(seconds=slo_seconds)
    if outage is None:
        slo_text = f"SLO {slo_seconds:.0f} s"
    elif outage <= slo_seconds:
        slo_text = f"outage {outage:.0f} s: within the {slo_seconds:.0f} s SLO"
    else:
        over = outage - slo_seconds
        slo_text = f"outage {outage:.0f} s: {over:.0f} s over the {slo_seconds:.0f} s SLO"
    return OutagePicture(
        width=LABEL_W + PLOT_W + 60,
        height=int(TOP + 40 + len(rows) * ROW_H),
        label_w=LABEL_W,
        rows=rows,
        ticks=ticks,
        incident=bar,
        slo_x=x(slo_at) if start <= slo_at <= end else None,
        slo_text=slo_text,
        now_x=x(now) if incident.is_open and start <= now <= end else None,
    )
