"""Delivery state in the warehouse: queue outbox events per subscriber, claim due ones, record.

The publisher never holds the warehouse while talking to a receiver. One round is:

1. under the writer: :func:`enqueue` (events past each subscriber's cursor become ``pending``
   rows, cursor moved in the same transaction), :func:`supersede` (state subscribers keep only the
   latest event per subject) and :func:`claim` (due rows, oldest first);
2. without the warehouse: send;
3. under the writer: :func:`record` every outcome in one bulk ``UPDATE``.

A process killed between 1 and 3 leaves its rows as they were (``pending``/``retrying``, due), so the
next round sends them again: delivery is at least once, and receivers dedupe on the event id.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import duckdb
import pandas as pd

from ecoperf_core.evaluation.store import utc_now
from ecoperf_core.policy import DeliveryRetryPolicy
from ecoperf_core.publish.config import Subscriber
from ecoperf_core.publish.retry import ErrorKind, next_step

OPEN_STATUSES = ("pending", "retrying")


@dataclass(frozen=True)
class Claimed:
    """One due delivery: the event as receivers see it and how often it was tried."""

    event_id: str
    subscriber: str
    seq: int
    attempts: int
    event_type: str
    subject: str
    created_at: datetime
    data: dict[str, Any]

    def body(self) -> dict[str, Any]:
        """The event document receivers get (webhook body, Prefect payload)."""
        return {
            "id": self.event_id,
            "seq": self.seq,
            "type": self.event_type,
            "subject": self.subject,
            "time": self.created_at.isoformat() + "Z",
            "data": self.data,
        }


@dataclass(frozen=True)
class Attempt:
    """What one attempt to deliver one event to one subscriber gave."""

    event_id: str
    subscriber: str
    kind: ErrorKind
    error: str | None = None
    http_status: int | None = None
    retry_after_s: float | None = None


def enqueue(
    con: duckdb.DuckDBPyConnection, subscribers: Sequence[Subscriber], now: datetime | None = None
) -> int:
    """Queue events past each subscriber's cursor; returns how many rows were queued."""
    now = now or utc_now()
    queued = 0
    con.execute("BEGIN TRANSACTION")
    try:
        for sub in subscribers:
            cursor = con.execute(
                "SELECT last_seq FROM publish_cursors WHERE subscriber = ?", [sub.name]
            ).fetchall()
            if cursor:
                after = int(cursor[0][0])
            elif sub.start == "now":
                after = int(
                    con.execute("SELECT coalesce(max(seq), 0) FROM outbox").fetchall()[0][0]
                )
            else:
                after = 0
            top = int(
                con.execute(
                    "SELECT coalesce(max(seq), $after) FROM outbox WHERE seq > $after",
                    {"after": after},
                ).fetchall()[0][0]
            )
            if top > after:
                types = list(sub.event_types)
                queued += int(
                    con.execute(
                        """INSERT OR IGNORE INTO deliveries (event_id, subscriber, seq, status,
                               attempts, next_attempt_at, enqueued_at, updated_at)
                           SELECT event_id, $name, seq, 'pending', 0, $now, $now, $now
                           FROM outbox
                           WHERE seq > $after AND seq <= $top
                             AND (len($types) = 0 OR list_contains($types, event_type))""",
                        {"name": sub.name, "now": now, "after": after, "top": top, "types": types},
                    ).fetchall()[0][0]
                )
            con.execute(
                "INSERT OR REPLACE INTO publish_cursors VALUES (?, ?, ?)", [sub.name, top, now]
            )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return queued


def supersede(
    con: duckdb.DuckDBPyConnection, names: Sequence[str], now: datetime | None = None
) -> int:
    """For state subscribers: open deliveries with a later event about the same subject queued
    for the same subscriber become ``superseded`` (only the latest state is sent)."""
    if not names:
        return 0
    now = now or utc_now()
    return int(
        con.execute(
            """UPDATE deliveries AS d SET status = 'superseded', updated_at = $now
               FROM (SELECT d2.event_id, d2.subscriber
                     FROM deliveries d2 JOIN outbox o USING (event_id)
                     WHERE list_contains($names, d2.subscriber)
                     QUALIFY d2.seq < max(d2.seq) OVER (
                         PARTITION BY d2.subscriber, o.event_type, o.subject)) AS old
               WHERE d.event_id = old.event_id AND d.subscriber = old.subscriber
                 AND d.status IN ('pending', 'retrying')""",
            {"names": list(names), "now": now},
        ).fetchall()[0][0]
    )


def claim(
    con: duckdb.DuckDBPyConnection,
    names: Sequence[str],
    limit: int,
    now: datetime | None = None,
) -> list[Claimed]:
    """Due open deliveries for these subscribers, oldest event first."""
    now = now or utc_now()
    rows = con.execute(
        f"""SELECT d.event_id, d.subscriber, d.seq, d.attempts, o.event_type, o.subject,
                   o.created_at, CAST(o.data AS VARCHAR)
            FROM deliveries d JOIN outbox o USING (event_id)
            WHERE d.status IN ('pending', 'retrying') AND d.next_attempt_at <= $now
              AND list_contains($names, d.subscriber)
            ORDER BY d.seq, d.subscriber
            LIMIT {int(limit)}""",
        {"now": now, "names": list(names)},
    ).fetchall()
    return [
        Claimed(e, s, int(q), int(a), t, subj, at, json.loads(data))
        for e, s, q, a, t, subj, at, data in rows
    ]


