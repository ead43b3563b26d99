"""The migrated warehouse is exactly the declared schema, and the docs describe all of it."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest

from ecoperf_core.errors import NotFoundError
from ecoperf_core.warehouse import reader, writer
from ecoperf_core.warehouse.migrations import LATEST_VERSION, migrate
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
