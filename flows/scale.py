"""Sharded sub-flows of ``analyze`` and ``evaluate``, on the task runner the settings name.

Prefect's default (a thread pool in the flow's process) on one machine; a Dask cluster through
prefect-dask when ``ECOPERF_SCALE_DASK_ADDRESS`` names its scheduler. The same tasks, the same
Parquet exchange, the same single writer either way.
"""

from __future__ import annotations

from typing import Any

from prefect import flow

from ecoperf_core.runtime import run_in_background
from ecoperf_core.scale.settings import ScaleSettings
from tasks.scale import (
    analyze_shard,
    evaluate_shard,
    land_analysis,
    land_evaluation,
    plan_analysis,
    plan_evaluation,
)


def shard_task_runner(settings: ScaleSettings | None = None) -> Any:
    """The task runner the shard sub-flows run on."""
    settings = settings or ScaleSettings()
    if settings.dask_address:
        from prefect_dask import DaskTaskRunner

        return DaskTaskRunner(address=settings.dask_address)
    from prefect.task_runners import ThreadPoolTaskRunner

    return ThreadPoolTaskRunner(max_workers=settings.local_workers)


def _intervals(outcomes: list[Any]) -> list[list[float]]:
    return [[o.started, o.ended] for o in outcomes]


@flow(name="analyze-shards")
def analyze_shards_flow(shards: int) -> dict[str, Any]:
    """Plan, the shards in parallel, one landing."""
    run_in_background()
    plan, planned = plan_analysis(shards)
    if plan is None:
        return {"skipped": "the warehouse holds no data yet", "computeIntervals": [planned]}
    futures = [analyze_shard.submit(plan, k) for k in range(shards)]
    outcomes = [f.result() for f in futures]
    summary = land_analysis(plan, outcomes)
    summary["computeIntervals"] = [planned, *_intervals(outcomes), summary.pop("landInterval")]
    summary["shardProcesses"] = sorted({o.pid for o in outcomes})
    return summary


@flow(name="evaluate-shards")
def evaluate_shards_flow(
    as_of: str, policy: dict[str, Any] | None, risk_kinds: list[str], shards: int
) -> dict[str, Any]:
    """QNET and Qerberos: plan, the shards in parallel, the fleet step and the store."""
    run_in_background()
    plan, planned = plan_evaluation(as_of, policy, risk_kinds, shards)
    futures = [evaluate_shard.submit(plan, k) for k in range(shards)]
    outcomes = [f.result() for f in futures]
    summary = land_evaluation(plan, outcomes)
    summary["computeIntervals"] = [planned, *_intervals(outcomes), summary.pop("landInterval")]
    summary["shardProcesses"] = sorted({o.pid for o in outcomes})
    return summary


def run_analyze_shards(settings: ScaleSettings) -> dict[str, Any]:
    return analyze_shards_flow.with_options(task_runner=shard_task_runner(settings))(
        settings.shards
    )


def run_evaluate_shards(
    settings: ScaleSettings, as_of: str, policy: dict[str, Any] | None, risk_kinds: list[str]
) -> dict[str, Any]:
    return evaluate_shards_flow.with_options(task_runner=shard_task_runner(settings))(
        as_of, policy, risk_kinds, settings.shards
    )
