"""The ``deploy`` flow: gate check → canary → monitor → increase traffic → full deployment, or
block / roll back (the spec's deployment diagram); blue-green validation with ``strategy``."""

from __future__ import annotations

from typing import Any

from prefect import flow

from ecoperf_core.runtime import run_in_background
from tasks.deploy import publish_report, run_deployment


@flow(name="deploy", log_prints=True)
def deploy_flow(
    deployment: str,
    baseline: str,
    steps: list[float] | None = None,
    interval: str | None = None,
    environment: str = "production",
    strategy: str = "canary",
    mode: str = "history",
    gate_environment: str | None = None,
    hooks: dict[str, str] | None = None,
    policy: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Roll ``deployment`` out against ``baseline``, judged interval by interval.

    Args:
        deployment: candidate deployment id (e.g. v2.1.0).
        baseline: deployment it is compared with (e.g. v2.0.9).
        steps: traffic percentages, increasing, ending at 100 (default the policy's 5, 25, 50, 100).
        interval: each step's interval (e.g. 10m; default the policy's).
        environment: where the candidate runs.
        strategy: canary or blue-green.
        mode: history (judge stored samples from the candidate's first request) or live (start
            now, wait for each interval to fill).
        gate_environment: where the CI/CD gate is checked first (default the policy's, staging).
        hooks: traffic / rollback / switch targets (URL or command) overriding the policy's.
        policy: a whole policy as a mapping; default the policy file.
    """
    run_in_background()
    run = run_deployment(
        deployment,
        baseline,
        steps,
        interval,
        environment,
        strategy,
        mode,
        gate_environment,
        hooks,
        policy,
    )
    publish_report(
        run["report"],
        key=f"deploy-{run['runKey']}",
        description=f"deploy {deployment} vs {baseline}: {run['outcome']}",
    )
    return run
