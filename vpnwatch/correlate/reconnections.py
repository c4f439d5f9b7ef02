"""Tunnels that reconnected between two observations, read from Azure's
`lastConnectionEstablishedUtcTime`.

A tunnel seen `Connected`, whose last connection Azure says was established after that
observation, dropped and came back before the next one: polling did not see it happen. Whether
the time in between was a gap worth an incident (the agent was stopped, or could not read) is
`gap.py`'s call; this only compares two observations of one connection.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from vpnwatch.observations import ConnectionObserved, ConnectionStatus


@dataclass(frozen=True, slots=True)
class Reconnection:
    connection_id: str
    tunnel: str
    status: ConnectionStatus  # the tunnel's status now
    last_seen: datetime  # the previous observation, which saw the tunnel connected
    reconnected_at: datetime  # lastConnectionEstablishedUtcTime, after `last_seen`
    seen_at: datetime  # the observation that reports it


def reconnections(
    connection_id: str, old: ConnectionObserved, new: ConnectionObserved
) -> list[Reconnection]:
    """The tunnels of `new` that `old` saw connected and that connected again after `old`."""
    if not old.tunnels or old.observed_at >= new.observed_at:
        return []
    before = {t.name: t for t in old.tunnels}
    found = []
    for tunnel in new.tunnels:
        was = before.get(tunnel.name)
        established = tunnel.last_connection_established
        if was is None or was.status is not ConnectionStatus.CONNECTED or established is None:
            continue
        if not old.observed_at < established <= new.observed_at:
            continue
        earlier = was.last_connection_established
        if earlier is not None and established <= earlier:
            continue
        found.append(
            Reconnection(
                connection_id,
                tunnel.name,
                tunnel.status,
                old.observed_at,
                established,
                new.observed_at,
            )
        )
    return found
