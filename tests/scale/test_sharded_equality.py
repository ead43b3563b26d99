"""The sharded analyze and evaluate flows decide exactly what the single-task flows decide.

Three copies of the demo warehouse (its detections cleared, so analyze starts from nothing) go
through the same ``analyze`` then ``evaluate`` flows: unsharded (one task each), in 4 entity
shards on Prefect's default task runner, and in 4 shards on a local Dask cluster of 2 worker
processes through prefect-dask. Detections, analysis state and decisions must be equal row for
row, apart from run ids and timestamps.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.evaluation.demo_warehouse import demo_home

pytestmark = pytest.mark.usefixtures("prefect_runtime")

SHARDS = 4
COMPARED = {
    "detections": "SELECT * EXCLUDE (detection_id, created_at) FROM detections ORDER BY ALL",
    "analysis_state": "SELECT * EXCLUDE (updated_at) FROM analysis_state ORDER BY ALL",
    "decisions": """SELECT engine, subject, outcome, CAST(inputs AS VARCHAR),
                           CAST(thresholds AS VARCHAR), CAST(output AS VARCHAR),
                           CAST(evidence AS VARCHAR), policy_version
                    FROM decisions ORDER BY ALL""",
    "heads": """SELECT engine, subject, outcome, CAST(state AS VARCHAR)
                FROM latest_decisions ORDER BY ALL""",
}


def _fresh_home(target: Path) -> Path:
    """The demo warehouse with no detections yet: analyze has the whole history to examine."""
    home = demo_home(target)
    con = duckdb.connect(str(home / "ecoperf.duckdb"))
    try:
        con.execute("DELETE FROM detections")
        con.execute("DELETE FROM analysis_state")
    finally:
        con.close()
    return home


def _cycle(home: Path, monkeypatch: pytest.MonkeyPatch, **scale: str) -> dict[str, Any]:
    from flows.analyze import analyze_flow
    from flows.evaluate import evaluate_flow

    monkeypatch.setenv("ECOPERF_HOME", str(home))
    for name in ("SHARDS", "DASK_ADDRESS"):
        monkeypatch.delenv(f"ECOPERF_SCALE_{name}", raising=False)
    for name, value in scale.items():
        monkeypatch.setenv(f"ECOPERF_SCALE_{name.upper()}", value)
    return {"analyze": analyze_flow(), "evaluate": evaluate_flow()}


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return float(f"{value:.12g}")
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


def _tables(home: Path) -> dict[str, list[tuple[Any, ...]]]:
    """The compared rows. Decisions of the engines that are not sharded (DAO, go-live) are
    compared to 12 significant digits: they read the warehouse directly in every mode, and
    DuckDB's multi-threaded sums and means differ in the last bit between two runs of the
    very same query (seen on the demo's DAO availability). The sharded engines' decisions and
    every detection are compared bit for bit."""
    con = duckdb.connect(str(home / "ecoperf.duckdb"), read_only=True)
    try:
        tables = {name: con.execute(sql).fetchall() for name, sql in COMPARED.items()}
    finally:
        con.close()
    for name in ("decisions", "heads"):
        tables[name] = [
            row
            if row[0] in ("qnet", "qerberos")
            else tuple(
                json.dumps(_rounded(json.loads(v))) if isinstance(v, str) and v[:1] in "{[" else v
                for v in row
            )
            for row in tables[name]
        ]
    return tables


@pytest.fixture(scope="module")
def dask_cluster() -> Iterator[str]:
    """A local Dask cluster, 2 worker processes on 127.0.0.1, reporting to this session's
    Prefect API (workers would otherwise each start a temporary Prefect server)."""
    distributed = pytest.importorskip("distributed")
    from prefect.server.api.server import SubprocessASGIServer
    from prefect.settings import PREFECT_API_URL, temporary_settings

    server = SubprocessASGIServer()
    server.start()
    env = {"PREFECT_API_URL": server.api_url}
    if "PYTHONPATH" in os.environ:
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    with (
        temporary_settings(updates={PREFECT_API_URL: server.api_url}),
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            env=env,
        ) as cluster,
    ):
        yield cluster.scheduler_address


def test_dask_shards_and_default_runner_decide_exactly_like_one_task(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dask_cluster: str
) -> None:
    single = _fresh_home(tmp_path / "single")
    threads = _fresh_home(tmp_path / "threads")
    dask = _fresh_home(tmp_path / "dask")

    baseline = _cycle(single, monkeypatch)
    on_threads = _cycle(threads, monkeypatch, shards=str(SHARDS))
    on_dask = _cycle(dask, monkeypatch, shards=str(SHARDS), dask_address=dask_cluster)

    # The sharded runs really were sharded, and on Dask in other processes than this one.
    assert on_threads["analyze"]["shards"] == SHARDS
    assert on_threads["analyze"]["shardProcesses"] == [os.getpid()]
    dask_pids = set(on_dask["analyze"]["shardProcesses"])
    assert os.getpid() not in dask_pids and len(dask_pids) == 2
    assert on_dask["evaluate"]["qnet"]["shards"] == SHARDS

    expected = _tables(single)
    assert expected["detections"], "the demo's incidents give detections to compare"
    assert {row[0] for row in expected["decisions"]} >= {"qnet", "qerberos", "dao", "golive"}
    for home in (threads, dask):
        got = _tables(home)
        for name, rows in expected.items():
            assert got[name] == rows, f"{name} differs in {home.name}"
    # The exchange folders are removed once their rows are in the warehouse.
    for home in (threads, dask):
        assert not any((home / "exchange").iterdir())
    for summary in (on_threads, on_dask):
        assert summary["analyze"]["stored"] == baseline["analyze"]["stored"] > 0
        assert summary["evaluate"]["qnet"]["outcomes"] == baseline["evaluate"]["qnet"]["outcomes"]


def test_a_second_cycle_on_unchanged_data_stores_nothing_in_shards(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = _fresh_home(tmp_path / "again")
    _cycle(home, monkeypatch, shards="3")
    before = _tables(home)
    again = _cycle(home, monkeypatch, shards="3")
    assert again["analyze"]["stored"] == 0
    assert "skipped" in again["evaluate"]["qnet"] and "skipped" in again["evaluate"]["qerberos"]
    assert _tables(home) == before
