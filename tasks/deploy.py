"""Deploy and drill tasks: one coarse task each (the runner judges every interval itself)."""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.logging import get_run_logger

from ecoperf_core.service import Ecoperf
from tasks.common import TRANSIENT_RETRIES


@task(name="deploy-run", **TRANSIENT_RETRIES)
def run_deployment(
    deployment: str,
    baseline: str,
    steps: list[float] | None,
    interval: str | None,
    environment: str,
    strategy: str,
    mode: str,
    gate_environment: str | None,
    hooks: dict[str, str] | None,
    policy: dict[str, Any] | None,
) -> dict[str, Any]:
    """Gate check, canary steps (or blue-green validation), hooks; a retry after a crash resumes
    without calling a delivered hook again (the hook ledger is keyed by decision)."""
    run = Ecoperf().deploy(
        deployment,
        baseline,
        environment=environment,
        strategy=strategy,
        steps=steps,
        interval=interval,
        mode=mode,
        gate_environment=gate_environment,
        hooks=hooks,
        policy=policy,
    )
    get_run_logger().info("deploy %s: %s (%s)", deployment, run.outcome, run.reason)
    return {**run.to_dict(), "report": run.report}


@task(name="drill-run", **TRANSIENT_RETRIES)
def run_drill(
    environment: str, backup: str | None, policy: dict[str, Any] | None
) -> dict[str, Any]:
    """The four parts of a DR drill on a real backup; verdict, RTO and RPO stored."""
    from pathlib import Path

    drill = Ecoperf().drill(
        environment, backup=None if backup is None else Path(backup), policy=policy
    )
    get_run_logger().info(
        "drill %s: %s (RTO %s s, RPO %s s)",
        environment,
        drill.verdict,
        drill.rto_seconds,
        drill.rpo_seconds,
    )
    return {**drill.to_dict(), "report": drill.report}


@task(name="publish-report")
def publish_report(markdown: str, key: str, description: str) -> str:
    """The run's report as a Prefect Markdown artifact (visible on the flow run in the UI)."""
    return str(create_markdown_artifact(markdown=markdown, key=key, description=description))
