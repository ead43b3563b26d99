"""The ``analyze`` flow: detectors over the rollups, detections stored for the engines."""

from __future__ import annotations

from typing import Any

from prefect import flow

from ecoperf_core.runtime import run_in_background
from tasks.analyze import detect_and_store


@flow(name="analyze", log_prints=True)
def analyze_flow() -> dict[str, Any]:
    """Run change-point and anomaly detection on the windows rolled up since the last run.

    Scheduled between rollup and evaluate (``ECOPERF_ANALYZE_CRON``), so the evaluation's
    regressionScore and Qerberos signals read detections of the same data. Incremental: a run on
    unchanged data analyses nothing and stores nothing.
    """
    run_in_background()
    from ecoperf_core.scale.settings import ScaleSettings

    scale = ScaleSettings()
    if scale.shards > 1:  # ECOPERF_SCALE_SHARDS: entity shards on threads or a Dask cluster
        from flows.scale import run_analyze_shards

        return run_analyze_shards(scale)
    return detect_and_store()
