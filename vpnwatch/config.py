"""Settings: one YAML file plus `VPNWATCH_...` environment overrides, checked before starting.

A bad file never starts a half-working agent: `load_settings` raises `ConfigError`, which carries
every problem with its file, key and (where the YAML has one) line; `check_config` returns them.
How a file and the environment become a model lives in `configfile.py`; this module says what
the settings are and which combinations make sense.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterable, Mapping
from datetime import time
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from vpnwatch.configfile import (
    ConfigError,
    ConfigProblem,
    Loc,
    OffsetDatetime,
    load_model,
    rule_error,
)
from vpnwatch.configfile import Section as _Section
from vpnwatch.notify.settings import NotifySettings

__all__ = [
    "CONFIG_PATH_ENV",
    "ENV_PREFIX",
    "ConfigError",
    "ConfigProblem",
    "Settings",
    "check_config",
    "config_warnings",
    "load_settings",
]

ENV_PREFIX = "VPNWATCH_"
CONFIG_PATH_ENV = "VPNWATCH_CONFIG"  # the settings file when none is named; not a setting itself


# --- Azure ------------------------------------------------------------------------------------


class Cloud(StrEnum):
    PUBLIC = "AzurePublicCloud"
    CHINA = "AzureChinaCloud"
    US_GOVERNMENT = "AzureUSGovernment"
    CUSTOM = "custom"


def _is_url(value: str) -> bool:
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class EndpointOverrides(_Section):
    """`azure.endpoints` as written: every endpoint of a custom cloud, or the few that differ
    from a known cloud's (e.g. a private-link ARM endpoint)."""

    resource_manager: str | None = None
    metrics: str | None = None
    log_analytics: str | None = None
    authority: str | None = None
    token_audience: str | None = None

    @field_validator("resource_manager", "metrics", "log_analytics")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not _is_url(value):
            raise ValueError("must be an http(s) URL, such as https://management.azure.com")
        return value


class Endpoints(_Section):
    """Where each Azure API lives. The emulator is just a custom cloud."""

    resource_manager: str
    metrics: str | None = None
    log_analytics: str | None = None
    authority: str | None = None
    token_audience: str | None = None  # ARM token audience; defaults to resource_manager

    def urls(self) -> dict[str, str]:
        """The endpoints traffic (and a bearer token) goes to, by key."""
        named = {
            "resource_manager": self.resource_manager,
            "metrics": self.metrics,
            "log_analytics": self.log_analytics,
            "authority": self.authority if self.authority and "://" in self.authority else None,
        }
        return {key: url for key, url in named.items() if url}


KNOWN_CLOUDS: dict[Cloud, Endpoints] = {
    Cloud.PUBLIC: Endpoints(
        resource_manager="https://management.azure.com",
        metrics="https://metrics.monitor.azure.com",
        log_analytics="https://api.loganalytics.io",
        authority="login.microsoftonline.com",
        token_audience="https://management.azure.com",
    ),
    Cloud.CHINA: Endpoints(
        resource_manager="https://management.chinacloudapi.cn",
        metrics="https://metrics.monitor.azure.cn",
        log_analytics="https://api.loganalytics.azure.cn",
        authority="login.chinacloudapi.cn",
        token_audience="https://management.chinacloudapi.cn",
    ),
    Cloud.US_GOVERNMENT: Endpoints(
        resource_manager="https://management.usgovcloudapi.net",
        metrics="https://metrics.monitor.azure.us",
        log_analytics="https://api.loganalytics.us",
        authority="login.microsoftonline.us",
        token_audience="https://management.core.usgovcloudapi.net",
    ),
}


class CredentialKind(StrEnum):
    DEFAULT = "default"  # azure-identity DefaultAzureCredential
    STATIC_TOKEN = "static_token"  # a fixed bearer token: for the emulator and tests


class CredentialSettings(_Section):
    kind: CredentialKind = CredentialKind.DEFAULT
    token: SecretStr | None = None

    @model_validator(mode="after")
    def _token_for_static(self) -> CredentialSettings:
        if self.kind is CredentialKind.STATIC_TOKEN and not (
            self.token and self.token.get_secret_value()
        ):
            raise rule_error("token", "credential.kind 'static_token' needs credential.token")
        return self


