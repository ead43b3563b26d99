"""Publish tasks: load the API's spooled decisions, export outbox events, publish the snapshot.

Thin wrappers over :mod:`ecoperf_core.api.spool`, :mod:`ecoperf_core.publish.events_feed` and
:mod:`ecoperf_core.api.snapshot`; each takes the warehouse for one short unit of work.
"""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.logging import get_run_logger

from tasks.common import TRANSIENT_RETRIES


@task(name="load-spooled-decisions", **TRANSIENT_RETRIES)
def load_spooled_decisions() -> dict[str, Any]:
    """Decisions the API accepted → decision log + outbox (idempotent by spool id)."""
    from ecoperf_core.api.settings import ApiPaths
    from ecoperf_core.api.spool import load_spool

    paths = ApiPaths()
    result = load_spool(
        paths.spool, paths.spool_archive, paths.core.db_path, paths.core.writer_lock_timeout_s
    ).to_dict()
    get_run_logger().info("spool: %s", result)
    return result


@task(name="export-events", **TRANSIENT_RETRIES)
def export_events() -> int:
    """Catch the events feed up with the outbox (normally done right after each commit)."""
    from ecoperf_core.api.settings import ApiPaths
    from ecoperf_core.publish.events_feed import export_events as export
    from ecoperf_core.publish.events_feed import prune
    from ecoperf_core.warehouse import writer

    paths = ApiPaths()
    if not paths.core.db_path.exists():
        return 0
    with writer(paths.core.db_path, timeout_s=paths.core.writer_lock_timeout_s) as con:
        count = export(con, paths.events)
    prune(paths.events)
    return count


@task(name="publish-snapshot", **TRANSIENT_RETRIES)
def publish_snapshot() -> dict[str, Any]:
    """Build the serving snapshot under a shared reader and publish it by atomic rename."""
    from ecoperf_core.api.settings import ApiPaths
    from ecoperf_core.api.snapshot import build_snapshot, write_snapshot

    paths = ApiPaths()
    snapshot = build_snapshot(
        paths.core.db_path, paths.core.writer_lock_timeout_s, paths.api.recent_decisions
    )
    write_snapshot(snapshot, paths.snapshot)
    return {
        "path": str(paths.snapshot),
        "asOf": snapshot["asOf"],
        "decisionsInForce": sum(len(v) for v in snapshot["latest"].values()),
        "operations": len(snapshot["operations"]),
    }


@task(name="publish-dashboard", **TRANSIENT_RETRIES)
def publish_dashboard() -> dict[str, Any]:
    """Build the dashboard model under a shared reader and publish it beside the snapshot."""
    from ecoperf_core.api.settings import ApiPaths
    from ecoperf_core.dashboard.model import build_dashboard, dashboard_path, write_dashboard

    paths = ApiPaths()
    model = build_dashboard(paths.core.db_path, paths.core.writer_lock_timeout_s)
    path = write_dashboard(model, dashboard_path(paths.snapshot))
    return {"path": str(path), "asOf": model["asOf"], "series": len(model["series"])}


@task(name="deliver-outbox", **TRANSIENT_RETRIES)
def deliver_outbox() -> dict[str, Any]:
    """Outbox → subscribers (webhooks, Alertmanager, HAProxy, Prefect events), for at most
    ``ECOPERF_PUBLISH_MAX_SECONDS``; what is not due yet waits for the next run."""
    from ecoperf_core.service import Ecoperf
    from tasks.prefect_events import prefect_sender_factories

    report = Ecoperf().deliver_outbox(extra_senders=prefect_sender_factories()).to_dict()
    get_run_logger().info("outbox delivery: %s", report)
    return report