def next_due(con: duckdb.DuckDBPyConnection, names: Sequence[str]) -> datetime | None:
    """When the earliest open delivery of these subscribers is due (None: nothing open)."""
    return con.execute(
        """SELECT min(next_attempt_at) FROM deliveries
           WHERE status IN ('pending', 'retrying') AND list_contains($names, subscriber)""",
        {"names": list(names)},
    ).fetchall()[0][0]


@dataclass
class RecordResult:
    delivered: int = 0
    retrying: int = 0
    dead: int = 0


def record(
    con: duckdb.DuckDBPyConnection,
    claimed: Sequence[Claimed],
    attempts: Sequence[Attempt],
    policy: DeliveryRetryPolicy,
    *,
    now: datetime | None = None,
    uniform: Callable[[], float] = random.random,
) -> RecordResult:
    """Apply the outcome of each attempt (one transaction, one bulk update)."""
    now = now or utc_now()
    tries = {(c.event_id, c.subscriber): c.attempts for c in claimed}
    rows = []
    result = RecordResult()
    for a in attempts:
        made = tries[(a.event_id, a.subscriber)] + 1
        step = next_step(
            attempts=made,
            kind=a.kind,
            error=a.error,
            policy=policy,
            uniform=uniform,
            retry_after_s=a.retry_after_s,
        )
        setattr(result, step.status, getattr(result, step.status) + 1)
        rows.append(
            (
                a.event_id,
                a.subscriber,
                step.status,
                made,
                now + timedelta(seconds=step.delay_s),
                step.reason if step.status != "delivered" else None,
                a.http_status,
                now if step.status == "delivered" else None,
            )
        )
    if not rows:
        return result
    frame = pd.DataFrame(
        rows,
        columns=[
            "event_id", "subscriber", "status", "attempts", "next_at", "error", "http", "done_at",
        ],
    )  # fmt: skip
    frame["http"] = pd.array(frame["http"], dtype="Int64")
    frame["done_at"] = pd.to_datetime(frame["done_at"])
    frame["error"] = frame["error"].astype(object)
    con.register("attempt_results", frame)
    try:
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(
                """UPDATE deliveries AS d
                   SET status = r.status, attempts = r.attempts, next_attempt_at = r.next_at,
                       last_error = r.error, last_status = r.http, delivered_at = r.done_at,
                       updated_at = $now
                   FROM attempt_results AS r
                   WHERE d.event_id = r.event_id AND d.subscriber = r.subscriber""",
                {"now": now},
            )
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    finally:
        con.unregister("attempt_results")
    return result


# ------------------------------------------------------------------------------------ reading


def summary(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Counts per subscriber and status."""
    rows = con.execute(
        """SELECT subscriber, status, count(*), min(next_attempt_at)
           FROM deliveries GROUP BY ALL ORDER BY subscriber, status"""
    ).fetchall()
    return [
        {"subscriber": s, "status": st, "count": int(n), "nextAttemptAt": at.isoformat()}
        for s, st, n, at in rows
    ]


def problems(
    con: duckdb.DuckDBPyConnection, status: str | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    """Undelivered rows (pending, retrying, dead), oldest first, with their last error."""
    statuses = [status] if status else ["pending", "retrying", "dead"]
    cursor = con.execute(
        f"""SELECT d.event_id, d.subscriber, d.status, d.attempts, d.last_status, d.last_error,
                   d.next_attempt_at, o.event_type, o.subject, o.created_at
            FROM deliveries d JOIN outbox o USING (event_id)
            WHERE list_contains($statuses, d.status)
            ORDER BY d.seq, d.subscriber LIMIT {int(limit)}""",
        {"statuses": statuses},
    )
    columns = ["eventId", "subscriber", "status", "attempts", "lastStatus", "lastError",
               "nextAttemptAt", "eventType", "subject", "createdAt"]  # fmt: skip
    out = []
    for row in cursor.fetchall():
        item = dict(zip(columns, row, strict=True))
        for key in ("nextAttemptAt", "createdAt"):
            item[key] = item[key].isoformat()
        out.append(item)
    return out


def replay_dead(
    con: duckdb.DuckDBPyConnection,
    *,
    subscriber: str | None = None,
    event_id: str | None = None,
    now: datetime | None = None,
) -> int:
    """Dead deliveries back to ``pending`` with a fresh budget of attempts; returns how many."""
    now = now or utc_now()
    return int(
        con.execute(
            """UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = $now,
                   updated_at = $now
               WHERE status = 'dead' AND ($sub IS NULL OR subscriber = $sub)
                 AND ($event IS NULL OR event_id = $event)""",
            {"now": now, "sub": subscriber, "event": event_id},
        ).fetchall()[0][0]
    )
