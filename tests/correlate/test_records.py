"""Observations survive the trip through JSON records unchanged."""

from __future__ import annotations

import json

import pytest
from factories import DOWN, at, bgp, circuit, connection, gateway, run, settings, site, unknown

from vpnwatch.correlate.records import RecordError, decode_observation, encode_observation
from vpnwatch.observations import AzureAlertObserved, BgpPeerState, FailureCause

GW = gateway("gw1", active_active=True, zone="1")


@pytest.mark.parametrize(
    "observation",
    [
        GW,
        site("branch", bgp_address="192.168.0.1"),
        connection("c1", GW, status=DOWN, established=[at(3), None]),
        bgp(GW, [("10.1.255.4", "192.168.0.1", BgpPeerState.CONNECTED, 9)]),
        circuit("er1", secondary=False),
        run("arm.bgp", ok=False, cause=FailureCause.THROTTLED, resource_ids=["/a", "/b"]),
        unknown("/subscriptions/x/y", cause=FailureCause.TIMEOUT),
        AzureAlertObserved(
            observed_at=at(0),
            source="webhook",
            alert_id="a",
            rule="r",
            severity="Sev2",
            signal_type="Metric",
            monitoring_service="Platform",
            monitor_condition="Fired",
            target_ids=("/x",),
            fired_at=at(-5),
        ),
    ],
    ids=lambda o: type(o).__name__,
)
def test_round_trip(observation: object) -> None:
    data = json.loads(json.dumps(encode_observation(observation)))  # type: ignore[arg-type]
    assert decode_observation(data) == observation


def test_unknown_type_is_a_clear_error() -> None:
    with pytest.raises(RecordError, match="unknown observation type 'Nope'"):
        decode_observation({"type": "Nope"})


def test_a_step_hands_out_records_unencoded_until_they_are_read(monkeypatch) -> None:
    """Encoding is the store's work at persist time: a correlation step only says which
    records changed, and a record is encoded when read, from the state as it is then."""
    from vpnwatch.correlate import Correlator
    from vpnwatch.correlate.state import FleetState

    encoded: list[str] = []
    record = FleetState.record

    def counting(self: FleetState, rid: str) -> dict:
        encoded.append(rid)
        return record(self, rid)

    monkeypatch.setattr(FleetState, "record", counting)
    corr = Correlator(settings())
    result = corr.process([GW, connection("c1", GW, status=DOWN)], at(0))
    assert encoded == [] and len(result.entity_records_changed) >= 2
    stored = dict(result.entity_records_changed)
    assert sorted(encoded) == sorted(stored)
    assert json.loads(json.dumps(stored)) == stored
    assert "/no/such/record" not in result.entity_records_changed
