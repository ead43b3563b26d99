"""The ``ingest`` flow: land files given to it, then load everything waiting in the landing zone."""

from __future__ import annotations

from typing import Any

from prefect import flow

from ecoperf_core.runtime import run_in_background
from tasks.ingest import land_files, load_landed_files


@flow(name="ingest", log_prints=True)
def ingest_flow(paths: list[str] | None = None) -> dict[str, Any]:
    """Load new metric files into the warehouse.

    Args:
        paths: files to land first (CSV, Parquet, JSON Lines); the scheduled run gives none and
            loads whatever arrived in the landing folder.
    """
    run_in_background()
    if paths:
        land_files(paths)
    return load_landed_files()
