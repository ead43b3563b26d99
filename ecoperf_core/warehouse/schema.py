"""The warehouse schema, declared once.

SQLAlchemy Core is the single declaration: migrations compile their DDL from it, ``COMMENT ON`` gives
every table and column its description inside DuckDB (``SELECT * FROM duckdb_columns()``), and
``docs/warehouse.md`` is checked against it by a test. Hot paths (bulk loads, rollups) use the duckdb
API directly with SQL text.

All times are UTC, stored as ``TIMESTAMP`` without a time zone.
"""

from __future__ import annotations

import sqlalchemy as sa

ENTITY_KINDS: tuple[str, ...] = ("node", "dao", "module", "deployment", "operation", "user")

metadata = sa.MetaData()


def _col(name: str, type_: sa.types.TypeEngine, comment: str, **kwargs: object) -> sa.Column:
    return sa.Column(name, type_, comment=comment, **kwargs)  # type: ignore[arg-type]


schema_migrations = sa.Table(
    "schema_migrations",
    metadata,
    _col(
        "version",
        sa.Integer,
        "Migration number; the highest is the schema version.",
        nullable=False,
        autoincrement=False,
    ),
    _col("description", sa.String, "What the migration did.", nullable=False),
    _col("applied_at", sa.DateTime, "When it was applied (UTC).", nullable=False),
    sa.PrimaryKeyConstraint("version"),
    comment="Applied schema migrations, one row each.",
)

ingest_batches = sa.Table(
    "ingest_batches",
    metadata,
    _col(
        "batch_id",
        sa.String,
        "Content hash of the file (first 32 hex of its SHA-256).",
        nullable=False,
    ),
    _col("source", sa.String, "Where the file came from (path or URI as given).", nullable=False),
    _col("file_name", sa.String, "File name as landed.", nullable=False),
    _col("format", sa.String, "csv, parquet or jsonl.", nullable=False),
    _col(
        "shape",
        sa.String,
        "requests (raw per-request samples) or points (pre-aggregated).",
        nullable=False,
    ),
    _col("rows", sa.BigInteger, "Rows stored (0 when rejected).", nullable=False),
    _col("checksum", sa.String, "Full SHA-256 of the file's bytes.", nullable=False),
    _col("status", sa.String, "loaded or rejected.", nullable=False),
    _col("error", sa.String, "Why a rejected batch was rejected (first problems)."),
    _col("min_ts", sa.DateTime, "Earliest sample time in the batch."),
    _col("max_ts", sa.DateTime, "Latest sample time in the batch."),
    _col("loaded_at", sa.DateTime, "When the batch was stored or rejected (UTC).", nullable=False),
    _col("rolled_up_at", sa.DateTime, "When rollups last absorbed this batch; NULL while pending."),
    sa.PrimaryKeyConstraint("batch_id"),
    comment="One row per ingested file: the batch id makes re-ingesting the same file a no-op.",
)

requests = sa.Table(
    "requests",
    metadata,
    _col("ts", sa.DateTime, "Time the request completed (UTC).", nullable=False),
    _col(
        "entity_kind",
        sa.String,
        "node, dao, module, deployment, operation or user.",
        nullable=False,
    ),
    _col(
        "entity_id",
        sa.String,
        "Id of the entity, e.g. node-17, dao-7, qwallet, v2.1.0.",
        nullable=False,
    ),
    _col(
        "environment",
        sa.String,
        "production, staging, dr, ... (default production).",
        nullable=False,
    ),
    _col("op_type", sa.String, "read or write, when known."),
    _col("latency_ms", sa.Double, "Request latency in milliseconds (>= 0).", nullable=False),
    _col(
        "ok",
        sa.Boolean,
        "True when the request succeeded (given, or status < 500).",
        nullable=False,
    ),
    _col("status", sa.Integer, "HTTP-like status code, when given."),
    _col("cache_hit", sa.Boolean, "True when served from cache; NULL when not applicable."),
    _col("cost", sa.Double, "Cost attributed to the request (currency units, >= 0)."),
    _col("labels", sa.String, "Free-form labels as a JSON object text."),
    _col("batch_id", sa.String, "The ingest batch that stored this row.", nullable=False),
    comment="Raw per-request samples: one row per request.",
)

