"""Shard assignment, and the landing step's guard against an overtaken plan."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from ecoperf_core.errors import TransientError
from ecoperf_core.scale import analyze as sharded
from ecoperf_core.scale.partition import shard_of, shard_sql
from tests.evaluation.demo_warehouse import demo_home


def test_sql_and_python_put_every_entity_in_the_same_shard() -> None:
    ids = [f"node-{i:05d}" for i in range(2000)] + ["dao-07", "user-ü", "o'brien", ""]
    con = duckdb.connect()
    rows = con.execute(
        f"SELECT id, {shard_sql('id', 16)} FROM unnest($ids) t(id)", {"ids": ids}
    ).fetchall()
    assert {i: s for i, s in rows} == {i: shard_of(i, 16) for i in ids}
    counts = [sum(1 for _i, s in rows if s == k) for k in range(16)]
    assert min(counts) > 2000 / 16 * 0.7  # spread, not a few hot shards


def test_a_plan_overtaken_by_another_run_stores_nothing(tmp_path: Path) -> None:
    home = demo_home(tmp_path / "home")
    db = home / "ecoperf.duckdb"
    con = duckdb.connect(str(db))
    con.execute("DELETE FROM detections")
    con.execute("DELETE FROM analysis_state")
    con.close()
    plan = sharded.plan(db, tmp_path / "exchange", 3)
    outcomes = [sharded.run_shard(plan, k) for k in range(3)]
    assert sum(o.found for o in outcomes) > 0
    # Another (unsharded) run stores its detections between this run's plan and its landing.
    from ecoperf_core.analysis.runner import analyze

    first = analyze(db)
    with pytest.raises(TransientError, match="another analyze run"):
        sharded.land(db, plan, outcomes)
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT count(*) FROM detections").fetchall()[0][0] == first.stored
    con.close()


def test_missing_shard_results_are_named(tmp_path: Path) -> None:
    home = demo_home(tmp_path / "home")
    plan = sharded.plan(home / "ecoperf.duckdb", tmp_path / "exchange", 2)
    outcome = sharded.run_shard(plan, 0)
    with pytest.raises(FileNotFoundError, match=r"shard\(s\) \[1\]"):
        sharded.land(home / "ecoperf.duckdb", plan, [outcome])
