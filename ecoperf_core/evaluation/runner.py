"""Evaluations end to end: read inputs (shared reader), decide (pure engines), store (one writer).

Each function is one unit of work for a task, a CLI command or the API: it opens the warehouse
read-only for the inputs, then takes the writer for as short as it can to read the decision log's
head (previous outcomes, QNET hysteresis state, isolated DAOs), run the engine on it and store the
decisions with their events, so two evaluations can never interleave between reading the head and
writing the new one.

Decisions record where their inputs came from in ``evidence.source`` and the evaluation's
``evidence.asOf`` (the data time evaluated) and ``evidence.trigger`` (``scheduled`` for the flow,
``on_demand`` for the CLI/API, ``payload`` when the caller gave the metrics).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from ecoperf_core.engines import cicd, dao, golive, qerberos, qflow, qnet
from ecoperf_core.engines.base import Decision
from ecoperf_core.errors import NotFoundError, ValidationError
from ecoperf_core.evaluation import readers
from ecoperf_core.evaluation.config import DEFAULT_WINDOWS, EvaluationWindows
from ecoperf_core.evaluation.store import (
    StoreResult,
    fleet_source,
    qnet_states,
    store_decisions,
    store_fleet,
    subjects_with_outcome,
    utc_now,
)
from ecoperf_core.models import (
    DaoSubnetRequest,
    GateCheckRequest,
    NodeScoreRequest,
    PolicyCheckRequest,
    RiskAssessmentRequest,
    parse_request,
)
from ecoperf_core.policy import Policy
from ecoperf_core.warehouse import reader, writer


@dataclass(frozen=True)
class Context:
    """Where and how to evaluate: the warehouse, the policy, the readers' windows."""

    db_path: Path
    policy: Policy
    timeout_s: float = 600.0
    windows: EvaluationWindows = DEFAULT_WINDOWS
    environment: str = "production"


@dataclass
class EvaluationResult:
    """Decisions of one evaluation and what storing them wrote."""

    engine: str
    decisions: list[Decision]
    stored: StoreResult
    as_of: datetime | None = None
    fleet: qnet.FleetResult | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # QNET: per-node evidence of the inputs and the evidence shared by every node (as stored).
    sources: pd.DataFrame | None = field(default=None, repr=False)
    common: dict[str, Any] = field(default_factory=dict, repr=False)

    def outputs(self) -> list[dict[str, Any]]:
        return [d.output for d in self.decisions]

    def summary(self) -> dict[str, Any]:
        """Small JSON-able digest (what a flow run returns and the demo prints)."""
        counts: dict[str, int] = {}
        for outcome in self._outcomes():
            counts[outcome] = counts.get(outcome, 0) + 1
        return {
            "engine": self.engine,
            "asOf": None if self.as_of is None else self.as_of.isoformat(),
            "outcomes": dict(sorted(counts.items())),
            "stored": self.stored.to_dict(),
            **self.extra,  # a skipped evaluation carries the log's outcomes here
        }

    def _outcomes(self) -> list[str]:
        if self.fleet is not None:
            return [qnet.weight_label(w) for w in self.fleet.frame["weight"]]
        return [d.outcome for d in self.decisions]


def _with_context(
    decision: Decision, source: dict[str, Any], as_of: datetime | None, trigger: str
) -> Decision:
    evidence = {**decision.evidence, "source": source, "trigger": trigger}
    if as_of is not None:
        evidence["asOf"] = as_of.isoformat()
    return replace(decision, evidence=evidence)


def _engine_error(exc: ValueError, source: str) -> ValidationError:
    """An engine refusing its input (a NaN, a rate above 1) is bad input, named as such."""
    from ecoperf_core.errors import FieldProblem

    return ValidationError(source=source, problems=[FieldProblem(field="", message=str(exc))])


# ----------------------------------------------------------------------- unchanged-data skip