samples = sa.Table(
    "samples",
    metadata,
    _col("ts", sa.DateTime, "Time of the point (UTC).", nullable=False),
    _col(
        "entity_kind",
        sa.String,
        "node, dao, module, deployment, operation or user.",
        nullable=False,
    ),
    _col("entity_id", sa.String, "Id of the entity.", nullable=False),
    _col("environment", sa.String, "production, staging, dr, ...", nullable=False),
    _col(
        "metric",
        sa.String,
        "latency_p50, latency_p95, latency_p99 (ms), error_rate, cache_hit_rate, utilization "
        "(0-1), availability (percent), throughput_rps, requests or cost.",
        nullable=False,
    ),
    _col("value", sa.Double, "The metric's value.", nullable=False),
    _col("labels", sa.String, "Free-form labels as a JSON object text."),
    _col("batch_id", sa.String, "The ingest batch that stored this row.", nullable=False),
    comment="Pre-aggregated metric points (the spec's payload shape), one row per metric value.",
)

rollups = sa.Table(
    "rollups",
    metadata,
    _col("window", sa.String, "Window length: 1m, 5m, 1h, ...", nullable=False),
    _col("window_start", sa.DateTime, "Start of the window (UTC).", nullable=False),
    _col("entity_kind", sa.String, "Entity kind.", nullable=False),
    _col("entity_id", sa.String, "Entity id.", nullable=False),
    _col("environment", sa.String, "Environment.", nullable=False),
    _col(
        "requests",
        sa.BigInteger,
        "Requests in the window (raw samples, else reported).",
        nullable=False,
    ),
    _col("errors", sa.BigInteger, "Failed requests in the window (raw samples only)."),
    _col("latency_p50", sa.Double, "Median latency, ms."),
    _col("latency_p95", sa.Double, "95th percentile latency, ms."),
    _col("latency_p99", sa.Double, "99th percentile latency, ms."),
    _col("error_rate", sa.Double, "Failed / all requests (0-1)."),
    _col("throughput_rps", sa.Double, "Requests per second over the window."),
    _col("cache_hit_rate", sa.Double, "Cache hits / cacheable requests (0-1)."),
    _col("utilization", sa.Double, "Mean capacity utilization (0-1), from points."),
    _col("cost", sa.Double, "Cost accrued in the window."),
    _col("availability", sa.Double, "Availability in percent (points, else 100 x success ratio)."),
    _col("computed_at", sa.DateTime, "When this row was (re)computed (UTC).", nullable=False),
    sa.PrimaryKeyConstraint("window", "entity_kind", "entity_id", "environment", "window_start"),
    comment="Windowed aggregates per entity, recomputed only for windows that new batches touch.",
)

decisions = sa.Table(
    "decisions",
    metadata,
    _col("decision_id", sa.String, "Unique id of the decision.", nullable=False),
    _col(
        "engine",
        sa.String,
        "qnet, qflow, qerberos, cicd, golive, dao, canary, drill, ...",
        nullable=False,
    ),
    _col(
        "subject",
        sa.String,
        "What was decided about: a node, DAO, module, deployment ...",
        nullable=False,
    ),
    _col(
        "outcome",
        sa.String,
        "Short label of the decision, compared to spot changes.",
        nullable=False,
    ),
    _col("inputs", sa.JSON, "The metrics the engine was given.", nullable=False),
    _col("thresholds", sa.JSON, "The thresholds it applied.", nullable=False),
    _col("output", sa.JSON, "The decision in the spec's shape.", nullable=False),
    _col(
        "evidence", sa.JSON, "Evidence: p-values, windows, effect sizes, reasons.", nullable=False
    ),
    _col("policy_version", sa.String, "Content hash of the policy in force.", nullable=False),
    _col(
        "shadow",
        sa.Boolean,
        "True for shadow-mode decisions (stored, never published).",
        nullable=False,
    ),
    _col("decided_at", sa.DateTime, "When the decision was made (UTC).", nullable=False),
    sa.PrimaryKeyConstraint("decision_id"),
    comment="Every evaluation of every engine, with what it needs to be explained and replayed.",
)

