"""Outbound hooks: tell the systems that act (load balancer, deploy tool, pager) what was decided.

A hook target is an http(s) URL (the decision is POSTed as JSON, with an ``Idempotency-Key``
header carrying the decision's call key) or a command line (run without a shell, the decision as
JSON on stdin, ``ECOPERF_HOOK`` and ``ECOPERF_CALL_KEY`` in its environment). 2xx / exit 0 is
success; anything else, a timeout or a refused connection is a failure.

Exactly once per decision: every call is keyed by the decision (``call_key``) in the warehouse's
``hook_calls`` ledger. The row is written *before* the call (``calling``) and settled after it
(``delivered`` / ``failed`` / ``breaker_open``); a key already ``delivered`` is never called
again, so re-running a flow over the same decisions calls nothing twice. A crash between the call
and the settle leaves ``calling``: the next run calls again with the same key, which a receiver
deduplicates on (the only alternative would be to lose the call).

Every call goes through the target's circuit breaker (:mod:`ecoperf_core.publish.breaker`), so a
receiver that keeps failing costs ``attempts`` tries once, then nothing until its cool-down.
The warehouse is never held open during a call.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ecoperf_core.policy import HooksPolicy
from ecoperf_core.publish.breaker import BreakerOpenError, BreakerSettings, BreakerStore
from ecoperf_core.warehouse import writer

HookStatus = Literal[
    "delivered", "already_delivered", "failed", "breaker_open", "not_configured", "shadow"
]


class HookCallError(Exception):
    """One failed call (non-2xx, non-zero exit, timeout, unreachable)."""


@dataclass
class HookResult:
    hook: str
    target: str
    call_key: str
    status: HookStatus
    attempts: int = 0
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.status in ("delivered", "already_delivered", "not_configured", "shadow")

    def to_dict(self) -> dict[str, Any]:
        return {
            "hook": self.hook,
            "target": self.target,
            "callKey": self.call_key,
            "status": self.status,
            "attempts": self.attempts,
            "detail": self.detail,
        }


def _call_once(hook: str, target: str, call_key: str, body: str, timeout_s: float) -> str:
    if target.startswith(("http://", "https://")):
        import httpx

        try:
            response = httpx.post(
                target,
                content=body,
                headers={
                    "Content-Type": "application/json",
                    "Idempotency-Key": call_key,
                    "X-Ecoperf-Hook": hook,
                },
                timeout=timeout_s,
            )
        except httpx.HTTPError as exc:
            raise HookCallError(f"{type(exc).__name__}: {exc}") from None
        if not 200 <= response.status_code < 300:
            raise HookCallError(f"HTTP {response.status_code}: {response.text[:200]}")
        return f"HTTP {response.status_code}"
    env = {**os.environ, "ECOPERF_HOOK": hook, "ECOPERF_CALL_KEY": call_key}
    try:
        done = subprocess.run(
            shlex.split(target),
            input=body,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise HookCallError(f"command timed out after {timeout_s:g} s") from None
    except OSError as exc:
        raise HookCallError(f"command could not start: {exc}") from None
    if done.returncode != 0:
        raise HookCallError(f"exit {done.returncode}: {done.stderr.strip()[:200]}")
    return "exit 0"


def _ledger_status(db_path: Path, call_key: str, timeout_s: float) -> str | None:
    with writer(db_path, timeout_s=timeout_s) as con:
        rows = con.execute(
            "SELECT status FROM hook_calls WHERE call_key = $k", {"k": call_key}
        ).fetchall()
    return rows[0][0] if rows else None


def _ledger_write(
    db_path: Path,
    timeout_s: float,
    *,
    call_key: str,
    run_key: str,
    hook: str,
    target: str,
    status: str,
    attempts: int,
    detail: str,
    payload: str,
) -> None:
    from ecoperf_core.evaluation.store import utc_now

    now = utc_now()
    with writer(db_path, timeout_s=timeout_s) as con:
        con.execute(
            """INSERT INTO hook_calls (call_key, run_key, hook, target, status, attempts, detail,
                                       payload, first_called_at, updated_at)
               VALUES ($k, $run, $hook, $target, $status, $attempts, $detail, $payload, $now, $now)
               ON CONFLICT (call_key) DO UPDATE SET
                   status = excluded.status,
                   attempts = hook_calls.attempts + excluded.attempts,
                   detail = excluded.detail,
                   updated_at = excluded.updated_at""",
            {
                "k": call_key,
                "run": run_key,
                "hook": hook,
                "target": target,
                "status": status,
                "attempts": attempts,
                "detail": detail,
                "payload": payload,
                "now": now,
            },
        )


def deliver(
    db_path: Path,
    breakers: BreakerStore,
    *,
    hook: str,
    target: str,
    call_key: str,
    run_key: str,
    payload: Mapping[str, Any],
    policy: HooksPolicy,
    timeout_s: float = 600.0,
) -> HookResult:
    """Call ``hook`` at ``target`` with ``payload`` exactly once per ``call_key``."""
    if not target:
        return HookResult(hook, target, call_key, "not_configured", 0, "no hook configured")
    if _ledger_status(db_path, call_key, timeout_s) == "delivered":
        return HookResult(hook, target, call_key, "already_delivered", 0, "delivered earlier")
    body = json.dumps({**payload, "callKey": call_key, "hook": hook}, default=str)
    common = {"call_key": call_key, "run_key": run_key, "hook": hook, "target": target}
    _ledger_write(
        db_path, timeout_s, **common, status="calling", attempts=0, detail="", payload=body
    )
    settings = BreakerSettings(policy.breaker_failures, policy.breaker_cooldown_s)
    name = f"{hook} {target}"
    attempts = 0
    status: HookStatus = "failed"
    detail = ""
    for attempt in range(policy.attempts):
        try:
            attempts += 1
            detail = breakers.call(
                name, settings, lambda: _call_once(hook, target, call_key, body, policy.timeout_s)
            )
            status = "delivered"
            break
        except BreakerOpenError as exc:
            attempts -= 1  # refused by the breaker: no call was made
            status, detail = "breaker_open", str(exc)
            break
        except HookCallError as exc:
            status, detail = "failed", str(exc)
            if attempt + 1 < policy.attempts:
                time.sleep(policy.retry_delay_s)
    if status == "failed" and breakers.get(name).state == "open":
        status, detail = "breaker_open", f"{detail}; circuit breaker now open"
    _ledger_write(
        db_path, timeout_s, **common, status=status, attempts=attempts, detail=detail, payload=body
    )
    return HookResult(hook, target, call_key, status, attempts, detail)
