"""Versioned schema migrations, applied in order when a writer opens the warehouse.

Each migration runs in the same transaction as its ``schema_migrations`` row, so a crash leaves the
warehouse at the previous version, never between two. A migration that adds a column must also add
it to ``schema.py`` (a test compares the migrated database with the declaration).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb
import sqlalchemy as sa
from sqlalchemy.schema import CreateTable

from ecoperf_core.warehouse import schema
from ecoperf_core.warehouse.sql import literal


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    apply: Callable[[duckdb.DuckDBPyConnection], None]


def _dialect() -> sa.engine.Dialect:
    from duckdb_engine import Dialect

    return Dialect()


def create_table_sql(table: sa.Table) -> list[str]:
    """DDL for a table and its comments, compiled from the declaration."""
    statements = [str(CreateTable(table).compile(dialect=_dialect())).strip()]
    if table.comment:
        statements.append(f"COMMENT ON TABLE {table.name} IS {literal(table.comment)}")
    for column in table.columns:
        if column.comment:
            statements.append(
                f'COMMENT ON COLUMN {table.name}."{column.name}" IS {literal(column.comment)}'
            )
    return statements


# Version 1's tables, named so that tables declared later are created by their own migration
# (iterating the current declaration here would create them in v1 and fail their migration).
_V1_TABLES = ("ingest_batches", "requests", "samples", "rollups", "decisions", "outbox")


def _v1_base_tables(con: duckdb.DuckDBPyConnection) -> None:
    for table in schema.TABLES:
        if table.name not in _V1_TABLES:
            continue
        for statement in create_table_sql(table):
            con.execute(statement)
    con.execute("CREATE SEQUENCE IF NOT EXISTS outbox_seq START 1")
    con.execute("CREATE INDEX IF NOT EXISTS decisions_subject ON decisions (engine, subject)")


def _v2_latest_decisions(con: duckdb.DuckDBPyConnection) -> None:
    """The decision log's head: previous outcome and carried state per engine and subject, so an
    evaluation reads one row per subject instead of scanning the growing decisions table."""
    for statement in create_table_sql(schema.latest_decisions):
        con.execute(statement)


def _v3_detections(con: duckdb.DuckDBPyConnection) -> None:
    """Stored detections (change points, anomalies) with their evidence, and the incremental
    analysis state, so engines read detections instead of re-detecting on every evaluation."""
    for table in (schema.detections, schema.analysis_state):
        for statement in create_table_sql(table):
            con.execute(statement)
    con.execute(
        "CREATE INDEX IF NOT EXISTS detections_lookup "
        "ON detections (entity_kind, metric, detector, detected_at)"
    )


def _v4_deploy_and_drills(con: duckdb.DuckDBPyConnection) -> None:
    """Deploy runs and their judged intervals, the exactly-once hook ledger and DR drills."""
    for table in (
        schema.deploy_runs,
        schema.deploy_intervals,
        schema.hook_calls,
        schema.drill_runs,
    ):
        for statement in create_table_sql(table):
            con.execute(statement)


def _v5_deliveries(con: duckdb.DuckDBPyConnection) -> None:
    """Per-(event, subscriber) delivery state and per-subscriber outbox cursors, so the publisher
    retries, dead-letters and replays each delivery on its own and resumes after a crash."""
    for table in (schema.deliveries, schema.publish_cursors):
        for statement in create_table_sql(table):
            con.execute(statement)


def _v6_spans(con: duckdb.DuckDBPyConnection) -> None:
    """Spans of OTLP/JSON trace files, so a slow window can be explained by its traces."""
    for statement in create_table_sql(schema.spans):
        con.execute(statement)
    con.execute("CREATE INDEX IF NOT EXISTS spans_entity ON spans (entity_id, start_ts)")


def _rebuild_without_primary_key(
    con: duckdb.DuckDBPyConnection, table: sa.Table, indexes: dict[str, str]
) -> None:
    """Rebuild ``table`` from its declaration (which has no primary key) if the warehouse's copy
    still has one; ``indexes`` (name → column list) are recreated on the new table.

    DuckDB cannot drop a constraint in place, so: rows to a temporary table, the table dropped and
    created from the declaration, rows back. Not by renaming the old table: DuckDB 2.0 could not
    replay a write-ahead log holding a rename and a drop of the renamed table (a crash before the
    next checkpoint left a warehouse that would not open). A table created without the key (the
    base migration declares today's tables) is left as it is.
    """
    keys = con.execute(
        """SELECT count(*) FROM duckdb_constraints()
           WHERE table_name = $table AND constraint_type = 'PRIMARY KEY'""",
        {"table": table.name},
    ).fetchall()[0][0]
    if not keys:
        return
    columns = ", ".join(f'"{c.name}"' for c in table.columns)
    copy = f"{table.name}_rebuild"
    con.execute(f"CREATE TEMP TABLE {copy} AS SELECT {columns} FROM {table.name}")
    for name in indexes:
        con.execute(f"DROP INDEX IF EXISTS {name}")
    con.execute(f"DROP TABLE {table.name}")
    for statement in create_table_sql(table):
        con.execute(statement)
    con.execute(f"INSERT INTO {table.name} ({columns}) SELECT {columns} FROM {copy}")
    con.execute(f"DROP TABLE {copy}")
    for name, index_columns in indexes.items():
        con.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {table.name} ({index_columns})")


def _v7_decisions_without_key_index(con: duckdb.DuckDBPyConnection) -> None:
    """The decision log without the primary-key index on ``decision_id``.

    The log grows by every evaluation of every node (10,000 rows per QNET run of a 10k-node
    fleet), and a DuckDB primary key is an ART index checked and extended on every insert: at
    600k rows it made the insert of 10,000 decisions 3-5x slower than without, and the cost kept
    growing with the log. Nothing looks decisions up by id on a hot path, and ids are random UUIDs
    minted by DuckDB in the insert itself, so the index bought nothing.
    """
    _rebuild_without_primary_key(con, schema.decisions, {"decisions_subject": "engine, subject"})


def _v8_rollups_without_key_index(con: duckdb.DuckDBPyConnection) -> None:
    """Rollups without the primary-key index on (window, entity, environment, window_start).

    Every rollup run deletes the windows its batches touch and inserts them again, millions of
    rows at a time, and the key's ART index is updated at commit and written whole by each
    checkpoint: so a run's cost grew with the size of the table (re-rolling one 5M-sample batch:
    a 52 s commit at 50M samples, 14 s at 10M). The rollup itself keeps one row per key: it
    deletes every touched window before inserting it, in one transaction.
    """
    _rebuild_without_primary_key(con, schema.rollups, {})


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1, "base tables: batches, requests, samples, rollups, decisions, outbox", _v1_base_tables
    ),
    Migration(
        2, "latest_decisions: head of the decision log per engine and subject", _v2_latest_decisions
    ),
    Migration(3, "detections and analysis_state: stored detector results", _v3_detections),
    Migration(
        4,
        "deploy_runs, deploy_intervals, hook_calls, drill_runs: deployments and DR drills",
        _v4_deploy_and_drills,
    ),
    Migration(5, "deliveries and publish_cursors: outbox delivery state", _v5_deliveries),
    Migration(6, "spans: OpenTelemetry spans from OTLP/JSON trace files", _v6_spans),
    Migration(
        7, "decisions: rebuilt without the primary-key index", _v7_decisions_without_key_index
    ),
    Migration(8, "rollups: rebuilt without the primary-key index", _v8_rollups_without_key_index),
)
LATEST_VERSION = MIGRATIONS[-1].version


def current_version(con: duckdb.DuckDBPyConnection) -> int:
    exists = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'schema_migrations'"
    ).fetchall()[0][0]
    if not exists:
        return 0
    return int(
        con.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchall()[0][0]
    )


def migrate(con: duckdb.DuckDBPyConnection) -> list[int]:
    """Bring the warehouse to the latest version; returns the versions applied."""
    if current_version(con) == LATEST_VERSION:
        return []
    applied: list[int] = []
    con.execute("BEGIN TRANSACTION")
    try:
        version = current_version(con)
        if version == 0:
            for statement in create_table_sql(schema.schema_migrations):
                con.execute(statement)
        for migration in MIGRATIONS:
            if migration.version <= version:
                continue
            migration.apply(con)
            con.execute(
                "INSERT INTO schema_migrations VALUES (?, ?, ?)",
                [migration.version, migration.description, datetime.now(UTC).replace(tzinfo=None)],
            )
            applied.append(migration.version)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return applied