outbox = sa.Table(
    "outbox",
    metadata,
    _col(
        "seq", sa.BigInteger, "Monotonic sequence number (resume point for feeds).", nullable=False
    ),
    _col("event_id", sa.String, "Unique id; the idempotency key for receivers.", nullable=False),
    _col("event_type", sa.String, "e.g. node_performance_update, go_live_update.", nullable=False),
    _col("subject", sa.String, "What the event is about.", nullable=False),
    _col("data", sa.JSON, "Event payload.", nullable=False),
    _col("decision_id", sa.String, "The decision that caused the event, if any."),
    _col("created_at", sa.DateTime, "When it was written (UTC).", nullable=False),
    sa.PrimaryKeyConstraint("event_id"),
    comment="Events to publish, written in the same transaction as their cause.",
)

latest_decisions = sa.Table(
    "latest_decisions",
    metadata,
    _col(
        "engine",
        sa.String,
        "Engine of the decision (qnet, qflow, qerberos, cicd, golive, dao).",
        nullable=False,
    ),
    _col(
        "subject",
        sa.String,
        "What was decided about: node, operation, entity, deployment, module@env, DAO.",
        nullable=False,
    ),
    _col(
        "decision_id",
        sa.String,
        "The latest acted-on (non-shadow) decision for this engine and subject.",
        nullable=False,
    ),
    _col(
        "outcome",
        sa.String,
        "Its outcome: the previous outcome the next decision is compared with.",
        nullable=False,
    ),
    _col("decided_at", sa.DateTime, "When that decision was made (UTC).", nullable=False),
    _col(
        "state",
        sa.JSON,
        "Engine state carried to the next evaluation (QNET: weight, pendingWeight, pendingCount).",
    ),
    sa.PrimaryKeyConstraint("engine", "subject"),
    comment="The head of the decision log: one row per engine and subject, its last acted-on decision.",
)

detections = sa.Table(
    "detections",
    metadata,
    _col(
        "detection_id",
        sa.String,
        "Stable key: hash of kind, id, environment, metric, window, detector and detected_at, so "
        "re-analysing the same data stores nothing twice.",
        nullable=False,
    ),
    _col(
        "entity_kind",
        sa.String,
        "node, dao, module, deployment, operation or user.",
        nullable=False,
    ),
    _col("entity_id", sa.String, "Id of the entity.", nullable=False),
    _col("environment", sa.String, "Environment of the series.", nullable=False),
    _col(
        "metric",
        sa.String,
        "Rollup column analysed: latency_p95, error_rate, throughput_rps, cost, availability ...",
        nullable=False,
    ),
    _col("window", sa.String, "Rollup window of the series: 5m or 1h.", nullable=False),
    _col("detector", sa.String, "changepoint or anomaly.", nullable=False),
    _col(
        "detected_at",
        sa.DateTime,
        "Change point: start of the first window at the new level. Anomaly: the anomalous window.",
        nullable=False,
    ),
    _col(
        "before_level",
        sa.Double,
        "Change point: mean level before; anomaly: the expected value. In the analysed series' "
        "units (relative to the fleet median when evidence.normalisation = 'peer').",
    ),
    _col(
        "after_level",
        sa.Double,
        "Change point: mean level after; anomaly: the observed value (same units as before_level).",
    ),
    _col("relative_change", sa.Double, "(after - before) / |before|."),
    _col(
        "p_value",
        sa.Double,
        "Change point: max-corrected p-value of the split; NULL for anomalies.",
    ),
    _col(
        "score",
        sa.Double,
        "Change point: two-sample z of the means; anomaly: anomaly score in [0, 1].",
    ),
    _col(
        "evidence",
        sa.JSON,
        "Normalisation, raw levels, segment sizes, series window, detector parameters, reason.",
        nullable=False,
    ),
    _col("detector_version", sa.String, "Version of the detectors that found it.", nullable=False),
    _col("created_at", sa.DateTime, "When the analyze run stored it (UTC).", nullable=False),
    sa.PrimaryKeyConstraint("detection_id"),
    comment="Change points and anomalies found by the analyze flow on rollup series, with evidence.",
)

