"""Azure Monitor's common alert schema, as the webhook receives it, and its conversion to an
`AzureAlertObserved`.

Only `essentials` is read: it is the same for metric, log, activity-log and Resource Health
alerts. `alertContext` differs per signal type and is kept verbatim in the store for people to
read, not interpreted here. Unknown keys are allowed because Azure adds fields over time.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from vpnwatch.observations import AzureAlertObserved

WEBHOOK_SOURCE = "webhook.azure_monitor"


# Ids and names go into the store, logs and pages: no NUL, no terminal escapes.
PRINTABLE = r"^[^\x00-\x1f\x7f]*$"
PrintableId = Annotated[str, Field(pattern=PRINTABLE)]


class AlertEssentials(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    alert_id: str = Field(alias="alertId", min_length=1, max_length=2048, pattern=PRINTABLE)
    alert_rule: str = Field(alias="alertRule", max_length=1024, pattern=PRINTABLE)
    severity: str = Field(pattern=r"^Sev[0-4]$")
    signal_type: str = Field(alias="signalType", min_length=1, max_length=64, pattern=PRINTABLE)
    monitor_condition: Literal["Fired", "Resolved"] = Field(alias="monitorCondition")
    monitoring_service: str = Field(alias="monitoringService", max_length=256, pattern=PRINTABLE)
    alert_target_ids: list[PrintableId] = Field(default_factory=list, alias="alertTargetIDs")
    configuration_items: list[PrintableId] = Field(default_factory=list, alias="configurationItems")
    origin_alert_id: str | None = Field(None, alias="originAlertId", pattern=PRINTABLE)
    fired_date_time: datetime | None = Field(None, alias="firedDateTime")
    resolved_date_time: datetime | None = Field(None, alias="resolvedDateTime")
    description: str | None = None
    essentials_version: str | None = Field(None, alias="essentialsVersion")
    alert_context_version: str | None = Field(None, alias="alertContextVersion")

    @field_validator("fired_date_time", "resolved_date_time", mode="before")
    @classmethod
    def _text_only(cls, value: Any) -> Any:
        """The schema says an ISO 8601 string; pydantic alone would take a number as epoch
        seconds, so a malformed alert would be accepted with a made-up time."""
        if value is not None and not isinstance(value, str | datetime):
            raise ValueError("must be an ISO 8601 date-time string")
        return value

    @field_validator("fired_date_time", "resolved_date_time")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        """Azure sends UTC with a `Z`; a timestamp without an offset is read as UTC too."""
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class AlertData(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    essentials: AlertEssentials
    alert_context: dict[str, Any] | None = Field(None, alias="alertContext")
    custom_properties: dict[str, Any] | None = Field(None, alias="customProperties")


class CommonAlertPayload(BaseModel):
    """The body Azure Monitor posts to a webhook action with the common alert schema enabled."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    schema_id: Literal["azureMonitorCommonAlertSchema"] = Field(alias="schemaId")
    data: AlertData

    @property
    def alert_id(self) -> str:
        return self.data.essentials.alert_id

    @property
    def condition(self) -> str:
        return self.data.essentials.monitor_condition

    @property
    def key(self) -> tuple[str, str]:
        """What makes one notification unique: Azure reuses `alertId` for Fired and Resolved."""
        return (self.alert_id, self.condition)

    def to_observation(self, observed_at: datetime) -> AzureAlertObserved:
        essentials = self.data.essentials
        return AzureAlertObserved(
            observed_at=observed_at,
            source=WEBHOOK_SOURCE,
            alert_id=essentials.alert_id,
            rule=essentials.alert_rule,
            severity=essentials.severity,
            signal_type=essentials.signal_type,
            monitoring_service=essentials.monitoring_service,
            monitor_condition=essentials.monitor_condition,
            target_ids=tuple(essentials.alert_target_ids),
            fired_at=essentials.fired_date_time,
            resolved_at=essentials.resolved_date_time,
            description=essentials.description or "",
        )
