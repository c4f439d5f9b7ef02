"""The agent: runs the collectors on their intervals and feeds what they see through the
correlator into the store (collect -> observe -> correlate -> incident).

`core.py` puts it together; `scopes.py` decides what to poll, `schedule.py` when each collector
runs, `persistence.py` writes each step and `announce.py` tells the log and listeners about it.
"""

from vpnwatch.agent.announce import Listener
from vpnwatch.agent.core import Agent
from vpnwatch.agent.schedule import CollectorStatus

__all__ = ["Agent", "CollectorStatus", "Listener"]