analysis_state = sa.Table(
    "analysis_state",
    metadata,
    _col("entity_kind", sa.String, "Entity kind of the series.", nullable=False),
    _col("entity_id", sa.String, "Entity id of the series.", nullable=False),
    _col("environment", sa.String, "Environment of the series.", nullable=False),
    _col("metric", sa.String, "Rollup column analysed.", nullable=False),
    _col("window", sa.String, "Rollup window of the series.", nullable=False),
    _col("detector", sa.String, "changepoint or anomaly.", nullable=False),
    _col(
        "last_window_start",
        sa.DateTime,
        "The latest window analysed: the next run scores only windows after it.",
        nullable=False,
    ),
    _col(
        "segment_start",
        sa.DateTime,
        "Change points: start of the current segment (the last confirmed change, else the first "
        "window); the next run examines the series from here. NULL for anomalies.",
    ),
    _col("updated_at", sa.DateTime, "When the analyze run wrote this row (UTC).", nullable=False),
    sa.PrimaryKeyConstraint(
        "entity_kind", "entity_id", "environment", "metric", "window", "detector"
    ),
    comment="Incremental analysis state: how far each series has been analysed.",
)

spans = sa.Table(
    "spans",
    metadata,
    _col("trace_id", sa.String, "OpenTelemetry trace id (32 hex digits).", nullable=False),
    _col("span_id", sa.String, "Span id (16 hex digits).", nullable=False),
    _col("parent_span_id", sa.String, "Parent span id; NULL for a root span."),
    _col(
        "service",
        sa.String,
        "Resource attribute service.name ('unknown' when absent).",
        nullable=False,
    ),
    _col("name", sa.String, "Span name (the operation).", nullable=False),
    _col(
        "kind",
        sa.String,
        "internal, server, client, producer, consumer or unspecified.",
        nullable=False,
    ),
    _col("start_ts", sa.DateTime, "Span start (UTC, microseconds).", nullable=False),
    _col("end_ts", sa.DateTime, "Span end (UTC, microseconds).", nullable=False),
    _col(
        "duration_ms",
        sa.Double,
        "end - start in milliseconds (from the nanosecond times).",
        nullable=False,
    ),
    _col("status", sa.String, "unset, ok or error (OTLP status code).", nullable=False),
    _col(
        "entity_kind",
        sa.String,
        "Entity kind the span belongs to (attribute ecoperf.entity.kind on the span or resource).",
    ),
    _col("entity_id", sa.String, "Entity id (attribute ecoperf.entity.id), for example node-17."),
    _col(
        "environment",
        sa.String,
        "Resource attribute deployment.environment ('production' when absent).",
        nullable=False,
    ),
    _col("attributes", sa.JSON, "Span attributes as a JSON object (OTLP AnyValues unwrapped)."),
    _col("resource", sa.JSON, "Resource attributes as a JSON object."),
    _col("scope", sa.String, "Instrumentation scope name."),
    _col("batch_id", sa.String, "The ingest batch (file) the span came from.", nullable=False),
    sa.PrimaryKeyConstraint("trace_id", "span_id"),
    comment="OpenTelemetry spans loaded from OTLP/JSON trace files, one row per span.",
)

TABLES: tuple[sa.Table, ...] = tuple(metadata.sorted_tables)
