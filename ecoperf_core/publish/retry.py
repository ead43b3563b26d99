"""What to do after a delivery attempt: pure functions of the attempt's result and the policy.

* success → ``delivered``;
* a terminal error (the receiver refused the event itself: most 4xx, a bad URL) → ``dead`` at once,
  since sending the same bytes again cannot succeed;
* a transient error (5xx, 408, 425, 429, a refused connection, a timeout) → ``retrying`` after an
  exponential back-off with jitter, until ``max_attempts`` attempts were made → ``dead``.

The back-off is "equal jitter": half of ``min(max_delay, base · 2^(n-1))`` fixed plus up to the
other half at random, so delays grow with every failure (no thundering herd of retries after an
outage, yet never a zero wait). A receiver's ``Retry-After`` raises the delay, capped at the max.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from ecoperf_core.policy import DeliveryRetryPolicy

Verdict = Literal["delivered", "retrying", "dead"]
ErrorKind = Literal["ok", "transient", "terminal"]

# Statuses that say "not now" rather than "never": timeouts, conflicts of an in-flight duplicate
# (409 is idempotency-key-in-use for some receivers), too early, throttled, and every 5xx.
_TRANSIENT_4XX = frozenset({408, 409, 425, 429})


def classify_http(status: int) -> ErrorKind:
    """2xx is success; 5xx and the "try later" 4xx are transient; anything else is terminal."""
    if 200 <= status < 300:
        return "ok"
    if status >= 500 or status in _TRANSIENT_4XX:
        return "transient"
    return "terminal"


def backoff_s(attempts: int, policy: DeliveryRetryPolicy, uniform: Callable[[], float]) -> float:
    """Delay before attempt ``attempts + 1`` after ``attempts`` failures; ``uniform()`` in [0, 1)."""
    ceiling = min(policy.max_delay_s, policy.base_delay_s * 2.0 ** max(0, attempts - 1))
    return ceiling / 2.0 + uniform() * ceiling / 2.0


@dataclass(frozen=True)
class NextStep:
    """The delivery row's next state: its status, and for ``retrying`` the wait before retrying."""

    status: Verdict
    delay_s: float = 0.0
    reason: str | None = None


def next_step(
    *,
    attempts: int,
    kind: ErrorKind,
    error: str | None,
    policy: DeliveryRetryPolicy,
    uniform: Callable[[], float],
    retry_after_s: float | None = None,
) -> NextStep:
    """Decide after an attempt; ``attempts`` counts the attempt just made."""
    if kind == "ok":
        return NextStep("delivered")
    if kind == "terminal":
        return NextStep("dead", reason=f"terminal error: {error}")
    if attempts >= policy.max_attempts:
        return NextStep("dead", reason=f"gave up after {attempts} attempts: {error}")
    delay = backoff_s(attempts, policy, uniform)
    if retry_after_s is not None and retry_after_s > delay:
        delay = min(retry_after_s, policy.max_delay_s)
    return NextStep("retrying", delay_s=delay, reason=error)
