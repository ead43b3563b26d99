"""The decision spool: how decisions made by the API reach the warehouse without the API writing it.

An accepted (2xx) POST evaluation is durably spooled first: its decision is appended to a JSON Lines
file in ``<landing>/decisions/`` written atomically (temporary file, fsync, rename, fsync of the
folder). Requests arriving together share one file and one fsync (group commit), so the cost of
durability is paid once per burst, not once per request. Nothing acknowledged is lost across an
API restart: the files are the truth until a flow loads them.

:func:`load_spool` (the publish flow's task) loads spooled decisions into ``decisions``/``outbox``
through :func:`ecoperf_core.evaluation.store.store_decisions`, idempotently: each decision carries
``evidence.spoolId``, ids already in the warehouse are skipped, and files are archived only after
the commit (a crash in between reloads nothing twice).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ecoperf_core.engines.base import Decision, jsonable
from ecoperf_core.publish.events_feed import atomic_write


def spool_record(decision: Decision, publish: bool) -> dict[str, Any]:
    """The spooled form of a decision (its ``evidence.spoolId`` is the idempotency key)."""
    return {"publish": publish, "decision": jsonable(decision.to_dict())}


def new_spool_id() -> str:
    return str(uuid.uuid4())


class Spool:
    """Group-committing appender of spooled decisions (one per API process, on its event loop)."""

    def __init__(self, directory: Path, batch_s: float = 0.002) -> None:
        self.directory = directory
        self.batch_s = batch_s
        self._pending: list[tuple[dict[str, Any], asyncio.Future[None]]] = []
        self._task: asyncio.Task[None] | None = None
        self.files_written = 0
        self.records_written = 0

    async def append(self, record: dict[str, Any]) -> None:
        """Return once ``record`` is durably on disk (raises if it could not be written)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._pending.append((record, future))
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._flush_loop())
        await future

    async def _flush_loop(self) -> None:
        while self._pending:
            if self.batch_s:
                await asyncio.sleep(self.batch_s)  # let a burst gather into one file
            batch, self._pending = self._pending, []
            try:
                await asyncio.to_thread(self._write, [record for record, _ in batch])
            except Exception as exc:
                for _record, future in batch:
                    if not future.done():
                        future.set_exception(exc)
            else:
                for _record, future in batch:
                    if not future.done():
                        future.set_result(None)

    def _write(self, records: Sequence[dict[str, Any]]) -> Path:
        name = f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.jsonl"
        body = "".join(
            json.dumps(r, separators=(",", ":"), allow_nan=False) + "\n" for r in records
        )
        path = self.directory / name
        atomic_write(path, body.encode())
        self.files_written += 1
        self.records_written += len(records)
        return path


def spooled_files(directory: Path) -> list[Path]:
    """Spool files waiting to be loaded, oldest first (temporary files excluded)."""
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.glob("*.jsonl") if not p.name.startswith("."))


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
    with writer(db_path, timeout_s=timeout_s) as con:
        existing = {
            row[0]
            for row in con.execute(
                """SELECT evidence->>'spoolId' FROM decisions
                   WHERE evidence->>'spoolId' IN (SELECT unnest($ids))""",
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
