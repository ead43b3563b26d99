"""The decision log's storage, the batched series analysis and the readers, on small known data."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ecoperf_core.engines.base import Decision
from ecoperf_core.engines.qnet import WeightState, fleet_weights
from ecoperf_core.evaluation import readers
from ecoperf_core.evaluation.series import detect_regressions, peer_relative, trends
from ecoperf_core.evaluation.store import (
    fleet_source,
    store_decisions,
    store_fleet,
)
from ecoperf_core.policy import DEFAULT_POLICY
from ecoperf_core.service import Ecoperf
from ecoperf_core.settings import Settings
from ecoperf_core.stats.changepoint import detect_change_points
from ecoperf_core.warehouse import reader, writer
from tests.helpers import write_csv

# ------------------------------------------------------------------------------------ storage


def _fleet_inputs() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "node_id": ["n-1", "n-2", "n-3", "n-4", "n-5", "n-6"],
            "p95_ms": [60.0, 120.0, 150.0, 260.0, 300.0, 80.0],
            "p99_ms": [90.0, 170.0, 210.0, 380.0, 450.0, 100.0],
            "error_rate": [0.0, 0.004, 0.01, 0.02, 0.05, 0.001],
            "utilization": [0.3, 0.6, 0.7, 0.9, 0.95, 0.0],
            "regression_count": [0, 0, 1, 2, 0, 0],
            "regression_severity": ["medium", "medium", "high", "critical", "medium", "medium"],
            "requests": [1000, 900, 800, 700, 600, 12],
            "window_from": pd.to_datetime(["2026-11-29 23:00"] * 6),
            "window_to": pd.to_datetime(["2026-11-30 00:00"] * 6),
            "utilization_known": [True, True, True, True, True, False],
            "max_relative_change": [None, None, 0.3, 0.9, None, None],
            "last_change_at": [None, None, "2026-11-29 06:00", "2026-11-29 07:05", None, None],
        }
    )


def test_the_columnar_fleet_store_writes_exactly_the_engines_decisions(tmp_path: Path) -> None:
    inputs = _fleet_inputs()
    previous = {
        "n-1": WeightState(weight=1.0),
        "n-3": WeightState(weight=1.0, pending_weight=0.5, pending_count=2),
    }
    fleet = fleet_weights(inputs, DEFAULT_POLICY, previous)
    common = {"asOf": "2026-11-29T23:59:59", "trigger": "test"}
    db = tmp_path / "w.duckdb"
    with writer(db) as con:
        stored = store_fleet(con, fleet, inputs, common=common)
        rows = con.execute(
            "SELECT subject, outcome, inputs, thresholds, output, evidence, policy_version, "
            "shadow FROM decisions ORDER BY subject"
        ).fetchall()
        heads = dict(
            con.execute("SELECT subject, state FROM latest_decisions ORDER BY 1").fetchall()
        )
    assert (stored.decisions, stored.events) == (6, 6)
    expected = {d.subject: d for d in fleet.decisions()}
    by_id = inputs.set_index("node_id")
    for subject, outcome, inp, thresholds, output, evidence, version, shadow in rows:
        want = expected[subject].to_dict()
        want["evidence"] = {
            **want["evidence"],
            "source": fleet_source(by_id.loc[subject].to_dict()),
            **common,
        }
        assert outcome == want["outcome"] and version == want["policy_version"]
        assert json.loads(inp) == want["inputs"]
        assert json.loads(output) == want["output"]
        assert json.loads(thresholds) == want["thresholds"]
        assert json.loads(evidence) == want["evidence"]
        assert shadow is False
        state = json.loads(heads[subject])
        assert state["weight"] == want["output"]["routingWeight"]
    assert json.loads(heads["n-3"])["pendingCount"] in (0, 3)  # moved or still pending


def _decision(subject: str, outcome: str, shadow: bool = False) -> Decision:
    return Decision(
        engine="dao",
        subject=subject,
        outcome=outcome,
        output={"daoId": subject, "isolationRecommendation": outcome},
        inputs={"x": 1},
        thresholds={"t": 2},
        evidence={"shadow": shadow},
        policy_version="v1",
    )


def test_a_batch_is_stored_whole_or_not_at_all(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    with writer(db) as con:
        with pytest.raises(ValueError, match="two decisions"):
            store_decisions(con, [_decision("d-1", "none"), _decision("d-1", "none")])
        assert con.execute("SELECT count(*) FROM decisions").fetchall() == [(0,)]
        first = store_decisions(con, [_decision("d-1", "none"), _decision("d-2", "none")])
        same = store_decisions(con, [_decision("d-1", "none"), _decision("d-2", "none")])
        changed = store_decisions(con, [_decision("d-1", "traffic_throttling")])
        what_if = store_decisions(con, [_decision("d-2", "immediate_isolation")], publish=False)
        shadow = store_decisions(con, [_decision("d-1", "none", shadow=True)])
        events = con.execute(
            "SELECT seq, event_type, subject, data->>'previousOutcome' FROM outbox ORDER BY seq"
        ).fetchall()
        heads = dict(con.execute("SELECT subject, outcome FROM latest_decisions").fetchall())
        logged = con.execute("SELECT count(*) FROM decisions").fetchall()[0][0]
    assert [r.events for r in (first, same, changed, what_if, shadow)] == [2, 0, 1, 0, 0]
    assert [(e[1], e[2], e[3]) for e in events] == [
        ("dao_isolation_update", "d-1", None),
        ("dao_isolation_update", "d-2", None),
        ("dao_isolation_update", "d-1", "none"),
    ]
    assert [e[0] for e in events] == sorted(e[0] for e in events)
    assert heads == {"d-1": "traffic_throttling", "d-2": "none"}  # what-if and shadow: no head
    assert logged == 2 + 2 + 1 + 1 + 1


# --------------------------------------------------------------------------------- series


def _diurnal_fleet(n: int, t: int, rng: np.random.Generator) -> np.ndarray:
    cycle = 1.0 + 0.1 * np.sin(2 * np.pi * np.arange(t) / 288)
    levels = rng.uniform(80, 140, size=(n, 1))
    return levels * cycle * rng.lognormal(0.0, 0.08, size=(n, t))


def test_regressions_are_found_relative_to_peers_not_the_daily_cycle() -> None:
    rng = np.random.default_rng(7)
    matrix = _diurnal_fleet(40, 288, rng)
    matrix[5, 72:] *= 2.2  # node 5 regresses at slot 72
    matrix[9, 200:] *= 0.6  # node 9 improves: not a regression
    matrix[12, 150] = np.nan  # a missing window
    matrix[20, :100] = np.nan  # a node that joined late, then regressed
    matrix[20, 200:] *= 1.8
    matrix[21, :150] = np.nan  # a node that joined late: noise only
    matrix[:, 280:] = np.nan  # windows nobody reported yet
    matrix[[3, 30], [40, 41]] *= 4.0  # single spikes: not level shifts
    ids = [f"n-{i}" for i in range(40)]
    stamps = [datetime(2026, 11, 29) + i * timedelta(minutes=5) for i in range(288)]
    found = detect_regressions(ids, matrix, stamps)
    assert sorted(found["entity_id"]) == ["n-20", "n-5"]
    row = found.set_index("entity_id").loc["n-5"]
    assert row["regression_severity"] == "critical" and row["max_relative_change"] > 1.0
    assert abs((row["last_change_at"] - stamps[72]).total_seconds()) <= 600
    # The vectorised screen loses nothing the exact detector finds.
    relative = peer_relative(matrix[:, :280])
    exact = {
        ids[i]
        for i in range(40)
        if any(c.relative_change >= 0.1 for c in detect_change_points(relative[i], min_size=5))
    }
    assert exact == set(found["entity_id"])


def test_trends_follow_the_fitted_change_against_peers() -> None:
    rng = np.random.default_rng(3)
    matrix = _diurnal_fleet(10, 24, rng)
    matrix[2] *= np.linspace(1.0, 1.6, 24)
    matrix[4] *= np.linspace(1.0, 0.6, 24)
    labels, change = trends(matrix)
    assert labels[2] == "increasing" and labels[4] == "decreasing"
    assert set(labels[[0, 1, 3, 5, 6, 7, 8, 9]]) == {"stable"}
    assert change[2] == pytest.approx(0.6, abs=0.2)


def test_ceil_to_five_minutes() -> None:
    moment = datetime(2026, 11, 29, 23, 59, 59, 880000)
    assert readers.ceil_to(moment, timedelta(minutes=5)) == datetime(2026, 11, 30)
    on_edge = datetime(2026, 11, 29, 12, 5)
    assert readers.ceil_to(on_edge, timedelta(minutes=5)) == on_edge


# -------------------------------------------------------------------------------- readers


def _requests(path: Path, rows: list[tuple[datetime, str, float, bool, float]]) -> Path:
    lines = [
        f"{t:%Y-%m-%dT%H:%M:%S}Z,node,{entity},{latency},{'true' if ok else 'false'},,{cost}"
        for t, entity, latency, ok, cost in rows
    ]
    return write_csv(path, "time,entity_kind,entity_id,latency_ms,ok,cache_hit,cost", lines)


@pytest.fixture
def small_warehouse(eco_home: Path, tmp_path: Path) -> Ecoperf:
    """node-a: 2 requests per 5 min (sparse) for the last hour; node-b: 60 per 5 min (dense);
    both with a cost of 1 per request from 2026-11-27 12:00 (half a day) to 11-29 24:00."""
    rng = np.random.default_rng(11)
    start = datetime(2026, 11, 27, 12)
    rows = []
    for slot in range(int(60 * 60 / 5)):  # 2.5 days of 5-minute slots
        t0 = start + timedelta(minutes=5 * slot)
        for node, n in (("node-a", 2), ("node-b", 60 if slot >= 708 else 2)):
            for k in range(n):
                ts = t0 + timedelta(seconds=int(300 * k / n) + 1)
                rows.append((ts, node, round(float(rng.lognormal(4, 0.5)), 3), k % 40 != 7, 1.0))
    service = Ecoperf(Settings())
    report = service.ingest_landed(service.land([_requests(tmp_path / "r.csv", rows)]))
    assert not report.rejected, report.to_dict()
    service.rollup()
    return service


def test_sparse_nodes_get_exact_percentiles_and_costs_count_whole_days(
    small_warehouse: Ecoperf, tmp_path: Path
) -> None:
    with reader(small_warehouse.db_path) as con:
        as_of = readers.latest_data_time(con)
        current = readers.current_metrics(con, "node", as_of).set_index("entity_id")
        raw = con.execute(
            "SELECT entity_id, latency_ms, ok, ts FROM requests ORDER BY entity_id, ts"
        ).df()
        costs = readers.daily_costs(con, "node", as_of)
    a, b = current.loc["node-a"], current.loc["node-b"]
    assert a["percentiles"] == "raw" and b["percentiles"] == "rollups"
    window = raw[(raw["entity_id"] == "node-a") & (raw["ts"] >= a["window_from"])]
    # Fewer than 500 requests in the hour: extended back to the 6 h cap.
    assert a["requests"] == len(window) == 6 * 12 * 2
    assert pd.Timestamp(a["window_from"]) == pd.Timestamp("2026-11-29 18:00")
    assert a["p95_ms"] == pytest.approx(np.quantile(window["latency_ms"], 0.95))
    assert a["p99_ms"] == pytest.approx(np.quantile(window["latency_ms"], 0.99))
    assert a["error_rate"] == pytest.approx(1 - window["ok"].mean())
    assert b["requests"] >= 500 and pd.Timestamp(b["window_from"]) == pd.Timestamp(
        "2026-11-29 23:00"
    )
    # 2.5 days of data: two whole days; the half first day would read as a cost rise.
    assert costs["node-a"] == [576.0, 576.0]
    assert len(costs["node-b"]) == 2
