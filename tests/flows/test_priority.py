"""Flows yield the CPU: every flow lowers its process (all threads, later ones too) to
``ECOPERF_FLOW_NICE`` before it computes, and never raises a priority."""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import json, os, sys, threading
start = int(sys.argv[1])
if start:
    os.nice(start)
before = threading.Thread(target=threading.Event().wait, args=(30,), daemon=True)
before.start()  # a thread that exists before, like Prefect's and DuckDB's pools
from ecoperf_core.runtime import run_in_background
run_in_background()
after_value = []
after = threading.Thread(target=lambda: after_value.append(os.getpriority(os.PRIO_PROCESS, 0)))
after.start(); after.join()
known = (threading.main_thread().native_id, before.native_id)
threads = {t: os.getpriority(os.PRIO_PROCESS, t) for t in known}
print(json.dumps({"threads": sorted(threads.values()), "new_thread": after_value[0],
                  "base": os.getpriority(os.PRIO_PROCESS, 0)}))
"""


def _probe(nice_setting: str | None, start: int = 0) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "ECOPERF_FLOW_NICE"}
    if nice_setting is not None:
        env["ECOPERF_FLOW_NICE"] = nice_setting
    env["PYTHONPATH"] = str(ROOT)
    run = subprocess.run(
        [sys.executable, "-c", PROBE, str(start)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )
    return json.loads(run.stdout.splitlines()[-1])


needs_linux = pytest.mark.skipif(
    not Path("/proc/self/task").is_dir(), reason="per-thread nice values are Linux's"
)


@needs_linux
def test_every_thread_and_every_later_thread_runs_at_the_flow_nice_value() -> None:
    base = os.getpriority(os.PRIO_PROCESS, 0)
    default = _probe(None)
    expected = max(base, 10)
    assert default["threads"] == [expected, expected]
    assert default["new_thread"] == expected
    custom = _probe("15")
    assert custom["threads"] == [max(base, 15)] * 2 and custom["new_thread"] == max(base, 15)


@needs_linux
def test_zero_leaves_the_priority_alone_and_a_lower_priority_is_never_raised() -> None:
    base = os.getpriority(os.PRIO_PROCESS, 0)
    assert _probe("0")["threads"] == [base, base]
    already = _probe("5", start=12)  # started lower than asked: stays there
    assert already["threads"] == [min(19, base + 12)] * 2  # nice values stop at 19


def test_the_setting_is_validated() -> None:
    from pydantic import ValidationError

    from ecoperf_core.settings import Settings

    with pytest.raises(ValidationError, match="flow_nice"):
        Settings(flow_nice=25)


def test_every_flow_lowers_its_priority_before_anything_else() -> None:
    """Each flow's first statement is the call (a flow that computes first would compete with
    the API for its first seconds)."""
    import ast

    from flows import analyze, deploy, drill, evaluate, ingest, prometheus, publish, rollup, scale

    flows = [
        obj
        for module in (analyze, deploy, drill, evaluate, ingest, prometheus, publish, rollup, scale)
        for obj in vars(module).values()
        if type(obj).__name__ == "Flow" and obj.fn.__module__ == module.__name__
    ]
    assert len(flows) >= 10
    for flow in flows:
        body = ast.parse(inspect.getsource(flow.fn).lstrip()).body[0].body
        if isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
            body = body[1:]  # the docstring
        first = body[0]
        assert (
            isinstance(first, ast.Expr)
            and isinstance(first.value, ast.Call)
            and getattr(first.value.func, "id", None) == "run_in_background"
        ), f"flow {flow.name!r} does not start with run_in_background()"
