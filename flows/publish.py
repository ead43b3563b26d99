"""The ``publish`` flow: what the API serves and what it accepted, kept in step with the warehouse.

Run after the evaluate flow (and on its own schedule): load the API's spooled decisions into the
decision log, catch the events feed up, and publish a fresh serving snapshot.
"""

from __future__ import annotations

from typing import Any

from prefect import flow

from ecoperf_core.runtime import run_in_background
from tasks.publish import (
    deliver_outbox,
    export_events,
    load_spooled_decisions,
    publish_dashboard,
    publish_snapshot,
)


@flow(name="publish", log_prints=True)
def publish_flow(load_spool: bool = True) -> dict[str, Any]:
    """Spool → warehouse, outbox → feed, warehouse → snapshot and dashboard model, outbox →
    subscribers; one short unit of work each."""
    run_in_background()
    spool = load_spooled_decisions() if load_spool else {"skipped": True}
    result = {"spool": spool, "events": export_events(), "snapshot": publish_snapshot()}
    result["dashboard"] = publish_dashboard()
    result["deliveries"] = deliver_outbox()  # last: a slow receiver must not delay the snapshot
    return result
