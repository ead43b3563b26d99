"""The ``rollup`` flow: fold newly loaded batches into the windowed rollups."""

from __future__ import annotations

from typing import Any

from prefect import flow

from ecoperf_core.runtime import run_in_background
from tasks.rollup import compute_rollups


@flow(name="rollup", log_prints=True)
def rollup_flow(full: bool = False) -> dict[str, Any]:
    """Recompute rollup windows touched by new batches; ``full`` rebuilds every window."""
    run_in_background()
    return compute_rollups(full)
