"""The decision spool: how decisions made by the API reach the warehouse without the API writing it.

An accepted (2xx) POST evaluation is durably spooled first. Each API process appends its decisions
as JSON Lines to one open segment, ``<landing>/decisions/<name>.open``, and answers only after an
``fdatasync`` of the append: one small write and one flush per group of requests, where a file per
group (temporary file, fsync, rename, fsync of the folder) cost three times as long and waited on
the flows' disk traffic twice (bench/api.py; docs/api.md). Requests arriving while a flush runs
share the next one (group commit). Nothing acknowledged is lost across an API restart or a crash:
the segment's name was made durable when it was opened, and its records when they were flushed.

A segment is *sealed* (renamed to ``<name>.jsonl``, the only files the loader reads) after a second
without new decisions, once it is ``SEAL_AFTER_S`` old or ``SEAL_BYTES`` long, and when the API
stops. The owner holds an exclusive ``flock`` on its open segment for its whole life, so a segment
whose lock is free belongs to a process that died: :func:`seal_orphans` (run by the API at start and
by the loader) trims a torn last line, which was never acknowledged, and seals it.

:func:`load_spool` (the publish flow's task) loads spooled decisions into ``decisions``/``outbox``
through :func:`ecoperf_core.evaluation.store.store_decisions`, idempotently: each decision carries
``evidence.spoolId``, ids already in the warehouse are skipped, and files are archived only after
the commit (a crash in between reloads nothing twice).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ecoperf_core.engines.base import Decision, jsonable
from ecoperf_core.warehouse.sql import literal

OPEN_SUFFIX = ".open"
SEALED_SUFFIX = ".jsonl"
SEAL_IDLE_S = 1.0
SEAL_AFTER_S = 10.0
SEAL_BYTES = 8 << 20

log = logging.getLogger(__name__)


def spool_record(decision: Decision, publish: bool) -> dict[str, Any]:
    """The spooled form of a decision (its ``evidence.spoolId`` is the idempotency key)."""
    return {"publish": publish, "decision": jsonable(decision.to_dict())}


def new_spool_id() -> str:
    return str(uuid.uuid4())


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class SegmentLog:
    """One process's open spool segment: durable appends, then sealing (thread-safe, blocking;
    :class:`Spool` calls it from a worker thread)."""

    def __init__(
        self,
        directory: Path,
        seal_after_s: float = SEAL_AFTER_S,
        seal_bytes: int = SEAL_BYTES,
    ) -> None:
        self.directory = directory
        self.seal_after_s = seal_after_s
        self.seal_bytes = seal_bytes
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._path: Path | None = None
        self._size = 0
        self._opened_at = 0.0
        self.segments_sealed = 0
        self.records_written = 0

    def append(self, body: bytes, records: int) -> None:
        """Write ``body`` (whole JSON lines) and flush it to disk; raises ``OSError`` if it could
        not be, leaving the segment as it was before the call."""
        with self._lock:
            if self._fd is None:
                self._open()
            assert self._fd is not None
            try:
                view = memoryview(body)
                while view:
                    view = view[os.write(self._fd, view) :]
                os.fdatasync(self._fd)
            except OSError:
                self._give_up()
                raise
            self._size += len(body)
            self.records_written += records
            if (
                self._size >= self.seal_bytes
                or time.monotonic() - self._opened_at >= self.seal_after_s
            ):
                self._seal()

    def seal(self) -> None:
        """Seal the open segment, if any (the loader may then take it)."""
        with self._lock:
            if self._fd is not None:
                self._seal()

    def _open(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        name = f"{time.time_ns():020d}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        # Created under a dot name and locked before it gets its visible name, so no loader can
        # ever see it unlocked while its owner lives.
        hidden = self.directory / f".{name}{OPEN_SUFFIX}"
        fd = os.open(
            hidden, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC, 0o600
        )
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            path = self.directory / f"{name}{OPEN_SUFFIX}"
            os.replace(hidden, path)
            _fsync_dir(self.directory)  # the segment's name survives a crash
        except BaseException:
            os.close(fd)
            hidden.unlink(missing_ok=True)
            raise
        self._fd, self._path, self._size = fd, path, 0
        self._opened_at = time.monotonic()

    def _seal(self) -> None:
        assert self._fd is not None and self._path is not None
        fd, path = self._fd, self._path
        self._fd = self._path = None
        try:
            if self._size == 0:
                path.unlink(missing_ok=True)
            else:
                os.replace(path, path.with_suffix(SEALED_SUFFIX))
                _fsync_dir(self.directory)
                self.segments_sealed += 1
        finally:
            os.close(fd)  # releases the lock

    def _give_up(self) -> None:
        """After a failed append: cut what it may have half-written, seal what was flushed
        before (best effort: a disk that refuses this too is left to seal_orphans)."""
        assert self._fd is not None
        with contextlib.suppress(OSError):
            os.ftruncate(self._fd, self._size)
            os.fdatasync(self._fd)
        try:
            self._seal()
        except OSError:
            self._fd = self._path = None


def _complete_lines(data: bytes) -> bytes:
    """``data`` up to its last newline (a torn last line was never acknowledged)."""
    end = data.rfind(b"\n")
    return data[: end + 1] if end >= 0 else b""


def seal_orphans(directory: Path) -> list[Path]:
    """Seal open segments whose owner died (their lock is free); returns the sealed files.
    Hidden segments never renamed by a dead owner hold nothing and are removed."""
    sealed: list[Path] = []
    if not directory.is_dir():
        return sealed
    for path in sorted(directory.glob(f"*{OPEN_SUFFIX}")):
        try:
            fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        except FileNotFoundError:  # sealed by its owner meanwhile
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a live process owns it
            if path.name.startswith("."):
                # A live owner locks it right after creating it; only an old one is an orphan.
                if time.time() - os.fstat(fd).st_mtime > 60:
                    path.unlink(missing_ok=True)
                continue
            data = path.read_bytes()
            keep = _complete_lines(data)
            if len(keep) != len(data):
                os.ftruncate(fd, len(keep))
                os.fsync(fd)
            if not keep:
                path.unlink(missing_ok=True)
                continue
            target = path.with_suffix(SEALED_SUFFIX)
            os.replace(path, target)
            _fsync_dir(directory)
            sealed.append(target)
        finally:
            os.close(fd)
    return sealed


class Spool:
    """Group-committing appender of spooled decisions (one per API process, on its event loop)."""

    def __init__(
        self,
        directory: Path,
        batch_s: float = 0.0,
        seal_idle_s: float = SEAL_IDLE_S,
        seal_after_s: float = SEAL_AFTER_S,
    ) -> None:
        self.directory = directory
        self.batch_s = batch_s
        self.seal_idle_s = seal_idle_s
        self.log = SegmentLog(directory, seal_after_s=seal_after_s)
        self._pending: list[tuple[bytes, asyncio.Future[None]]] = []
        self._task: asyncio.Task[None] | None = None
        self._wakeup: asyncio.Event | None = None
        self._closing = False

    def recover(self) -> list[Path]:
        """Seal what earlier, dead API processes left open (call once at start)."""
        return seal_orphans(self.directory)

    async def append(self, record: dict[str, Any]) -> None:
        """Return once ``record`` is durably on disk (raises if it could not be written)."""
        line = json.dumps(record, separators=(",", ":"), allow_nan=False).encode() + b"\n"
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._pending.append((line, future))
        if self._wakeup is None:
            self._wakeup = asyncio.Event()
        self._wakeup.set()
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._run())
        await future

    async def close(self) -> None:
        """Write what is pending and seal the segment (the API's shutdown)."""
        self._closing = True
        if self._wakeup is not None:
            self._wakeup.set()
        if self._task is not None and not self._task.done():
            await self._task
        await asyncio.to_thread(self.log.seal)

    async def _run(self) -> None:
        assert self._wakeup is not None
        while True:
            if self._pending:
                if self.batch_s:
                    await asyncio.sleep(self.batch_s)  # let a burst gather into one flush
                await self._flush()
                continue
            if self._closing:
                return
            self._wakeup.clear()
            try:
                await asyncio.wait_for(self._wakeup.wait(), self.seal_idle_s)
            except TimeoutError:
                try:
                    await asyncio.to_thread(self.log.seal)
                except OSError:
                    # The records are on disk; the segment, unlocked now, is sealed by the next
                    # load or API start (seal_orphans). This task must go on: decisions that
                    # arrived during the seal wait on it.
                    log.exception("sealing the spool segment failed")
                if not self._pending:  # nothing arrived during the seal: this task is done
                    return

    async def _flush(self) -> None:
        batch, self._pending = self._pending, []
        try:
            await asyncio.to_thread(self.log.append, b"".join(b for b, _ in batch), len(batch))
        except Exception as exc:
            for _line, future in batch:
                if not future.done():
                    future.set_exception(exc)
        else:
            for _line, future in batch:
                if not future.done():
                    future.set_result(None)


def spooled_files(directory: Path) -> list[Path]:
    """Spool files waiting to be loaded, oldest first (temporary files excluded)."""
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.glob(f"*{SEALED_SUFFIX}") if not p.name.startswith("."))


