"""Rollups are right, and incremental: only windows that new data touches are recomputed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ecoperf_core.service import Ecoperf
from ecoperf_core.settings import Settings
from tests.helpers import write_csv, write_jsonl


@pytest.fixture
def service(eco_home: Path) -> Ecoperf:
    return Ecoperf(Settings())


def _requests_csv(path: Path, minute: int, latencies: list[float], failed: set[int]) -> Path:
    rows = [
        f"2026-11-01T10:{minute:02d}:{i:02d}Z,node,node-1,{lat},{'false' if i in failed else 'true'},"
        f"{'true' if i % 2 else 'false'},0.5"
        for i, lat in enumerate(latencies)
    ]
    return write_csv(path, "time,entity_kind,entity_id,latency_ms,ok,cache_hit,cost", rows)


def _load(service: Ecoperf, *paths: Path) -> None:
    report = service.ingest_landed(service.land(paths))
    assert all(r.status == "loaded" for r in report.results), report.to_dict()


def test_rollup_values_match_the_raw_samples(service: Ecoperf, tmp_path: Path) -> None:
    latencies = [float(v) for v in np.random.default_rng(1).lognormal(3, 0.5, 40).round(3)]
    _load(service, _requests_csv(tmp_path / "a.csv", 3, latencies, failed={0, 5}))
    service.rollup()
    row = service.query(
        "SELECT requests, errors, latency_p50, latency_p95, latency_p99, error_rate, "
        "throughput_rps, cache_hit_rate, cost, availability FROM rollups "
        "WHERE \"window\" = '1m' AND entity_id = 'node-1'"
    ).rows
    assert len(row) == 1
    requests, errors, p50, p95, p99, error_rate, rps, chr_, cost, availability = row[0]
    assert (requests, errors) == (40, 2)
    assert p50 == pytest.approx(np.quantile(latencies, 0.5))
    assert p95 == pytest.approx(np.quantile(latencies, 0.95))
    assert p99 == pytest.approx(np.quantile(latencies, 0.99))
    assert error_rate == pytest.approx(2 / 40)
    assert rps == pytest.approx(40 / 60)
    assert chr_ == pytest.approx(0.5)
    assert cost == pytest.approx(20.0)
    assert availability == pytest.approx(95.0)
    windows = dict(service.query('SELECT "window", count(*) FROM rollups GROUP BY 1').rows)
    assert windows == {"1m": 1, "5m": 1, "1h": 1}


def test_points_fill_what_raw_samples_do_not_have(service: Ecoperf, tmp_path: Path) -> None:
    _load(service, _requests_csv(tmp_path / "a.csv", 3, [10.0, 20.0], failed=set()))
    write_jsonl(
        tmp_path / "p.jsonl",
        [
            {"time": "2026-11-01T10:03:10Z", "nodeId": "node-1", "capacity": {"utilization": 0.6}},
            {"time": "2026-11-01T10:03:40Z", "nodeId": "node-1", "capacity": {"utilization": 0.8}},
            {
                "time": "2026-11-01T10:07:00Z",
                "nodeId": "node-2",
                "latency": {"p95": 90, "p99": 120},
            },
        ],
    )
    _load(service, tmp_path / "p.jsonl")
    service.rollup()
    rows = service.query(
        "SELECT entity_id, requests, latency_p50, latency_p99, utilization FROM rollups "
        "WHERE \"window\" = '1m' ORDER BY entity_id"
    ).rows
    assert rows[0][:3] == ("node-1", 2, 15.0)
    assert rows[0][4] == pytest.approx(0.7)
    assert rows[1] == ("node-2", 0, None, 120.0, None)


def test_only_touched_windows_are_recomputed_and_late_data_is_absorbed(
    service: Ecoperf, tmp_path: Path
) -> None:
    _load(
        service,
        _requests_csv(tmp_path / "m3.csv", 3, [10.0] * 10, failed=set()),
        _requests_csv(tmp_path / "m20.csv", 20, [30.0] * 10, failed=set()),
    )
    first = service.rollup()
    assert first.windows == {"1m": 2, "5m": 2, "1h": 1}

    def computed() -> dict[tuple[str, str], object]:
        return {
            (w, str(start)): at
            for w, start, at in service.query(
                'SELECT "window", window_start, computed_at FROM rollups'
            ).rows
        }

    before = computed()
    assert service.rollup().batches == []  # nothing new, nothing recomputed
    assert computed() == before

    # A late batch for minute 3 recomputes minute 3's windows (and the hour), nothing else.
    _load(service, _requests_csv(tmp_path / "late.csv", 3, [50.0] * 10 + [0.0] * 0, failed={1}))
    second = service.rollup()
    assert second.windows == {"1m": 1, "5m": 1, "1h": 1}
    after = computed()
    assert after[("1m", "2026-11-01 10:20:00")] == before[("1m", "2026-11-01 10:20:00")]
    assert after[("1m", "2026-11-01 10:03:00")] != before[("1m", "2026-11-01 10:03:00")]
    minute3 = service.query(
        "SELECT requests, errors, latency_p50 FROM rollups "
        "WHERE \"window\" = '1m' AND window_start = TIMESTAMP '2026-11-01 10:03:00'"
    ).rows
    assert minute3 == [(20, 1, 30.0)]

    # Incremental results equal a full rebuild.
    incremental = service.query("SELECT * EXCLUDE (computed_at) FROM rollups ORDER BY ALL").rows
    service.rollup(full=True)
    assert (
        service.query("SELECT * EXCLUDE (computed_at) FROM rollups ORDER BY ALL").rows
        == incremental
    )


def test_bad_window_setting_is_refused(monkeypatch: pytest.MonkeyPatch, eco_home: Path) -> None:
    from pydantic import ValidationError

    monkeypatch.setenv("ECOPERF_ROLLUP_WINDOWS", '["1m", "7x"]')
    with pytest.raises(ValidationError, match="7x"):
        Settings()
