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
    _col("format", sa.String, "csv, parquet, jsonl or otlp (OTLP/JSON traces).", nullable=False),
    _col(
        "shape",
        sa.String,
        "requests (raw per-request samples), points (pre-aggregated) or spans (traces).",
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
    comment="Windowed aggregates per entity, recomputed only for windows that new batches touch.",
)

decisions = sa.Table(
    "decisions",
    metadata,
    _col(
        "decision_id",
        sa.String,
        "Unique id of the decision (a random UUID; not an indexed key, see migration 7).",
        nullable=False,
    ),
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

# ------------------------------------------------- deployments, hooks and DR drills (migration 4)

deploy_runs = sa.Table(
    "deploy_runs",
    metadata,
    _col(
        "run_key",
        sa.String,
        "Hash of deployment, baseline, environment, strategy, steps, interval and start: a "
        "re-run of the same deployment over the same data has the same key.",
        nullable=False,
    ),
    _col("deployment", sa.String, "Candidate deployment id.", nullable=False),
    _col("baseline", sa.String, "Baseline deployment id.", nullable=False),
    _col("environment", sa.String, "Environment the candidate runs in.", nullable=False),
    _col("strategy", sa.String, "canary or blue-green.", nullable=False),
    _col(
        "mode", sa.String, "history (stored samples) or live (waits for windows).", nullable=False
    ),
    _col("steps", sa.JSON, "Traffic steps in percent, e.g. [5, 25, 50, 100].", nullable=False),
    _col("interval_s", sa.Double, "Length of one step interval in seconds.", nullable=False),
    _col("started_from", sa.DateTime, "Data time the first interval starts at.", nullable=False),
    _col(
        "outcome",
        sa.String,
        "running, promoted, rolled_back, held, blocked (gate or blue-green validation), "
        "switched (blue-green) or halted (a hook could not be delivered).",
        nullable=False,
    ),
    _col("final_traffic", sa.Double, "Candidate traffic percent when the run ended."),
    _col("reason", sa.String, "Why the run ended as it did."),
    _col("gate", sa.JSON, "The CI/CD gate checked first (or why it was skipped)."),
    _col("report", sa.String, "The run's Markdown report."),
    _col("started_at", sa.DateTime, "When the run started (UTC).", nullable=False),
    _col("finished_at", sa.DateTime, "When it ended (UTC); NULL while running."),
    sa.PrimaryKeyConstraint("run_key"),
    comment="One row per deploy run (canary or blue-green), with its outcome and report.",
)

deploy_intervals = sa.Table(
    "deploy_intervals",
    metadata,
    _col("run_key", sa.String, "The deploy run.", nullable=False),
    _col("seq", sa.Integer, "Order of the judgement in the run (1, 2, ...).", nullable=False),
    _col("step", sa.Integer, "Index of the traffic step (0 = first).", nullable=False),
    _col("traffic", sa.Double, "Candidate traffic percent during the interval.", nullable=False),
    _col("window_from", sa.DateTime, "Start of the judged interval (data time).", nullable=False),
    _col("window_to", sa.DateTime, "End of the judged interval (exclusive).", nullable=False),
    _col(
        "verdict",
        sa.String,
        "Canary judge verdict: pass, marginal, fail or insufficient_data.",
        nullable=False,
    ),
    _col("score", sa.Double, "Canary score 0-100; NULL when nothing could be judged."),
    _col(
        "action",
        sa.String,
        "advance, promote, pause, extend, rollback or hold.",
        nullable=False,
    ),
    _col("reason", sa.String, "Why: the judge's reason and the state machine's.", nullable=False),
    _col(
        "samples",
        sa.JSON,
        'Requests per side in the interval, e.g. {"v2.0.9": 600, "v2.1.0": 580}.',
        nullable=False,
    ),
    _col(
        "metrics",
        sa.JSON,
        "Per-metric verdicts with their tests, effect sizes and intervals (the evidence).",
        nullable=False,
    ),
    _col("decision_key", sa.String, "Key of the decision (and its hook calls).", nullable=False),
    _col("decided_at", sa.DateTime, "When it was judged (UTC).", nullable=False),
    sa.PrimaryKeyConstraint("run_key", "seq"),
    comment="Every judged interval of every deploy run: metrics, verdict and the action taken.",
)

hook_calls = sa.Table(
    "hook_calls",
    metadata,
    _col(
        "call_key",
        sa.String,
        "Decision key + hook name: one call per decision and hook, ever.",
        nullable=False,
    ),
    _col("run_key", sa.String, "The deploy run or drill that decided.", nullable=False),
    _col("hook", sa.String, "traffic, rollback, switch or failover.", nullable=False),
    _col("target", sa.String, "The URL or command called.", nullable=False),
    _col(
        "status",
        sa.String,
        "calling (written before the call), delivered, failed or breaker_open.",
        nullable=False,
    ),
    _col("attempts", sa.Integer, "Calls made for this key so far.", nullable=False),
    _col("detail", sa.String, "HTTP status / exit code, or the last error.", nullable=False),
    _col("payload", sa.JSON, "The decision JSON sent.", nullable=False),
    _col("first_called_at", sa.DateTime, "When the key was first called (UTC).", nullable=False),
    _col("updated_at", sa.DateTime, "When its status last changed (UTC).", nullable=False),
    sa.PrimaryKeyConstraint("call_key"),
    comment="The hook ledger: each outbound hook call keyed by its decision (exactly once).",
)

drill_runs = sa.Table(
    "drill_runs",
    metadata,
    _col("drill_id", sa.String, "Id of the drill (uuid).", nullable=False),
    _col("environment", sa.String, "The DR environment drilled, e.g. dr.", nullable=False),
    _col("primary_environment", sa.String, "The primary it is compared with.", nullable=False),
    _col("verdict", sa.String, "PolicyMet or PolicyBreached.", nullable=False),
    _col("rto_seconds", sa.Double, "Measured restore time (copy, open, verify); NULL if failed."),
    _col(
        "rpo_seconds",
        sa.Double,
        "Measured data loss window: primary's newest data time minus the restored newest.",
    ),
    _col("rto_limit_s", sa.Double, "The policy's RTO.", nullable=False),
    _col("rpo_limit_s", sa.Double, "The policy's RPO.", nullable=False),
    _col("reasons", sa.JSON, "Why the policy was breached (empty when met).", nullable=False),
    _col(
        "checks",
        sa.JSON,
        "Baseline gates per entity, restore integrity per table, failover and recovery.",
        nullable=False,
    ),
    _col("backup_path", sa.String, "The backup file restored.", nullable=False),
    _col("report", sa.String, "The drill's Markdown report.", nullable=False),
    _col("started_at", sa.DateTime, "When the drill started (UTC).", nullable=False),
    _col("finished_at", sa.DateTime, "When it ended (UTC).", nullable=False),
    sa.PrimaryKeyConstraint("drill_id"),
    comment="One row per DR drill with its measured RTO and RPO and verdict.",
)

# ------------------------------------------------------ outbox delivery state (migration 5)

deliveries = sa.Table(
    "deliveries",
    metadata,
    _col(
        "event_id", sa.String, "The outbox event delivered (its idempotency key).", nullable=False
    ),
    _col(
        "subscriber", sa.String, "Name of the subscriber in the subscribers file.", nullable=False
    ),
    _col("seq", sa.BigInteger, "The event's outbox seq (delivery order).", nullable=False),
    _col(
        "status",
        sa.String,
        "pending (not yet tried), retrying (failed transiently, tried again at next_attempt_at), "
        "delivered, dead (terminal error or out of tries; see last_error) or superseded (a later "
        "event about the same subject replaced it for a state subscriber such as Alertmanager).",
        nullable=False,
    ),
    _col("attempts", sa.Integer, "Delivery attempts made so far.", nullable=False),
    _col("next_attempt_at", sa.DateTime, "When the next attempt is due (UTC).", nullable=False),
    _col("last_error", sa.String, "Why the last attempt failed; for dead rows, why it died."),
    _col("last_status", sa.Integer, "HTTP status of the last attempt, when there was a response."),
    _col("enqueued_at", sa.DateTime, "When the delivery was queued (UTC).", nullable=False),
    _col("delivered_at", sa.DateTime, "When the receiver acknowledged it (UTC)."),
    _col("updated_at", sa.DateTime, "When this row last changed (UTC).", nullable=False),
    sa.PrimaryKeyConstraint("event_id", "subscriber"),
    comment="Delivery state of each outbox event to each subscriber.",
)

publish_cursors = sa.Table(
    "publish_cursors",
    metadata,
    _col("subscriber", sa.String, "Name of the subscriber.", nullable=False),
    _col(
        "last_seq",
        sa.BigInteger,
        "Highest outbox seq queued for this subscriber; later events are queued next.",
        nullable=False,
    ),
    _col("updated_at", sa.DateTime, "When the cursor last moved (UTC).", nullable=False),
    sa.PrimaryKeyConstraint("subscriber"),
    comment="How far each subscriber's delivery queue has read the outbox.",
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
