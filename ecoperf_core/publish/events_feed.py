"""The events feed: outbox events exported from the warehouse to plain files the API can tail.

Why files: the API process must never open the warehouse (a reader's shared lock would make the
flows wait, and a writer's lock would make the API wait). So the writer that committed the events
exports them right away, still holding the warehouse, to ``<feed>/<first>-<last>.jsonl`` (written to
a temporary name, fsynced, renamed: a reader sees a whole file or none). The API polls the folder.

Each line is one event ``{"id": seq, "type", "time", "data"}``; ``id`` is the outbox ``seq``, which is
monotonic, so a client resumes with ``since=<last id>`` and the file names say which file holds it.
The export is idempotent and self-healing: it always exports ``seq > last exported`` (the largest
``<last>`` in the folder), so a crash between commit and export is caught up by the next export.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

_NAME = re.compile(r"^(\d{20})-(\d{20})\.jsonl$")


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so readers see the whole old file or the whole new one.

    Temporary file in the same folder, fsync, rename, fsync of the folder (so the rename itself
    survives a power cut: a spooled decision acknowledged to a client must not vanish).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


@dataclass(frozen=True)
class FeedFile:
    """One exported file and the event ids (outbox seqs) it holds, inclusive."""

    path: Path
    first: int
    last: int


def feed_dir_for(db_path: Path) -> Path:
    """The feed folder of a warehouse: ``events/`` beside it (``data/events`` by default)."""
    return db_path.resolve().parent / "events"


def feed_files(feed_dir: Path) -> list[FeedFile]:
    """Exported files, oldest first (temporary and foreign files ignored)."""
    if not feed_dir.is_dir():
        return []
    out = []
    for entry in feed_dir.iterdir():
        match = _NAME.match(entry.name)
        if match:
            out.append(FeedFile(entry, int(match.group(1)), int(match.group(2))))
    return sorted(out, key=lambda f: f.first)


def last_exported(feed_dir: Path) -> int:
    files = feed_files(feed_dir)
    return max((f.last for f in files), default=0)


def _event(seq: int, event_type: str, created_at: Any, data: Any) -> dict[str, Any]:
    payload = json.loads(data) if isinstance(data, str) else data
    time = created_at.isoformat() + "Z" if hasattr(created_at, "isoformat") else str(created_at)
    return {"id": int(seq), "type": str(event_type), "time": time, "data": payload}


def export_events(con: Any, feed_dir: Path, limit: int = 50_000) -> int:
    """Export outbox events not yet in the feed; returns how many were written.

    Call it while holding the writer (after the commit): writers are serialized, so two exports
    never race on the same seq range.
    """
    after = last_exported(feed_dir)
    rows = con.execute(
        f"""SELECT seq, event_type, created_at, data FROM outbox WHERE seq > $after
            ORDER BY seq LIMIT {int(limit)}""",
        {"after": after},
    ).fetchall()
    if not rows:
        return 0
    lines = [
        json.dumps(_event(seq, kind, at, data), separators=(",", ":"), allow_nan=False)
        for seq, kind, at, data in rows
    ]
    first, last = int(rows[0][0]), int(rows[-1][0])
    atomic_write(feed_dir / f"{first:020d}-{last:020d}.jsonl", ("\n".join(lines) + "\n").encode())
    return len(rows)


def export_after_commit(con: Any) -> None:
    """The store's post-commit hook: export new events of a file-backed warehouse.

    Best effort by design: the decisions are already committed, and a failed export is caught up
    by the next one (the publish flow exports too), so an error here is logged, never raised.
    """
    try:
        rows = con.execute(
            "SELECT path FROM duckdb_databases() WHERE database_name = current_database()"
        ).fetchall()
        path = rows[0][0] if rows else None
        if not path:  # in-memory warehouse (unit tests): no feed
            return
        export_events(con, feed_dir_for(Path(path)))
    except Exception:  # pragma: no cover - logged and retried by the next export
        log.warning(
            "exporting outbox events to the feed failed; the next export retries", exc_info=True
        )


def read_events(feed_dir: Path, since: int = 0) -> Iterator[dict[str, Any]]:
    """Events with ``id > since`` from the feed files, in order (the fallback behind the API's
    in-memory ring when a client resumes from further back)."""
    for feed_file in feed_files(feed_dir):
        if feed_file.last <= since:
            continue
        try:
            text = feed_file.path.read_text(encoding="utf-8")
        except FileNotFoundError:  # pruned meanwhile
            continue
        for line in text.splitlines():
            if line:
                event = json.loads(line)
                if event["id"] > since:
                    yield event


def prune(feed_dir: Path, keep_files: int = 1000) -> int:
    """Delete the oldest feed files beyond ``keep_files`` (the publish flow calls it)."""
    files = feed_files(feed_dir)
    doomed = files[: max(0, len(files) - keep_files)]
    for feed_file in doomed:
        feed_file.path.unlink(missing_ok=True)
    return len(doomed)


__all__ = [
    "FeedFile",
    "atomic_write",
    "export_after_commit",
    "export_events",
    "feed_dir_for",
    "feed_files",
    "last_exported",
    "prune",
    "read_events",
]
