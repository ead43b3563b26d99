"""Circuit breakers for outbound calls (hooks, and any publisher that wants one).

Classic three states, one breaker per target (a URL or a command):

- **closed**: calls go through; ``failures`` consecutive failures open it;
- **open**: calls are refused at once (:class:`BreakerOpenError`) for ``cooldown_s``, so a dead
  receiver costs a flow nothing instead of a timeout per call;
- **half-open**: after the cool-down one trial call goes through; success closes the breaker,
  failure opens it again for another cool-down.

State lives in one JSON file (``<ECOPERF_HOME>/breakers.json``) shared by every process (flows
run in their own processes), read-modify-written under an exclusive ``flock`` and replaced
atomically (temp file, fsync, rename), so ``ecosystem-perf status`` shows what the last call saw.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from ecoperf_core.errors import TransientError

State = Literal["closed", "open", "half_open"]
T = TypeVar("T")


class BreakerOpenError(TransientError):
    """The target's breaker is open: the call was not made."""


@dataclass
class BreakerState:
    state: State = "closed"
    consecutive_failures: int = 0
    opened_at: float | None = None  # epoch seconds
    last_error: str | None = None
    last_success_at: float | None = None
    last_failure_at: float | None = None
    calls: int = 0
    refused: int = 0


@dataclass(frozen=True)
class BreakerSettings:
    failures: int = 3
    cooldown_s: float = 60.0


class BreakerStore:
    """The shared state file of every breaker."""

    def __init__(self, path: Path, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self.clock = clock

    @contextmanager
    def _locked(self) -> Iterator[dict[str, Any]]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path.with_name(self.path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            data = self._read()
            yield data
            self._write(data)
        finally:
            os.close(fd)

    def _read(self) -> dict[str, Any]:
        try:
            return dict(json.loads(self.path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            return {}
        except (ValueError, OSError):
            # A damaged state file must not stop deployments: start closed (and say so).
            return {}

    def _write(self, data: dict[str, Any]) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".breakers-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(data, handle, indent=2, sort_keys=True)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def all(self) -> dict[str, BreakerState]:
        return {name: BreakerState(**raw) for name, raw in self._read().items()}

    def get(self, name: str) -> BreakerState:
        raw = self._read().get(name)
        return BreakerState(**raw) if raw else BreakerState()

    # -- transitions --------------------------------------------------------------------------
    def acquire(self, name: str, settings: BreakerSettings) -> State:
        """May a call to ``name`` go ahead? Raises :class:`BreakerOpenError` while open; after
        the cool-down the caller's call is the half-open trial."""
        refusal = None
        with self._locked() as data:
            state = BreakerState(**data.get(name, {}))
            now = self.clock()
            if state.state == "open":
                since = now - (state.opened_at or now)
                if since < settings.cooldown_s:
                    state.refused += 1
                    refusal = (
                        f"circuit breaker open for {name}: {state.consecutive_failures} "
                        f"consecutive failures (last: {state.last_error}); next trial in "
                        f"{settings.cooldown_s - since:.0f} s"
                    )
                else:
                    state.state = "half_open"
            if refusal is None:
                state.calls += 1
            data[name] = asdict(state)
        # Raised outside the lock's block, so the refusal count above is written.
        if refusal is not None:
            raise BreakerOpenError(refusal)
        return state.state

    def record_success(self, name: str) -> None:
        with self._locked() as data:
            state = BreakerState(**data.get(name, {}))
            state.state = "closed"
            state.consecutive_failures = 0
            state.opened_at = None
            state.last_success_at = self.clock()
            data[name] = asdict(state)

    def record_failure(self, name: str, error: str, settings: BreakerSettings) -> State:
        with self._locked() as data:
            state = BreakerState(**data.get(name, {}))
            now = self.clock()
            state.consecutive_failures += 1
            state.last_error = error[:300]
            state.last_failure_at = now
            # A failed half-open trial re-opens at once; a closed breaker opens at the threshold.
            if state.state == "half_open" or state.consecutive_failures >= settings.failures:
                state.state = "open"
                state.opened_at = now
            data[name] = asdict(state)
            return state.state

    def call(self, name: str, settings: BreakerSettings, fn: Callable[[], T]) -> T:
        """Run ``fn`` through the breaker of ``name``: refused while open, outcome recorded."""
        self.acquire(name, settings)
        try:
            result = fn()
        except Exception as exc:
            self.record_failure(name, f"{type(exc).__name__}: {exc}", settings)
            raise
        self.record_success(name)
        return result


def breaker_path(home: Path) -> Path:
    return home / "breakers.json"


def breaker_status(home: Path) -> dict[str, dict[str, Any]]:
    """Every breaker's state, for ``ecosystem-perf status`` (empty when none was ever used)."""
    return {name: asdict(state) for name, state in BreakerStore(breaker_path(home)).all().items()}
