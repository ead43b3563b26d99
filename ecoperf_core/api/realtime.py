"""The real-time hub: tails the events feed and fans events out to WebSocket clients.

Writers export outbox events to feed files right after their commit
(:mod:`ecoperf_core.publish.events_feed`); the hub polls the folder (every ~100-200 ms, a directory
listing) and keeps the latest events in a ring buffer, so a client that reconnects with
``since=<last id>`` gets what it missed from memory, or from the feed files when it is further back
than the ring. Events are ``{"id", "type", "time", "data"}``; ids are the outbox sequence.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ecoperf_core.evaluation.store import EVENT_TYPES
from ecoperf_core.publish.events_feed import feed_files, read_events

log = logging.getLogger(__name__)

KNOWN_TYPES = frozenset(EVENT_TYPES.values())


@dataclass(eq=False)
class Client:
    """One connected WebSocket: its filter and its queue of events to send."""

    types: set[str] | None = None  # None: every type
    dao: str | None = None  # a DAO-scoped token sees only its DAO's events
    queue: asyncio.Queue[dict[str, Any] | None] = field(
        default_factory=lambda: asyncio.Queue(maxsize=10_000)
    )

    def wants(self, event: dict[str, Any]) -> bool:
        if self.dao is not None:
            data = event.get("data") or {}
            if event.get("type") != EVENT_TYPES["dao"] or data.get("subject") != self.dao:
                return False
        return self.types is None or event.get("type") in self.types


class Hub:
    """Feed tail + ring buffer + client registry (one per API process)."""

    def __init__(self, feed_dir: Path, ring_size: int = 10_000, interval_s: float = 0.1) -> None:
        self.feed_dir = feed_dir
        self.ring: deque[dict[str, Any]] = deque(maxlen=ring_size)
        self.interval_s = interval_s
        self.last_id = 0
        self.clients: set[Client] = set()
        self._task: asyncio.Task[None] | None = None
        self.polls = 0

    # -- feed ---------------------------------------------------------------------------------
    def _poll(self) -> list[dict[str, Any]]:
        files = feed_files(self.feed_dir)
        if not files or files[-1].last <= self.last_id:
            return []
        if self.last_id == 0 and len(files) > 1:
            # Starting up: keep the ring's worth of history, not the whole folder.
            since = max(0, files[-1].last - (self.ring.maxlen or 0))
        else:
            since = self.last_id
        return list(read_events(self.feed_dir, since))

    def _append(self, events: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        fresh = []
        for event in events:
            if event["id"] > self.last_id:
                self.ring.append(event)
                self.last_id = event["id"]
                fresh.append(event)
        return fresh

    async def poll_once(self) -> int:
        events = await asyncio.to_thread(self._poll)
        fresh = self._append(events)
        for client in list(self.clients):
            for event in fresh:
                if client.wants(event):
                    try:
                        client.queue.put_nowait(event)
                    except asyncio.QueueFull:  # too slow: drop it; it resumes with `since`
                        self.clients.discard(client)
                        with contextlib.suppress(asyncio.QueueFull):
                            client.queue.put_nowait(None)
                        break
        self.polls += 1
        return len(fresh)

    async def run(self) -> None:
        while True:
            try:
                await self.poll_once()
            except Exception:  # a feed file pruned mid-read: the next poll retries
                log.warning("polling the events feed failed", exc_info=True)
            await asyncio.sleep(self.interval_s)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self.run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    # -- clients ------------------------------------------------------------------------------
    async def backlog(self, since: int) -> list[dict[str, Any]]:
        """Events after ``since``: from the ring when it reaches back that far, else the files."""
        if self.ring and since >= self.ring[0]["id"] - 1:
            return [e for e in self.ring if e["id"] > since]
        return await asyncio.to_thread(lambda: list(read_events(self.feed_dir, since)))

    def subscribe(self, client: Client) -> None:
        self.clients.add(client)

    def unsubscribe(self, client: Client) -> None:
        self.clients.discard(client)
