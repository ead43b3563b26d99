"""Ingestion tasks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import task
from prefect.logging import get_run_logger

from ecoperf_core.service import Ecoperf
from tasks.common import TRANSIENT_RETRIES


@task(name="land-files", **TRANSIENT_RETRIES)
def land_files(paths: list[str]) -> list[str]:
    """Copy the given files into the landing zone; returns the landed paths."""
    return [str(path) for path in Ecoperf().land(Path(p) for p in paths)]


@task(name="load-landed-files", **TRANSIENT_RETRIES)
def load_landed_files(files: list[str] | None = None) -> dict[str, Any]:
    """Load landed files (all pending ones when ``files`` is None), one batch per file."""
    logger = get_run_logger()
    service = Ecoperf()
    targets = [Path(f) for f in files] if files is not None else None
    report = service.ingest_landed(targets)
    for result in report.rejected:
        logger.warning("rejected %s -> quarantine:\n%s", result.source, result.error)
    logger.info(
        "loaded %d files (%d rows), %d duplicates, %d rejected",
        len(report.loaded),
        sum(r.rows for r in report.loaded),
        len(report.duplicates),
        len(report.rejected),
    )
    return report.to_dict()
