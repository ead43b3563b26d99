"""Prometheus pull task: thin wrapper over :mod:`ecoperf_core.ingest.prometheus`."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from prefect import task
from prefect.logging import get_run_logger

from tasks.common import TRANSIENT_RETRIES


@task(name="pull-prometheus", **TRANSIENT_RETRIES)
def pull_prometheus(
    url: str,
    mapping: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    step_s: float | None = None,
) -> dict[str, Any]:
    """query_range every mapped metric and load the new points (a Prometheus outage retries)."""
    from ecoperf_core.service import Ecoperf

    report = Ecoperf().ingest_prometheus(
        url, Path(mapping) if mapping else None, start, end, step_s
    )
    result = report.to_dict()
    get_run_logger().info(
        "prometheus: %s points, %s new, %s batches",
        result["points"],
        result["newPoints"],
        len(result["batches"]),
    )
    return result
