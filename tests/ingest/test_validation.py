"""Every kind of bad input is rejected whole, with an error naming file, row and field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ecoperf_core.service import Ecoperf
from ecoperf_core.settings import Settings
from tests.helpers import REQUEST_HEADER, request_rows, table_counts, write_csv, write_jsonl


@pytest.fixture
def service(eco_home: Path) -> Ecoperf:
    return Ecoperf(Settings())


def _ingest(service: Ecoperf, path: Path):
    landed = service.land([path])
    return service.ingest_landed(landed).results[0]


def test_good_csv_loads_and_reingest_stores_nothing_new(service: Ecoperf, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "good.csv", REQUEST_HEADER, request_rows(100))
    first = _ingest(service, path)
    assert first.status == "loaded" and first.rows == 100
    before = table_counts(service.db_path)

    second = _ingest(service, path)
    assert second.status == "duplicate"
    assert second.batch_id == first.batch_id
    assert table_counts(service.db_path) == before

    # The same bytes under another name are the same batch too.
    copy = tmp_path / "renamed.csv"
    copy.write_bytes(path.read_bytes())
    assert _ingest(service, copy).status == "duplicate"
    assert table_counts(service.db_path) == before


def test_a_landed_files_hash_is_reused_only_for_the_bytes_landed(
    service: Ecoperf, tmp_path: Path
) -> None:
    """The load reuses the hash landing computed (no second pass over the file), and the batch id
    is still the hash of exactly the landed bytes; a file put in the landing folder by hand, or
    a landed file whose bytes changed, is hashed again."""
    import hashlib

    from ecoperf_core.ingest.landing import landed_checksum
    from ecoperf_core.ingest.load import batch_id_for

    path = write_csv(tmp_path / "good.csv", REQUEST_HEADER, request_rows(20))
    (landed,) = service.land([path])
    digest = hashlib.sha256(landed.read_bytes()).hexdigest()
    assert landed_checksum(landed) == digest
    assert _ingest(service, path).batch_id == batch_id_for(digest)

    by_hand = service.settings.landing_path / "by-hand.csv"
    by_hand.write_bytes(path.read_bytes())
    assert landed_checksum(by_hand) is None
    (again,) = service.land([write_csv(tmp_path / "other.csv", REQUEST_HEADER, request_rows(5))])
    again.write_bytes(again.read_bytes() + b"\n")
    assert landed_checksum(again) is None


def test_one_bad_row_among_good_rejects_the_file_and_names_row_and_field(
    service: Ecoperf, tmp_path: Path
) -> None:
    write_csv(tmp_path / "seed.csv", REQUEST_HEADER, request_rows(10))
    _ingest(service, tmp_path / "seed.csv")
    before = table_counts(service.db_path)

    rows = request_rows(200, start_minute=30)
    rows[136] = (
        rows[136]
        .replace(",node,node-1,", ",node,node-1,")
        .replace(rows[136].split(",")[3], "-5", 1)
    )
    bad = write_csv(tmp_path / "bad.csv", REQUEST_HEADER, rows)
    result = _ingest(service, bad)

    assert result.status == "rejected"
    assert result.error is not None
    problems = result.error.problems
    assert [(p.row, p.field, p.message) for p in problems] == [(137, "latency_ms", "is negative")]
    assert "bad.csv" in str(result.error)
    assert table_counts(service.db_path) == before

    quarantined = list(service.settings.quarantine_path.glob("*bad.csv"))
    assert len(quarantined) == 1
    report = json.loads(
        (service.settings.quarantine_path / f"{quarantined[0].name}.errors.json").read_text()
    )
    assert report["problems"][0] == {
        "row": 137,
        "field": "latency_ms",
        "message": "is negative",
        "value": "-5",
    }
    assert service.pending() == []  # nothing left behind in the landing zone
    assert bad.exists()  # the user's own file is never moved


@pytest.mark.parametrize(
    ("header", "row", "field", "message"),
    [
        (REQUEST_HEADER, "2026-11-01T00:00:00Z,node,n1,NaN,true,true,0.01", "latency_ms", "NaN"),
        (REQUEST_HEADER, "2026-11-01T00:00:00Z,node,n1,inf,true,true,0.01", "latency_ms", "NaN or infinite"),
        (REQUEST_HEADER, "2026-11-01T00:00:00Z,node,n1,-0.5,true,true,0.01", "latency_ms", "negative"),
        (REQUEST_HEADER, "2026-11-01T00:00:00Z,node,n1,abc,true,true,0.01", "latency_ms", "not a number"),
        (REQUEST_HEADER, "not-a-time,node,n1,5,true,true,0.01", "time", "not a time"),
        (REQUEST_HEADER, "2026-11-01T00:00:00Z,planet,n1,5,true,true,0.01", "entity_kind", "not one of"),
        (REQUEST_HEADER, "2026-11-01T00:00:00Z,node,,5,true,true,0.01", "entity_id", "missing"),
        (REQUEST_HEADER, "2026-11-01T00:00:00Z,node,n1,5,maybe,true,0.01", "ok", "not a boolean"),
        (REQUEST_HEADER, "2026-11-01T00:00:00Z,node,n1,5,true,true,-1", "cost", "negative"),
        (REQUEST_HEADER, "2099-11-01T00:00:00Z,node,n1,5,true,true,0.01", "time", "future"),
        ("time,entity_kind,entity_id,latency_ms,ok,status", "2026-11-01T00:00:00Z,node,n1,5,,", "ok", "missing (and so is status)"),
        ("time,node_id,latency_p95,latency_p99", "2026-11-01T00:00:00Z,n1,300,200", "latency_p99", "below latency_p95"),
        ("time,node_id,error_rate", "2026-11-01T00:00:00Z,n1,1.5", "error_rate", "above 1"),
        ("time,node_id,cache_hit_rate", "2026-11-01T00:00:00Z,n1,-0.1", "cache_hit_rate", "negative"),
        ("time,node_id,utilization", "2026-11-01T00:00:00Z,n1,NaN", "utilization", "NaN"),
        ("time,dao_id,availability", "2026-11-01T00:00:00Z,d1,100.5", "availability", "above 100"),
    ],
)  # fmt: skip
def test_each_bad_value_is_named(
    service: Ecoperf, tmp_path: Path, header: str, row: str, field: str, message: str
) -> None:
    good = request_rows(3) if header == REQUEST_HEADER else []
    path = write_csv(tmp_path / "input.csv", header, [*good, row])
    result = _ingest(service, path)
    assert result.status == "rejected", result
    assert result.error is not None
    named = [(p.field, p.message, p.row) for p in result.error.problems]
    assert any(f == field and message in m and r == len(good) + 1 for f, m, r in named), named
    assert table_counts(service.db_path)["batches_loaded"] == 0


@pytest.mark.parametrize(
    ("header", "message_part", "field"),
    [
        ("time,entity_kind,entity_id,latency_ms", "ok or status", "ok"),
        ("entity_kind,entity_id,latency_ms,ok", "missing", "time"),
        ("time,entity_kind,entity_id,latency_ms,ok,colour", "not a known column", "colour"),
        ("time,entity_kind,entity_id,bananas", "cannot tell the shape", "columns"),
    ],
)
def test_missing_and_unknown_columns_are_named(
    service: Ecoperf, tmp_path: Path, header: str, message_part: str, field: str
) -> None:
    values = ",".join(
        {"time": "2026-11-01T00:00:00Z", "entity_kind": "node", "entity_id": "n1"}.get(c, "1")
        for c in header.split(",")
    )
    result = _ingest(service, write_csv(tmp_path / "cols.csv", header, [values]))
    assert result.status == "rejected"
    assert result.error is not None
    assert any(p.field == field and message_part in p.message for p in result.error.problems), (
        result.error
    )


def test_malformed_files_are_rejected_not_crashed_on(service: Ecoperf, tmp_path: Path) -> None:
    garbage = tmp_path / "broken.parquet"
    garbage.write_bytes(b"PAR1 this is not really parquet \x00\x01\x02")
    result = _ingest(service, garbage)
    assert result.status == "rejected"
    assert result.error is not None and "cannot be read" in str(result.error)

    truncated_json = tmp_path / "broken.jsonl"
    truncated_json.write_text('{"time": "2026-11-01T00:00:00Z", "nodeId": "n1", "latency": {"p95"')
    result = _ingest(service, truncated_json)
    assert result.status == "rejected"
    assert table_counts(service.db_path)["batches_loaded"] == 0


def test_unsupported_file_type_is_refused_before_landing(service: Ecoperf, tmp_path: Path) -> None:
    from ecoperf_core.errors import ValidationError

    path = tmp_path / "metrics.xlsx"
    path.write_bytes(b"whatever")
    with pytest.raises(ValidationError, match="unsupported file type"):
        service.land([path])


def test_spec_payload_shape_in_json_lines_loads_as_points(service: Ecoperf, tmp_path: Path) -> None:
    records = [
        {
            "time": "2026-11-01T00:00:00Z",
            "nodeId": "node-1",
            "latency": {"p95": 120, "p99": 180},
            "errorRate": 0.002,
            "capacity": {"utilization": 0.65},
            "costMetrics": {"current": 150, "historical": [100, 105]},
        },
        {
            "time": "2026-11-01T00:01:00+02:00",
            "daoId": "dao-123",
            "latency": {"p99": 190},
            "availability": {"uptime": 99.8},
            "throughput": {"rps": 15},
            "errorRate": 0.005,
        },
    ]
    result = _ingest(service, write_jsonl(tmp_path / "points.jsonl", records))
    assert result.status == "loaded", result.error
    rows = service.query(
        "SELECT entity_kind, entity_id, metric, value, ts FROM samples ORDER BY entity_id, metric"
    ).rows
    assert [(r[0], r[1], r[2], r[3]) for r in rows] == [
        ("dao", "dao-123", "availability", 99.8),
        ("dao", "dao-123", "error_rate", 0.005),
        ("dao", "dao-123", "latency_p99", 190.0),
        ("dao", "dao-123", "throughput_rps", 15.0),
        ("node", "node-1", "cost", 150.0),
        ("node", "node-1", "error_rate", 0.002),
        ("node", "node-1", "latency_p95", 120.0),
        ("node", "node-1", "latency_p99", 180.0),
        ("node", "node-1", "utilization", 0.65),
    ]
    # Times with an offset are stored in UTC.
    assert str(rows[0][4]) == "2026-10-31 22:01:00"


def test_parquet_and_json_requests_with_status_codes(service: Ecoperf, tmp_path: Path) -> None:
    import duckdb

    parquet = tmp_path / "req.parquet"
    duckdb.execute(
        "COPY (SELECT TIMESTAMP '2026-11-01 00:00:00' + INTERVAL (i) SECOND AS time, "
        "'Module' AS entity_kind, 'qwallet' AS entity_id, 10.0 + i AS latency_ms, "
        "CASE WHEN i % 10 = 0 THEN 503 ELSE 200 END AS status, "
        "CASE WHEN i % 2 = 0 THEN 'READ' ELSE 'write' END AS op_type "
        f"FROM range(100) t(i)) TO '{parquet}' (FORMAT parquet)"
    )
    assert _ingest(service, parquet).status == "loaded"
    counts = service.query(
        "SELECT entity_kind, op_type, count(*), count(*) FILTER (WHERE NOT ok) FROM requests "
        "GROUP BY ALL ORDER BY op_type"
    ).rows
    assert counts == [("module", "read", 50, 10), ("module", "write", 50, 0)]
