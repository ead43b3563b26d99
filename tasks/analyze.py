"""Analysis tasks: one coarse task for the whole warehouse (never one per entity or metric).

The detectors run over whole fleets as matrices inside one writer transaction; splitting them per
entity would multiply Prefect's per-task overhead and the writer's open/close for nothing.
"""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.logging import get_run_logger

from ecoperf_core.errors import NotFoundError
from ecoperf_core.service import Ecoperf
from tasks.common import TRANSIENT_RETRIES


@task(name="detect-and-store", **TRANSIENT_RETRIES)
def detect_and_store() -> dict[str, Any]:
    """Change points and anomalies on every new complete rollup window, stored with evidence."""
    logger = get_run_logger()
    try:
        result = Ecoperf().analyze()
    except NotFoundError as exc:
        logger.warning("analyze skipped: %s", exc)
        return {"skipped": str(exc)}
    summary = result.summary()
    logger.info(
        "analyze: %d series, %d points, %d new detections %s in %.2f s",
        summary["series"],
        summary["points"],
        summary["stored"],
        summary["byDetector"],
        summary["seconds"],
    )
    return summary
