"""Azure Monitor metrics on /metrics, after the metrics collector read the estate through the
real `MetricsClient`: the same labels as the fleet series they belong to."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families


def _samples(text: str, name: str) -> list:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                yield sample


def test_tunnel_traffic_carries_the_labels_of_the_tunnel_series(metrics_text: str) -> None:
    key = ("resource_group", "gateway", "connection")
    tunnels = {
        tuple(s.labels[k] for k in key) for s in _samples(metrics_text, "vpnwatch_tunnel_up")
    }
    bandwidth = list(_samples(metrics_text, "vpnwatch_azure_tunnel_bandwidth_bytes_per_second"))
    assert bandwidth
    traffic = {tuple(s.labels[k] for k in key) for s in bandwidth}
    assert traffic == tunnels  # every VPN connection, joinable on the same label values
    assert all(s.labels["azure_instance"].startswith("GatewayTenantWorker_IN_") for s in bandwidth)
    assert all("instance" not in s.labels for s in bandwidth)  # Prometheus' own target label
    assert all(s.value > 0 for s in bandwidth)


def test_point_to_site_users_per_gateway(metrics_text: str) -> None:
    users = list(_samples(metrics_text, "vpnwatch_azure_p2s_connections"))
    assert {s.labels["gateway"] for s in users} == {"vgw-neu-01"}
    # The failover at 120 s disconnected all 25 users of instance 0; the newest grain Azure
    # has aggregated by 400 s is the one that saw it.
    by_instance = {s.labels["azure_instance"]: s.value for s in users}
    assert set(by_instance) == {"GatewayTenantWorker_IN_0", "GatewayTenantWorker_IN_1"}
    assert sum(by_instance.values()) < 25


def test_expressroute_circuit_traffic(metrics_text: str) -> None:
    bits = list(_samples(metrics_text, "vpnwatch_azure_expressroute_bits_per_second"))
    assert {(s.labels["circuit"], s.labels["device_role"]) for s in bits} == {
        ("erc-weu-equinix", "Primary"),
        ("erc-weu-equinix", "Secondary"),
    }
