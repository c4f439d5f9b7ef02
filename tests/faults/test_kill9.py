"""`vpnwatch run` killed with SIGKILL at random moments of 503 storms loses nothing.

A tunnel goes down first (an incident opens), then Azure answers 503 for 12 s of every 18 (wall
time; a restart under load can take longer than one storm, so the storms repeat). Azure Monitor
alerts are posted to the webhook the whole time, and the agent is killed twice at random moments
(the seed is in every assertion message) and started again on the same store at once: once at
any moment, once within a few seconds after it was blind. Afterwards: every incident
seen before a kill is still there under the same id, every alert the webhook accepted is known
(posting it again answers `duplicate`), no connection read `up` while its polls failed, and
`/health` is 200 again without another restart once Azure answers.

A restarted agent shows the health it restored from the store until its first pass fails, so
each agent process is given one pass from the moment it first answers, which is counted from
the first sample it answered: the sampler can reach it before the test's own wait for `/livez`
notices it, and the agent it killed answers nothing after the kill.
"""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from e2e_helpers import LOOPBACK, ProcessGroup, VpnwatchProcess, free_port, status_of, wait_for
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

TUNNEL_DOWN_AT = 40.0
STORM_AT, STORM_FOR, STORM_EVERY = 120.0, 120.0, 180.0  # scenario seconds
STORMS = 10


def storms() -> list[tuple[float, float]]:
    """(start, end) of each storm in scenario seconds."""
    return [
        (STORM_AT + n * STORM_EVERY, STORM_AT + n * STORM_EVERY + STORM_FOR) for n in range(STORMS)
    ]


