"""The analyze stage on the demo warehouse: detections with evidence, idempotent, incremental."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from tests.evaluation.demo_warehouse import demo_home

INCIDENT = datetime(2026, 11, 29, 6, 0)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    target = demo_home(tmp_path / "home")  # analysed once when the session warehouse was built
    monkeypatch.setenv("ECOPERF_HOME", str(target))
    yield target


def _rows(db: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_node_17_change_point_is_stored_with_evidence_and_no_healthy_node_has_one(
    home: Path,
) -> None:
    rows = _rows(
        home / "ecoperf.duckdb",
        """SELECT entity_id, detected_at, relative_change, p_value, evidence, detector_version
           FROM detections WHERE detector = 'changepoint' AND metric = 'latency_p95'
             AND entity_kind = 'node'""",
    )
    assert [r[0] for r in rows] == ["node-17"]  # 49 healthy nodes: none
    _, at, change, p, evidence, version = rows[0]
    assert abs(at - INCIDENT) <= timedelta(minutes=15)
    assert change > 0.5 and p <= 0.001 and version
    ev = json.loads(evidence)
    assert ev["normalisation"] == "peer"
    assert ev["rawAfter"] > 1.5 * ev["rawBefore"]
    assert ev["parameters"]["pThreshold"] == 0.001 and ev["seriesFrom"] < ev["seriesTo"]


def test_error_rate_change_points_only_where_errors_really_moved(
    eco_home: Path, tmp_path: Path
) -> None:
    """Forty nodes, three days of 100-340 requests an hour at 0.3% errors: their hourly error rate
    is mostly 0 with the odd single error, which a level-shift test alone reads as shifts. Only
    node-00's step (errors 0.1% -> 1.5% on day 3) is stored, with its counts as evidence."""
    from ecoperf_core.service import Ecoperf

    path = tmp_path / "requests.parquet"
    con = duckdb.connect()
    con.execute("SET threads = 1")  # with the seed: the same rows every run
    con.execute("SELECT setseed(0.17)")
    con.execute(
        f"""COPY (
            WITH hours AS (
                SELECT h, CAST(220 + 120 * sin(2 * pi() * h / 24) AS INTEGER) AS volume
                FROM range(72) t(h)
            )
            SELECT TIMESTAMP '2026-11-27' + to_microseconds(
                       CAST((h * 3600 + j * 3600 / volume) * 1e6 AS BIGINT)) AS time,
                   'node' AS entity_kind, 'node-' || lpad(CAST(n AS VARCHAR), 2, '0') AS entity_id,
                   50 + 20 * random() AS latency_ms,
                   random() >= CASE WHEN n = 0 AND h >= 48 THEN 0.015
                                    WHEN n = 0 THEN 0.001 ELSE 0.003 END AS ok
            FROM hours, range(40) n(n), range(400) r(j)
            WHERE j < volume
        ) TO '{path}' (FORMAT parquet)"""
    )
    con.close()
    service = Ecoperf()
    assert service.ingest_landed(service.land([path])).loaded
    service.rollup()
    service.analyze()
    rows = _rows(
        eco_home / "ecoperf.duckdb",
        """SELECT entity_id, detected_at, p_value, evidence FROM detections
           WHERE detector = 'changepoint' AND metric = 'error_rate'""",
    )
    assert [r[0] for r in rows] == ["node-00"]
    assert abs(rows[0][1] - datetime(2026, 11, 29)) <= timedelta(hours=2)
    test = json.loads(rows[0][3])["countTest"]
    assert test["events_after"] / test["trials_after"] > 5 * (
        test["events_before"] / test["trials_before"]
    )
    assert rows[0][2] <= 0.001 and test["p_value"] <= 0.001


def test_dao_07_availability_anomaly_inside_the_incident(home: Path) -> None:
    rows = _rows(
        home / "ecoperf.duckdb",
        """SELECT entity_id, detected_at, score, evidence FROM detections
           WHERE detector = 'anomaly' AND metric = 'availability'""",
    )
    assert {r[0] for r in rows} == {"dao-07"}
    assert all(
        datetime(2026, 11, 29, 8) <= r[1] < datetime(2026, 11, 29, 14) and r[2] >= 0.5 for r in rows
    )
    assert "reason" in json.loads(rows[0][3])


def test_rerunning_the_flow_stores_nothing(home: Path, prefect_runtime: None) -> None:
    from flows.analyze import analyze_flow

    before = _rows(home / "ecoperf.duckdb", "SELECT count(*) FROM detections")[0][0]
    summary = analyze_flow()
    assert summary["stored"] == 0 and summary["points"] == 0
    assert _rows(home / "ecoperf.duckdb", "SELECT count(*) FROM detections")[0][0] == before


def test_an_appended_batch_is_analysed_alone(home: Path, tmp_path: Path) -> None:
    from ecoperf_core.service import Ecoperf

    db = home / "ecoperf.duckdb"
    state_before = dict(
        _rows(
            db,
            """SELECT entity_id, last_window_start FROM analysis_state
               WHERE metric = 'latency_p95' AND detector = 'changepoint' AND entity_kind = 'node'""",
        )
    )
    # One more hour for five nodes, a request every 10 s each.
    start = datetime(2026, 11, 30)
    ts = [start + timedelta(seconds=10 * i) for i in range(360)]
    frame = pd.DataFrame(
        [
            {
                "ts": t.isoformat() + "Z",
                "entity_kind": "node",
                "entity_id": node,
                "latency_ms": 80.0 + (i % 7),
                "ok": True,
            }
            for node in ("node-01", "node-02", "node-03", "node-04", "node-05")
            for i, t in enumerate(ts)
        ]
    )
    path = tmp_path / "extra.csv"
    frame.to_csv(path, index=False)
    service = Ecoperf()
    report = service.ingest_landed(service.land([path]))
    assert report.loaded, report.to_dict()
    service.rollup()
    result = service.analyze()
    summary = result.summary()
    # The five nodes' new windows, plus every series' last window of the old data, which was
    # still filling (not analysed) until the new batch moved the data time past it: hundreds
    # of points, against ~170,000 for the whole history.
    assert 0 < summary["points"] < 1_000
    state_after = dict(
        _rows(
            db,
            """SELECT entity_id, last_window_start FROM analysis_state
               WHERE metric = 'latency_p95' AND detector = 'changepoint' AND entity_kind = 'node'""",
        )
    )
    assert state_after["node-01"] > state_before["node-01"]
    assert state_after["node-01"] >= datetime(2026, 11, 30, 0, 50)
    assert state_after["node-30"] - state_before["node-30"] <= timedelta(minutes=5)
    assert service.analyze().stored == 0
