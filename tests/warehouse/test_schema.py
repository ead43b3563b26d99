"""The migrated warehouse is exactly the declared schema, and the docs describe all of it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from ecoperf_core.errors import NotFoundError
from ecoperf_core.warehouse import reader, schema, writer
from ecoperf_core.warehouse.migrations import (
    LATEST_VERSION,
    create_table_sql,
    current_version,
    migrate,
)
from ecoperf_core.warehouse.schema import TABLES

DOCS = Path(__file__).resolve().parents[2] / "docs" / "warehouse.md"


def test_migrated_database_matches_the_declaration(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    with writer(db) as con:
        actual = {
            (table, column): (data_type, comment)
            for table, column, data_type, comment in con.execute(
                "SELECT table_name, column_name, data_type, comment FROM duckdb_columns() "
                "WHERE table_name IN (SELECT table_name FROM duckdb_tables())"
            ).fetchall()
        }
        assert migrate(con) == []  # idempotent
        version = con.execute("SELECT max(version) FROM schema_migrations").fetchall()[0][0]
    assert version == LATEST_VERSION
    declared = {(t.name, c.name) for t in TABLES for c in t.columns}
    assert set(actual) == declared
    assert all(comment for _type, comment in actual.values()), "every column has a description"
    # Doubles, not 4-byte floats.
    assert actual[("requests", "latency_ms")][0] == "DOUBLE"


def test_docs_describe_every_table_and_column() -> None:
    text = DOCS.read_text()
    for table in TABLES:
        section = re.search(rf"^## `{table.name}`\n(.*?)(?=^## |\Z)", text, re.M | re.S)
        assert section, f"docs/warehouse.md has no section for {table.name}"
        for column in table.columns:
            assert f"`{column.name}`" in section.group(1), (
                f"{table.name}.{column.name} undocumented"
            )


def test_reader_on_missing_warehouse_says_what_to_do(tmp_path: Path) -> None:
    with (
        pytest.raises(NotFoundError, match="ecosystem-perf demo"),
        reader(tmp_path / "none.duckdb"),
    ):
        pass


def test_reader_migrates_an_old_warehouse_first(tmp_path: Path) -> None:
    db = tmp_path / "old.duckdb"
    duckdb.connect(str(db)).close()  # an empty file at schema version 0
    with reader(db) as con:
        assert con.execute("SELECT max(version) FROM schema_migrations").fetchall()[0][0] == (
            LATEST_VERSION
        )


def _open_writer_and_die(db: Path) -> None:
    """Open ``db`` as the writer (migrating it) in a process killed before it closes, so no
    checkpoint runs and everything it did is only in the write-ahead log."""
    code = (
        "import os, sys; from pathlib import Path; from ecoperf_core.warehouse import writer\n"
        "with writer(Path(sys.argv[1])):\n"
        "    os._exit(9)\n"
    )
    killed = subprocess.run(
        [sys.executable, "-c", code, str(db)],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert killed.returncode == 9, killed.stderr[-2000:]


def _primary_keys(con: duckdb.DuckDBPyConnection, table: str) -> int:
    return con.execute(
        """SELECT count(*) FROM duckdb_constraints()
           WHERE table_name = $table AND constraint_type = 'PRIMARY KEY'""",
        {"table": table},
    ).fetchall()[0][0]


def test_migrations_7_and_8_rebuild_decisions_and_rollups_without_key_indexes(
    tmp_path: Path,
) -> None:
    """A version-6 warehouse (decisions with a PRIMARY KEY) keeps every row, comment and the
    subject index, and loses only the key index."""
    db = tmp_path / "v6.duckdb"
    with writer(db) as con:  # a current warehouse, turned back into version 6's decisions table
        con.execute("DROP INDEX decisions_subject")
        con.execute("DROP TABLE decisions")
        con.execute(
            """CREATE TABLE decisions (decision_id VARCHAR NOT NULL PRIMARY KEY,
               engine VARCHAR NOT NULL, subject VARCHAR NOT NULL, outcome VARCHAR NOT NULL,
               inputs JSON NOT NULL, thresholds JSON NOT NULL, output JSON NOT NULL,
               evidence JSON NOT NULL, policy_version VARCHAR NOT NULL, shadow BOOLEAN NOT NULL,
               decided_at TIMESTAMP NOT NULL)"""
        )
        con.execute("CREATE INDEX decisions_subject ON decisions (engine, subject)")
        con.execute(
            """INSERT INTO decisions SELECT 'id-' || i, 'qnet', 'node-' || i, '1.0', '{}', '{}',
               '{"n": ' || i || '}', '{}', 'v', false, TIMESTAMP '2026-12-01' FROM range(3) t(i)"""
        )
        # ... and version 7's rollups, with their primary key.
        columns = [c.name for c in schema.rollups.columns]
        con.execute("CREATE TEMP TABLE r AS SELECT * FROM rollups")
        con.execute("DROP TABLE rollups")
        create = create_table_sql(schema.rollups)[0]
        con.execute(
            create.rstrip().rstrip(")")
            + ', PRIMARY KEY ("window", entity_kind, entity_id, environment, window_start))'
        )
        con.execute(
            f"""INSERT INTO rollups ({", ".join(f'"{c}"' for c in columns)})
                SELECT '5m', TIMESTAMP '2026-12-01' + INTERVAL (i * 5) MINUTE, 'node', 'node-1',
                       'production', 10 + i, 0, 50, 90, 120, 0, 1, NULL, NULL, NULL, 100,
                       TIMESTAMP '2026-12-01'
                FROM range(2) t(i)"""
        )
        con.execute("DELETE FROM schema_migrations WHERE version >= 7")
    # Migrate in a process killed right after (no checkpoint: the migration lives only in the
    # write-ahead log), then reopen: the log must replay.
    _open_writer_and_die(db)
    assert db.with_name(db.name + ".wal").exists()
    with writer(db) as con:
        assert con.execute("SELECT max(version) FROM schema_migrations").fetchall() == [
            (LATEST_VERSION,)
        ]
        rows = con.execute(
            "SELECT decision_id, subject, output->>'n' FROM decisions ORDER BY 1"
        ).fetchall()
        keys = _primary_keys(con, "decisions")
        indexes = con.execute(
            "SELECT index_name FROM duckdb_indexes() WHERE table_name = 'decisions'"
        ).fetchall()
        comment = con.execute(
            "SELECT comment FROM duckdb_columns() WHERE table_name = 'decisions' "
            "AND column_name = 'decision_id'"
        ).fetchall()[0][0]
        rollup_rows = con.execute(
            'SELECT "window", requests FROM rollups ORDER BY window_start'
        ).fetchall()
        rollup_keys = _primary_keys(con, "rollups")
    assert rollup_rows == [("5m", 10), ("5m", 11)] and rollup_keys == 0
    assert rows == [("id-0", "node-0", "0"), ("id-1", "node-1", "1"), ("id-2", "node-2", "2")]
    assert keys == 0
    assert indexes == [("decisions_subject",)]
    assert "UUID" in comment


def test_a_fresh_warehouse_survives_a_kill_right_after_its_migrations(tmp_path: Path) -> None:
    """Every migration of a new file lives only in the write-ahead log until the first
    checkpoint; a process killed before it must leave a log DuckDB can replay."""
    db = tmp_path / "fresh.duckdb"
    _open_writer_and_die(db)
    with reader(db) as con:
        assert current_version(con) == LATEST_VERSION
        assert con.execute("SELECT count(*) FROM decisions").fetchall() == [(0,)]
