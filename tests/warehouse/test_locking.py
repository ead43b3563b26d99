"""One writer at a time across processes; waiting readers and writers never see a lock error."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from ecoperf_core.errors import WarehouseBusyError
from ecoperf_core.warehouse import reader, writer

_HOLD_WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from ecoperf_core.warehouse import writer
    with writer(Path(sys.argv[1])) as con:
        con.execute("CREATE TABLE IF NOT EXISTS probe (x INTEGER)")
        print("holding", flush=True)
        time.sleep(float(sys.argv[2]))
        con.execute("INSERT INTO probe VALUES (1)")
    print("released", flush=True)
    """
)


def _hold(db: Path, seconds: float) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-c", _HOLD_WRITER, str(db), str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "holding"
    return process


def test_second_writer_waits_for_the_first_then_sees_its_write(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    holder = _hold(db, 1.5)
    started = time.monotonic()
    with writer(db, timeout_s=30) as con:
        waited = time.monotonic() - started
        assert con.execute("SELECT count(*) FROM probe").fetchall()[0][0] == 1
    holder.wait(timeout=30)
    assert waited > 0.5


def test_reader_waits_for_a_writer_instead_of_failing(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    with writer(db):
        pass
    holder = _hold(db, 1.0)
    with reader(db, timeout_s=30) as con:
        assert con.execute("SELECT count(*) FROM probe").fetchall()[0][0] == 1
    holder.wait(timeout=30)


def test_waiting_past_the_timeout_is_a_clear_transient_error(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    holder = _hold(db, 3.0)
    try:
        with pytest.raises(WarehouseBusyError, match="busy"), writer(db, timeout_s=0.3):
            pass
    finally:
        holder.wait(timeout=30)


def test_readers_share_the_warehouse(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    with writer(db):
        pass
    with reader(db) as first, reader(db, timeout_s=1) as second:
        assert first.execute("SELECT 1").fetchall() == second.execute("SELECT 1").fetchall()
