"""Retry policy shared by tasks: retry what may pass later, never bad input."""

from __future__ import annotations

from typing import Any

from ecoperf_core.errors import TerminalError


def retry_unless_terminal(task: Any, task_run: Any, state: Any) -> bool:
    """Retry a failed task run unless it failed on a ``TerminalError`` (bad input, bad policy)."""
    try:
        state.result(raise_on_failure=True)
    except TerminalError:
        return False
    except Exception:
        return True
    return True


TRANSIENT_RETRIES: dict[str, Any] = {
    "retries": 3,
    "retry_delay_seconds": [5, 20, 60],
    "retry_condition_fn": retry_unless_terminal,
}
