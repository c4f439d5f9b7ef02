"""One set of async Azure SDK clients for the whole agent, configured once from `Settings`.

Every collector shares these clients, so the credential fetches one token and connections are
pooled in one aiohttp session. Every request passes the `PacingPolicy`: it spends the
subscription's request budget (ARM throttles per subscription, not per collector) and holds a slot
of the calling collector's lane only while it is in flight. The configuration covers what the SDK
makes easy to get wrong: sovereign token scopes, plain-http emulators, LRO polling, per-attempt
request telemetry, and retries that end within the call's deadline (`retry.py`).
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

import aiohttp
from azure.core.credentials_async import AsyncTokenCredential
from azure.core.pipeline import PipelineRequest
from azure.core.pipeline.policies import SansIOHTTPPolicy
from azure.core.pipeline.transport import AioHttpTransport
from azure.mgmt.authorization.aio import AuthorizationManagementClient
from azure.mgmt.maintenance.aio import MaintenanceManagementClient
from azure.mgmt.network.aio import NetworkManagementClient
from azure.mgmt.resource.resources.aio import ResourceManagementClient
from azure.mgmt.resource.subscriptions.aio import SubscriptionClient
from azure.mgmt.resourcegraph.aio import ResourceGraphClient
from azure.mgmt.resourcehealth.aio import ResourceHealthMgmtClient
from azure.monitor.query.aio import LogsQueryClient
from azure.monitor.querymetrics.aio import MetricsClient

from vpnwatch.clock import Clock, SystemClock
from vpnwatch.collect.budget import (
    ARM_BUCKETS,
    ARM_HOURLY,
    LOG_QUERY_CONCURRENCY,
    RequestBudget,
)
from vpnwatch.collect.credentials import AsyncStaticTokenCredential
from vpnwatch.collect.graphquota import GraphQuotaPolicy
from vpnwatch.collect.lanes import Lanes, PacingPolicy, monitor_charge
from vpnwatch.collect.planner import ReadPlanner
from vpnwatch.collect.retry import DeadlineRetryPolicy
from vpnwatch.collect.telemetry import RequestObserver, RequestRecordingPolicy
from vpnwatch.config import CredentialKind, Settings


class AllowHttpPolicy(SansIOHTTPPolicy):  # type: ignore[type-arg]
    """Lets the bearer-token policy send over plain http (a loopback emulator only).

    `enforce_https=False` is ignored as a client constructor argument; the auth policy reads it
    from each request's context, which this per-call policy sets for every request, including
    LRO polls and next pages.
    """

    def on_request(self, request: PipelineRequest) -> None:  # type: ignore[type-arg]
        request.context["enforce_https"] = False


def token_scope(settings: Settings) -> str:
    """The ARM token scope. Sovereign clouds need it explicitly: a base_url alone leaves the SDK
    asking for a public-cloud token."""
    endpoints = settings.azure.resolved_endpoints()
    audience = endpoints.token_audience or endpoints.resource_manager
    return audience.rstrip("/") + "/.default"


def metrics_endpoint(settings: Settings, region: str) -> str:
    """`https://<region>.metrics.monitor.azure.com` for a known cloud; a custom cloud's (or the
    emulator's) endpoint as written, since it serves every region itself."""
    endpoints = settings.azure.resolved_endpoints()
    base = (endpoints.metrics or endpoints.resource_manager).rstrip("/")
    scheme, _, host = base.partition("://")
    if host.startswith("metrics.monitor."):
        return f"{scheme}://{region.lower()}.{host}"
    return base


def metrics_audience(settings: Settings) -> str:
    """The metrics token audience. The client does not derive it from the endpoint: without it
    a sovereign cloud would be asked for a public-cloud token."""
    endpoints = settings.azure.resolved_endpoints()
    base = (endpoints.metrics or "https://metrics.monitor.azure.com").rstrip("/")
    host = base.partition("://")[2]
    if host.startswith("metrics.monitor."):
        return base
    return "https://metrics.monitor.azure.com"


def logs_audience(settings: Settings) -> str:
    """The Log Analytics token audience. The client derives it from the endpoint when not told,
    which for an emulator or a private endpoint is not an audience Entra ID knows."""
    endpoints = settings.azure.resolved_endpoints()
    base = (endpoints.log_analytics or "https://api.loganalytics.io").rstrip("/")
    host = base.partition("://")[2]
    if host.startswith("api.loganalytics."):
        return base
    return "https://api.loganalytics.io"


def build_credential(settings: Settings) -> AsyncTokenCredential:
    credential = settings.azure.credential
    if credential.kind is CredentialKind.STATIC_TOKEN:
        assert credential.token is not None  # enforced by CredentialSettings
        return AsyncStaticTokenCredential(credential.token.get_secret_value())
    from azure.identity.aio import DefaultAzureCredential

    authority = settings.azure.resolved_endpoints().authority
    if authority:
        return DefaultAzureCredential(authority=authority)
    return DefaultAzureCredential()