@dataclass
class SpoolLoad:
    """What one load did."""

    files: int = 0
    records: int = 0
    loaded: int = 0
    already_loaded: int = 0
    events: int = 0
    rejected_files: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "records": self.records,
            "loaded": self.loaded,
            "alreadyLoaded": self.already_loaded,
            "events": self.events,
            "rejectedFiles": self.rejected_files,
        }


def _chunks(items: Sequence[tuple[bool, Decision]]) -> list[tuple[bool, list[Decision]]]:
    """Store calls for ``items``: one store call takes one decision per engine+subject, so the
    k-th decision of every subject goes in the k-th call (per publish flag). Each subject keeps
    its spool order; the number of calls is the largest count of one subject, not the number of
    repeats in the spool (a burst about a few subjects would otherwise be hundreds of calls)."""
    out: list[tuple[bool, list[Decision]]] = []
    for flag in (True, False):
        rounds: list[list[Decision]] = []
        seen: dict[tuple[str, str], int] = {}
        for publish, decision in items:
            if publish is not flag:
                continue
            key = (decision.engine, decision.subject)
            k = seen.get(key, 0)
            seen[key] = k + 1
            if k == len(rounds):
                rounds.append([])
            rounds[k].append(decision)
        out.extend((flag, chunk) for chunk in rounds)
    return out


