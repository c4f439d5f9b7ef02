"""`vpnwatch emulator --tls`: the sync Azure SDK client talks to it unmodified over https."""

from __future__ import annotations

import re
import signal
from pathlib import Path

import pytest
from azure.core.exceptions import ClientAuthenticationError
from azure.mgmt.network import NetworkManagementClient
from e2e_helpers import LOOPBACK, ProcessGroup, free_port, wait_for

from vpnwatch.collect.credentials import StaticTokenCredential

SUBSCRIPTION = "6f1d3c2a-0000-4000-8000-00000000c001"
RESOURCE_GROUP = "rg-core-weu"
CA_LINE = re.compile(r"emulator CA certificate: (?P<path>\S+)")


@pytest.mark.parametrize(
    ("stop_signal", "sigint_ignored"),
    [(signal.SIGINT, False), (signal.SIGINT, True), (signal.SIGTERM, False)],
    ids=["SIGINT", "SIGINT-inherited-ignored", "SIGTERM"],
)
def test_emulator_over_tls_serves_the_sync_sdk(
    processes: ProcessGroup, stop_signal: signal.Signals, sigint_ignored: bool
) -> None:
    port = free_port()
    emulator = processes.start(
        "emulator", "emulator", "--scenario", "unplanned-failover", "--port", str(port), "--tls",
        sigint_ignored=sigint_ignored,
    )  # fmt: skip

    url = emulator.first_stdout_line(deadline_seconds=20)
    assert url == f"https://{LOOPBACK}:{port}"
    found = wait_for(
        "the emulator to say where its CA certificate is",
        lambda: CA_LINE.search(emulator.stderr()),
        10,
    )
    ca = Path(found["path"])
    assert ca.is_file() and ca.read_text().startswith("-----BEGIN CERTIFICATE-----")

    with NetworkManagementClient(
        StaticTokenCredential("emulator-token"),
        SUBSCRIPTION,
        base_url=url,
        connection_verify=str(ca),
        retry_total=0,
    ) as network:
        gateways = sorted(g.name for g in network.virtual_network_gateways.list(RESOURCE_GROUP))
    assert gateways == ["vpngw-core-weu", "vpngw-edge-weu"]

    with (
        NetworkManagementClient(
            StaticTokenCredential("not-the-token"),
            SUBSCRIPTION,
            base_url=url,
            connection_verify=str(ca),
            retry_total=0,
        ) as stranger,
        pytest.raises(ClientAuthenticationError) as refused,
    ):
        list(stranger.virtual_network_gateways.list(RESOURCE_GROUP))
    assert refused.value.status_code == 401

    # Ctrl-C, `docker stop` or systemd: either way the throwaway CA and its key are removed.
    assert emulator.stop(stop_signal, deadline_seconds=15) == 0
    assert not ca.parent.exists(), "the throwaway CA and key outlived the emulator"