class AzureSettings(_Section):
    cloud: Cloud = Cloud.PUBLIC
    endpoints: EndpointOverrides | None = None  # required for cloud 'custom', overrides otherwise
    credential: CredentialSettings = Field(default_factory=CredentialSettings)
    verify_tls: bool | str = True  # False, or the path of a CA bundle (the emulator's cert)
    allow_http: bool = False  # bearer tokens over plain http: only for a loopback emulator

    @field_validator("cloud", mode="before")
    @classmethod
    def _cloud_name(cls, value: Any) -> Any:
        """Accept any case, and `AzureCloud` (what the az CLI calls the public cloud)."""
        if isinstance(value, str):
            folded = value.strip().lower()
            if folded == "azurecloud":
                return Cloud.PUBLIC
            for cloud in Cloud:
                if cloud.value.lower() == folded:
                    return cloud
        return value

    @field_validator("verify_tls", mode="before")
    @classmethod
    def _tls(cls, value: Any) -> Any:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip():
            folded = value.strip().lower()
            if folded in ("true", "yes", "on", "1"):
                return True
            if folded in ("false", "no", "off", "0"):
                return False
            return value
        raise ValueError("must be true, false, or the path of a CA bundle file")

    @model_validator(mode="after")
    def _custom_needs_endpoints(self) -> AzureSettings:
        if self.cloud is Cloud.CUSTOM and self.endpoints is None:
            raise rule_error("endpoints", "cloud 'custom' needs azure.endpoints.resource_manager")
        if self.cloud is Cloud.CUSTOM and self.endpoints and not self.endpoints.resource_manager:
            raise rule_error(
                "endpoints.resource_manager",
                "cloud 'custom' needs azure.endpoints.resource_manager",
            )
        return self

    @model_validator(mode="after")
    def _tokens_only_over_tls(self) -> AzureSettings:
        """Bearer tokens go over plain http only with `allow_http`, and then only to loopback."""
        for key, url in self.resolved_endpoints().urls().items():
            parts = urlsplit(url)
            if parts.scheme != "http":
                continue
            if not self.allow_http:
                raise rule_error(
                    f"endpoints.{key}",
                    "plain http would send bearer tokens unencrypted: use https, or set "
                    "azure.allow_http: true for an emulator on loopback",
                )
            if not _is_loopback(parts.hostname or ""):
                raise rule_error(
                    f"endpoints.{key}",
                    "azure.allow_http permits plain http only to loopback "
                    "(127.0.0.1, ::1, localhost); use https for any other host",
                )
        return self

    def resolved_endpoints(self) -> Endpoints:
        """The endpoints to use: the known cloud's, with `endpoints` laid over them."""
        given = self.endpoints.model_dump(exclude_none=True) if self.endpoints else {}
        if self.cloud is Cloud.CUSTOM:
            return Endpoints(**given)
        return KNOWN_CLOUDS[self.cloud].model_copy(update=given)


class TargetSettings(_Section):
    """Which subscriptions to watch: listed ones, or every one the credential can see."""

    discover_all: bool = False
    subscriptions: list[str] = Field(default_factory=list)
    resource_groups: list[str] = Field(default_factory=list)  # empty: every group

    @model_validator(mode="after")
    def _something_to_watch(self) -> TargetSettings:
        if not self.discover_all and not self.subscriptions:
            raise rule_error(
                "subscriptions", "set targets.subscriptions or targets.discover_all: true"
            )
        return self


# --- collectors --------------------------------------------------------------------------------


class CollectorSettings(_Section):
    enabled: bool = True
    interval_seconds: float = Field(30.0, gt=0)


def _collector(interval: float) -> Any:
    return Field(default_factory=lambda: CollectorSettings(interval_seconds=interval))


class MetricsCollectorSettings(CollectorSettings):
    """Azure Monitor platform metrics through the batch API: evidence and traffic, not the fast
    path of detection. VPN tunnel metrics have a 5-minute grain and land minutes late, so each
    pass reads a trailing window and keeps the newest grain that has data."""

    enabled: bool = False
    interval_seconds: float = Field(60.0, gt=0)
    window_minutes: float = Field(20.0, ge=5, le=180)  # trailing window read on every pass
    batch_size: int = Field(50, ge=1, le=50)  # resource ids per metrics:getBatch call (max 50)