def _already_evaluated(con: Any, engine: str, moment: datetime, policy: Policy) -> str | None:
    """Why a scheduled evaluation would repeat the last one, or None.

    The last acted-on decision of ``engine`` (the newest head) came from a scheduled evaluation
    of the same data time with the same policy: evaluating again would decide the same from the
    same data, and would advance QNET's hysteresis counts without a new observation.
    """
    head = con.execute(
        """SELECT decision_id FROM latest_decisions WHERE engine = $engine
           ORDER BY decided_at DESC LIMIT 1""",
        {"engine": engine},
    ).fetchall()
    if not head:
        return None
    row = con.execute(
        """SELECT policy_version, evidence->>'asOf', evidence->>'trigger' FROM decisions
           WHERE decision_id = $id""",
        {"id": head[0][0]},
    ).fetchall()
    if not row:
        return None
    version, last_as_of, trigger = row[0]
    if trigger == "scheduled" and version == policy.version and last_as_of == moment.isoformat():
        return f"no new data since the last evaluation (as of {last_as_of}, policy {version})"
    return None


def summary_from_log(con: Any, engine: str, policy: Policy) -> dict[str, Any]:
    """The digest :meth:`EvaluationResult.summary` gives, rebuilt from the decision log's head
    (what a skipped evaluation reports: the decisions in force)."""
    heads = con.execute(
        "SELECT outcome, count(*) FROM latest_decisions WHERE engine = $e GROUP BY 1",
        {"e": engine},
    ).fetchall()
    out: dict[str, Any] = {"outcomes": {str(o): int(n) for o, n in sorted(heads)}}
    total = sum(n for _o, n in heads)

    def joined(where: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        return con.execute(
            f"""SELECT h.subject, h.outcome, d.output, d.evidence
                FROM latest_decisions AS h JOIN decisions AS d USING (decision_id)
                WHERE h.engine = $e {where} ORDER BY h.subject""",
            {"e": engine, **(params or {})},
        ).fetchall()

    def load(text: Any) -> Any:
        import json

        return json.loads(text) if isinstance(text, str) else text

    if engine == "qnet":
        rows = joined(
            "AND CAST(h.state->>'weight' AS DOUBLE) < $normal",
            {"normal": policy.qnet.bands.weight_normal - 1e-12},
        )
        out["nodes"] = total
        out["downWeighted"] = [
            {
                "node": subject,
                "weight": float(load(output)["routingWeight"]),
                "overallScore": float(load(output)["overallScore"]),
                "reason": str(load(evidence).get("reason")),
            }
            for subject, _o, output, evidence in rows
        ][:50]
    elif engine == "dao":
        rows = joined("AND h.outcome <> 'none'")
        out["daos"] = total
        out["recommendations"] = {subject: outcome for subject, outcome, _o, _e in rows}
    elif engine == "golive":
        out["modules"] = {
            subject: {
                "status": outcome,
                "failed": load(evidence).get("failed", []),
                "insufficient": load(evidence).get("insufficient", []),
            }
            for subject, outcome, _o, evidence in joined("")
        }
    elif engine == "qerberos":
        rows = joined("AND h.outcome <> 'low'")
        ranked = sorted(rows, key=lambda r: -float(load(r[2])["riskScore"]))
        out["entities"] = total
        out["highest"] = [
            {"entity": s, "riskLevel": o, "riskScore": load(output)["riskScore"]}
            for s, o, output, _e in ranked[:5]
        ]
    return out


def _skipped(
    engine: str, moment: datetime, reason: str, con: Any, policy: Policy
) -> EvaluationResult:
    extra = {"skipped": reason, **summary_from_log(con, engine, policy)}
    return EvaluationResult(engine, [], StoreResult(decided_at=None), moment, extra=extra)


# -------------------------------------------------------------------------------------- QNET


def evaluate_nodes(
    ctx: Context,
    as_of: datetime | str | None = None,
    trigger: str = "scheduled",
    skip_unchanged: bool = False,
) -> EvaluationResult:
    """Score every node with recent data, apply hysteresis and the fleet guards, store all.

    ``skip_unchanged`` (the scheduled flow): nothing is evaluated when the last scheduled
    evaluation already covered this data time with this policy; the log's state is reported.
    """
    clock = [time.perf_counter()]
    # One writer connection for the reads too: opening, version-checking and closing a second
    # connection cost a tenth of a 10,000-node evaluation, and the reads are a few tens of ms.
    with writer(ctx.db_path, timeout_s=ctx.timeout_s) as con:
        moment = readers.resolve_as_of(con, as_of)
        if skip_unchanged and (why := _already_evaluated(con, "qnet", moment, ctx.policy)):
            return _skipped("qnet", moment, why, con, ctx.policy)
        inputs = readers.node_inputs(con, moment, ctx.environment, ctx.windows)
        clock.append(time.perf_counter())
        if inputs.empty:
            raise NotFoundError(
                f"no node has data in the {ctx.windows.current_max} before "
                f"{moment:%Y-%m-%d %H:%M} in {ctx.environment!r}"
            )
        previous = qnet_states(con)
        fleet = qnet.fleet_weights(inputs, ctx.policy, previous)
        clock.append(time.perf_counter())
        common = {"asOf": moment.isoformat(), "trigger": trigger}
        stored = store_fleet(con, fleet, inputs, common=common)
        clock.append(time.perf_counter())
    clock.append(time.perf_counter())  # the writer's close: DuckDB checkpoints the log
    frame = fleet.frame
    down = frame[frame["weight"] < ctx.policy.qnet.bands.weight_normal - 1e-12]
    extra = {
        "nodes": len(frame),
        "fleet": fleet.summary(),
        "downWeighted": [
            {
                "node": node,
                "weight": float(w),
                "overallScore": float(s),
                "reason": str(r),
            }
            for node, w, s, r in zip(
                down["node_id"], down["weight"], down["overall_score"], down["reason"], strict=True
            )
        ][:50],
        "regressions": int((frame["regression_count"] > 0).sum()),
        "timings": {
            name: round(b - a, 4)
            for name, a, b in zip(
                ("readInputsS", "decideS", "storeS", "closeS"), clock[:-1], clock[1:], strict=True
            )
        },
    }
    return EvaluationResult(
        "qnet", [], stored, moment, fleet, extra, sources=inputs.set_index("node_id"), common=common
    )


def node_decisions(result: EvaluationResult, node_ids: Sequence[str] | None) -> list[Decision]:
    """Decision objects of some nodes of a fleet result (all when ``node_ids`` is None)."""
    assert result.fleet is not None
    fleet = result.fleet
    if node_ids is not None:
        known = set(fleet.frame["node_id"])
        missing = [n for n in node_ids if n not in known]
        if missing:
            raise NotFoundError(
                f"no recent data for node{'s' if len(missing) > 1 else ''} "
                f"{', '.join(repr(m) for m in missing)} (as of {result.as_of:%Y-%m-%d %H:%M}, "
                f"within the last {DEFAULT_WINDOWS.current_max})"
            )
        order = {n: i for i, n in enumerate(node_ids)}
        frame = fleet.frame[fleet.frame["node_id"].isin(order)]
        frame = frame.iloc[frame["node_id"].map(order).argsort()]
        fleet = replace(fleet, frame=frame)
    decisions = fleet.decisions()
    if result.sources is None:
        return decisions
    out = []
    for decision in decisions:
        source = fleet_source(result.sources.loc[decision.subject].to_dict())
        evidence = {**decision.evidence, "source": source, **result.common}
        out.append(replace(decision, evidence=evidence))
    return out


def node_weights(
    ctx: Context, node_ids: Sequence[str] | None = None, as_of: datetime | str | None = None
) -> EvaluationResult:
    """``qnet --weights``/``--score``: the fleet evaluation (stored, published), reported for the
    given nodes. Guards need the whole fleet, so the whole fleet is evaluated."""
    if node_ids is not None:
        with reader(ctx.db_path, timeout_s=ctx.timeout_s) as con:
            readers.require_known(con, "node", node_ids, ctx.environment)
    result = evaluate_nodes(ctx, as_of, trigger="on_demand")
    result.decisions = node_decisions(result, node_ids)
    return result


def node_score_payload(ctx: Context, payload: str | dict[str, Any]) -> EvaluationResult:
    """Score caller-given metrics (the spec's node-score request). Without the fleet the guards
    cannot apply, so this is a what-if: stored in the log, not published, state unchanged."""
    request = parse_request(NodeScoreRequest, payload, source="qnet node-score request")
    with writer(ctx.db_path, timeout_s=ctx.timeout_s) as con:
        previous = qnet_states(con).get(request.node_id)
        decision = qnet.score_node(qnet.NodeInputs.from_request(request), ctx.policy, previous)
        decision = _with_context(decision, {"payload": True}, None, "payload")
        stored = store_decisions(con, [decision], publish=False)
    return EvaluationResult("qnet", [decision], stored)


# ------------------------------------------------------------------------------------- Qflow


def operation_check(
    ctx: Context,
    operation_id: str,
    op_type: str,
    complexity: str = "medium",
    priority: str = "normal",
    user_id: str | None = None,
    as_of: datetime | str | None = None,
) -> EvaluationResult:
    """``qflow --check``: the operation's conditions from the warehouse, the rule table, stored."""
    payload = {
        "operation": {"id": operation_id, "type": op_type, "params": {"complexity": complexity}},
        "context": {"priority": priority, **({"userId": user_id} if user_id else {})},
    }
    return operation_check_payload(ctx, payload, as_of=as_of, trigger="on_demand")


def operation_check_payload(
    ctx: Context,
    payload: str | dict[str, Any],
    as_of: datetime | str | None = None,
    trigger: str = "payload",
) -> EvaluationResult:
    """The spec's policy-check request: the operation from the caller, conditions from the
    warehouse (an operation the warehouse does not know is an error naming it)."""
    request = parse_request(PolicyCheckRequest, payload, source="qflow policy-check request")
    base = qflow.OperationInputs.from_request(request)
    with reader(ctx.db_path, timeout_s=ctx.timeout_s) as con:
        moment = readers.resolve_as_of(con, as_of)
        sourced = readers.operation_inputs(
            con, base, moment, ctx.policy, ctx.environment, ctx.windows
        )
    decision = qflow.evaluate_operation(sourced.inputs, ctx.policy)
    decision = _with_context(decision, sourced.source, moment, trigger)
    with writer(ctx.db_path, timeout_s=ctx.timeout_s) as con:
        stored = store_decisions(con, [decision])
    return EvaluationResult("qflow", [decision], stored, moment)


# ---------------------------------------------------------------------------------- Qerberos


def evaluate_risk(
    ctx: Context,
    kinds: Sequence[str] = ("user", "node"),
    as_of: datetime | str | None = None,
    ids: Sequence[str] | None = None,
    trigger: str = "scheduled",
    skip_unchanged: bool = False,
) -> EvaluationResult:
    """Risk of every entity of the given kinds (or of ``ids`` among them), stored."""
    decisions: list[Decision] = []
    with reader(ctx.db_path, timeout_s=ctx.timeout_s) as con:
        moment = readers.resolve_as_of(con, as_of)
        if skip_unchanged and (why := _already_evaluated(con, "qerberos", moment, ctx.policy)):
            return _skipped("qerberos", moment, why, con, ctx.policy)
        for kind in kinds:
            for sourced in readers.risk_inputs(
                con, kind, moment, ctx.environment, ids, ctx.windows
            ):
                decision = qerberos.assess_risk(sourced.inputs, ctx.policy)
                decisions.append(_with_context(decision, sourced.source, moment, trigger))
    with writer(ctx.db_path, timeout_s=ctx.timeout_s) as con:
        stored = store_decisions(con, decisions)
    ranked = sorted(decisions, key=lambda d: -d.output["riskScore"])
    extra = {
        "entities": len(decisions),
        "highest": [
            {"entity": d.subject, "riskLevel": d.outcome, "riskScore": d.output["riskScore"]}
            for d in ranked[:5]
        ],
    }
    return EvaluationResult("qerberos", decisions, stored, moment, extra=extra)


def entity_risk(
    ctx: Context,
    entity_id: str,
    kind: str | None = None,
    as_of: datetime | str | None = None,
) -> EvaluationResult:
    """``qerberos --risk ENTITY``: its kind looked up (ambiguous ids need ``kind``)."""
    with reader(ctx.db_path, timeout_s=ctx.timeout_s) as con:
        kinds = readers.entity_kinds_of(con, entity_id)
    if kind is not None:
        if kind not in kinds:
            raise NotFoundError(f"no {kind} with id {entity_id!r} in the warehouse")
        kinds = [kind]
    if not kinds:
        raise NotFoundError(f"unknown entity {entity_id!r}: no data for it in the warehouse")
    if len(kinds) > 1:
        from ecoperf_core.errors import FieldProblem

        raise ValidationError(
            source="qerberos --risk",
            problems=[
                FieldProblem(
                    field="--kind",
                    message=f"{entity_id!r} is a {' and a '.join(kinds)}: say which with --kind",
                )
            ],
        )
    result = evaluate_risk(ctx, kinds, as_of, ids=[entity_id], trigger="on_demand")
    if not result.decisions:
        raise NotFoundError(
            f"no recent data for {kinds[0]} {entity_id!r} (within "
            f"{ctx.windows.current_max} before {result.as_of:%Y-%m-%d %H:%M})"
        )
    return result


def risk_payload(ctx: Context, payload: str | dict[str, Any]) -> EvaluationResult:
    """The spec's risk-assessment request, decided on the caller's metrics, stored."""
    request = parse_request(RiskAssessmentRequest, payload, source="qerberos risk request")
    try:
        decision = qerberos.assess_risk(qerberos.RiskInputs.from_request(request), ctx.policy)
    except ValueError as exc:
        raise _engine_error(exc, "qerberos risk request") from None
    decision = _with_context(decision, {"payload": True}, None, "payload")
    with writer(ctx.db_path, timeout_s=ctx.timeout_s) as con:
        stored = store_decisions(con, [decision])
    return EvaluationResult("qerberos", [decision], stored)


# ------------------------------------------------------------------------------------- CI/CD


def deployment_gate(ctx: Context, deployment: str, baseline: str | None = None) -> EvaluationResult:
    """``cicd --gate``: the deployment against its baseline over the same time, from raw data."""
    with reader(ctx.db_path, timeout_s=ctx.timeout_s) as con:
        sourced = readers.gate_inputs(con, deployment, baseline, ctx.environment)
    decision = cicd.evaluate_gate(sourced.inputs, ctx.policy)
    decision = _with_context(decision, sourced.source, None, "on_demand")
    with writer(ctx.db_path, timeout_s=ctx.timeout_s) as con:
        stored = store_decisions(con, [decision])
    return EvaluationResult("cicd", [decision], stored)


def gate_payload(ctx: Context, payload: str | dict[str, Any]) -> EvaluationResult:
    """The spec's gate-check request (deployment metrics and a baseline), stored."""
    request = parse_request(GateCheckRequest, payload, source="cicd gate-check request")
    try:
        decision = cicd.evaluate_gate(cicd.GateInputs.from_request(request), ctx.policy)
    except ValueError as exc:
        raise _engine_error(exc, "cicd gate-check request") from None
    decision = _with_context(decision, {"payload": True}, None, "payload")
    with writer(ctx.db_path, timeout_s=ctx.timeout_s) as con:
        stored = store_decisions(con, [decision])
    return EvaluationResult("cicd", [decision], stored)


# ----------------------------------------------------------------------------------- Go-live


def evaluate_readiness(
    ctx: Context,
    modules: Sequence[str] | None = None,
    environment: str | None = None,
    as_of: datetime | str | None = None,
    trigger: str = "scheduled",
    skip_unchanged: bool = False,
) -> EvaluationResult:
    """Readiness of the given modules (default: those configured in the policy, else every
    module seen), in every environment they were seen in (or the one given)."""
    if modules is None and ctx.policy.golive.modules:
        modules = sorted(ctx.policy.golive.modules)
    decisions: list[Decision] = []
    with reader(ctx.db_path, timeout_s=ctx.timeout_s) as con:
        moment = readers.resolve_as_of(con, as_of)
        if skip_unchanged and (why := _already_evaluated(con, "golive", moment, ctx.policy)):
            return _skipped("golive", moment, why, con, ctx.policy)
        pairs = readers.module_environments(con, modules)
        if environment is not None:
            pairs = [p for p in pairs if p[1] == environment]
        if modules is not None and trigger == "on_demand":
            for module in modules:
                if not any(p[0] == module for p in pairs):
                    where = f" in environment {environment!r}" if environment else ""
                    known = sorted({m for m, _ in readers.module_environments(con)})
                    raise NotFoundError(
                        f"unknown module {module!r}{where} (known: {', '.join(known)})"
                    )
        for module, env in pairs:
            sourced = readers.golive_inputs(con, module, env, moment, ctx.policy, ctx.windows)
            decision = golive.evaluate_readiness(sourced.inputs, ctx.policy)
            decisions.append(_with_context(decision, sourced.source, moment, trigger))
    with writer(ctx.db_path, timeout_s=ctx.timeout_s) as con:
        stored = store_decisions(con, decisions)
    extra = {
        "modules": {
            d.subject: {
                "status": d.outcome,
                "failed": d.evidence.get("failed", []),
                "insufficient": d.evidence.get("insufficient", []),
            }
            for d in decisions
        }
    }
    return EvaluationResult("golive", decisions, stored, moment, extra=extra)


# --------------------------------------------------------------------------------------- DAO


def evaluate_daos(
    ctx: Context,
    as_of: datetime | str | None = None,
    ids: Sequence[str] | None = None,
    trigger: str = "scheduled",
    skip_unchanged: bool = False,
) -> EvaluationResult:
    """Every DAO (or ``ids``), with the isolation cap counting DAOs isolated earlier."""
    with reader(ctx.db_path, timeout_s=ctx.timeout_s) as con:
        moment = readers.resolve_as_of(con, as_of)
        if skip_unchanged and (why := _already_evaluated(con, "dao", moment, ctx.policy)):
            return _skipped("dao", moment, why, con, ctx.policy)
        if ids is not None:
            readers.require_known(con, "dao", ids, ctx.environment)
        sourced = readers.dao_inputs(con, moment, ctx.policy, ctx.environment, ids, ctx.windows)
    if ids is not None and not sourced:
        raise NotFoundError(
            f"no recent latency/availability data for {', '.join(map(repr, ids))} "
            f"before {moment:%Y-%m-%d %H:%M}"
        )
    sources = {s.inputs.dao_id: s.source for s in sourced}
    with writer(ctx.db_path, timeout_s=ctx.timeout_s) as con:
        isolated = subjects_with_outcome(con, "dao", "immediate_isolation")
        decisions = [
            _with_context(d, sources[d.subject], moment, trigger)
            for d in dao.evaluate_daos([s.inputs for s in sourced], ctx.policy, isolated)
        ]
        stored = store_decisions(con, decisions)
    extra = {
        "recommendations": {d.subject: d.outcome for d in decisions if d.outcome != "none"},
        "daos": len(decisions),
    }
    return EvaluationResult("dao", decisions, stored, moment, extra=extra)


def dao_payload(ctx: Context, payload: str | dict[str, Any]) -> EvaluationResult:
    """The spec's subnet-evaluation request, with the isolation cap from the decision log."""
    request = parse_request(DaoSubnetRequest, payload, source="dao subnet-evaluation request")
    inputs = dao.DaoInputs.from_request(request)
    with writer(ctx.db_path, timeout_s=ctx.timeout_s) as con:
        isolated = subjects_with_outcome(con, "dao", "immediate_isolation")
        try:
            decisions = dao.evaluate_daos([inputs], ctx.policy, isolated)
        except ValueError as exc:
            raise _engine_error(exc, "dao subnet-evaluation request") from None
        decisions = [_with_context(d, {"payload": True}, None, "payload") for d in decisions]
        stored = store_decisions(con, decisions)
    return EvaluationResult("dao", decisions, stored)


# ------------------------------------------------------------------------------------ common


def latest_as_of(ctx: Context) -> datetime:
    with reader(ctx.db_path, timeout_s=ctx.timeout_s) as con:
        return readers.latest_data_time(con)


def frame_of(result: EvaluationResult) -> pd.DataFrame:
    """The QNET result frame (for benches and tables)."""
    assert result.fleet is not None
    return result.fleet.frame


__all__ = [
    "Context",
    "EvaluationResult",
    "dao_payload",
    "deployment_gate",
    "entity_risk",
    "evaluate_daos",
    "evaluate_nodes",
    "evaluate_readiness",
    "evaluate_risk",
    "gate_payload",
    "latest_as_of",
    "node_decisions",
    "node_score_payload",
    "node_weights",
    "operation_check",
    "operation_check_payload",
    "risk_payload",
    "summary_from_log",
    "utc_now",
]
