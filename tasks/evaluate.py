"""Evaluation tasks: one coarse task per engine (a whole fleet each, never one per node).

Each task reads its inputs, decides and stores the decisions (+ outbox events) through the service
in one writer transaction, and returns a small JSON-able summary. A warehouse without data for an
engine (a fresh install, no DAOs reported) is not a failure of the schedule: the task logs why and
returns ``{"skipped": reason}``. A run on data already evaluated (same data time, same policy)
stores nothing: it would decide the same again and advance QNET's hysteresis counts without a new
observation; its summary then reports the decisions in force, with ``skipped`` saying why.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prefect import task
from prefect.logging import get_run_logger

from ecoperf_core.errors import NotFoundError
from ecoperf_core.service import Ecoperf
from tasks.common import TRANSIENT_RETRIES


def _run(engine: str, call: Callable[[], Any]) -> dict[str, Any]:
    logger = get_run_logger()
    try:
        summary: dict[str, Any] = call().summary()
    except NotFoundError as exc:
        logger.warning("%s skipped: %s", engine, exc)
        return {"engine": engine, "skipped": str(exc)}
    if "skipped" in summary:
        logger.info("%s: %s", engine, summary["skipped"])
        return summary
    stored = summary["stored"]
    logger.info(
        "%s: %d decisions, %d outbox events, outcomes %s",
        engine,
        stored["decisions"],
        stored["events"],
        summary["outcomes"],
    )
    return summary


@task(name="resolve-as-of", **TRANSIENT_RETRIES)
def resolve_as_of(as_of: str | None = None) -> str | None:
    """The data time every engine of this run evaluates (the latest sample time by default)."""
    if as_of is not None:
        return as_of
    try:
        return Ecoperf().latest_data_time().isoformat()
    except NotFoundError as exc:
        get_run_logger().warning("nothing to evaluate: %s", exc)
        return None


@task(name="evaluate-nodes", **TRANSIENT_RETRIES)
def evaluate_nodes(as_of: str, policy: dict[str, Any] | None = None) -> dict[str, Any]:
    """QNET: score every node, routing weights with hysteresis and fleet guards."""
    return _run("qnet", lambda: Ecoperf().evaluate_nodes(as_of, policy, skip_unchanged=True))


@task(name="evaluate-risk", **TRANSIENT_RETRIES)
def evaluate_risk(
    as_of: str, kinds: list[str], policy: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Qerberos: risk of every entity of the given kinds (users and nodes by default)."""
    return _run(
        "qerberos", lambda: Ecoperf().evaluate_risk(kinds, as_of, policy, skip_unchanged=True)
    )


@task(name="evaluate-daos", **TRANSIENT_RETRIES)
def evaluate_daos(as_of: str, policy: dict[str, Any] | None = None) -> dict[str, Any]:
    """DAO subnets: SLO compliance, burn, isolation recommendation with the cap."""
    return _run("dao", lambda: Ecoperf().evaluate_daos(as_of, policy, skip_unchanged=True))


@task(name="evaluate-readiness", **TRANSIENT_RETRIES)
def evaluate_readiness(
    as_of: str, modules: list[str] | None = None, policy: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Go-live readiness of the configured modules (default: every module seen)."""
    return _run(
        "golive", lambda: Ecoperf().evaluate_readiness(modules, as_of, policy, skip_unchanged=True)
    )
