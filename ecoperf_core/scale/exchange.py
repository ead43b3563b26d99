"""Parquet the shards exchange: warehouse inputs out (hive layout), shard results back.

Layout under one run's folder::

    inputs/<table>/shard=<k>/day=<yyyy-mm-dd>/data_0.parquet   what shard k reads
    inputs/<table>.schema.parquet                               the columns, for an empty shard
    results/<name>/shard=<k>.parquet                            what shard k found

Every file is written under a temporary name and renamed, so a retried or crashed shard never
leaves half a file for the writer step to read.
"""

from __future__ import annotations

import os
import shutil
import uuid
from datetime import datetime
from pathlib import Path

import duckdb
import pandas as pd

from ecoperf_core.scale.partition import shard_sql
from ecoperf_core.warehouse.sql import literal

# DuckDB's own memory (its buffer cache of the warehouse blocks it scanned, a COPY's buffers) for
# the plan and landing steps: by default up to 80% of RAM, so a process's peak would grow with
# the data scanned; capped, DuckDB evicts cached blocks and the peak stays flat. At 1 GB the
# evaluate plan's peak still doubled from 10M to 50M samples (504 → 1,216 MB); at 256 MB it
# grew 509 → 587 MB. The exports stream, so the cap costs little time.
DUCKDB_MEMORY_LIMIT = "256MB"


def cap_memory(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"SET memory_limit = '{DUCKDB_MEMORY_LIMIT}'")


def new_run_dir(root: Path, prefix: str) -> Path:
    run = root / f"{prefix}-{datetime.now():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    run.mkdir(parents=True)
    return run


def export_table(
    con: duckdb.DuckDBPyConnection,
    select_sql: str,
    run_dir: Path,
    name: str,
    shards: int,
    day_column: str | None,
) -> int:
    """Write ``select_sql``'s rows as ``inputs/<name>`` partitioned by entity shard (and day).

    Returns the number of rows exported."""
    target = run_dir / "inputs" / name
    target.parent.mkdir(parents=True, exist_ok=True)
    parts = ["shard"] + (["day"] if day_column else [])
    day = f", CAST({day_column} AS DATE) AS day" if day_column else ""
    con.execute(
        f"COPY (SELECT * FROM ({select_sql}) LIMIT 0) TO '{run_dir / 'inputs' / name}.schema.parquet'"
        " (FORMAT parquet)"
    )
    # A partitioned COPY buffers up to this many rows per thread and partition before it
    # writes; at DuckDB's default (524,288) the buffers grow with the shard count, i.e.
    # with the fleet (measured: analyze's peak 2.3x from 10M to 50M samples).
    con.execute("SET partitioned_write_flush_threshold = 65536")
    # No rows write no partition (a shard without a folder reads the schema file); the COPY's
    # own row count saves a second scan of the source to count it.
    count = con.execute(
        f"""COPY (SELECT *, {shard_sql("entity_id", shards)} AS shard{day}
                  FROM ({select_sql}))
            TO '{target}' (FORMAT parquet, PARTITION_BY ({", ".join(parts)}))"""
    ).fetchall()[0][0]
    return int(count)


def attach_shard(con: duckdb.DuckDBPyConnection, run_dir: Path, name: str, shard: int) -> None:
    """A view ``name`` over shard ``shard``'s part of ``inputs/<name>`` (empty if it has none),
    so the warehouse readers run unchanged on the shard's rows."""
    folder = run_dir / "inputs" / name / f"shard={shard}"
    if folder.exists() and any(folder.rglob("*.parquet")):
        source = f"read_parquet('{folder}/**/*.parquet', hive_partitioning = true)"
        extra = "EXCLUDE (shard, day)" if any(folder.glob("day=*")) else "EXCLUDE (shard)"
        con.execute(f"CREATE VIEW {name} AS SELECT * {extra} FROM {source}")
    else:
        schema = run_dir / "inputs" / f"{name}.schema.parquet"
        con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{schema}')")


def write_result(frame: pd.DataFrame, run_dir: Path, name: str, shard: int) -> Path:
    """One shard's result rows, written atomically."""
    folder = run_dir / "results" / name
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"shard={shard}.parquet"
    temp = folder / f".shard={shard}.{uuid.uuid4().hex[:8]}.tmp"
    con = duckdb.connect()
    try:
        con.register("frame", frame)
        con.execute(f"COPY frame TO '{temp}' (FORMAT parquet)")
    finally:
        con.close()
    os.replace(temp, final)
    return final


def read_results(run_dir: Path, name: str, shards: int) -> pd.DataFrame:
    """Every shard's result rows; an error naming the shards whose file is missing."""
    folder = run_dir / "results" / name
    missing = [k for k in range(shards) if not (folder / f"shard={k}.parquet").exists()]
    if missing:
        raise FileNotFoundError(
            f"shard results {name!r} missing for shard(s) {missing} in {folder}"
        )
    con = duckdb.connect()
    try:
        return con.execute(
            f"SELECT * FROM read_parquet('{folder}/shard=*.parquet', union_by_name = true)"
        ).df()
    finally:
        con.close()


def result_relation(run_dir: Path, name: str, shards: int) -> tuple[str | None, int]:
    """A ``read_parquet`` over the shards' non-empty result files and their total rows, for
    results too many to bring into Python (state rows, decisions of a whole fleet)."""
    folder = run_dir / "results" / name
    missing = [k for k in range(shards) if not (folder / f"shard={k}.parquet").exists()]
    if missing:
        raise FileNotFoundError(
            f"shard results {name!r} missing for shard(s) {missing} in {folder}"
        )
    con = duckdb.connect()
    try:
        rows = con.execute(
            f"SELECT file_name, num_rows FROM parquet_file_metadata('{folder}/shard=*.parquet')"
        ).fetchall()
    finally:
        con.close()
    files = sorted(str(f) for f, n in rows if n > 0)
    if not files:
        return None, 0
    listed = ", ".join(literal(f) for f in files)
    return f"read_parquet([{listed}])", int(sum(n for _f, n in rows))


def remove_run(run_dir: Path) -> None:
    shutil.rmtree(run_dir, ignore_errors=True)
