"""The publisher: rounds of queue → claim → send → record until nothing is due.

Only one publisher delivers at a time (an exclusive lock file beside the warehouse, released by the
kernel if the process dies), so a scheduled publish and an on-demand ``outbox deliver`` never send
the same claim twice. The warehouse is held only for the short queue/claim and record steps.
"""

from __future__ import annotations

import fcntl
import os
import random
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ecoperf_core.errors import TransientError
from ecoperf_core.evaluation.store import utc_now
from ecoperf_core.policy import Policy
from ecoperf_core.publish import delivery
from ecoperf_core.publish.alertmanager import AlertmanagerSender, refresh_firing
from ecoperf_core.publish.config import (
    AlertmanagerSubscriber,
    HaproxySubscriber,
    Subscriber,
    WebhookSubscriber,
)
from ecoperf_core.publish.delivery import Attempt, Claimed


class Sender(Protocol):
    def send(self, items: Sequence[Claimed]) -> list[Attempt]: ...

    def close(self) -> None: ...


SenderFactory = Callable[[Subscriber, Policy], Sender]


class PublisherBusyError(TransientError):
    """Another publisher is delivering right now."""


def _builtin_sender(sub: Subscriber, policy: Policy) -> Sender | None:
    timeout = policy.publish.retry.timeout_s
    if isinstance(sub, WebhookSubscriber):
        from ecoperf_core.publish.webhooks import WebhookSender

        return WebhookSender(sub, timeout)
    if isinstance(sub, AlertmanagerSubscriber):
        return AlertmanagerSender(sub, policy.publish.alerts, timeout)
    if isinstance(sub, HaproxySubscriber):
        from ecoperf_core.publish.haproxy import HaproxySender

        return HaproxySender(sub, timeout)
    return None


@contextmanager
def publisher_lock(db_path: Path, *, wait_s: float) -> Iterator[None]:
    path = db_path.with_name(db_path.name + ".publish.lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + wait_s
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise PublisherBusyError(
                        f"another publisher is delivering the outbox of {db_path}; try later"
                    ) from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)


@dataclass
class PublishReport:
    queued: int = 0
    superseded: int = 0
    delivered: int = 0
    retrying: int = 0
    dead: int = 0
    rounds: int = 0
    seconds: float = 0.0
    open_left: int = 0
    refreshed: int = 0  # firing Alertmanager alerts re-sent with a fresh endsAt
    skipped: dict[str, str] = field(default_factory=dict)  # subscriber -> why it was not served

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def deliver(
    db_path: Path,
    subscribers: Sequence[Subscriber],
    policy: Policy,
    *,
    extra_senders: dict[str, SenderFactory] | None = None,
    batch: int = 2000,
    max_seconds: float = 50.0,
    wait_for_retries: bool = False,
    lock_timeout_s: float = 600.0,
    idle_poll_s: float = 0.0,
) -> PublishReport:
    """Deliver due events until none is due (``wait_for_retries``: until none is open at all, i.e.
    every delivery is delivered, dead or superseded) or ``max_seconds`` passed.

    ``idle_poll_s > 0`` keeps polling the outbox for new events while idle (a long-running
    publisher); the run still ends at ``max_seconds``.
    """
    from ecoperf_core.warehouse import writer

    started = time.monotonic()
    report = PublishReport()
    senders: dict[str, Sender] = {}
    for sub in subscribers:
        factory = (extra_senders or {}).get(sub.kind)
        sender = factory(sub, policy) if factory else _builtin_sender(sub, policy)
        if sender is None:
            report.skipped[sub.name] = f"no {sub.kind} sender in this process"
        else:
            senders[sub.name] = sender
    active = [s for s in subscribers if s.name in senders]
    names = [s.name for s in active]
    state_names = [s.name for s in active if s.latest_only]
    uniform = random.random
    unrecorded: tuple[list[Claimed], list[Attempt]] | None = None

    def record_sent(con: Any) -> None:
        # The last round's outcomes are recorded in the next round's writer session: one warehouse
        # open per round instead of two (each open waits for the lock and checkpoints on close).
        nonlocal unrecorded
        if unrecorded is None:
            return
        result = delivery.record(con, *unrecorded, policy.publish.retry, uniform=uniform)
        report.delivered += result.delivered
        report.retrying += result.retrying
        report.dead += result.dead
        unrecorded = None

    try:
        with publisher_lock(db_path, wait_s=min(lock_timeout_s, max_seconds)):
            while names:
                report.rounds += 1
                with writer(db_path, timeout_s=lock_timeout_s) as con:
                    record_sent(con)
                    report.queued += delivery.enqueue(con, active)
                    report.superseded += delivery.supersede(con, state_names)
                    claimed = delivery.claim(con, names, batch)
                    due = None if claimed else delivery.next_due(con, names)
                if claimed:
                    attempts: list[Attempt] = []
                    for name, sender in senders.items():
                        mine = [c for c in claimed if c.subscriber == name]
                        if mine:
                            attempts.extend(sender.send(mine))
                    unrecorded = (claimed, attempts)
                elapsed = time.monotonic() - started
                if elapsed >= max_seconds:
                    break
                if claimed:
                    continue
                if due is not None and wait_for_retries:
                    wait = (due - utc_now()).total_seconds()
                    time.sleep(min(max(wait, 0.01), max_seconds - elapsed, 1.0))
                elif idle_poll_s > 0:
                    time.sleep(min(idle_poll_s, max_seconds - elapsed))
                else:
                    break
            if names:
                with writer(db_path, timeout_s=lock_timeout_s) as con:
                    record_sent(con)
                    refreshing = [s for s in senders.values() if isinstance(s, AlertmanagerSender)]
                    for sender in refreshing:
                        count, error = refresh_firing(sender, con)
                        report.refreshed += count
                        if error:
                            report.skipped[sender.subscriber.name] = f"refresh failed: {error}"
                    report.open_left = int(
                        con.execute(
                            """SELECT count(*) FROM deliveries
                               WHERE status IN ('pending', 'retrying')
                                 AND list_contains($names, subscriber)""",
                            {"names": names},
                        ).fetchall()[0][0]
                    )
    finally:
        for sender in senders.values():
            sender.close()
    report.seconds = round(time.monotonic() - started, 3)
    return report
