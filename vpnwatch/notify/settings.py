"""`notify:` settings: receivers, the routes that pick them, silences, and delivery limits.

Credentials are `SecretStr`, and so are the webhook URLs of Slack, Teams and the generic webhook
(the URL itself is the credential there): nothing prints them, and errors name a receiver by its
`name` and host only.
"""

from __future__ import annotations

from datetime import time
from enum import StrEnum
from typing import Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ConfigDict, Field, SecretStr, field_validator, model_validator

from vpnwatch.configfile import OffsetDatetime, rule_error
from vpnwatch.configfile import Section as _Section
from vpnwatch.incidents import IncidentType, Severity


class ReceiverKind(StrEnum):
    PAGERDUTY = "pagerduty"
    OPSGENIE = "opsgenie"
    SLACK = "slack"
    TEAMS = "teams"
    ALERTMANAGER = "alertmanager"
    WEBHOOK = "webhook"


PAGING = frozenset({ReceiverKind.PAGERDUTY, ReceiverKind.OPSGENIE})
CHAT = frozenset({ReceiverKind.SLACK, ReceiverKind.TEAMS})
EVERYTHING = frozenset({ReceiverKind.ALERTMANAGER, ReceiverKind.WEBHOOK})

DEFAULT_URLS: dict[ReceiverKind, str] = {
    ReceiverKind.PAGERDUTY: "https://events.pagerduty.com/v2/enqueue",
    ReceiverKind.OPSGENIE: "https://api.opsgenie.com",
}
# where the URL is the webhook itself, and so a credential
SECRET_URL_KINDS = frozenset({ReceiverKind.SLACK, ReceiverKind.TEAMS, ReceiverKind.WEBHOOK})


def _http_url(value: str) -> bool:
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


