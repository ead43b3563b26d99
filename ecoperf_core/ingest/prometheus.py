"""Prometheus as a metric source: PromQL ``query_range`` results → validated point batches.

A mapping file (TOML) names the PromQL for each ecoperf metric and which label holds the entity:

```toml
entity_kind = "node"
entity_label = "node"            # the series label whose value is the entity id
environment_label = "env"        # optional; else every point is `environment`
environment = "production"
step_s = 15
lookback_s = 600                 # what a scheduled pull re-reads (overlaps are harmless)

[metrics]
latency_p95 = 'histogram_quantile(0.95, sum by (node, le) (rate(request_duration_seconds_bucket[1m]))) * 1000'
latency_p99 = 'histogram_quantile(0.99, sum by (node, le) (rate(request_duration_seconds_bucket[1m]))) * 1000'
error_rate = 'sum by (node) (rate(requests_failed_total[1m])) / sum by (node) (rate(requests_total[1m]))'
throughput_rps = 'sum by (node) (rate(requests_total[1m]))'
cache_hit_rate = 'sum by (node) (rate(cache_hits_total[1m])) / sum by (node) (rate(cache_lookups_total[1m]))'
```

A pull evaluates each query over ``[start, end]`` at ``step_s``, with ``start`` aligned down to a
multiple of the step, so two pulls over overlapping ranges evaluate the same instants. Points
already stored for the same (time, entity, environment, metric) are dropped before loading (the
first pull of an instant wins), and the rest go through the ordinary loader, one Parquet file and
one content-hashed batch per metric: the same validation (ranges, finite values, known kinds) as a
file, and the batch row says which URL and query it came from. ``NaN`` and infinite results
(``histogram_quantile`` over an empty window, a ratio of zero rates) are skipped and counted.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic import ValidationError as PydanticValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from ecoperf_core.errors import FieldProblem, TransientError, ValidationError
from ecoperf_core.ingest.load import IngestResult, ingest_file
from ecoperf_core.ingest.shapes import ENTITY_KINDS, POINT_METRICS
from ecoperf_core.policy import problems_from

DEFAULT_MAPPING = Path(__file__).resolve().parents[2] / "data" / "prometheus-mapping.toml"


class PrometheusMapping(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    entity_kind: str = "node"
    entity_label: str = "node"
    environment_label: str | None = None
    environment: str = "production"
    step_s: float = Field(default=15.0, gt=0)
    lookback_s: float = Field(default=600.0, gt=0)
    metrics: dict[str, str]

    @field_validator("entity_kind")
    @classmethod
    def _kind(cls, value: str) -> str:
        if value not in ENTITY_KINDS:
            raise ValueError(f"expected one of {list(ENTITY_KINDS)}, got {value!r}")
        return value

    @field_validator("metrics")
    @classmethod
    def _metrics(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(POINT_METRICS))
        if unknown:
            raise ValueError(f"unknown ecoperf metrics {unknown}; known: {list(POINT_METRICS)}")
        if not value:
            raise ValueError("map at least one metric")
        return value


def parse_mapping(text: str, source: str = "<mapping>") -> PrometheusMapping:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValidationError(source, [FieldProblem("", f"not valid TOML: {exc}")]) from None
    try:
        return PrometheusMapping.model_validate(data)
    except PydanticValidationError as exc:
        raise ValidationError(source, problems_from(exc)) from None


def load_mapping(path: Path | None = None) -> PrometheusMapping:
    resolved = path or PrometheusSettings().mapping or DEFAULT_MAPPING
    if not resolved.exists():
        raise ValidationError(str(resolved), [FieldProblem("", "mapping file not found")])
    return parse_mapping(resolved.read_text(encoding="utf-8"), str(resolved))


class PrometheusSettings(BaseSettings):
    """``ECOPERF_PROMETHEUS_*``: a Prometheus the scheduled ``ingest-prometheus`` flow pulls."""

    model_config = SettingsConfigDict(
        env_prefix="ECOPERF_PROMETHEUS_", env_file=".env", extra="ignore"
    )

    url: str | None = Field(default=None, description="Base URL; unset: no scheduled pull.")
    mapping: Path | None = Field(default=None, description="The mapping file.")
    cron: str = Field(default="* * * * *", description="Cron of the scheduled pull.")


class PrometheusUnavailableError(TransientError):
    """Prometheus did not answer, or answered with an error that may pass."""


@dataclass
class PrometheusReport:
    url: str
    start: datetime
    end: datetime
    points: int = 0  # points Prometheus returned (finite, labelled)
    new_points: int = 0  # of those, not stored before
    skipped_non_finite: int = 0
    skipped_unlabelled: int = 0
    batches: list[IngestResult] = field(default_factory=list)

    @property
    def rejected(self) -> list[IngestResult]:
        return [b for b in self.batches if b.status == "rejected"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "points": self.points,
            "newPoints": self.new_points,
            "skippedNonFinite": self.skipped_non_finite,
            "skippedUnlabelled": self.skipped_unlabelled,
            "batches": [b.to_dict() for b in self.batches],
        }


def _naive_utc(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(tzinfo=None) if at.tzinfo else at


def aligned_range(start: datetime, end: datetime, step_s: float) -> tuple[float, float]:
    """Unix seconds of ``start`` aligned down to the step grid, and of ``end``."""
    s = _naive_utc(start).replace(tzinfo=UTC).timestamp()
    e = _naive_utc(end).replace(tzinfo=UTC).timestamp()
    if e < s:
        raise ValidationError("prometheus", [FieldProblem("end", "is before start")])
    return math.floor(s / step_s) * step_s, e


def query_range(
    client: httpx.Client, url: str, query: str, start: float, end: float, step_s: float
) -> list[dict[str, Any]]:
    """The ``matrix`` result of one range query; bad PromQL is terminal, an outage transient."""
    endpoint = url.rstrip("/") + "/api/v1/query_range"
    params = {"query": query, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step_s:g}"}
    try:
        response = client.get(endpoint, params=params)
    except httpx.TransportError as exc:
        raise PrometheusUnavailableError(f"cannot reach Prometheus at {url}: {exc}") from exc
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code in (400, 422):
        raise ValidationError(
            "prometheus mapping",
            [FieldProblem("query", f"Prometheus refused it: {body.get('error')}", value=query)],
        )
    if response.status_code != 200 or body.get("status") != "success":
        raise PrometheusUnavailableError(
            f"Prometheus at {url} answered HTTP {response.status_code}: {body.get('error')}"
        )
    data = body["data"]
    if data.get("resultType") != "matrix":
        raise ValidationError(
            "prometheus mapping",
            [FieldProblem("query", f"gives a {data.get('resultType')}, not a range", value=query)],
        )
    return list(data["result"])


def fetch_points(
    url: str, mapping: PrometheusMapping, start: datetime, end: datetime, timeout_s: float = 30.0
) -> tuple[pd.DataFrame, PrometheusReport]:
    """Every mapped query over the aligned range, as long rows (ts, entity, metric, value)."""
    s, e = aligned_range(start, end, mapping.step_s)
    report = PrometheusReport(
        url,
        datetime.fromtimestamp(s, UTC).replace(tzinfo=None),
        datetime.fromtimestamp(e, UTC).replace(tzinfo=None),
    )
    rows: list[tuple[float, str, str, str, float]] = []
    with httpx.Client(timeout=timeout_s) as client:
        for metric, query in mapping.metrics.items():
            for series in query_range(client, url, query, s, e, mapping.step_s):
                labels = series.get("metric", {})
                entity = labels.get(mapping.entity_label)
                values = series.get("values", [])
                if entity is None:
                    report.skipped_unlabelled += len(values)
                    continue
                environment = labels.get(mapping.environment_label or "", mapping.environment)
                for stamp, text in values:
                    value = float(text)
                    if not math.isfinite(value):
                        report.skipped_non_finite += 1
                        continue
                    rows.append((float(stamp), entity, environment, metric, value))
    frame = pd.DataFrame(rows, columns=["unix", "entity_id", "environment", "metric", "value"])
    frame["ts"] = pd.to_datetime(frame["unix"], unit="s")
    frame["entity_kind"] = mapping.entity_kind
    report.points = len(frame)
    return frame.drop(columns=["unix"]), report


def new_points(con: duckdb.DuckDBPyConnection, frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``frame`` with no stored sample at the same time, entity and metric."""
    if frame.empty:
        return frame
    con.register("prometheus_points", frame)
    try:
        return con.execute(
            """SELECT p.ts, p.entity_kind, p.entity_id, p.environment, p.metric, p.value
               FROM prometheus_points p
               ANTI JOIN samples s
                 ON s.ts = p.ts AND s.entity_kind = p.entity_kind AND s.entity_id = p.entity_id
                AND s.environment = p.environment AND s.metric = p.metric
               ORDER BY p.metric, p.entity_id, p.ts"""
        ).df()
    finally:
        con.unregister("prometheus_points")


