"""A local Azure Resource Manager for VPN gateways, ExpressRoute and BGP, driven by scenarios.

The real Azure SDK clients talk to it unmodified (via `base_url`), so the agent can be
developed, demonstrated and tested against failovers, zone outages and throttling that no one
would cause on purpose in a real subscription.
"""

from vpnwatch.emulator.scenario import Scenario, ScenarioError, load_scenario, shipped_scenarios
from vpnwatch.emulator.server import (
    Emulator,
    RequestRecord,
    TlsUnavailable,
    emu_thread,
    serve_forever,
)

__all__ = [
    "Emulator",
    "RequestRecord",
    "Scenario",
    "ScenarioError",
    "TlsUnavailable",
    "emu_thread",
    "load_scenario",
    "serve_forever",
    "shipped_scenarios",
]