class ReceiverSettings(_Section):
    """One place notifications go. `url` overrides where it sends (EU region, proxy, test)."""

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    kind: ReceiverKind
    url: SecretStr | None = None  # Alertmanager: several, separated by commas (an HA cluster)
    routing_key: SecretStr | None = None  # PagerDuty integration key
    api_key: SecretStr | None = None  # Opsgenie API key (GenieKey)
    secret: SecretStr | None = None  # the generic webhook's HMAC secret
    timeout_seconds: float = Field(10.0, gt=0, le=120)
    # Alertmanager: re-send open alerts this often; keep it below Alertmanager's resolve_timeout
    resend_seconds: float = Field(60.0, gt=0)

    @field_validator("kind", mode="before")
    @classmethod
    def _fold(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _credentials(self) -> ReceiverSettings:
        needs = {
            ReceiverKind.PAGERDUTY: "routing_key",
            ReceiverKind.OPSGENIE: "api_key",
            ReceiverKind.WEBHOOK: "secret",
        }.get(self.kind)
        if needs and not _given(getattr(self, needs)):
            raise rule_error(needs, f"a {self.kind.value} receiver needs {needs}")
        for key in ("routing_key", "api_key", "secret"):
            if key != needs and _given(getattr(self, key)):
                raise rule_error(key, f"{key} does not belong to a {self.kind.value} receiver")
        if self.url is None:
            if self.kind not in DEFAULT_URLS:
                raise rule_error("url", f"a {self.kind.value} receiver needs url")
            return self
        for url in self.urls():
            if not _http_url(url):
                # the value is not repeated: for a webhook it is the credential
                raise rule_error("url", "must be an http(s) URL")
        if len(self.urls()) > 1 and self.kind is not ReceiverKind.ALERTMANAGER:
            raise rule_error("url", "only an alertmanager receiver takes several URLs")
        return self

    def urls(self) -> list[str]:
        if self.url is None:
            return [DEFAULT_URLS[self.kind]]
        text = self.url.get_secret_value()
        if self.kind is ReceiverKind.ALERTMANAGER:
            return [u.strip() for u in text.split(",") if u.strip()]
        return [text.strip()]

    def where(self) -> str:
        """Where it sends, safe to print: scheme and host only (a webhook's path is its key)."""
        hosts = []
        for url in self.urls():
            parts = urlsplit(url)
            hosts.append(f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}")
        return ", ".join(hosts)

    def secrets(self) -> list[str]:
        """Every credential of this receiver, for redacting them wherever text leaves vpnwatch."""
        values = [s.get_secret_value() for s in (self.routing_key, self.api_key, self.secret) if s]
        if self.url is not None and self.kind in SECRET_URL_KINDS:
            values.append(self.url.get_secret_value())
            values.extend(urlsplit(u).path for u in self.urls() if len(urlsplit(u).path) > 1)
        return [v for v in values if v]


def _given(value: SecretStr | None) -> bool:
    return value is not None and bool(value.get_secret_value().strip())


class Matchers(_Section):
    """What an incident must be for a route or silence to apply; every given key must match.

    Lists mean "any of"; `labels` compares incident labels (subscription, region, resource_group,
    gateway, zone, tag:<name>) as exact strings, ignoring case.
    """

    types: list[IncidentType] = Field(default_factory=list)
    severities: list[Severity] = Field(default_factory=list)
    classifications: list[str] = Field(default_factory=list)
    labels: dict[str, str] = Field(default_factory=dict)


class RouteSettings(_Section):
    """Send matching incidents to `receivers`; with `continue_` false the first match wins."""

    match: Matchers = Field(default_factory=Matchers)
    receivers: list[str] = Field(default_factory=list)
    continue_: bool = Field(True, alias="continue")

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class SilenceMatcher(_Section):
    """An Alertmanager-style matcher on an incident label (`type`, `severity`, `region`, ...)."""

    name: str = Field(min_length=1)
    value: str
    is_regex: bool = False
    is_equal: bool = True


class SilenceSettings(_Section):
    """A silence in config: one-off (`start`/`end`) or weekly (`weekday`, `start_time`,
    `duration_minutes`, in `timezone`, e.g. a Sunday patch window in Europe/Berlin)."""

    name: str = "silence"
    matchers: list[SilenceMatcher] = Field(min_length=1)
    start: OffsetDatetime | None = None
    end: OffsetDatetime | None = None
    weekday: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"] | None = None
    start_time: time | None = None
    duration_minutes: float | None = Field(None, gt=0, le=7 * 24 * 60)
    timezone: str = "UTC"
    comment: str = ""

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError("not a known time zone name, such as Europe/Berlin") from exc
        return value

    @model_validator(mode="after")
    def _one_form(self) -> SilenceSettings:
        absolute = self.start is not None or self.end is not None
        weekly = self.weekday is not None or self.start_time is not None
        if absolute == weekly:
            raise ValueError("give either start/end or weekday/start_time/duration_minutes")
        if absolute:
            if self.start is None or self.end is None:
                raise rule_error("end" if self.end is None else "start", "give start and end")
            if self.end <= self.start:
                raise rule_error("end", "end must be after start")
        else:
            for key in ("weekday", "start_time", "duration_minutes"):
                if getattr(self, key) is None:
                    raise rule_error(
                        key, "a weekly silence needs weekday, start_time and duration_minutes"
                    )
        return self


class DeliverySettings(_Section):
    """The retry stage every receiver passes through."""

    initial_backoff_seconds: float = Field(1.0, gt=0)
    max_backoff_seconds: float = Field(300.0, gt=0)
    dead_letter_after_seconds: float = Field(6 * 3600.0, gt=0)  # then a dead letter
    concurrency: int = Field(8, ge=1, le=256)  # deliveries in flight per receiver
    keep_delivered: int = Field(1000, ge=0)  # delivered notifications kept for the API
    fallback_receiver: str | None = None  # where `notification_failing` goes


class NotifySettings(_Section):
    receivers: list[ReceiverSettings] = Field(default_factory=list)
    routes: list[RouteSettings] | None = None  # None: the default routes (see routing.py)
    silences: list[SilenceSettings] = Field(default_factory=list)
    delivery: DeliverySettings = Field(default_factory=DeliverySettings)
    # a new incident waits this long before its first notification, so that one explained by
    # a parent decided a poll later (a site's connections, a failover's tunnels) never pages on
    # its own; Alertmanager's group_wait. Escalations and resolves never wait.
    group_wait_seconds: float = Field(15.0, ge=0)
    link_base_url: str | None = None  # where incident links point, e.g. https://vpnwatch.corp
    # deprecated: a bearer token that may change silences while `service.auth` is off; use
    # `service.auth.bearer_token`, which protects reads too (`vpnwatch/service/auth.py`)
    api_token: SecretStr | None = None

    @model_validator(mode="after")
    def _names(self) -> NotifySettings:
        seen: set[str] = set()
        for n, receiver in enumerate(self.receivers):
            if receiver.name in seen:
                raise rule_error(f"receivers.{n}.name", "another receiver has this name")
            seen.add(receiver.name)
        for n, route in enumerate(self.routes or []):
            for m, name in enumerate(route.receivers):
                if name not in seen:
                    raise rule_error(f"routes.{n}.receivers.{m}", f"no receiver named {name!r}")
        fallback = self.delivery.fallback_receiver
        if fallback is not None and fallback not in seen:
            raise rule_error("delivery.fallback_receiver", f"no receiver named {fallback!r}")
        return self

    def receiver(self, name: str) -> ReceiverSettings | None:
        return next((r for r in self.receivers if r.name == name), None)

    def secrets(self) -> list[str]:
        found = [s for r in self.receivers for s in r.secrets()]
        if self.api_token is not None and self.api_token.get_secret_value():
            found.append(self.api_token.get_secret_value())
        return found
