"""Rollup tasks."""

from __future__ import annotations

from typing import Any

from prefect import task

from ecoperf_core.service import Ecoperf
from tasks.common import TRANSIENT_RETRIES


@task(name="compute-rollups", **TRANSIENT_RETRIES)
def compute_rollups(full: bool = False) -> dict[str, Any]:
    """Recompute the rollup windows touched by pending batches (all of them with ``full``)."""
    return Ecoperf().rollup(full=full).to_dict()
