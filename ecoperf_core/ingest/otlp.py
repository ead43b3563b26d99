"""OpenTelemetry traces in OTLP/JSON (``resourceSpans → scopeSpans → spans``) into ``spans``.

A trace file is one OTLP/JSON ``ExportTraceServiceRequest`` document (what the OpenTelemetry
Collector's file exporter and ``otlp/json`` HTTP bodies carry). It arrives in the landing zone like
any other source, is validated whole (every problem names its JSON path, e.g.
``resourceSpans[0].scopeSpans[0].spans[3].endTimeUnixNano``), and is loaded as one batch keyed by
its content hash in one transaction: the same file twice is stored once, a bad file not at all.

Ids are hex as the OTLP/JSON mapping specifies (32 digits for a trace, 16 for a span); times are
nanoseconds since the epoch, as JSON strings or numbers. A span's entity (the node, DAO, module
... it measures) comes from the attribute ``ecoperf.entity.kind``/``ecoperf.entity.id`` on the
span or, failing that, on its resource, so spans join the warehouse's other tables by entity.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ecoperf_core.errors import FieldProblem, ValidationError

SPAN_KINDS = {
    0: "unspecified",
    1: "internal",
    2: "server",
    3: "client",
    4: "producer",
    5: "consumer",
}
_KIND_NAMES = {f"SPAN_KIND_{v.upper()}": v for v in SPAN_KINDS.values()}
STATUS_CODES = {0: "unset", 1: "ok", 2: "error"}
_STATUS_NAMES = {f"STATUS_CODE_{v.upper()}": v for v in STATUS_CODES.values()}
ENTITY_KIND_ATTR = "ecoperf.entity.kind"
ENTITY_ID_ATTR = "ecoperf.entity.id"
_TRACE_ID = re.compile(r"^[0-9a-fA-F]{32}$")
_SPAN_ID = re.compile(r"^[0-9a-fA-F]{16}$")
_MAX_PROBLEMS = 20
SPAN_COLUMNS = (
    "trace_id",
    "span_id",
    "parent_span_id",
    "service",
    "name",
    "kind",
    "start_ts",
    "end_ts",
    "duration_ms",
    "status",
    "entity_kind",
    "entity_id",
    "environment",
    "attributes",
    "resource",
    "scope",
)


def looks_like_otlp(path: Path) -> bool:
    """True for a ``.json`` file whose document is an OTLP trace export (cheap: reads 4 KiB)."""
    if path.suffix.lower() != ".json":
        return False
    with open(path, "rb") as handle:
        head = handle.read(4096).lstrip()
    return head.startswith(b"{") and b'"resourceSpans"' in head


def any_value(value: Any) -> Any:
    """An OTLP ``AnyValue`` (``{"stringValue": ...}``, ``{"arrayValue": {"values": [...]}}``)
    as plain JSON data."""
    if not isinstance(value, dict):
        return value
    if "stringValue" in value:
        return value["stringValue"]
    if "boolValue" in value:
        return bool(value["boolValue"])
    if "intValue" in value:
        return int(value["intValue"])  # int64 travels as a JSON string
    if "doubleValue" in value:
        return float(value["doubleValue"])
    if "arrayValue" in value:
        return [any_value(v) for v in (value["arrayValue"] or {}).get("values", [])]
    if "kvlistValue" in value:
        return attributes_of((value["kvlistValue"] or {}).get("values", []))
    if "bytesValue" in value:
        return value["bytesValue"]
    return None


def attributes_of(items: Any) -> dict[str, Any]:
    """OTLP ``KeyValue`` list → ``{key: value}``."""
    if not isinstance(items, list):
        return {}
    return {
        str(item["key"]): any_value(item.get("value"))
        for item in items
        if isinstance(item, dict) and "key" in item
    }


@dataclass
class _Problems:
    items: list[FieldProblem]
    total: int = 0

    def add(self, where: str, message: str, value: Any = None) -> None:
        self.total += 1
        if len(self.items) < _MAX_PROBLEMS:
            shown = None if value is None else str(value)[:80]
            self.items.append(FieldProblem(field=where, message=message, value=shown))


def _nanos(raw: Any, where: str, problems: _Problems) -> int | None:
    if isinstance(raw, bool) or raw is None:
        problems.add(where, "required: nanoseconds since the epoch", raw)
        return None
    try:
        value = int(raw)
    except (TypeError, ValueError):
        problems.add(where, "expected an integer number of nanoseconds", raw)
        return None
    if value <= 0:
        problems.add(where, "must be > 0", raw)
        return None
    return value


def _enum(raw: Any, codes: dict[int, str], names: dict[str, str], default: str) -> str | None:
    if raw is None:
        return default
    if isinstance(raw, int) and not isinstance(raw, bool):
        return codes.get(raw)
    if isinstance(raw, str):
        return names.get(raw) or (raw.lower() if raw.lower() in codes.values() else None)
    return None


def _timestamp(nanos: int) -> datetime:
    return datetime.fromtimestamp(nanos // 1000 / 1e6, UTC).replace(tzinfo=None)


def parse_otlp(document: Any, source: str = "<otlp>") -> list[dict[str, Any]]:
    """Validate an OTLP/JSON trace export and return one row per span (the ``spans`` columns).

    Raises ``ValidationError`` naming every bad field by its JSON path; nothing is returned for
    a document with any problem (a file is loaded whole or not at all).
    """
    problems = _Problems([])
    rows: list[dict[str, Any]] = []
    if not isinstance(document, dict) or not isinstance(document.get("resourceSpans"), list):
        raise ValidationError(
            source, [FieldProblem("resourceSpans", "expected a list (an OTLP/JSON trace export)")]
        )
    seen: dict[tuple[str, str], str] = {}
    for r, resource_spans in enumerate(document["resourceSpans"]):
        rpath = f"resourceSpans[{r}]"
        if not isinstance(resource_spans, dict):
            problems.add(rpath, "expected an object")
            continue
        resource = attributes_of((resource_spans.get("resource") or {}).get("attributes"))
        service = str(resource.get("service.name") or "unknown")
        environment = str(resource.get("deployment.environment") or "production")
        scope_spans = resource_spans.get("scopeSpans", [])
        if not isinstance(scope_spans, list):
            problems.add(f"{rpath}.scopeSpans", "expected a list")
            continue
        for s, scope_block in enumerate(scope_spans):
            spath = f"{rpath}.scopeSpans[{s}]"
            if not isinstance(scope_block, dict) or not isinstance(
                scope_block.get("spans", []), list
            ):
                problems.add(f"{spath}.spans", "expected a list")
                continue
            scope = (scope_block.get("scope") or {}).get("name")
            for i, span in enumerate(scope_block.get("spans", [])):
                where = f"{spath}.spans[{i}]"
                if not isinstance(span, dict):
                    problems.add(where, "expected an object")
                    continue
                row = _span_row(span, where, problems)
                if row is None:
                    continue
                key = (row["trace_id"], row["span_id"])
                if key in seen:
                    problems.add(f"{where}.spanId", f"duplicate of {seen[key]}", row["span_id"])
                    continue
                seen[key] = where
                attributes = attributes_of(span.get("attributes"))
                kind = attributes.get(ENTITY_KIND_ATTR, resource.get(ENTITY_KIND_ATTR))
                entity = attributes.get(ENTITY_ID_ATTR, resource.get(ENTITY_ID_ATTR))
                row.update(
                    service=service,
                    environment=environment,
                    entity_kind=None if kind is None else str(kind),
                    entity_id=None if entity is None else str(entity),
                    attributes=json.dumps(attributes, separators=(",", ":")),
                    resource=json.dumps(resource, separators=(",", ":")),
                    scope=None if scope is None else str(scope),
                )
                rows.append(row)
    if problems.total:
        raise ValidationError(source, problems.items, total_problems=problems.total)
    if not rows:
        raise ValidationError(source, [FieldProblem("resourceSpans", "no spans in the file")])
    return rows


def _span_row(span: dict[str, Any], where: str, problems: _Problems) -> dict[str, Any] | None:
    before = problems.total
    trace_id, span_id = span.get("traceId"), span.get("spanId")
    parent = span.get("parentSpanId") or None
    if not isinstance(trace_id, str) or not _TRACE_ID.match(trace_id):
        problems.add(f"{where}.traceId", "expected 32 hex digits", trace_id)
    if not isinstance(span_id, str) or not _SPAN_ID.match(span_id):
        problems.add(f"{where}.spanId", "expected 16 hex digits", span_id)
    if parent is not None and (not isinstance(parent, str) or not _SPAN_ID.match(parent)):
        problems.add(f"{where}.parentSpanId", "expected 16 hex digits or empty", parent)
    name = span.get("name")
    if not isinstance(name, str) or not name:
        problems.add(f"{where}.name", "required: a non-empty string", name)
    start = _nanos(span.get("startTimeUnixNano"), f"{where}.startTimeUnixNano", problems)
    end = _nanos(span.get("endTimeUnixNano"), f"{where}.endTimeUnixNano", problems)
    if start is not None and end is not None and end < start:
        problems.add(f"{where}.endTimeUnixNano", "ends before it starts", end)
    kind = _enum(span.get("kind"), SPAN_KINDS, _KIND_NAMES, "unspecified")
    if kind is None:
        problems.add(f"{where}.kind", "expected an OTLP span kind (0-5)", span.get("kind"))
    status = _enum((span.get("status") or {}).get("code"), STATUS_CODES, _STATUS_NAMES, "unset")
    if status is None:
        problems.add(f"{where}.status.code", "expected 0 (unset), 1 (ok) or 2 (error)")
    if problems.total > before:
        return None
    assert start is not None and end is not None
    return {
        "trace_id": str(trace_id).lower(),
        "span_id": str(span_id).lower(),
        "parent_span_id": None if parent is None else str(parent).lower(),
        "name": name,
        "kind": kind,
        "start_ts": _timestamp(start),
        "end_ts": _timestamp(end),
        "duration_ms": (end - start) / 1e6,
        "status": status,
    }


def read_otlp_file(path: Path, source: str) -> list[dict[str, Any]]:
    """Parse and validate one OTLP/JSON file."""
    try:
        document = json.loads(path.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValidationError(source, [FieldProblem("file", f"not valid JSON: {exc}")]) from None
    return parse_otlp(document, source)


def load_spans(con: Any, rows: list[dict[str, Any]], batch_id: str) -> None:
    """Insert validated span rows in bulk (inside the caller's transaction). A span already
    stored by another file (the same export sent twice under another name) is replaced."""
    import pandas as pd

    frame = pd.DataFrame(rows, columns=list(SPAN_COLUMNS))
    frame["batch_id"] = batch_id
    con.register("otlp_spans", frame)
    try:
        columns = ", ".join([*SPAN_COLUMNS, "batch_id"])
        con.execute(f"INSERT OR REPLACE INTO spans ({columns}) SELECT {columns} FROM otlp_spans")
    finally:
        con.unregister("otlp_spans")


def ingest_otlp_file(
    con: Any, path: Path, *, source: str, checksum: str, batch_id: str
) -> Any:  # IngestResult (imported late: load.py dispatches here)
    """Validate an OTLP/JSON file and store its spans as one batch (``ingest_batches`` row with
    shape ``spans``, format ``otlp``), all or nothing; a bad file is recorded as rejected."""
    from ecoperf_core.ingest.load import IngestResult, _now, _record_rejection

    try:
        rows = read_otlp_file(path, source)
    except ValidationError as error:
        _record_rejection(
            con,
            batch_id=batch_id,
            checksum=checksum,
            source=source,
            path=path,
            fmt="otlp",
            shape="spans",
            error=error,
        )
        return IngestResult(source, batch_id, "rejected", "spans", "otlp", error=error)  # type: ignore[arg-type]
    min_ts = min(r["start_ts"] for r in rows)
    max_ts = max(r["end_ts"] for r in rows)
    now = _now()
    con.execute("BEGIN TRANSACTION")
    try:
        load_spans(con, rows, batch_id)
        # Spans do not feed the rollups: the batch is marked rolled up as it is stored, so the
        # rollup flow does not recompute windows for it.
        con.execute(
            "INSERT OR REPLACE INTO ingest_batches (batch_id, source, file_name, format, shape, "
            "rows, checksum, status, error, min_ts, max_ts, loaded_at, rolled_up_at) "
            "VALUES (?, ?, ?, 'otlp', 'spans', ?, ?, 'loaded', NULL, ?, ?, ?, ?)",
            [batch_id, source, path.name, len(rows), checksum, min_ts, max_ts, now, now],
        )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return IngestResult(source, batch_id, "loaded", "spans", "otlp", len(rows), min_ts, max_ts)  # type: ignore[arg-type]
