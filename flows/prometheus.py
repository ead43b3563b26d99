"""The ``ingest-prometheus`` flow: pull a Prometheus through the mapping, then roll up.

Scheduled (``ECOPERF_PROMETHEUS_URL`` set) it re-reads the mapping's lookback every run; the
overlap costs nothing because points already stored are dropped before loading.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prefect import flow

from ecoperf_core.runtime import run_in_background
from tasks.prometheus import pull_prometheus


@flow(name="ingest-prometheus", log_prints=True)
def prometheus_flow(
    url: str | None = None,
    mapping: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    step_s: float | None = None,
) -> dict[str, Any]:
    run_in_background()
    from ecoperf_core.errors import FieldProblem, ValidationError
    from ecoperf_core.ingest.prometheus import PrometheusSettings

    settings = PrometheusSettings()
    url = url or settings.url
    if not url:
        raise ValidationError(
            "prometheus", [FieldProblem("url", "no URL (ECOPERF_PROMETHEUS_URL)")]
        )
    mapping = mapping or (str(settings.mapping) if settings.mapping else None)
    return pull_prometheus(url, mapping, start, end, step_s)
