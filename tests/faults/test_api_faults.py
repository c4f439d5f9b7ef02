"""`vpnwatch run` against Azure faults: blind in time, never stale `up`, nothing lost, back alone.

One emulator serves one small hub per fault, each in its own subscription, and scopes each fault
to its subscription; one `vpnwatch run` watches them all with default settings (intervals divided
by `SPEED`), so every fault is measured at once against the same agent. From outside, through
`/health` and the API, the test checks for each fault:

- blind opens within two connection polls of the first failed one, says whose side the fault is
  on, and resolves within one poll of the fault's end, once (it does not open again);
- once a poll has failed, no connection of that subscription reads `up`;
- a 429 the SDK rides out inside one poll, and answers slower than usual but in time, open
  nothing and leave the data fresh;
- Azure Monitor alerts posted while it all happens are accepted and kept (posting them again
  afterwards answers `duplicate`);
- `/health` is 200 again afterwards, without a restart.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from e2e_helpers import LOOPBACK, ProcessGroup, free_port
from faults_helpers import (
    CONNECTIONS_INTERVAL,
    DEADLINE,
    SLACK,
    SPEED,
    Sampler,
    ScenarioTime,
    agent_config,
    alert,
    in_subscription,
    post_alert,
    scope_of,
    write_scenario,
)

from vpnwatch.emulator.estates import fault_hubs, fault_subscription

pytestmark = pytest.mark.slow

FAULT_AT, FAULT_FOR = 150.0, 100.0  # scenario seconds
END = FAULT_AT + FAULT_FOR
DURATION = END + 100.0

# subscription label -> (its timeline, the blind cause expected, whose side)
BLINDING: dict[str, tuple[dict[str, Any], str, str]] = {
    "storm429": (
        {"kind": "throttle", "retry_after": 30, "at": FAULT_AT, "duration": FAULT_FOR},
        "throttled",
        "azure",
    ),
    "outage503": (
        {"kind": "api_unavailable", "retry_after": 10, "at": FAULT_AT, "duration": FAULT_FOR},
        "server_error",
        "azure",
    ),
    "refused401": (
        {"kind": "auth_failure", "at": FAULT_AT, "duration": FAULT_FOR},
        "auth",
        "vpnwatch",
    ),
    "silent": (
        {"kind": "no_response", "at": FAULT_AT, "duration": FAULT_FOR},
        "timeout",
        "network",
    ),
}
HARMLESS: dict[str, list[dict[str, Any]]] = {
    # 429 bursts of one scenario second asking for a 2 s wait: the SDK's retry lands in the poll
    "burst429": [
        {"kind": "throttle", "retry_after": 2, "at": at, "duration": 1}
        for at in (FAULT_AT, FAULT_AT + 40, FAULT_AT + 80)
    ],
    # every answer 5 scenario seconds late (0.5 s of wall time), within the call's deadline
    "slow": [{"kind": "slow_responses", "delay": 5, "at": FAULT_AT, "duration": FAULT_FOR}],
    "control": [],
}


def test_api_faults_blind_in_time_never_stale_up_and_recover(
    tmp_path: Path, processes: ProcessGroup
) -> None:
    faults = {label: [entry] for label, (entry, _, _) in BLINDING.items()} | HARMLESS
    labels = list(faults)
    subs = {label: fault_subscription(n) for n, label in enumerate(labels, start=1)}
    scenario = write_scenario(tmp_path, fault_hubs("api-faults", faults, duration=DURATION))

    url = processes.start_emulator(scenario, "--speed", f"{SPEED:g}", "--throttling", "off")
    scenario_time = ScenarioTime.of(url)
    fault_at, fault_end = scenario_time.come_by(FAULT_AT), scenario_time.not_yet_at(END)

    port = free_port()
    config = agent_config(tmp_path, url, port, list(subs.values()))
    api = f"http://{LOOPBACK}:{port}"
    processes.start_run("agent", config, until=f"{api}/readyz")
    assert time.time() < fault_at - CONNECTIONS_INTERVAL, "the agent was ready too late"

    sampler = Sampler(api).start()
    accepted: list[dict[str, Any]] = []
    with httpx.Client(timeout=10.0) as client:
        n = 0
        while time.time() < fault_end + CONNECTIONS_INTERVAL + SLACK:
            label = labels[n % len(labels)]
            gateway = (
                f"{scope_of(subs[label])}/resourceGroups/rg-{label}-westeurope/providers/"
                f"Microsoft.Network/virtualNetworkGateways/{label}-vpngw-0000"
            )
            payload = alert(f"/subscriptions/{subs[label]}/alerts/fault-suite-{n}", gateway)
            response = post_alert(client, api, payload)
            assert response.status_code == 202, response.text
            accepted.append(payload)
            n += 1
            time.sleep(0.5)
        sampler.stop()

        # every accepted alert was kept: the same alert again is a duplicate
        for payload in accepted:
            again = post_alert(client, api, payload)
            assert again.status_code == 202 and again.json()["duplicate"] is True, again.text

    first_failed_poll_by = fault_at + CONNECTIONS_INTERVAL  # the first poll inside the fault
    for label, (_, cause, side) in BLINDING.items():
        sub, scope = subs[label], scope_of(subs[label])
        opened = sampler.first(lambda s, scope=scope: scope in s.blind_scopes, after=fault_at)
        assert opened is not None, f"{label}: never blind"
        assert opened.at <= first_failed_poll_by + 2 * CONNECTIONS_INTERVAL + DEADLINE + SLACK, (
            f"{label}: blind {opened.at - fault_at:.1f} s after the fault began"
        )
        [incident] = [
            i
            for i in opened.incidents
            if i["type"] == "monitoring_blind" and i["attributes"].get("scope") == scope
        ]
        assert incident["attributes"]["cause"] == cause, (label, incident["attributes"])
        assert incident["attributes"]["fault_side"] == side, (label, incident["attributes"])

        closed = sampler.first(lambda s, scope=scope: scope not in s.blind_scopes, after=opened.at)
        assert closed is not None, f"{label}: still blind after the fault"
        assert closed.at >= fault_end - SLACK, f"{label}: resolved while the fault lasted"
        # within one poll of the fault's end, plus the sampler's and the machine's slack
        assert closed.at <= fault_end + CONNECTIONS_INTERVAL + SLACK, (
            f"{label}: resolved {closed.at - fault_end:.1f} s after the fault ended"
        )
        # once: a pass begun during the fault that fails afterwards does not reopen it
        reopened = sampler.first(lambda s, scope=scope: scope in s.blind_scopes, after=closed.at)
        assert reopened is None, f"{label}: blind again {reopened.at - fault_end:.1f} s after"

        # once a poll failed, nothing of the subscription reads `up` until the fault ends
        failed_by = first_failed_poll_by + DEADLINE + SLACK
        during = sampler.between(failed_by, fault_end)
        assert during, "no sample during the fault"
        for sample in during:
            seen = in_subscription(sample, sub)
            assert seen, f"{label}: its connections disappeared"
            assert "up" not in seen.values(), (label, sample.at - fault_at, seen)

    for label in HARMLESS:
        scope = scope_of(subs[label])
        assert not any(scope in s.blind_scopes for s in sampler.samples), f"{label}: blind"
        for sample in sampler.between(fault_at, fault_end):
            assert set(in_subscription(sample, subs[label]).values()) == {"up"}, (
                label,
                sample.at - fault_at,
            )
    opened_for = {
        r
        for s in sampler.samples
        for i in s.incidents
        for r in i["resources"]
        if i["type"] != "monitoring_blind"
    }
    for label in HARMLESS:
        assert not any(scope_of(subs[label]).lower() in r.lower() for r in opened_for), label

    # /health recovers without a restart
    final = sampler.samples[-1]
    assert final.health_status == 200 and not final.blind, final
