"""Telling the log and in-process listeners what a correlation step opened, updated and resolved."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from vpnwatch.correlate import CorrelationResult

log = logging.getLogger("vpnwatch.agent")

Listener = Callable[[CorrelationResult], None]


def announce(result: CorrelationResult, listeners: Sequence[Listener]) -> None:
    for incident in result.opened:
        log.warning("incident opened: %s %s %s", incident.severity, incident.key, incident.title)
    opened = {i.key for i in result.opened}
    for incident in result.updated:
        if incident.key not in opened:
            log.info(
                "incident updated: %s %s %s (%s)",
                incident.severity,
                incident.key,
                incident.classification or "-",
                incident.title,
            )
    for incident in result.resolved:
        log.info(
            "incident resolved: %s (outage %s s)", incident.key, _fmt(incident.outage_seconds)
        )
    for listener in listeners:
        try:
            listener(result)
        except Exception:
            log.exception("incident listener failed")


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"