def ingest_prometheus(
    db_path: Path,
    url: str,
    mapping: PrometheusMapping,
    *,
    start: datetime | None,
    end: datetime | None,
    step_s: float | None = None,
    archive_dir: Path | None = None,
    lock_timeout_s: float = 600.0,
) -> PrometheusReport:
    """Pull ``[start, end]`` (default: the mapping's lookback up to now) and load what is new."""
    from ecoperf_core.warehouse import writer

    if step_s is not None:
        mapping = mapping.model_copy(update={"step_s": step_s})
    end = end or datetime.now(UTC)
    start = start or end - timedelta(seconds=mapping.lookback_s)
    frame, report = fetch_points(url, mapping, start, end)  # no warehouse held while we wait
    folder = archive_dir or db_path.resolve().parent / "archive" / "prometheus"
    folder.mkdir(parents=True, exist_ok=True)
    with writer(db_path, timeout_s=lock_timeout_s) as con:
        fresh = new_points(con, frame)
        report.new_points = len(fresh)
        for metric, part in fresh.groupby("metric", sort=True):
            wide = part.rename(columns={"value": str(metric), "ts": "time"}).drop(columns="metric")
            stamp = report.end.strftime("%Y%m%dT%H%M%S")
            path = folder / f"prometheus-{metric}-{stamp}-{len(wide)}.parquet"
            wide.to_parquet(path, index=False)
            report.batches.append(ingest_file(con, path, source=f"prometheus:{url} {metric}"))
    return report