class MaintenanceCollectorSettings(CollectorSettings):
    """Customer-controlled gateway maintenance (`Microsoft.Maintenance` configurations and
    their assignments to gateways): a source of maintenance windows beside the configured ones.
    Two ARM reads per subscription per pass; schedules change rarely, so the pass is slow."""

    enabled: bool = False
    interval_seconds: float = Field(3600.0, gt=0)


class ResiliencyCollectorSettings(CollectorSettings):
    """ExpressRoute resiliency, read-only: each circuit's link failover tests, each
    ExpressRoute gateway's site failover tests and Resiliency Insights. Every read is a
    long-running POST charged as a write, so the pass is slow. How old a validation may be
    is the correlator's `resiliency` block."""

    enabled: bool = False
    interval_seconds: float = Field(21600.0, gt=0)  # every 6 hours


class VpnClientHealthSettings(_Section):
    """Point-to-site sessions (`getVpnclientConnectionHealth`, a long-running POST charged as a
    write): never polled, read on demand from the API and once when a gateway's P2S users
    collapse; at most once per `min_interval_seconds` per gateway."""

    enabled: bool = False
    min_interval_seconds: float = Field(300.0, ge=0)
    on_collapse: bool = True
    max_wait_seconds: float = Field(5.0, ge=0)  # refuse when the write budget is further off


class LogsCollectorSettings(CollectorSettings):
    """VPN gateway diagnostic logs from a Log Analytics workspace (`AzureDiagnostics`).

    Resource logs land minutes late, so every pass rereads `overlap_minutes` behind the newest
    row taken; rows already taken are recognised and skipped, across restarts too."""

    enabled: bool = False
    interval_seconds: float = Field(120.0, gt=0)
    workspace_id: str | None = None  # the Log Analytics workspace (customer) id
    overlap_minutes: float = Field(15.0, ge=1, le=240)
    first_lookback_minutes: float = Field(60.0, ge=1, le=10080)  # how far back a first pass reads
    max_rows: int = Field(5000, ge=10, le=500_000)

    @model_validator(mode="after")
    def _needs_workspace(self) -> LogsCollectorSettings:
        if self.enabled and not self.workspace_id:
            raise rule_error("workspace_id", "the logs collector needs a workspace_id")
        return self


class ResourceHealthCollectorSettings(CollectorSettings):
    """Resource Health availability statuses: one paged ARM read per subscription per pass. A
    hint, never up or down: a gateway, connection or circuit whose state changed is read first
    by the collectors that read status (`collect/resourcehealth.py`)."""

    interval_seconds: float = Field(60.0, gt=0)


class BudgetSettings(_Section):
    """How much of each subscription's ARM request budget vpnwatch may spend (`collect/budget.py`).

    `model`: `bucket` is today's ARM token buckets (reads 250 at 25/s, writes 200 at 10/s),
    `hourly` the older 12,000 reads / 1,200 writes per hour that sovereign clouds document, and
    `auto` starts with buckets and switches when Azure's headers show the hourly allowance.
    """

    share: float = Field(0.5, gt=0, le=1)  # users run other tools against the same subscription
    model: Literal["auto", "bucket", "hourly"] = "auto"


