"""Small builders shared by tests: files of known content, warehouse reads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb


def write_csv(path: Path, header: str, rows: list[str]) -> Path:
    path.write_text(header + "\n" + "\n".join(rows) + "\n")
    return path


def request_rows(n: int, *, start_minute: int = 0, entity: str = "node-1") -> list[str]:
    """``n`` valid raw request rows, one per second from 2026-11-01 00:<start_minute>."""
    rows = []
    for i in range(n):
        second = start_minute * 60 + i
        stamp = f"2026-11-01T{second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}Z"
        rows.append(f"{stamp},node,{entity},{10 + i % 7},{'true' if i % 50 else 'false'},true,0.01")
    return rows


REQUEST_HEADER = "time,entity_kind,entity_id,latency_ms,ok,cache_hit,cost"


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    return path


def table_counts(db: Path) -> dict[str, int]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return {
            name: con.execute(f"SELECT count(*) FROM {name}").fetchall()[0][0]
            for name in ("requests", "samples", "rollups", "decisions", "outbox")
        } | {
            "batches_loaded": con.execute(
                "SELECT count(*) FROM ingest_batches WHERE status = 'loaded'"
            ).fetchall()[0][0]
        }
    finally:
        con.close()
