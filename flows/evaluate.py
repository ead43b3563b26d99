"""The ``evaluate`` flow: the engines over the latest data, a few coarse tasks, decisions stored."""

from __future__ import annotations

from typing import Any

from prefect import flow

from ecoperf_core.runtime import run_in_background
from tasks.evaluate import (
    evaluate_daos,
    evaluate_nodes,
    evaluate_readiness,
    evaluate_risk,
    resolve_as_of,
)
from tasks.shadow import evaluate_shadow


@flow(name="evaluate", log_prints=True)
def evaluate_flow(
    as_of: str | None = None,
    policy: dict[str, Any] | None = None,
    risk_kinds: list[str] | None = None,
    modules: list[str] | None = None,
) -> dict[str, Any]:
    """Run QNET (all nodes), Qerberos (users and nodes), DAO (all DAOs) and go-live readiness.

    Args:
        as_of: data time to evaluate (ISO); default the latest sample time in the warehouse, so
            every engine of the run sees the same instant.
        policy: a whole policy as a mapping (validated like the file); default the policy file.
        risk_kinds: entity kinds for Qerberos; default users and nodes.
        modules: modules for readiness; default those configured in the policy, else all seen.

    Tasks run one after another: each takes the warehouse's single writer to store its decisions.
    """
    run_in_background()
    moment = resolve_as_of(as_of)
    if moment is None:
        return {"skipped": "the warehouse holds no data yet"}
    from ecoperf_core.scale.settings import ScaleSettings

    scale = ScaleSettings()
    if scale.shards > 1:  # ECOPERF_SCALE_SHARDS: QNET and Qerberos in entity shards
        from flows.scale import run_evaluate_shards

        sharded = run_evaluate_shards(scale, moment, policy, risk_kinds or ["user", "node"])
        qnet, risk = sharded["qnet"], sharded["qerberos"]
    else:
        qnet = evaluate_nodes(moment, policy)
        risk = evaluate_risk(moment, risk_kinds or ["user", "node"], policy)
    return {
        "asOf": moment,
        "qnet": qnet,
        "qerberos": risk,
        "dao": evaluate_daos(moment, policy),
        "golive": evaluate_readiness(moment, modules, policy),
        # The policy's [shadow] candidate, if any: stored beside, never published.
        "shadow": evaluate_shadow(moment, policy),
    }