class CollectorsSettings(_Section):
    gateways: CollectorSettings = _collector(300.0)  # inventory, SKU, zones: changes rarely
    connections: CollectorSettings = _collector(15.0)  # tunnel state: what failovers are timed by
    # BGP status: a session down with its tunnels up is seen only here. Each read waits for its
    # long-running operation's polls (4 s at the default 2 s), so 20 s finds such a fault about
    # as soon as a tunnel drop at 15 s; the read planner stretches both when the budget is short.
    bgp: CollectorSettings = _collector(20.0)
    expressroute: CollectorSettings = _collector(30.0)
    metrics: MetricsCollectorSettings = Field(default_factory=MetricsCollectorSettings)
    logs: LogsCollectorSettings = Field(default_factory=LogsCollectorSettings)
    maintenance: MaintenanceCollectorSettings = Field(default_factory=MaintenanceCollectorSettings)
    resiliency: ResiliencyCollectorSettings = Field(default_factory=ResiliencyCollectorSettings)
    vpn_client_health: VpnClientHealthSettings = Field(default_factory=VpnClientHealthSettings)
    resourcehealth: ResourceHealthCollectorSettings = Field(
        default_factory=ResourceHealthCollectorSettings
    )
    discovery_interval_seconds: float = Field(900.0, gt=0)
    # Resource Graph finds the resource groups that hold watched resources (ARM listings when
    # it cannot answer); false: list every resource group of every subscription
    discovery_resource_graph: bool = True
    timeout_seconds: float = Field(20.0, gt=0)  # one attempt's wait for an answer, at most
    # one call's own time, retries and their waits included (not its waits for the request
    # budget): a call that cannot succeed by then fails, so a failing poll is seen within one
    # poll. None: half the connections interval. See `collect/retry.py`.
    call_deadline_seconds: float | None = Field(None, gt=0)
    retry_total: int = Field(3, ge=0, le=10)
    retry_backoff_seconds: float = Field(0.8, ge=0)  # exponential backoff factor between retries
    lro_poll_interval_seconds: float = Field(2.0, ge=0)  # between polls of BGP / route-table LROs
    max_concurrency: int = Field(8, ge=1, le=64)  # in flight per collector and subscription
    budget: BudgetSettings = Field(default_factory=BudgetSettings)

    @property
    def call_deadline(self) -> float:
        """`call_deadline_seconds`, or half the connections interval when unset."""
        if self.call_deadline_seconds is not None:
            return self.call_deadline_seconds
        return self.connections.interval_seconds / 2


# --- correlator ----------------------------------------------------------------------------------


class MaintenanceWindow(_Section):
    """A planned-maintenance window: a failover inside it is classified `planned`.

    Either absolute (`start` and `end`) or weekly (`weekday`, `start_time`, `duration_minutes`).
    `resources` are resource-id prefixes (case-insensitive); empty means every resource.
    """

    name: str = "maintenance"
    start: OffsetDatetime | None = None
    end: OffsetDatetime | None = None
    weekday: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"] | None = None
    start_time: time | None = None
    duration_minutes: float | None = Field(None, gt=0)
    resources: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_form(self) -> MaintenanceWindow:
        absolute = self.start is not None or self.end is not None
        weekly = self.weekday is not None or self.start_time is not None
        if absolute == weekly:
            raise ValueError("give either start/end or weekday/start_time/duration_minutes")
        if absolute:
            for key in ("start", "end"):
                if getattr(self, key) is None:
                    raise rule_error(key, "an absolute window needs start and end")
            assert self.start is not None and self.end is not None
            if self.end <= self.start:
                raise rule_error("end", "an absolute window needs start < end")
            if self.duration_minutes is not None:
                raise rule_error(
                    "duration_minutes", "duration_minutes belongs to a weekly window, not start/end"
                )
        else:
            for key in ("weekday", "start_time", "duration_minutes"):
                if getattr(self, key) is None:
                    raise rule_error(
                        key, "a weekly window needs weekday, start_time and duration_minutes"
                    )
        return self


class StateSettings(_Section):
    staleness_seconds: float = Field(90.0, gt=0)  # older data makes an entity `unknown`
    # ... or older than the refresh the read planner promised its collector, plus this margin
    promise_margin_seconds: float = Field(30.0, ge=0)
    flap_window_seconds: float = Field(300.0, gt=0)
    flap_transitions: int = Field(4, ge=2)  # this many changes within the window = flapping
    clear_hold_seconds: float = Field(60.0, ge=0)  # stay clear this long before resolving


class TunnelSettings(_Section):
    enabled: bool = True


class FailoverSettings(_Section):
    enabled: bool = True
    planned_max_seconds: float = Field(10.0, gt=0)  # restored within this: planned maintenance
    slo_seconds: float = Field(90.0, gt=0)  # not restored within this: SLO breach
    # a gateway with one connection cannot tell its own failover from its site's failure: its
    # drop stays a `tunnel_down` (still timed) unless this is lowered to 1
    min_connections: int = Field(2, ge=1)

    @model_validator(mode="after")
    def _planned_within_slo(self) -> FailoverSettings:
        if self.planned_max_seconds >= self.slo_seconds:
            raise rule_error("planned_max_seconds", "must be below failover.slo_seconds")
        return self


