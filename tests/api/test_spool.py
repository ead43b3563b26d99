"""The decision spool: durable appends to one open segment per process, sealing, and recovery of
what a dead process left open (nothing acknowledged is lost, nothing torn is loaded)."""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ecoperf_core.api.spool import (
    SegmentLog,
    Spool,
    load_spool,
    seal_orphans,
    spool_record,
    spooled_files,
)
from ecoperf_core.engines.base import Decision

ROOT = Path(__file__).resolve().parents[2]


def _decision(i: int) -> Decision:
    return Decision(
        engine="qerberos",
        subject=f"user-{i:03d}",
        outcome="low",
        inputs={"i": i},
        thresholds={},
        output={"entityId": f"user-{i:03d}", "riskScore": i},
        evidence={"spoolId": f"spool-{i:04d}"},
        policy_version="test",
    )


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_burst_shares_a_flush_and_an_idle_segment_is_sealed(tmp_path: Path) -> None:
    spool = Spool(tmp_path, seal_idle_s=0.2)

    async def scenario() -> tuple[list[str], list[str]]:
        await asyncio.gather(*(spool.append(spool_record(_decision(i), True)) for i in range(20)))
        while_open = sorted(p.name for p in tmp_path.iterdir())
        await asyncio.sleep(0.6)
        return while_open, sorted(p.name for p in tmp_path.iterdir())

    while_open, after = asyncio.run(scenario())
    # Acknowledged = on disk, in the open segment the loader does not take yet.
    assert len(while_open) == 1 and while_open[0].endswith(".open")
    assert len(after) == 1 and after[0].endswith(".jsonl")
    records = _lines(tmp_path / after[0])
    assert [r["decision"]["evidence"]["spoolId"] for r in records] == [
        f"spool-{i:04d}" for i in range(20)
    ]
    assert spool.log.records_written == 20 and spool.log.segments_sealed == 1


def test_close_seals_and_old_or_large_segments_rotate(tmp_path: Path) -> None:
    log = SegmentLog(tmp_path, seal_bytes=100)
    for i in range(5):
        log.append(json.dumps({"n": i}).encode() + b"\n", 1)
        if i == 1:
            log.append(b'{"pad": "' + b"x" * 120 + b'"}\n', 1)  # over seal_bytes: sealed
    log.seal()
    sealed = spooled_files(tmp_path)
    assert len(sealed) == 2 and not list(tmp_path.glob("*.open"))
    assert [r.get("n", "pad") for p in sealed for r in _lines(p)] == [0, 1, "pad", 2, 3, 4]

    spool = Spool(tmp_path / "closing", seal_idle_s=60)

    async def scenario() -> None:
        await spool.append(spool_record(_decision(1), True))
        await spool.close()  # the API's shutdown: no minute-long wait for the idle seal

    asyncio.run(scenario())
    assert len(spooled_files(tmp_path / "closing")) == 1


def test_a_live_segment_is_left_alone_and_a_dead_ones_torn_tail_is_cut(tmp_path: Path) -> None:
    live = tmp_path / "00000000000000000001-1-live.open"
    live.write_bytes(b'{"a": 1}\n')
    fd = os.open(live, os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)  # as its owning API process holds it
    dead = tmp_path / "00000000000000000002-2-dead.open"
    dead.write_bytes(b'{"b": 1}\n{"b": 2}\n{"b": 3, "tor')  # killed mid-write: never acknowledged
    empty = tmp_path / "00000000000000000003-3-empty.open"
    empty.write_bytes(b'{"never": "flush')
    try:
        sealed = seal_orphans(tmp_path)
        assert [p.name for p in sealed] == ["00000000000000000002-2-dead.jsonl"]
        assert _lines(sealed[0]) == [{"b": 1}, {"b": 2}]
        assert live.exists() and not empty.exists()
    finally:
        os.close(fd)
    assert [p.name for p in seal_orphans(tmp_path)] == ["00000000000000000001-1-live.jsonl"]


CRASHING_API = """
import asyncio, os, sys
from pathlib import Path
from tests.api.test_spool import _decision
from ecoperf_core.api.spool import Spool, spool_record

async def main() -> None:
    spool = Spool(Path(sys.argv[1]), seal_idle_s=60)
    for i in range(int(sys.argv[2])):
        await spool.append(spool_record(_decision(i), True))
        print(f"acked spool-{i:04d}", flush=True)
    os._exit(9)  # killed: no seal, no clean shutdown

asyncio.run(main())
"""


def test_every_acknowledged_decision_of_a_killed_process_is_loaded(tmp_path: Path) -> None:
    spool_dir, archive = tmp_path / "spool", tmp_path / "archive"
    run = subprocess.run(
        [sys.executable, "-c", CRASHING_API, str(spool_dir), "25"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert run.returncode == 9, run.stderr[-2000:]
    acked = [line.split()[1] for line in run.stdout.splitlines()]
    assert len(acked) == 25 and list(spool_dir.glob("*.open"))

    db = tmp_path / "w.duckdb"
    loaded = load_spool(spool_dir, archive, db)
    assert loaded.loaded == 25 and loaded.rejected_files == []
    assert not list(spool_dir.iterdir())  # sealed, loaded and archived

    import duckdb

    with duckdb.connect(str(db), read_only=True) as con:
        stored = {
            r[0] for r in con.execute("SELECT evidence->>'spoolId' FROM decisions").fetchall()
        }
    assert stored == set(acked)

    # A crash between the commit and the archiving: the same file loaded again stores nothing
    # (the ids are looked up in the log from the file's creation time on).
    for archived in archive.iterdir():
        (spool_dir / archived.name).write_bytes(archived.read_bytes())
    again = load_spool(spool_dir, archive, db)
    assert again.loaded == 0 and again.already_loaded == 25


def test_a_failed_seal_is_logged_and_the_spool_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    directory = tmp_path / "spool"
    spool = Spool(directory, seal_idle_s=0.1)

    async def scenario() -> None:
        await spool.append(spool_record(_decision(1), True))
        shutil.rmtree(directory)  # the open segment vanishes: its idle seal fails
        await asyncio.sleep(0.4)
        await asyncio.wait_for(spool.append(spool_record(_decision(2), True)), 5)
        await spool.close()

    with caplog.at_level("ERROR", logger="ecoperf_core.api.spool"):
        asyncio.run(scenario())
    assert "sealing the spool segment failed" in caplog.text
    [sealed] = spooled_files(directory)
    assert [r["decision"]["evidence"]["spoolId"] for r in _lines(sealed)] == ["spool-0002"]
