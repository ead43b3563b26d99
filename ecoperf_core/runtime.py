"""Process-level runtime behaviour shared by the flows.

Flows are batch work; the API (and a user's shell) on the same machine are latency work. On two
cores one analysis flow (DuckDB on every core) left the API process runnable but not running for
tens of milliseconds: bench/api.py's p99 was 77-105 ms with the flow at the same priority and
14 ms with the flow at nice 10 (docs/api.md). So every flow starts by lowering the CPU priority of
its own process, not by asking anything of the API.
"""

from __future__ import annotations

import os
from pathlib import Path

_TASKS = Path("/proc/self/task")


def lower_priority(nice: int) -> int:
    """Run every thread of this process at a nice value of at least ``nice``; return the calling
    thread's nice value afterwards.

    Linux keeps a nice value per thread and a new thread inherits its creator's, so all existing
    threads are changed (Prefect's and DuckDB's pools included) and later ones follow. Never raises
    priority (a lower nice value needs privileges and is not ours to take) and never fails a flow:
    a platform without ``setpriority`` or a thread that ended meanwhile is skipped.
    """
    if not hasattr(os, "setpriority"):
        return 0
    threads = [int(t) for t in os.listdir(_TASKS)] if _TASKS.is_dir() else [0]
    for thread in threads:
        try:
            if os.getpriority(os.PRIO_PROCESS, thread) < nice:
                os.setpriority(os.PRIO_PROCESS, thread, nice)
        except OSError:  # the thread ended, or the call is not permitted here
            continue
    return os.getpriority(os.PRIO_PROCESS, 0)


def run_in_background() -> None:
    """What every flow calls first: the flow's process yields the CPU to latency work
    (``ECOPERF_FLOW_NICE``, default 10; 0 leaves the priority alone)."""
    from ecoperf_core.settings import get_settings

    nice = get_settings().flow_nice
    if nice > 0:
        lower_priority(nice)
