"""Shard tasks of the analyze and evaluate flows (``ECOPERF_SCALE_SHARDS`` > 1).

Coarse by design: one plan task, one task per shard (tens, never one per entity: a Dask task
costs ~75 ms of scheduling), one landing task. Each returns the wall-clock interval of its own
compute, so a flow can tell its orchestration overhead from the work.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prefect import task
from prefect.logging import get_run_logger

from ecoperf_core.errors import NotFoundError
from ecoperf_core.scale.settings import ScaleSettings, exchange_root
from ecoperf_core.service import Ecoperf
from tasks.common import TRANSIENT_RETRIES

if TYPE_CHECKING:
    from ecoperf_core.scale.analyze import ShardOutcome, ShardPlan
    from ecoperf_core.scale.evaluate import EvaluatePlan

# The analysis and evaluation modules (numpy, scipy, pandas) are imported inside the tasks, as
# the single-task path does, so their import counts as the tasks' work, not the flow's.


def _exchange(service: Ecoperf) -> Path:
    return exchange_root(ScaleSettings(), service.settings.home)


@task(name="plan-analyze-shards", **TRANSIENT_RETRIES)
def plan_analysis(shards: int) -> tuple[ShardPlan | None, list[float]]:
    """Fleet-wide spans and medians; the shards' rollups and state exported as Parquet."""
    from ecoperf_core.scale import analyze as sharded_analyze

    started = time.time()
    service = Ecoperf()
    try:
        plan = sharded_analyze.plan(
            service.db_path,
            _exchange(service),
            shards,
            timeout_s=service.settings.writer_lock_timeout_s,
        )
    except NotFoundError as exc:
        get_run_logger().warning("analyze skipped: %s", exc)
        return None, [started, time.time()]
    return plan, [started, time.time()]


@task(name="analyze-shard", **TRANSIENT_RETRIES)
def analyze_shard(plan: ShardPlan, shard: int) -> ShardOutcome:
    """Detectors over one shard's entities; detections and state written as Parquet."""
    from ecoperf_core.scale import analyze as sharded_analyze

    return sharded_analyze.run_shard(plan, shard)


@task(name="land-analysis")
def land_analysis(plan: ShardPlan, outcomes: list[ShardOutcome]) -> dict[str, Any]:
    """Every shard's rows into the warehouse in one writer transaction. Not retried: a plan
    overtaken by another run stays overtaken; the next scheduled run does the work."""
    from ecoperf_core.scale import analyze as sharded_analyze

    started = time.time()
    service = Ecoperf()
    result = sharded_analyze.land(
        service.db_path, plan, outcomes, timeout_s=service.settings.writer_lock_timeout_s
    )
    summary = result.summary()
    get_run_logger().info(
        "analyze (%d shards): %d series, %d points, %d new detections %s",
        plan.shards,
        summary["series"],
        summary["points"],
        summary["stored"],
        summary["byDetector"],
    )
    return {**summary, "shards": plan.shards, "landInterval": [started, time.time()]}


@task(name="plan-evaluate-shards", **TRANSIENT_RETRIES)
def plan_evaluation(
    as_of: str, policy: dict[str, Any] | None, risk_kinds: list[str], shards: int
) -> tuple[EvaluatePlan, list[float]]:
    """The shards' rollups, raw requests and detections exported; the fleet's trend medians."""
    from ecoperf_core.scale import evaluate as sharded_evaluate

    started = time.time()
    service = Ecoperf()
    plan = sharded_evaluate.plan(
        service.evaluation_context(policy),
        _exchange(service),
        shards,
        as_of,
        tuple(risk_kinds),
    )
    return plan, [started, time.time()]


@task(name="evaluate-shard", **TRANSIENT_RETRIES)
def evaluate_shard(plan: EvaluatePlan, shard: int) -> ShardOutcome:
    """QNET inputs and Qerberos decisions of one shard's entities, written as Parquet."""
    from ecoperf_core.scale import evaluate as sharded_evaluate

    return sharded_evaluate.run_shard(plan, shard)


@task(name="land-evaluation")
def land_evaluation(plan: EvaluatePlan, outcomes: list[ShardOutcome]) -> dict[str, Any]:
    """QNET's fleet step and both engines' decisions stored by the one writer."""
    from ecoperf_core.scale import evaluate as sharded_evaluate

    started = time.time()
    logger = get_run_logger()
    out: dict[str, Any] = {}
    for engine, result in sharded_evaluate.land(plan).items():
        out[engine] = result.summary()
        logger.info("%s (%d shards): %s", engine, plan.shards, out[engine].get("outcomes"))
    return {**out, "landInterval": [started, time.time()]}