class RedundancySettings(_Section):
    enabled: bool = True
    # one instance must stay down this long before it pages: Azure's planned maintenance of an
    # active/active gateway takes one instance out for seconds at a time
    min_down_seconds: float = Field(20.0, ge=0)


class BgpSettings(_Section):
    enabled: bool = True
    route_withdrawal_share: float = Field(0.5, gt=0, le=1)  # learned routes dropping by this share
    route_withdrawal_min_routes: int = Field(4, ge=1)  # ignore peers that learned fewer
    route_baseline_samples: int = Field(5, ge=1)  # the baseline: max over this many polls


class ExpressRouteSettings(_Section):
    enabled: bool = True


class ZoneSettings(_Section):
    enabled: bool = True
    window_seconds: float = Field(180.0, gt=0)  # failures this close together count as one event
    min_gateways: int = Field(2, ge=1)
    min_share: float = Field(0.5, gt=0, le=1)  # or this share of the zone's zonal resources


class SiteSettings(_Section):
    enabled: bool = True
    min_connections: int = Field(2, ge=2)


class Vnet2VnetSettings(_Section):
    enabled: bool = True


class BlindSettings(_Section):
    enabled: bool = True
    # failing this long (and `min_failed_runs` runs) opens `monitoring_blind`; None: one
    # connections interval, so blind comes with the second failed poll (`Settings` fills it in)
    after_seconds: float | None = Field(None, ge=0)
    min_failed_runs: int = Field(2, ge=1)


class P2SSettings(_Section):
    enabled: bool = True
    # `p2s_sessions_lost` when connected point-to-site users drop to zero or by this share of
    # their recent level within one grain of `P2SConnectionCount`
    drop_share: float = Field(0.5, gt=0, le=1)


class ResiliencySettings(_Section):
    """`resiliency_validation_overdue` (severity `info`: on the status page, API and /metrics,
    routed to no pager or chat by default) when a circuit's or ExpressRoute gateway's last
    failover test is older than this, or none ever ran."""

    enabled: bool = True
    validation_max_age_days: float = Field(90.0, gt=0)


class CorrelatorSettings(_Section):
    state: StateSettings = Field(default_factory=StateSettings)
    tunnel: TunnelSettings = Field(default_factory=TunnelSettings)
    failover: FailoverSettings = Field(default_factory=FailoverSettings)
    redundancy: RedundancySettings = Field(default_factory=RedundancySettings)
    bgp: BgpSettings = Field(default_factory=BgpSettings)
    expressroute: ExpressRouteSettings = Field(default_factory=ExpressRouteSettings)
    zone: ZoneSettings = Field(default_factory=ZoneSettings)
    site: SiteSettings = Field(default_factory=SiteSettings)
    vnet2vnet: Vnet2VnetSettings = Field(default_factory=Vnet2VnetSettings)
    blind: BlindSettings = Field(default_factory=BlindSettings)
    p2s: P2SSettings = Field(default_factory=P2SSettings)
    resiliency: ResiliencySettings = Field(default_factory=ResiliencySettings)
    maintenance_windows: list[MaintenanceWindow] = Field(default_factory=list)


# --- store and service ---------------------------------------------------------------------------


class StoreSettings(_Section):
    path: Path = Path("var/vpnwatch.sqlite3")
    # inbound alerts, once correlated, are kept this long (their evidence stays in incidents)
    alert_retention_days: float = Field(30.0, gt=0)
    # resolved incidents, with their timelines, are kept this long after they resolved
    incident_retention_days: float = Field(30.0, gt=0)


class HealthStatusPolicy(StrEnum):
    AGENT = "agent"  # 503 only when vpnwatch itself is blind or not ready
    FLEET = "fleet"  # 503 also when the fleet is down


class WebhookSettings(_Section):
    secret: SecretStr | None = None  # required to accept Azure Monitor alerts
    header: str = "X-Vpnwatch-Token"
    query_param: str = "token"
    max_body_bytes: int = Field(256 * 1024, gt=0)


class ApiAuthSettings(_Section):
    """Who may read the API, status page, /health and /metrics; both unset: anyone who can
    connect (the default, on 127.0.0.1). See `vpnwatch/service/auth.py`."""

    bearer_token: SecretStr | None = None
    user_header: str | None = Field(None, min_length=1)  # e.g. X-Forwarded-User behind a proxy


class ServiceSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    health_status_policy: HealthStatusPolicy = HealthStatusPolicy.AGENT
    webhook: WebhookSettings = Field(default_factory=WebhookSettings)
    auth: ApiAuthSettings = Field(default_factory=ApiAuthSettings)
    # a request must arrive whole within this many seconds of the connection or its first byte
    read_timeout_seconds: float = Field(10.0, gt=0)
    otlp_endpoint: str | None = None  # OTLP/HTTP push (needs the `otlp` extra); None: off

    @field_validator("otlp_endpoint")
    @classmethod
    def _otlp_url(cls, value: str | None) -> str | None:
        if value is not None and not _is_url(value):
            raise ValueError("must be an http(s) URL, such as http://127.0.0.1:4318/v1/metrics")
        return value


class Settings(BaseModel):
    """The whole configuration. `load_settings` lets environment variables override the file:
    `VPNWATCH_SERVICE__PORT=9000`, `VPNWATCH_AZURE__CREDENTIAL__TOKEN=...`. `Settings(...)`
    itself reads only its arguments, so tests do not depend on the process environment."""

    model_config = ConfigDict(extra="forbid", validate_default=True)

    azure: AzureSettings = Field(default_factory=AzureSettings)
    targets: TargetSettings
    collectors: CollectorsSettings = Field(default_factory=CollectorsSettings)
    correlator: CorrelatorSettings = Field(default_factory=CorrelatorSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    service: ServiceSettings = Field(default_factory=ServiceSettings)
    notify: NotifySettings = Field(default_factory=NotifySettings)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["text", "json"] = "text"  # json: one object per line, for log shippers

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _blind_after_one_poll(self) -> Settings:
        """Blind within two polls of the first failed one: unless set, `blind.after_seconds` is
        the connections interval (the fastest poll), so the failed poll one interval after the
        first opens it (failed passes are retried every half interval)."""
        blind = self.correlator.blind
        if blind.after_seconds is None:
            blind.after_seconds = self.collectors.connections.interval_seconds
        return self


def load_settings(path: str | Path | None, *, environ: Mapping[str, str] | None = None) -> Settings:
    """Read the YAML settings file at `path`, apply `VPNWATCH_*` overrides, validate everything.

    With `path` None, the file named by `VPNWATCH_CONFIG` is read, or none at all (every setting
    then comes from the environment). `environ` defaults to `os.environ`. Raises `ConfigError`
    listing every problem.
    """
    env = os.environ if environ is None else environ
    if path is None:
        path = env.get(CONFIG_PATH_ENV) or None
    return load_model(
        Settings,
        path,
        environ=env,
        env_prefix=ENV_PREFIX,
        ignore_env=(CONFIG_PATH_ENV,),
        checks=_outside_world,
    )


def check_config(
    path: str | Path | None, *, environ: Mapping[str, str] | None = None
) -> list[ConfigProblem]:
    """Every problem `load_settings` would raise for this file and environment; empty = OK."""
    try:
        load_settings(path, environ=environ)
    except ConfigError as exc:
        return exc.problems
    return []


def config_warnings(settings: Settings) -> list[str]:
    """What works but should change, one line each: `check-config` prints them and `run` logs
    them at start."""
    warnings = []
    legacy = settings.notify.api_token
    if legacy is not None and legacy.get_secret_value():
        auth = settings.service.auth
        if auth.bearer_token is not None or auth.user_header:
            warnings.append(
                "notify.api_token: ignored while service.auth is set (silences take the same "
                "credentials as the rest of the API); remove it"
            )
        else:
            warnings.append(
                "notify.api_token: deprecated; set service.auth.bearer_token instead, which "
                "protects reads too (until then notify.api_token still admits changes to "
                "silences)"
            )
    return warnings


def _outside_world(settings: Settings) -> Iterable[tuple[Loc, str]]:
    """What the models cannot know by themselves: files the settings point at must exist."""
    verify = settings.azure.verify_tls
    if isinstance(verify, str) and not Path(verify).is_file():
        yield ("azure", "verify_tls"), "no CA bundle file at this path"
