"""The backbone commands through the real CLI: demo, ingest, query, status."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ecoperf_core.cli.app import app
from ecoperf_core.cli.common import ExitCode
from tests.helpers import REQUEST_HEADER, request_rows, write_csv

pytestmark = pytest.mark.usefixtures("prefect_runtime")
runner = CliRunner()


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small demo warehouse, built once through `ecosystem-perf demo`."""
    home = tmp_path_factory.mktemp("demo-home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ECOPERF_HOME", str(home))
        result = runner.invoke(app, ["demo", "--size", "100000", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["ingest"]["loaded"] == 6 and summary["ingest"]["rejected"] == 0
    assert summary["rollup"]["windows"]["1h"] > 0
    slowest = summary["overview"]["slowest_nodes"][0]["node"]
    worst_dao = summary["overview"]["dao_availability"][0]["dao"]
    assert (slowest, worst_dao) == ("node-17", "dao-07")  # the injected incidents show
    return home


@pytest.fixture
def in_demo(demo_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ECOPERF_HOME", str(demo_home))
    return demo_home


def test_demo_twice_stores_nothing_twice(in_demo: Path) -> None:
    before = runner.invoke(app, ["status", "--json"])
    again = runner.invoke(app, ["demo", "--size", "100000", "--json"])
    assert again.exit_code == 0
    assert json.loads(again.stdout)["ingest"]["duplicates"] == 6
    after = runner.invoke(app, ["status", "--json"])
    assert json.loads(before.stdout)["rows"] == json.loads(after.stdout)["rows"]


def test_demo_prints_a_readable_summary(in_demo: Path) -> None:
    result = runner.invoke(app, ["demo", "--size", "100000"])
    assert result.exit_code == 0
    for text in ("Slowest nodes", "node-17", "dao-07", "qdrive", "v2.1.0"):
        assert text in result.stdout


@pytest.mark.parametrize(
    "statement",
    [
        "DROP TABLE rollups",
        "INSERT INTO decisions SELECT * FROM decisions",
        "UPDATE rollups SET requests = 0",
        "DELETE FROM requests",
        "COPY rollups TO 'stolen.csv'",
        "COPY rollups FROM 'x.csv'",
        "ATTACH 'other.duckdb' AS other",
        "INSTALL httpfs",
        "LOAD httpfs",
        "CREATE TABLE x AS SELECT 1",
        "SELECT 1; DROP TABLE rollups",
        "TRUNCATE requests",
    ],
)
def test_query_refuses_every_write(in_demo: Path, statement: str) -> None:
    result = runner.invoke(app, ["query", statement])
    assert result.exit_code == ExitCode.BAD_INPUT
    assert "refused" in result.stderr
    still = runner.invoke(app, ["query", "SELECT count(*) AS n FROM rollups", "--format", "json"])
    assert json.loads(still.stdout)[0]["n"] > 0


def test_query_cannot_read_files_through_sql(in_demo: Path, tmp_path: Path) -> None:
    secret = write_csv(tmp_path / "secret.csv", "a", ["1"])
    result = runner.invoke(app, ["query", f"SELECT * FROM read_csv('{secret}')"])
    assert result.exit_code != 0


@pytest.mark.parametrize("fmt", ["table", "csv", "json"])
def test_query_formats(in_demo: Path, fmt: str) -> None:
    sql = (
        "SELECT entity_kind, count(DISTINCT entity_id) AS entities FROM rollups "
        "GROUP BY 1 ORDER BY 1"
    )
    result = runner.invoke(app, ["query", sql, "--format", fmt])
    assert result.exit_code == 0, result.output
    if fmt == "json":
        rows = json.loads(result.stdout)
        assert {r["entity_kind"]: r["entities"] for r in rows}["node"] == 50
    elif fmt == "csv":
        lines = result.stdout.strip().splitlines()
        assert lines[0] == "entity_kind,entities"
        assert "node,50" in lines
    else:
        assert "entity_kind" in result.stdout and "node" in result.stdout


def test_status_reports_what_the_warehouse_holds(in_demo: Path) -> None:
    result = runner.invoke(app, ["status", "--json"])
    assert result.exit_code == 0
    info = json.loads(result.stdout)
    assert info["rows"]["requests"] == 100000
    assert info["batches"] == {"loaded": 6}  # 5 metric files + 1 trace file
    assert info["batches_pending_rollup"] == 0
    assert info["entities"]["dao"] == 10


def test_ingest_exit_codes(eco_home: Path, tmp_path: Path) -> None:
    good = write_csv(tmp_path / "good.csv", REQUEST_HEADER, request_rows(30))
    bad = write_csv(
        tmp_path / "bad.csv", REQUEST_HEADER, ["2026-11-01T00:00:00Z,node,n1,-1,true,,"]
    )
    ok = runner.invoke(app, ["ingest", str(good)])
    assert ok.exit_code == 0, ok.output
    rejected = runner.invoke(app, ["ingest", str(bad)])
    assert rejected.exit_code == ExitCode.FAILED
    assert "row 1, field 'latency_ms': is negative" in rejected.stderr
    missing = runner.invoke(app, ["ingest", str(tmp_path / "nope.csv")])
    assert missing.exit_code == ExitCode.BAD_INPUT


def test_status_without_a_warehouse_says_what_to_do(eco_home: Path) -> None:
    result = runner.invoke(app, ["status"])
    assert result.exit_code == ExitCode.UNAVAILABLE
    assert "ecosystem-perf demo" in result.stderr


def test_help_reads_well() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("demo", "ingest", "query", "status", "serve", "rollup"):
        assert command in result.stdout
