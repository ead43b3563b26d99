"""Re-run the engines over stored decisions' inputs with another policy: pure, no I/O.

Every decision row keeps the inputs the engine decided on (``decisions.inputs``, as the engine's
``Decision.inputs``). This module turns them back into the engines' input objects and calls the very
functions the evaluate flow calls (:func:`qnet.fleet_weights`, :func:`dao.evaluate_daos`, ...), one
stored evaluation (an engine's decisions of one ``decided_at``) at a time, oldest first.

State that one evaluation leaves for the next is carried by the replay itself, so a candidate
policy's own history drives it: QNET's hysteresis (weight, pending weight and count per node,
seeded from the first stored decision's ``inputs.previous``) and the DAO isolation cap (DAOs in
``immediate_isolation``, seeded from the log before the replayed period). Replaying the policy the
decisions were made with therefore reproduces them exactly.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ecoperf_core.engines import cicd, dao, golive, qerberos, qflow, qnet
from ecoperf_core.engines.base import Decision, jsonable
from ecoperf_core.policy import Policy

REPLAYED_ENGINES = ("qnet", "qflow", "qerberos", "cicd", "golive", "dao")


@dataclass(frozen=True)
class StoredDecision:
    """One row of the decision log, JSON parsed."""

    decision_id: str
    engine: str
    subject: str
    outcome: str
    decided_at: Any
    inputs: Mapping[str, Any]
    output: Mapping[str, Any]
    evidence: Mapping[str, Any]
    policy_version: str


@dataclass
class ReplayedDecision:
    stored: StoredDecision
    outcome: str
    output: dict[str, Any]

    @property
    def same(self) -> bool:
        return self.outcome == self.stored.outcome and same_json(self.output, self.stored.output)


@dataclass
class ReplayState:
    """What the replayed history carries from one evaluation to the next."""

    qnet: dict[str, qnet.WeightState] = field(default_factory=dict)
    isolated: set[str] = field(default_factory=set)


def same_json(a: Any, b: Any, rel: float = 1e-9) -> bool:
    """Equal JSON documents, numbers compared to a relative 1e-9 (the stored JSON went through
    DuckDB's number formatting)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return math.isclose(float(a), float(b), rel_tol=rel, abs_tol=1e-12)
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(same_json(a[k], b[k], rel) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(same_json(x, y, rel) for x, y in zip(a, b, strict=True))
    return bool(a == b)


# ------------------------------------------------------------------------ inputs from JSON


def _state(previous: Mapping[str, Any] | None) -> qnet.WeightState | None:
    if not previous or previous.get("weight") is None:
        return None
    pending = previous.get("pendingWeight")
    return qnet.WeightState(
        weight=float(previous["weight"]),
        pending_weight=None if pending is None else float(pending),
        pending_count=int(previous.get("pendingCount") or 0),
    )


def node_inputs(row: StoredDecision) -> qnet.NodeInputs:
    i = row.inputs
    return qnet.NodeInputs(
        node_id=row.subject,
        p95_ms=float(i["p95Ms"]),
        p99_ms=float(i["p99Ms"]),
        error_rate=float(i["errorRate"]),
        utilization=float(i["utilization"]),
        regression_count=int(i.get("regressionCount") or 0),
        regression_severity=i.get("regressionSeverity") or "medium",
    )


def _latency(value: Any) -> Sequence[float] | golive.LatencyWindow | None:
    if value is None:
        return None
    if isinstance(value, Mapping):
        return golive.LatencyWindow(float(value["max_p99_ms"]), int(value["minutes"]))
    return tuple(float(v) for v in value)


def golive_inputs(inputs: Mapping[str, Any]) -> golive.GoLiveInputs:
    data = dict(inputs)
    data["read_p99_ms"] = _latency(data.get("read_p99_ms")) or ()
    data["complex_write_p99_ms"] = _latency(data.get("complex_write_p99_ms"))
    data["daily_costs"] = tuple(data.get("daily_costs") or ())
    return golive.GoLiveInputs(**data)


def risk_inputs(inputs: Mapping[str, Any]) -> qerberos.RiskInputs:
    data = dict(inputs)
    data["cost_historical"] = tuple(data.get("cost_historical") or ())
    return qerberos.RiskInputs(**data)


def gate_inputs(inputs: Mapping[str, Any]) -> cicd.GateInputs:
    return cicd.GateInputs(
        deployment_id=inputs["deployment_id"],
        candidate=cicd.GateMetrics(**inputs["candidate"]),
        baseline=cicd.GateMetrics(**inputs["baseline"]),
    )


# -------------------------------------------------------------------------------- re-running


def _pair(rows: Sequence[StoredDecision], decisions: Iterable[Decision]) -> list[ReplayedDecision]:
    by_subject = {d.subject: d for d in decisions}
    return [
        ReplayedDecision(r, by_subject[r.subject].outcome, jsonable(by_subject[r.subject].output))
        for r in rows
    ]


def replay_evaluation(
    rows: Sequence[StoredDecision], policy: Policy, state: ReplayState
) -> list[ReplayedDecision]:
    """Re-decide one stored evaluation (one engine, one ``decided_at``) and advance ``state``."""
    engine = rows[0].engine
    trigger = rows[0].evidence.get("trigger")
    if engine == "qnet":
        if trigger == "payload":  # a what-if on caller metrics: no fleet, state left alone
            out = []
            for r in rows:
                previous = state.qnet.get(r.subject) or _state(r.inputs.get("previous"))
                d = qnet.score_node(node_inputs(r), policy, previous)
                out.append(ReplayedDecision(r, d.outcome, jsonable(d.output)))
            return out
        previous = {
            r.subject: state.qnet.get(r.subject) or _state(r.inputs.get("previous")) for r in rows
        }
        nodes = [node_inputs(r) for r in rows]
        fleet = qnet.fleet_weights(nodes, policy, previous)
        state.qnet.update(fleet.states())
        return _pair(rows, fleet.decisions())
    if engine == "dao":
        daos = [dao.DaoInputs(**r.inputs) for r in rows]
        decisions = dao.evaluate_daos(daos, policy, sorted(state.isolated))
        for d in decisions:
            if d.outcome == "immediate_isolation":
                state.isolated.add(d.subject)
            else:
                state.isolated.discard(d.subject)
        return _pair(rows, decisions)
    out = []
    for r in rows:
        if engine == "qflow":
            d = qflow.evaluate_operation(qflow.OperationInputs(**r.inputs), policy)
        elif engine == "qerberos":
            d = qerberos.assess_risk(risk_inputs(r.inputs), policy)
        elif engine == "cicd":
            d = cicd.evaluate_gate(gate_inputs(r.inputs), policy)
        elif engine == "golive":
            d = golive.evaluate_readiness(golive_inputs(r.inputs), policy)
        else:
            raise ValueError(f"engine {engine!r} is not replayed")
        out.append(ReplayedDecision(r, d.outcome, jsonable(d.output)))
    return out


def evaluations(rows: Iterable[StoredDecision]) -> list[list[StoredDecision]]:
    """Stored decisions grouped into evaluations (engine, decided_at), oldest first."""
    groups: dict[tuple[Any, str], list[StoredDecision]] = {}
    for r in rows:
        groups.setdefault((r.decided_at, r.engine), []).append(r)
    return [groups[k] for k in sorted(groups, key=lambda k: (pd.Timestamp(k[0]), k[1]))]


def replay_history(
    rows: Iterable[StoredDecision], policy: Policy, state: ReplayState | None = None
) -> list[ReplayedDecision]:
    """Every stored evaluation re-decided with ``policy``, in order, carrying the state."""
    state = state or ReplayState()
    out: list[ReplayedDecision] = []
    for group in evaluations(r for r in rows if r.engine in REPLAYED_ENGINES):
        out.extend(replay_evaluation(group, policy, state))
    return out
