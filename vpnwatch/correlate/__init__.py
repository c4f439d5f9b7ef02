"""The correlator: observations in, the few incidents an on-call engineer must know about out.

Pure logic, no I/O: `state` keeps the fleet's health, one module per detector decides one kind
of incident, and `engine` applies the rules that tie them together (one incident per key, causes
before symptoms, flap damping).
"""

from vpnwatch.correlate.engine import CorrelationResult, Correlator
from vpnwatch.correlate.entities import EntityKind, EntityState, Health
from vpnwatch.correlate.findings import Detector, DetectorContext, Finding, Resolution
from vpnwatch.correlate.state import FleetState

__all__ = [
    "CorrelationResult",
    "Correlator",
    "Detector",
    "DetectorContext",
    "EntityKind",
    "EntityState",
    "Finding",
    "FleetState",
    "Health",
    "Resolution",
]
