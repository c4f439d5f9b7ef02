"""Thousands of Azure Monitor alerts about an open incident's resource: the timeline stays
bounded (repeats collapse into counts), the store stays small and no alert is left unprocessed."""

from __future__ import annotations

import sqlite3
from datetime import timedelta

from service_helpers import TUNNEL_FAULT_AT, WEBHOOK, Fleet, alert_payload, auth, run_until

from vpnwatch.incidents import IncidentType
from vpnwatch.replay import REPLAY_EPOCH

ALERTS = 3_000
FIRST_FIRED = REPLAY_EPOCH + timedelta(minutes=1)
ALERT_ID = "/subscriptions/s/providers/Microsoft.AlertsManagement/alerts/flood-"


def _table_bytes(fleet: Fleet, *tables: str) -> int:
    """Bytes on disk of `tables` and their indexes (SQLite's dbstat)."""
    db = sqlite3.connect(f"file:{fleet.settings.store.path}?mode=ro", uri=True)
    try:
        marks = ",".join("?" * len(tables))
        (size,) = db.execute(
            "SELECT COALESCE(SUM(pgsize), 0) FROM dbstat WHERE name IN "
            f"(SELECT name FROM sqlite_schema WHERE tbl_name IN ({marks}))",
            tables,
        ).fetchone()
        return size
    finally:
        db.close()


async def test_an_alert_flood_keeps_the_timeline_bounded_and_leaves_no_backlog(estate: Fleet):
    await run_until(estate, TUNNEL_FAULT_AT + 30)
    (incident,) = [
        i for i in estate.agent.correlator.open_incidents() if i.type is IncidentType.TUNNEL_DOWN
    ]
    target = incident.resources[0]
    before = len(incident.timeline)
    async with estate.client() as client:
        for n in range(ALERTS):
            payload = alert_payload("resourcehealth", alert_id=f"{ALERT_ID}{n}", targets=[target])
            fired = FIRST_FIRED + timedelta(seconds=n)  # the rule fires again every second
            payload["data"]["essentials"]["firedDateTime"] = fired.isoformat()
            response = await client.post(WEBHOOK, json=payload, headers=auth())
            assert response.status_code == 202, response.text

    assert estate.agent.store.unprocessed_alerts() == []
    stored = estate.agent.store.get_incident(incident.id)
    assert stored is not None
    alerts = [e for e in stored.timeline if e.source and "Azure Monitor alert" in e.message]
    # the same alert rule about the same resource, 3,000 times: one entry that counts them
    assert len(alerts) == 1
    assert alerts[0].repeats == ALERTS - 1
    assert alerts[0].at == FIRST_FIRED
    assert alerts[0].last_at == FIRST_FIRED + timedelta(seconds=ALERTS - 1)
    assert len(stored.timeline) <= before + 5
    # the alerts themselves are kept until retention; what they add to the incident is small
    assert _table_bytes(estate, "evidence", "incidents") < 64 * 1024
