"""The permissions vpnwatch needs: one operation list, the custom role generated from it, the
agent's real requests held to it (against the emulator), and `check-config --probe` reporting
what a credential lacks, one line each."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from vpnwatch.agent import Agent
from vpnwatch.clock import ManualClock
from vpnwatch.collect.probe import probe
from vpnwatch.emulator import Emulator, load_scenario
from vpnwatch.emulator.rbac import RoleGrant
from vpnwatch.permissions import (
    OPERATIONS,
    allowed,
    operation_for,
    required_actions,
    role_definition,
)
from vpnwatch.replay import REPLAY_EPOCH, emulator_settings

ROOT = Path(__file__).resolve().parents[1]
ROLE_FILE = ROOT / "deploy" / "azure" / "vpnwatch-monitoring-reader.json"
# a small estate with VPN gateways, BGP (an LRO), ExpressRoute (route summaries, an LRO), sites
SCENARIO = ROOT / "tests" / "service" / "scenarios" / "service.yaml"
READER = RoleGrant(actions=("*/read",))
BGP_STATUS = "Microsoft.Network/virtualNetworkGateways/getBgpPeerStatus/action"


def test_shipped_role_is_generated_from_the_operation_list():
    shipped = json.loads(ROLE_FILE.read_text())
    generated = role_definition()
    assert shipped == generated, "regenerate: vpnwatch role-definition > " + str(ROLE_FILE)
    assert shipped["Actions"] == required_actions()
    assert not any("*" in action for action in shipped["Actions"]), "least privilege: no wildcard"
    assert shipped["NotActions"] == [] and shipped["DataActions"] == []


def test_role_definition_command_prints_the_role_for_given_scopes():
    out = subprocess.run(
        [sys.executable, "-m", "vpnwatch", "role-definition", "--scope", "/subscriptions/abc"],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    role = json.loads(out.stdout)
    assert role["AssignableScopes"] == ["/subscriptions/abc"]
    assert role["Actions"] == required_actions()


def test_action_matching_follows_azure_wildcards_and_not_actions():
    assert allowed(BGP_STATUS, ["*"])
    assert allowed(BGP_STATUS, ["microsoft.network/*"])  # case-insensitive
    assert not allowed(BGP_STATUS, ["*/read"])  # Reader does not grant the BGP POST
    assert not allowed(BGP_STATUS, ["Microsoft.Network/*"], ["*/action"])
    assert allowed("Microsoft.Network/connections/read", ["*/read"])


@asynccontextmanager
async def _watched(grant: RoleGrant, tmp_path: Path) -> AsyncIterator[tuple[Emulator, Agent]]:
    clock = ManualClock(REPLAY_EPOCH)
    scenario = load_scenario(str(SCENARIO))
    async with Emulator(scenario, clock=clock, port=0, grant=grant) as emulator:
        settings = emulator_settings(
            emulator.base_url, scenario, epoch=REPLAY_EPOCH, store_path=str(tmp_path / "s.db")
        )
        agent = Agent(settings, clock=clock)
        await agent.open()
        try:
            for _ in range(3):
                await agent.run_due()
                clock.advance(60)
            yield emulator, agent
        finally:
            await agent.stop()


async def test_every_request_the_agent_makes_is_listed_and_the_role_allows_it(tmp_path: Path):
    grant = RoleGrant(actions=tuple(required_actions()))
    async with _watched(grant, tmp_path) as (emulator, _):
        requests = emulator.requests
    assert requests
    unlisted = {(r.method, r.path) for r in requests if operation_for(r.method, r.path) is None}
    assert not unlisted, f"add these to vpnwatch/permissions.py OPERATIONS: {sorted(unlisted)}"
    assert not [r for r in requests if r.status == 403], "the shipped role must be enough"
    used = {operation_for(r.method, r.path).action for r in requests}  # type: ignore[union-attr]
    assert BGP_STATUS in used
    assert "Microsoft.Network/expressRouteCircuits/peerings/routeTablesSummary/read" in used
    # the role grants nothing the agent did not use, apart from paths this estate never takes
    unused = set(required_actions()) - used
    assert unused <= {
        "Microsoft.Resources/subscriptions/read",  # only with targets.discover_all
        # only where Resource Graph cannot answer (discovery falls back to listing groups)
        "Microsoft.Resources/subscriptions/resourceGroups/read",
        "Microsoft.Network/locations/operationResults/read",  # some LROs end without it
        # BGP status polls its Location; a status monitor is polled by other LROs when Azure
        # names one (P2S connection health, on demand)
        "Microsoft.Network/locations/operations/read",
        "Microsoft.Insights/metrics/read",  # only when the metrics collector is on
        # only when the maintenance collector is on
        "Microsoft.Maintenance/maintenanceConfigurations/read",
        "Microsoft.Maintenance/configurationAssignments/read",
        "Microsoft.OperationalInsights/workspaces/query/read",  # only with a logs workspace
        # only when their collector is on (resiliency, vpn_client_health)
        *(op.action for op in OPERATIONS if op.collector is not None),
    }, unused


async def test_reader_is_not_enough_the_bgp_status_is_refused(tmp_path: Path):
    async with _watched(READER, tmp_path) as (emulator, _):
        refused = [r for r in emulator.requests if r.status == 403]
    assert refused, "Reader (*/read) would be enough: update docs/permissions.md"
    assert {operation_for(r.method, r.path).action for r in refused} == {BGP_STATUS}  # type: ignore[union-attr]


async def _probe(grant: RoleGrant, token: str = "emulator-token") -> list[str]:
    scenario = load_scenario(str(SCENARIO))
    async with Emulator(scenario, port=0, grant=grant) as emulator:
        settings = emulator_settings(emulator.base_url, scenario, epoch=REPLAY_EPOCH)
        settings.azure.credential.token = type(settings.azure.credential.token)(token)
        return [str(line) for line in await probe(settings)]


async def test_probe_names_each_missing_permission_in_one_line():
    lines = await _probe(READER)
    missing = [line for line in lines if line.startswith("MISSING")]
    assert len(missing) == 1, lines
    assert BGP_STATUS in missing[0] and "\n" not in missing[0]
    assert any(line.startswith("OK      credential") for line in lines)
    assert any("read" in line and "resource group" in line for line in lines)


async def test_probe_passes_with_the_shipped_role():
    lines = await _probe(RoleGrant(actions=tuple(required_actions())))
    assert all(line.startswith("OK") for line in lines), lines
    # the collectors that own actions are off in this estate: their actions are not checked
    checked = {op.action for op in OPERATIONS if op.collector is None}
    assert checked < set(required_actions())
    assert any(f"all {len(checked)} permissions granted" in line for line in lines)


async def test_probe_says_a_refused_credential_in_one_line():
    lines = await _probe(RoleGrant(), token="not-the-token")
    assert len([line for line in lines if line.startswith("MISSING")]) >= 1
    assert all("\n" not in line for line in lines)
    assert any("401" in line or "Authentication" in line for line in lines), lines


@pytest.mark.parametrize("op", OPERATIONS, ids=lambda op: op.action)
def test_each_operation_pattern_matches_its_own_example(op):
    """A listed operation matches a request of its shape and not one of another method."""
    example = (
        op.path.replace("[^/]+", "x")
        .replace(r"\.", ".")
        .replace("(/x)?", "/x")
        .replace("(/[^/]+)?", "/x")
    )
    assert op.matches(op.method, example), example
    assert not op.matches("DELETE", example)
