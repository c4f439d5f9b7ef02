"""OTLP/HTTP push of the service's metrics through the OpenTelemetry SDK, when
`service.otlp_endpoint` is set (install the `otlp` extra: `pip install 'vpnwatch[otlp]'`).

The same families as /metrics: snapshot families become observable instruments reading the
latest snapshot, events (requests, incidents opened, failovers) are recorded as they happen.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from vpnwatch import __version__

# A large fleet has thousands of tunnels; the SDK's default of 2000 points per metric would fold
# the rest into an overflow series.
CARDINALITY_LIMIT = 200_000

Series = Callable[[str], Iterable[tuple[float, Mapping[str, str]]]]


class OtlpUnavailable(RuntimeError):
    """The OpenTelemetry SDK or its OTLP exporter is not installed."""


class OtlpPush:
    def __init__(self, endpoint: str, series: Series, export_interval_seconds: float = 30) -> None:
        try:
            from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
                OTLPMetricExporter,
            )
            from opentelemetry.sdk.metrics import (
                MeterProvider,
                ObservableCounter,
                ObservableGauge,
            )
            from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
            from opentelemetry.sdk.resources import Resource
        except ImportError as exc:
            raise OtlpUnavailable(
                f"service.otlp_endpoint is set but the OTLP exporter is not installed ({exc}); "
                "install it with: pip install 'vpnwatch[otlp]'"
            ) from exc
        self._series = series
        limits = {ObservableGauge: CARDINALITY_LIMIT, ObservableCounter: CARDINALITY_LIMIT}
        reader = PeriodicExportingMetricReader(
            OTLPMetricExporter(endpoint=endpoint),
            export_interval_millis=export_interval_seconds * 1000,
            cardinality_limits=limits,
        )
        self.provider = MeterProvider(
            metric_readers=[reader],
            resource=Resource.create({"service.name": "vpnwatch", "service.version": __version__}),
        )
        self._meter = self.provider.get_meter("vpnwatch.service", __version__)
        self._instruments: dict[str, Any] = {}

    # --- families ------------------------------------------------------------------------------

    def observable(self, name: str, kind: str, description: str, unit: str) -> None:
        """A family read from the snapshot (`kind` is "gauge" or "counter")."""
        from opentelemetry.metrics import Observation

        def observe(options: object) -> list[Observation]:
            return [Observation(value, dict(labels)) for value, labels in self._series(name)]

        create = (
            self._meter.create_observable_counter
            if kind == "counter"
            else self._meter.create_observable_gauge
        )
        create(name, callbacks=[observe], unit=unit, description=description)

    def counter(self, name: str, description: str) -> None:
        self._instruments[name] = self._meter.create_counter(
            name, unit="1", description=description
        )

    def histogram(self, name: str, description: str, buckets: tuple[float, ...]) -> None:
        self._instruments[name] = self._meter.create_histogram(
            name, unit="s", description=description, explicit_bucket_boundaries_advisory=buckets
        )

    def gauge(self, name: str, description: str) -> None:
        self._instruments[name] = self._meter.create_gauge(name, unit="1", description=description)

    # --- events --------------------------------------------------------------------------------

    def add(self, name: str, value: float, labels: Mapping[str, str]) -> None:
        self._instruments[name].add(value, dict(labels))

    def record(self, name: str, value: float, labels: Mapping[str, str]) -> None:
        self._instruments[name].record(value, dict(labels))

    def set(self, name: str, value: float, labels: Mapping[str, str] | None = None) -> None:
        self._instruments[name].set(value, dict(labels or {}))

    def shutdown(self) -> None:
        self.provider.shutdown()
