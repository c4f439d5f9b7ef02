"""Late log evidence reaches an incident resolved shortly before a restart: the store keeps the
recently resolved incidents and the correlator takes them back on start."""

from __future__ import annotations

from datetime import timedelta

from factories import DOWN, UP, at, connection, gateway, settings

from vpnwatch.correlate import CorrelationResult, Correlator
from vpnwatch.correlate.azuremonitor import RECENT_SECONDS
from vpnwatch.incidents import IncidentType
from vpnwatch.observations import DiagnosticLogObserved, LogEvent
from vpnwatch.store import Store

GW = gateway("gw-solo")


def _save(store: Store, result: CorrelationResult) -> None:
    store.apply(
        incidents=[*result.opened, *result.updated, *result.resolved],
        entity_records=result.entity_records_changed,
        removed_entities=result.entity_ids_removed,
    )


def _primary_changed(seconds: float, observed: float) -> DiagnosticLogObserved:
    return DiagnosticLogObserved(
        observed_at=at(observed),
        source="monitor.logs",
        resource_id=GW.resource_id.upper(),
        at=at(seconds),
        category="GatewayDiagnosticLog",
        operation="GatewayTenantPrimaryChanged",
        event=LogEvent.INSTANCE_SWITCH,
        message="Primary changed to GatewayTenantWorker_IN_1",
        instance="GatewayTenantWorker_IN_1",
    )


def _restart(store: Store, now_seconds: float) -> Correlator:
    return Correlator(
        settings(),
        open_incidents=store.load_open_incidents(),
        entity_records=store.load_entity_records(),
        recently_resolved=store.load_resolved_since(
            at(now_seconds) - timedelta(seconds=RECENT_SECONDS)
        ),
    )


def test_a_log_arriving_after_a_restart_settles_the_resolved_drop_as_a_failover(tmp_path):
    store = Store.open(tmp_path / "vpnwatch.sqlite3")
    corr = Correlator(settings())
    _save(store, corr.process([GW, connection("c1", GW)], at(0)))
    _save(store, corr.process([connection("c1", GW, t=15, status=DOWN)], at(15)))
    _save(store, corr.process([connection("c1", GW, t=45, status=UP)], at(45)))
    result = corr.tick(at(120))
    _save(store, result)
    (resolved,) = result.resolved
    assert resolved.type is IncidentType.TUNNEL_DOWN
    store.close()

    store = Store.open(tmp_path / "vpnwatch.sqlite3")  # the agent restarts at 300 s
    corr = _restart(store, 300)
    result = corr.process([_primary_changed(16, observed=400)], at(400))
    (settled,) = result.updated or result.resolved
    assert settled.id == resolved.id
    assert settled.type is IncidentType.FAILOVER
    assert settled.attributes["instance"] == "GatewayTenantWorker_IN_1"
    _save(store, result)
    stored = store.get_incident(resolved.id)
    assert stored is not None and stored.type is IncidentType.FAILOVER
    store.close()


def test_incidents_resolved_longer_ago_are_not_taken_back(tmp_path):
    store = Store.open(tmp_path / "vpnwatch.sqlite3")
    corr = Correlator(settings())
    _save(store, corr.process([GW, connection("c1", GW)], at(0)))
    _save(store, corr.process([connection("c1", GW, t=15, status=DOWN)], at(15)))
    _save(store, corr.process([connection("c1", GW, t=45, status=UP)], at(45)))
    _save(store, corr.tick(at(120)))
    later = 45 + RECENT_SECONDS + 60
    corr = _restart(store, later)
    result = corr.process([_primary_changed(16, observed=later)], at(later))
    assert not result.updated and not result.resolved
    store.close()