# How far a spool file's creation time (its name's prefix, the API host's clock) may be ahead of
# the clock of the flow that stored its decisions.
_CLOCK_MARGIN_NS = 3600 * 10**9


def _stored_not_before(files: Sequence[Path]) -> str:
    """The earliest ``decided_at`` a decision of ``files`` can have been stored with, as a SQL
    TIMESTAMP literal: a decision is stored after its spool file was created, and the file name
    starts with that time. Checking ids only from then on reads the recent end of the log (a
    constant bound lets DuckDB skip older row groups) instead of the whole, ever-growing log."""
    created = []
    for path in files:
        prefix = path.name.split("-", 1)[0]
        if not prefix.isdigit():
            return literal(datetime(1970, 1, 1))  # a name we did not write: check all
        created.append(int(prefix))
    if not created:
        return literal(datetime(1970, 1, 1))
    moment = datetime.fromtimestamp((min(created) - _CLOCK_MARGIN_NS) / 1e9, UTC)
    return literal(moment.replace(tzinfo=None))


def load_spool(
    spool_dir: Path,
    archive_dir: Path,
    db_path: Path,
    timeout_s: float = 600.0,
    max_files: int = 2000,
) -> SpoolLoad:
    """Load spooled decisions into the warehouse (idempotent by ``evidence.spoolId``)."""
    from ecoperf_core.evaluation.store import store_decisions
    from ecoperf_core.warehouse import writer

    result = SpoolLoad()
    seal_orphans(spool_dir)
    files = spooled_files(spool_dir)[:max_files]
    if not files:
        return result
    items: list[tuple[bool, Decision]] = []
    good: list[Path] = []
    for path in files:
        try:
            records = [json.loads(line) for line in path.read_text("utf-8").splitlines() if line]
            parsed = [(r["publish"] is True, Decision(**r["decision"])) for r in records]
        except (ValueError, KeyError, TypeError):
            # Cannot happen with atomic writes; keep the file aside rather than block the spool.
            bad = archive_dir.parent / "quarantine" / "decisions"
            bad.mkdir(parents=True, exist_ok=True)
            path.replace(bad / path.name)
            result.rejected_files.append(path.name)
            continue
        items.extend(parsed)
        good.append(path)
    result.files = len(good)
    result.records = len(items)
    ids = [d.evidence.get("spoolId") for _p, d in items]
    since = _stored_not_before(good)
    with writer(db_path, timeout_s=timeout_s) as con:
        existing = {
            row[0]
            for row in con.execute(
                f"""SELECT evidence->>'spoolId' FROM decisions
                    WHERE decided_at >= {since}
                      AND evidence->>'spoolId' IN (SELECT unnest($ids))""",
                {"ids": [i for i in ids if i]},
            ).fetchall()
        }
        fresh = [(p, d) for p, d in items if d.evidence.get("spoolId") not in existing]
        result.already_loaded = len(items) - len(fresh)
        for publish, chunk in _chunks(fresh):
            stored = store_decisions(con, chunk, publish=publish)
            result.loaded += stored.decisions
            result.events += stored.events
    archive_dir.mkdir(parents=True, exist_ok=True)
    for path in good:  # only after the commit
        path.replace(archive_dir / path.name)
    return result
