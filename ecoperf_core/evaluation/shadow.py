"""Shadow policy: a candidate evaluated beside the enforced policy, stored, never published.

The enforced policy file names it (``[shadow] policy = "candidate.toml"``). On every scheduled
evaluation the same inputs are decided again with the candidate, every engine section marked
``shadow = true``: the decisions go to ``decisions`` with ``shadow = true`` and the candidate's
``policy_version``, beside the enforced ones, with no outbox event and no change to the log's
head (:mod:`ecoperf_core.evaluation.store`), so a change can be watched before it is enforced.

QNET's hysteresis in shadow follows the candidate's own history: each node starts from the state
its last shadow decision of the same candidate version left (else the weight in force), so the
shadow weights flap, or not, as the candidate would. A shadow evaluation of a data time the
candidate already evaluated is skipped (the enforced run's skip does not see shadow decisions).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from ecoperf_core.engines import qnet
from ecoperf_core.errors import FieldProblem, NotFoundError
from ecoperf_core.evaluation import readers, runner
from ecoperf_core.evaluation.store import qnet_states, store_fleet
from ecoperf_core.policy import Policy, PolicyError, load_policy
from ecoperf_core.warehouse import reader, writer

SHADOW_ENGINES = ("qnet", "qflow", "qerberos", "cicd", "golive", "dao")


def as_shadow(policy: Policy) -> Policy:
    """The policy with every engine section in shadow mode (same thresholds, same version
    apart from the flags)."""
    data = policy.model_dump(mode="python")
    for engine in SHADOW_ENGINES:
        data[engine]["shadow"] = True
    data["shadow"] = None
    return Policy.model_validate(data)


def shadow_policy(enforced: Policy, enforced_path: Path | None) -> Policy | None:
    """The candidate named by ``enforced``'s ``[shadow]`` section, in shadow mode, or None."""
    if enforced.shadow is None:
        return None
    target = Path(enforced.shadow.policy)
    if not target.is_absolute() and enforced_path is not None:
        target = enforced_path.parent / target
    if not target.exists():
        raise PolicyError(
            source=str(enforced_path or "<policy>"),
            problems=[FieldProblem("shadow.policy", f"policy file not found: {target}")],
        )
    candidate = load_policy(target)
    if candidate.shadow is not None:
        raise PolicyError(
            source=str(target),
            problems=[FieldProblem("shadow", "a shadow policy cannot name a shadow of its own")],
        )
    return as_shadow(candidate)


def enforced_policy_path() -> Path | None:
    from ecoperf_core.policy import default_policy_path
    from ecoperf_core.settings import get_settings

    path = get_settings().policy or default_policy_path()
    return path if path.exists() else None


def _done(con: Any, engine: str, version: str, moment: datetime) -> bool:
    rows = con.execute(
        """SELECT count(*) FROM decisions WHERE engine = $e AND shadow AND policy_version = $v
           AND evidence->>'asOf' = $at""",
        {"e": engine, "v": version, "at": moment.isoformat()},
    ).fetchall()
    return bool(rows[0][0])


def shadow_states(con: Any, version: str) -> dict[str, qnet.WeightState]:
    """Per node, the state the last shadow QNET decision of candidate ``version`` left."""
    rows = con.execute(
        """SELECT subject, CAST(output->>'routingWeight' AS DOUBLE),
                  CAST(evidence->>'pendingWeight' AS DOUBLE),
                  coalesce(CAST(evidence->>'pendingCount' AS BIGINT), 0)
           FROM decisions WHERE engine = 'qnet' AND shadow AND policy_version = $v
           QUALIFY row_number() OVER (PARTITION BY subject ORDER BY decided_at DESC) = 1""",
        {"v": version},
    ).fetchall()
    return {
        s: qnet.WeightState(weight=w, pending_weight=p, pending_count=int(c))
        for s, w, p, c in rows
        if w is not None
    }


def _shadow_nodes(ctx: runner.Context, moment: datetime) -> dict[str, Any]:
    with reader(ctx.db_path, timeout_s=ctx.timeout_s) as con:
        inputs = readers.node_inputs(con, moment, ctx.environment, ctx.windows)
    if inputs.empty:
        raise NotFoundError("no node has recent data")
    with writer(ctx.db_path, timeout_s=ctx.timeout_s) as con:
        previous: dict[str, qnet.WeightState | None] = {**qnet_states(con)}
        previous.update(shadow_states(con, ctx.policy.version))
        fleet = qnet.fleet_weights(inputs, ctx.policy, previous)
        common = {"asOf": moment.isoformat(), "trigger": "shadow"}
        stored = store_fleet(con, fleet, inputs, common=common)
    return {"decisions": stored.decisions, "events": stored.events}


def evaluate_shadow(
    ctx: runner.Context,
    as_of: datetime | str | None = None,
    risk_kinds: tuple[str, ...] = ("user", "node"),
) -> dict[str, Any]:
    """Decide the scheduled engines' inputs at ``as_of`` with the shadow policy ``ctx.policy``
    (already in shadow mode) and store the decisions; returns counts per engine."""
    assert all(getattr(ctx.policy, e).shadow for e in SHADOW_ENGINES), "not a shadow policy"
    with reader(ctx.db_path, timeout_s=ctx.timeout_s) as con:
        moment = readers.resolve_as_of(con, as_of)
        done = {
            e
            for e in ("qnet", "qerberos", "dao", "golive")
            if _done(con, e, ctx.policy.version, moment)
        }
    out: dict[str, Any] = {"policyVersion": ctx.policy.version, "asOf": moment.isoformat()}
    calls = {
        "qnet": lambda: _shadow_nodes(ctx, moment),
        "qerberos": lambda: runner.evaluate_risk(ctx, risk_kinds, moment).stored.to_dict(),
        "dao": lambda: runner.evaluate_daos(ctx, moment).stored.to_dict(),
        "golive": lambda: runner.evaluate_readiness(ctx, None, None, moment).stored.to_dict(),
    }
    for engine, call in calls.items():
        if engine in done:
            out[engine] = {"skipped": "already evaluated in shadow at this data time"}
            continue
        try:
            result = call()
        except NotFoundError as exc:
            out[engine] = {"skipped": str(exc)}
            continue
        out[engine] = {"decisions": result["decisions"], "events": result["events"]}
    return out


def shadow_context(ctx: runner.Context, policy: Policy) -> runner.Context:
    return replace(ctx, policy=policy)
