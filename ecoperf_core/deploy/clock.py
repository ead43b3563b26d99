"""When may an interval be judged? The clock a deploy run waits on, injectable.

``HistoryClock`` judges stored history: every window is already in the warehouse, nothing waits.
``LiveClock`` waits (bounded) for wall-clock time to pass a window's end plus a grace for late
data, so a live run judges each interval once it has filled.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol

from ecoperf_core.errors import TransientError


class Clock(Protocol):
    def now(self) -> datetime: ...

    def wait_until(self, moment: datetime) -> None: ...


class HistoryClock:
    """Stored data: windows are judged at once; ``now`` is the end of the stored data."""

    def __init__(self, data_end: datetime) -> None:
        self.data_end = data_end

    def now(self) -> datetime:
        return self.data_end

    def wait_until(self, moment: datetime) -> None:
        return None


class LiveClock:
    """Wall clock (naive UTC, as the warehouse stores times); waits at most ``max_wait_s`` for
    any one window, so a run never hangs on a window that cannot fill."""

    def __init__(
        self,
        grace_s: float = 30.0,
        max_wait_s: float = 3600.0,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.grace = timedelta(seconds=grace_s)
        self.max_wait_s = max_wait_s
        self._sleep = sleep
        self._now = now or (lambda: datetime.now(UTC).replace(tzinfo=None))

    def now(self) -> datetime:
        return self._now()

    def wait_until(self, moment: datetime) -> None:
        target = moment + self.grace
        wait = (target - self.now()).total_seconds()
        if wait > self.max_wait_s:
            raise TransientError(
                f"window ends {wait:.0f} s from now, past the {self.max_wait_s:.0f} s wait bound"
            )
        while (left := (target - self.now()).total_seconds()) > 0:
            self._sleep(min(left, 1.0))
