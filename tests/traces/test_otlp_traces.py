"""OTLP/JSON trace files round-trip into spans; the critical path of a known trace is right."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ecoperf_core.cli.app import app
from ecoperf_core.service import Ecoperf
from ecoperf_core.settings import Settings
from ecoperf_core.traces.analysis import build_tree, critical_path, flatten, trace_report
from tests.traces.otlp_sample import CRITICAL_MS, SPANS, TRACE_ID, document


def _write(path: Path, doc: object) -> Path:
    path.write_text(json.dumps(doc))
    return path


def test_otlp_file_round_trips_into_spans(eco_home: Path, tmp_path: Path) -> None:
    service = Ecoperf(Settings())
    path = _write(tmp_path / "trace.otlp.json", document())
    report = service.ingest_landed(service.land([path]))
    assert [(r.status, r.shape, r.format, r.rows) for r in report.results] == [
        ("loaded", "spans", "otlp", 6)
    ]
    rows = service.query(
        "SELECT name, span_id, parent_span_id, service, kind, duration_ms, status, entity_id, "
        "environment, attributes->>'$.\"http.status_code\"', scope FROM spans ORDER BY start_ts, name"
    ).rows
    by_name = {r[0]: r for r in rows}
    assert set(by_name) == set(SPANS)
    for name, (span_id, parent, start, end, svc, entity) in SPANS.items():
        row = by_name[name]
        assert row[1:4] == (span_id, parent, svc)
        assert row[5] == pytest.approx(end - start)
        assert row[6] == "ok" and row[7] == entity and row[8] == "production"
        assert row[9] == "200" and row[10] == "ecoperf-test"
    assert by_name["checkout"][4] == "server" and by_name["auth"][4] == "client"
    # The same bytes again (under another name) store nothing twice.
    again = _write(tmp_path / "copy.json", document())
    assert [r.status for r in service.ingest_landed(service.land([again])).results] == ["duplicate"]
    assert service.query("SELECT count(*) FROM spans").rows == [(6,)]
    # Spans do not wait for a rollup.
    assert service.query("SELECT count(*) FROM ingest_batches WHERE rolled_up_at IS NULL").rows == [
        (0,)
    ]


def test_bad_otlp_file_is_rejected_whole_naming_the_field(eco_home: Path, tmp_path: Path) -> None:
    doc = document()
    spans = doc["resourceSpans"][0]["scopeSpans"][0]["spans"]
    spans[0]["endTimeUnixNano"] = str(int(spans[0]["startTimeUnixNano"]) - 1)
    spans[-1]["traceId"] = "xyz"
    service = Ecoperf(Settings())
    result = service.ingest_landed(service.land([_write(tmp_path / "bad.json", doc)])).results[0]
    assert result.status == "rejected"
    fields = [p.field for p in result.error.problems]  # type: ignore[union-attr]
    assert "resourceSpans[0].scopeSpans[0].spans[0].endTimeUnixNano" in fields
    assert f"resourceSpans[0].scopeSpans[0].spans[{len(spans) - 1}].traceId" in fields
    assert service.query("SELECT count(*) FROM spans").rows == [(0,)]
    assert (eco_home / "quarantine" / "bad.json.errors.json").exists() or any(
        p.name.endswith("bad.json.errors.json") for p in (eco_home / "quarantine").iterdir()
    )


def test_critical_path_of_a_hand_built_trace() -> None:
    spans = [
        {"span_id": sid, "parent_span_id": parent, "service": svc, "name": name,
         "start_ts": start / 1000, "end_ts": end / 1000}
        for name, (sid, parent, start, end, svc, _e) in SPANS.items()
    ]  # fmt: skip
    (root,) = build_tree(spans)
    path = critical_path(root)
    names = {s[0]: n for n, s in SPANS.items()}
    assert [names[seg.span_id] for seg in path] == [
        "checkout", "auth", "checkout", "db-query", "disk", "db-query", "checkout", "render",
        "checkout",
    ]  # fmt: skip
    assert sum(seg.seconds for seg in path) == pytest.approx(0.1)  # tiles the root
    assert path[0].start == 0 and path[-1].end == pytest.approx(0.1)
    tree = trace_report(spans)
    critical = {row["name"]: row["criticalMs"] for row in flatten(tree)}
    assert critical == pytest.approx({**CRITICAL_MS, "cache": 0.0})
    selfs = {row["name"]: row["selfMs"] for row in flatten(tree)}
    assert selfs["checkout"] == pytest.approx(100 - 15 - 45 - 20)  # cache overlaps the db query
    assert selfs["db-query"] == pytest.approx(15)


def test_trace_command_prints_the_span_tree(eco_home: Path, tmp_path: Path) -> None:
    service = Ecoperf(Settings())
    service.ingest_landed(service.land([_write(tmp_path / "t.json", document())]))
    runner = CliRunner()
    out = runner.invoke(app, ["trace", TRACE_ID], terminal_width=160)
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    # Tree order with indentation: disk under db-query, under checkout.
    order = [n for line in lines for n in SPANS if f" {n} " in f" {line} "]
    assert order[:6] == ["checkout", "auth", "db-query", "disk", "cache", "render"]
    assert "critical path" in out.output
    as_json = json.loads(runner.invoke(app, ["trace", TRACE_ID, "--json"]).stdout)
    assert as_json["durationMs"] == pytest.approx(100)
    assert [s["name"] for s in as_json["criticalPath"]][:2] == ["checkout", "auth"]
    missing = runner.invoke(app, ["trace", "ab" * 16])
    assert missing.exit_code == 3 and "no trace" in missing.output
    bad = runner.invoke(app, ["trace", "not-hex"])
    assert bad.exit_code == 2


def test_breakdown_names_where_the_critical_path_goes(eco_home: Path, tmp_path: Path) -> None:
    service = Ecoperf(Settings())
    service.ingest_landed(service.land([_write(tmp_path / "t.json", document())]))
    rows = {(r["service"], r["operation"]): r for r in service.trace_breakdown()}
    assert rows[("db", "disk")]["criticalShare"] == pytest.approx(0.30)
    assert rows[("cache", "cache")]["criticalShare"] == 0.0
    assert sum(r["criticalShare"] for r in rows.values()) == pytest.approx(1.0)
    assert next(iter(rows)) == ("db", "disk")  # biggest share first
    out = CliRunner().invoke(app, ["traces", "--json"])
    assert out.exit_code == 0 and json.loads(out.stdout)[0]["operation"] == "disk"
    window = ["--from", "2025-11-29T07:00", "--to", "2025-11-29T08:00"]
    examples = CliRunner().invoke(app, ["traces", "--entity", "node-17", *window, "--json"])
    assert [e["traceId"] for e in json.loads(examples.stdout)] == [TRACE_ID]
    assert CliRunner().invoke(app, ["traces", "--entity", "node-17"]).exit_code == 2
