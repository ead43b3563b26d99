"""The ``drill`` flow: a DR drill (baseline verification, restore, failover, recovery), weekly."""

from __future__ import annotations

from typing import Any

from prefect import flow

from ecoperf_core.runtime import run_in_background
from tasks.deploy import publish_report, run_drill


@flow(name="drill", log_prints=True)
def drill_flow(
    environment: str = "dr", backup: str | None = None, policy: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Drill the DR ``environment``: verdict PolicyMet / PolicyBreached with measured RTO and
    RPO, stored, emitted as an event (engine ``drill``) and published as a Markdown artifact.

    Args:
        environment: the DR environment (its requests' ``environment`` value).
        backup: restore this earlier backup (with its manifest) instead of taking a fresh one.
        policy: a whole policy as a mapping; default the policy file.
    """
    run_in_background()
    drill = run_drill(environment, backup, policy)
    publish_report(
        drill["report"],
        key=f"drill-{environment.lower()}",
        description=f"DR drill {environment}: {drill['verdict']}",
    )
    return drill