def build_budget(settings: Settings, clock: Clock) -> RequestBudget:
    """The request budget the settings ask for, with the collectors' lane weights."""
    config = settings.collectors.budget
    models = ARM_HOURLY if config.model == "hourly" else ARM_BUCKETS
    return RequestBudget(
        clock,
        share=config.share,
        models=dict(models),
        weights=dict(LANE_WEIGHTS),
        detect_hourly=config.model == "auto",
    )


# When collectors compete for one subscription's budget, tokens go in these proportions: tunnel
# state first, inventory and ExpressRoute next, BGP status last (it is also the slowest signal).
LANE_WEIGHTS = {
    "arm.connections": 8.0,
    "arm.gateways": 2.0,
    "arm.expressroute": 2.0,
    "arm.resourcehealth": 2.0,
    "discovery": 2.0,
    "arm.bgp": 1.0,
    "arm.maintenance": 1.0,
    "arm.resiliency": 1.0,
    "arm.p2s": 1.0,
    # the ARM listings the Azure Monitor collectors need (their queries spend no ARM budget)
    "monitor.metrics": 1.0,
}
LOGS_LANE = "monitor.logs"


class AzureClients:
    """`async with AzureClients(settings, observer) as clients:` then `clients.network(sub)`."""

    def __init__(
        self,
        settings: Settings,
        observer: RequestObserver | None = None,
        *,
        clock: Clock | None = None,
    ) -> None:
        self.settings = settings
        self.observer = observer
        self.clock: Clock = clock or SystemClock()
        self.budget = build_budget(settings, self.clock)
        self.lanes = Lanes(settings.collectors.max_concurrency)
        # Log Analytics runs at most 5 queries of one caller at once (the rest queue, then fail).
        self.lanes.get(LOGS_LANE, min(LOG_QUERY_CONCURRENCY, settings.collectors.max_concurrency))
        self.planner = ReadPlanner(self.budget, clock or SystemClock())
        self._credential: AsyncTokenCredential | None = None
        self._session: aiohttp.ClientSession | None = None
        self._network: dict[str, NetworkManagementClient] = {}
        self._resources: dict[str, ResourceManagementClient] = {}
        self._authorization: dict[str, AuthorizationManagementClient] = {}
        self._maintenance: dict[str, MaintenanceManagementClient] = {}
        self._resource_health: dict[str, ResourceHealthMgmtClient] = {}
        self._resource_graph: ResourceGraphClient | None = None
        self._subscriptions: SubscriptionClient | None = None
        self._metrics: dict[str, MetricsClient] = {}
        self._logs: LogsQueryClient | None = None

    async def __aenter__(self) -> AzureClients:
        self._credential = build_credential(self.settings)
        self._session = aiohttp.ClientSession(
            cookie_jar=aiohttp.DummyCookieJar(), auto_decompress=False, trust_env=True
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        clients: list[Any] = [
            *self._network.values(),
            *self._resources.values(),
            *self._metrics.values(),
            *self._authorization.values(),
            *self._maintenance.values(),
            *self._resource_health.values(),
        ]
        if self._resource_graph is not None:
            clients.append(self._resource_graph)
            self._resource_graph = None
        if self._logs is not None:
            clients.append(self._logs)
            self._logs = None
        if self._subscriptions is not None:
            clients.append(self._subscriptions)
        self._network.clear()
        self._resources.clear()
        self._metrics.clear()
        self._authorization.clear()
        self._maintenance.clear()
        self._resource_health.clear()
        self._subscriptions = None
        for client in clients:
            await client.close()
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._credential is not None:
            await self._credential.close()
            self._credential = None

    def network(self, subscription_id: str) -> NetworkManagementClient:
        key = subscription_id.lower()
        client = self._network.get(key)
        if client is None:
            client = NetworkManagementClient(
                self._require_credential(), subscription_id, **self._client_options()
            )
            self._network[key] = client
        return client

    def resources(self, subscription_id: str) -> ResourceManagementClient:
        key = subscription_id.lower()
        client = self._resources.get(key)
        if client is None:
            client = ResourceManagementClient(
                self._require_credential(), subscription_id, **self._client_options()
            )
            self._resources[key] = client
        return client

    def metrics(self, region: str) -> MetricsClient:
        """The metrics batch client for one region (the batch API is regional)."""
        endpoint = metrics_endpoint(self.settings, region)
        client = self._metrics.get(endpoint)
        if client is None:
            options = self._client_options()
            options.pop("base_url")
            options.pop("credential_scopes")
            options.pop("polling_interval")
            # The batch API is Azure Monitor's, not ARM's: it spends none of the subscription's
            # ARM read budget (its point is to spare that budget), only its own.
            options["per_retry_policies"] = [
                PacingPolicy(self.budget, self.lanes, monitor_charge, slots_per_key=False),
                RequestRecordingPolicy(self.observer),
            ]
            client = MetricsClient(
                endpoint,
                self._require_credential(),
                audience=metrics_audience(self.settings),
                **options,
            )
            self._metrics[endpoint] = client
        return client

    @property
    def logs(self) -> LogsQueryClient:
        """The Log Analytics query client (`{endpoint}/v1/workspaces/{id}/query`)."""
        if self._logs is None:
            endpoints = self.settings.azure.resolved_endpoints()
            base = (endpoints.log_analytics or "https://api.loganalytics.io").rstrip("/")
            options = self._client_options()
            for key in ("base_url", "credential_scopes", "polling_interval"):
                options.pop(key)
            options["per_retry_policies"] = [
                PacingPolicy(self.budget, self.lanes, monitor_charge, slots_per_key=False),
                RequestRecordingPolicy(self.observer),
            ]
            self._logs = LogsQueryClient(
                self._require_credential(),
                endpoint=f"{base}/v1",
                audience=logs_audience(self.settings),
                **options,
            )
        return self._logs

    def maintenance(self, subscription_id: str) -> MaintenanceManagementClient:
        """Maintenance configurations and their assignments (an ARM read, paced like any)."""
        key = subscription_id.lower()
        client = self._maintenance.get(key)
        if client is None:
            client = MaintenanceManagementClient(
                self._require_credential(), subscription_id, **self._client_options()
            )
            self._maintenance[key] = client
        return client

    def resource_health(self, subscription_id: str) -> ResourceHealthMgmtClient:
        """Availability statuses (an ARM read, paced like any)."""
        key = subscription_id.lower()
        client = self._resource_health.get(key)
        if client is None:
            client = ResourceHealthMgmtClient(
                self._require_credential(), subscription_id, **self._client_options()
            )
            self._resource_health[key] = client
        return client

    @property
    def resource_graph(self) -> ResourceGraphClient:
        """Azure Resource Graph queries: not charged to any subscription's ARM buckets, but
        paced under Resource Graph's own per-caller quota (`GraphQuotaPolicy`)."""
        if self._resource_graph is None:
            options = self._client_options()
            options["per_retry_policies"] = [
                GraphQuotaPolicy(self.budget, self.lanes),
                RequestRecordingPolicy(self.observer),
            ]
            self._resource_graph = ResourceGraphClient(self._require_credential(), **options)
        return self._resource_graph

    def authorization(self, subscription_id: str) -> AuthorizationManagementClient:
        """Only `check-config --probe` uses it: the caller's effective permissions."""
        key = subscription_id.lower()
        client = self._authorization.get(key)
        if client is None:
            client = AuthorizationManagementClient(
                self._require_credential(), subscription_id, **self._client_options()
            )
            self._authorization[key] = client
        return client

    @property
    def credential(self) -> AsyncTokenCredential:
        return self._require_credential()

    @property
    def subscriptions(self) -> SubscriptionClient:
        if self._subscriptions is None:
            self._subscriptions = SubscriptionClient(
                self._require_credential(), **self._client_options()
            )
        return self._subscriptions

    def _require_credential(self) -> AsyncTokenCredential:
        if self._credential is None:
            raise RuntimeError("AzureClients must be entered with `async with` before use")
        return self._credential

    def _client_options(self) -> dict[str, Any]:
        azure = self.settings.azure
        collectors = self.settings.collectors
        endpoints = azure.resolved_endpoints()
        assert self._session is not None
        transport = AioHttpTransport(
            session=self._session,
            session_owner=False,
            connection_verify=azure.verify_tls,
            connection_timeout=collectors.timeout_seconds,
            read_timeout=collectors.timeout_seconds,
        )
        return {
            "base_url": endpoints.resource_manager,
            "credential_scopes": [token_scope(self.settings)],
            "transport": transport,
            "per_call_policies": [AllowHttpPolicy()] if azure.allow_http else [],
            # Fresh instances per client: a pipeline chains its policies through their `next`,
            # so one policy object shared by two pipelines would send one client's requests
            # down the other's chain.
            "per_retry_policies": [
                PacingPolicy(self.budget, self.lanes),
                RequestRecordingPolicy(self.observer),
            ],
            # a fresh instance per client too; every call done or failed within the deadline
            "retry_policy": DeadlineRetryPolicy(
                self.clock,
                collectors.call_deadline,
                retry_total=collectors.retry_total,
                retry_backoff_factor=collectors.retry_backoff_seconds,
            ),
            "polling_interval": collectors.lro_poll_interval_seconds,
        }