def test_kill_9_during_a_503_storm_loses_no_incident_and_no_alert(
    tmp_path: Path, processes: ProcessGroup
) -> None:
    seed = random.randrange(1_000_000)
    rng = random.Random(seed)
    label, sub = "hub", fault_subscription(1)
    raw = fault_hubs(
        "kill9",
        {label: [{"kind": "api_unavailable", "at": a, "duration": b - a} for a, b in storms()]},
        duration=storms()[-1][1] + 60,
        extra=[
            {"kind": "tunnel_down", "connection": f"{label}-vpngw-0000-cn0", "at": TUNNEL_DOWN_AT}
        ],
    )
    scenario = write_scenario(tmp_path, raw)
    url = processes.start_emulator(scenario, "--speed", f"{SPEED:g}", "--throttling", "off")
    scenario_time = ScenarioTime.of(url)
    started = scenario_time.latest
    # the wall time surely within each storm
    windows = [(scenario_time.come_by(a), scenario_time.not_yet_at(b)) for a, b in storms()]
    port = free_port()
    config = agent_config(tmp_path, url, port, [sub])
    api = f"http://{LOOPBACK}:{port}"

    serving: list[float] = []  # when the test saw each agent process serve

    def start_agent(name: str) -> VpnwatchProcess:
        agent = processes.start_run(name, config, until=f"{api}/livez")
        serving.append(time.time())
        return agent

    agent = start_agent("agent")
    sampler = Sampler(api).start()
    gateway = (
        f"{scope_of(sub)}/resourceGroups/rg-{label}-westeurope/providers/"
        f"Microsoft.Network/virtualNetworkGateways/{label}-vpngw-0000"
    )
    accepted: list[dict[str, Any]] = []
    stop_posting = threading.Event()

    def post_alerts() -> None:
        n = 0
        with httpx.Client(timeout=5.0) as client:
            while not stop_posting.is_set():
                payload = alert(f"{scope_of(sub)}/alerts/kill9-{seed}-{n}", gateway)
                n += 1
                try:
                    response = post_alert(client, api, payload)
                except httpx.HTTPError:
                    continue  # the agent is down: not accepted, nothing promised
                if response.status_code == 202:
                    accepted.append(payload)
                stop_posting.wait(0.1)

    poster = threading.Thread(target=post_alerts, name="alert-poster", daemon=True)
    poster.start()

    seen_before_kill: dict[str, str] = {}  # incident id -> type
    moments: list[float] = []
    killed: list[float] = []  # when each kill had taken effect (the process reaped)

    def kill_and_restart(at: float) -> VpnwatchProcess:
        time.sleep(max(0.0, at - time.time()))
        for sample in sampler.samples:
            seen_before_kill.update({i["id"]: i["type"] for i in sample.incidents})
        moments.append(time.time())
        agent.kill_hard()
        killed.append(time.time())
        return start_agent(f"agent-{len(moments)}")

    def storm_of(t: float) -> tuple[float, float]:
        """The storm going on at `t`, or the last one before it."""
        return [(a, b) for a, b in windows if a <= t][-1]

    def blind_after(t: float) -> Any:
        return sampler.first(lambda s: scope_of(sub) in s.blind_scopes, after=t)

    wait_for("the tunnel incident", lambda: sampler.first(lambda s: bool(s.incidents)), 30)
    agent = kill_and_restart(time.time() + rng.uniform(0, STORM_EVERY / SPEED))
    blind = wait_for("blind", lambda: blind_after(moments[-1]), 60)
    agent = kill_and_restart(blind.at + rng.uniform(0, 3))
    blind = wait_for("blind again", lambda: blind_after(moments[-1]), 60)
    storm = storm_of(blind.at)
    wait_for(
        "/health to be 200 once the storm is over",
        lambda: time.time() > storm[1] and status_of(f"{api}/health") == 200,
        60,
    )
    recovered = time.time()
    assert recovered <= storm[1] + CONNECTIONS_INTERVAL + DEADLINE + 2 * SLACK, (
        f"/health 200 only {recovered - storm[1]:.1f} s after the storm ended"
    )
    stop_posting.set()
    poster.join(timeout=10)
    sampler.stop()
    context = f"(seed {seed}, kills at {[round(m - started, 1) for m in moments]} s)"

    assert "tunnel_down" in seen_before_kill.values(), f"the tunnel incident never opened {context}"
    final = {
        i["id"]: i
        for i in httpx.get(f"{api}/api/v1/incidents", params={"limit": 1000}).json()["items"]
    }
    for incident_id, type_ in seen_before_kill.items():
        assert incident_id in final, f"{type_} incident {incident_id} lost {context}"
    assert any(i["type"] == "tunnel_down" and i["status"] != "resolved" for i in final.values()), (
        f"the tunnel is still down: its incident must be open {context}"
    )
    assert not any(
        i["type"] == "monitoring_blind" and i["status"] != "resolved" for i in final.values()
    ), f"still blind after the storm {context}"
    assert "monitoring_blind" in seen_before_kill.values(), f"not blind before a kill {context}"

    assert accepted, f"no alert accepted {context}"
    with httpx.Client(timeout=10.0) as client:
        for payload in accepted:
            again = post_alert(client, api, payload)
            assert again.status_code == 202, again.text
            assert again.json()["duplicate"] is True, f"accepted alert lost {context}"

    def answering_since(at: float) -> float:
        """When the agent process that answered a sample taken at `at` began to answer: the
        first sample taken after the last kill before `at` (a killed process answers nothing,
        and samples are timed when they begin), or the test's sight of it serving if earlier."""
        kills = [k for k in killed if k <= at]
        if not kills:
            return serving[0]
        first = sampler.first(lambda s: True, after=kills[-1])
        assert first is not None and first.at <= at
        return min([first.at, *(t for t in serving if t >= kills[-1])])

    # once a poll of the running agent failed in a storm, nothing reads `up` until it ends
    for a, b in windows:
        for sample in sampler.between(a, b):
            since = max(a, answering_since(sample.at))
            if sample.at < since + CONNECTIONS_INTERVAL + DEADLINE + SLACK:
                continue
            assert "up" not in in_subscription(sample, sub).values(), (
                f"up while Azure answered 503 {context}",
                f"{sample.at - a:.1f} s into the storm, {sample.at - since:.1f} s after the "
                "storm or the restarted agent began",
            )
