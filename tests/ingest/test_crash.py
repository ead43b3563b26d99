"""A process killed mid-load leaves its batch fully present or fully absent."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pytest

from ecoperf_core.service import Ecoperf
from ecoperf_core.settings import Settings

ROWS = 3_000_000

_LOADER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from ecoperf_core.service import Ecoperf
    service = Ecoperf()
    print("landing", flush=True)
    landed = service.land([Path(sys.argv[1])])
    print("loading", flush=True)
    service.ingest_landed(landed)
    print("done", flush=True)
    """
)


def _big_parquet(path: Path) -> Path:
    duckdb.execute(
        "COPY (SELECT TIMESTAMP '2026-11-01' + to_microseconds(i * 1000) AS time, 'node' AS "
        "entity_kind, 'node-' || (i % 97) AS entity_id, (i % 1000) / 7.0 AS latency_ms, "
        f"i % 333 <> 0 AS ok FROM range({ROWS}) t(i)) TO '{path}' (FORMAT parquet)"
    )
    return path


def _batch_state(db: Path) -> tuple[int, int]:
    con = duckdb.connect(str(db))  # read-write: replays (or discards) the WAL like a restart
    try:
        tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        if "requests" not in tables:
            # Killed while the writer was still migrating the new file (one transaction, so
            # no table at all): the batch is absent, which is one of the two allowed states.
            return 0, 0
        rows = con.execute("SELECT count(*) FROM requests").fetchall()[0][0]
        batches = con.execute(
            "SELECT count(*) FROM ingest_batches WHERE status = 'loaded'"
        ).fetchall()[0][0]
        return rows, batches
    finally:
        con.close()


@pytest.mark.slow
@pytest.mark.parametrize("kill_after_s", [0.4, 1.2])
def test_sigkill_during_ingest_leaves_batch_whole_or_absent_and_rerun_completes(
    eco_home: Path, tmp_path: Path, kill_after_s: float
) -> None:
    source = _big_parquet(tmp_path / "big.parquet")
    env = {**os.environ, "ECOPERF_HOME": str(eco_home)}
    process = subprocess.Popen(
        [sys.executable, "-c", _LOADER, str(source)],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "landing"
    assert process.stdout.readline().strip() == "loading"
    time.sleep(kill_after_s)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)

    settings = Settings()
    rows, batches = _batch_state(settings.db_path)
    assert (rows, batches) in {(0, 0), (ROWS, 1)}, (rows, batches)

    # Whatever the kill left in the landing zone, running the ingest again finishes the job.
    service = Ecoperf(settings)
    service.land([source])
    report = service.ingest_landed()
    assert {r.status for r in report.results} <= {"loaded", "duplicate"}
    assert _batch_state(settings.db_path) == (ROWS, 1)
    assert service.pending() == []
