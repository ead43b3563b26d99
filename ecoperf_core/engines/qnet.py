"""QNET: node performance scores and routing weights.

Pure: metrics + policy (+ the previous weight state) in, scores and weights out. The columnar
functions (:func:`score_columns`, :func:`fleet_weights`) work on numpy arrays so a fleet of 10,000
nodes scores in milliseconds; the single-node path (:func:`score_node`) runs the very same code on
arrays of length one.

Per node (all component scores in [0, 1], 1 is best; see docs/engines.md for the formulas)::

    latencyScore    = s·lin(p95 / p95_target) + (1-s)·lin(p99 / p99_target)
    errorRateScore  = clamp(1 - (errorRate / error_target) / error_zero_ratio)
    capacityScore   = clamp((u_zero - utilization) / (u_zero - u_good))
    regressionScore = clamp(1 - count · penalty[severity])
    overallScore    = Σ weight_i · score_i          (reported and banded at 4 decimals)

Bands (spec): score > 0.9 → 1.2; 0.6 ≤ score ≤ 0.9 → 1.0; 0.3 ≤ score < 0.6 → 0.5; < 0.3 → 0.1.

Beyond the spec, for a fleet evaluated repeatedly:

* hysteresis: a node's weight moves to a new band only when the score is at least ``margin`` past the
  edge of its current band, or has been outside it (on the same side) for ``consecutive``
  evaluations in a row;
* fleet cap: at most ``max(min_newly_down_weighted, floor(max_newly_down_weighted_share · n))``
  nodes are newly down-weighted (moved to a lower weight below normal) per evaluation, worst first;
  the others keep their weight and stay pending;
* panic: if fewer than ``panic_threshold`` of the nodes would be healthy (weight ≥ normal),
  down-weighting is suspended for the whole fleet (every weight below normal is raised to normal),
  as Envoy's panic mode routes to all hosts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from ecoperf_core.engines.base import Decision, jsonable, r4
from ecoperf_core.models import NodeScore, NodeScoreRequest
from ecoperf_core.policy import DEFAULT_POLICY, Policy, QnetBands, QnetPolicy

ENGINE = "qnet"
Severity = Literal["low", "medium", "high", "critical"]
RECOMMENDATIONS = ("failing", "degraded", "healthy", "high_performing")  # lowest band first
INPUT_COLUMNS = ("node_id", "p95_ms", "p99_ms", "error_rate", "utilization")


@dataclass(frozen=True)
class NodeInputs:
    """One node's current metrics (plus its recent change points, from the detectors)."""

    node_id: str
    p95_ms: float
    p99_ms: float
    error_rate: float
    utilization: float
    regression_count: int = 0
    regression_severity: Severity = "medium"

    @classmethod
    def from_request(cls, request: NodeScoreRequest) -> NodeInputs:
        m = request.node_metrics
        regressions = m.regressions
        return cls(
            node_id=request.node_id,
            p95_ms=m.latency.p95,
            p99_ms=m.latency.p99,
            error_rate=m.error_rate,
            utilization=m.capacity.utilization,
            regression_count=regressions.count if regressions else 0,
            regression_severity=regressions.severity if regressions else "medium",
        )


@dataclass(frozen=True)
class WeightState:
    """What the previous evaluation left for a node: the weight applied and a pending change."""

    weight: float
    pending_weight: float | None = None
    pending_count: int = 0


# ---------------------------------------------------------------------------------------- bands


def band_weight(score: float, bands: QnetBands = DEFAULT_POLICY.qnet.bands) -> float:
    """The spec's band of one score: > upper → up; middle..upper → normal; lower..<middle → degraded."""
    if score > bands.upper:
        return bands.weight_up
    if score >= bands.middle:
        return bands.weight_normal
    if score >= bands.lower:
        return bands.weight_degraded
    return bands.weight_critical


def band_weights(scores: np.ndarray, bands: QnetBands = DEFAULT_POLICY.qnet.bands) -> np.ndarray:
    """:func:`band_weight` over an array (same edges, same inclusivity)."""
    return np.select(
        [scores > bands.upper, scores >= bands.middle, scores >= bands.lower],
        [bands.weight_up, bands.weight_normal, bands.weight_degraded],
        default=bands.weight_critical,
    )


def _band_bounds(
    weights: np.ndarray, bands: QnetBands
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lower and upper score bound of the band each weight belongs to, and whether it is known."""
    levels = [bands.weight_critical, bands.weight_degraded, bands.weight_normal, bands.weight_up]
    lows = [-math.inf, bands.lower, bands.middle, bands.upper]
    highs = [bands.lower, bands.middle, bands.upper, math.inf]
    conds = [np.isclose(weights, w) for w in levels]
    lo = np.select(conds, lows, default=np.nan)
    hi = np.select(conds, highs, default=np.nan)
    return lo, hi, np.any(conds, axis=0)


def recommendation_of(weight: float, bands: QnetBands = DEFAULT_POLICY.qnet.bands) -> str:
    levels = [bands.weight_critical, bands.weight_degraded, bands.weight_normal, bands.weight_up]
    return RECOMMENDATIONS[int(np.argmin([abs(weight - w) for w in levels]))]


def weight_label(weight: float) -> str:
    """The decision outcome of a weight: ``"1.2"``, ``"1.0"``, ``"0.5"``, ``"0.1"``."""
    return str(float(weight))


# --------------------------------------------------------------------------------------- scores


def _lin(ratio: np.ndarray, good: float, zero: float) -> np.ndarray:
    return np.clip((zero - ratio) / (zero - good), 0.0, 1.0)


def score_columns(
    p95_ms: np.ndarray,
    p99_ms: np.ndarray,
    error_rate: np.ndarray,
    utilization: np.ndarray,
    regression_count: np.ndarray,
    regression_penalty: np.ndarray,
    qnet: QnetPolicy = DEFAULT_POLICY.qnet,
) -> dict[str, np.ndarray]:
    """Component and overall scores (rounded to 4 decimals) and the raw band weight, columnar."""
    latency = qnet.latency_p95_share * _lin(
        p95_ms / qnet.latency_p95_target_ms, qnet.latency_good_ratio, qnet.latency_zero_ratio
    ) + (1 - qnet.latency_p95_share) * _lin(
        p99_ms / qnet.latency_p99_target_ms, qnet.latency_good_ratio, qnet.latency_zero_ratio
    )
    error = np.clip(
        1.0 - (error_rate / qnet.error_rate_target) / qnet.error_rate_zero_ratio, 0.0, 1.0
    )
    capacity = _lin(utilization, qnet.capacity_good_utilization, qnet.capacity_zero_utilization)
    regression = np.clip(1.0 - regression_count * regression_penalty, 0.0, 1.0)
    w = qnet.weights
    overall = (
        w.latency * latency
        + w.error_rate * error
        + w.capacity * capacity
        + w.regression * regression
    )
    overall = np.round(overall, 4)
    return {
        "latency_score": np.round(latency, 4),
        "error_rate_score": np.round(error, 4),
        "capacity_score": np.round(capacity, 4),
        "regression_score": np.round(regression, 4),
        "overall_score": overall,
        "raw_weight": band_weights(overall, qnet.bands),
    }


# ----------------------------------------------------------------------------------- hysteresis


def apply_hysteresis(
    scores: np.ndarray,
    raw_weight: np.ndarray,
    prev_weight: np.ndarray,
    pending_weight: np.ndarray,
    pending_count: np.ndarray,
    qnet: QnetPolicy = DEFAULT_POLICY.qnet,
) -> dict[str, np.ndarray]:
    """Proposed weights after hysteresis, columnar.

    ``prev_weight``/``pending_weight`` are NaN where unknown. Returns ``proposed``,
    ``pending_weight``, ``pending_count`` (the state to carry on) and ``rule`` (an int code:
    0 first evaluation, 1 in band, 2 beyond margin, 3 sustained, 4 held).
    """
    bands, hyst = qnet.bands, qnet.hysteresis
    lo, hi, known = _band_bounds(prev_weight, bands)
    first = ~known
    same = known & np.isclose(raw_weight, prev_weight)
    up = known & ~same & (raw_weight > prev_weight)
    down = known & ~same & (raw_weight < prev_weight)
    with np.errstate(invalid="ignore"):
        distance = np.where(up, scores - hi, np.where(down, lo - scores, 0.0))
    beyond = (up | down) & (np.round(distance, 9) >= hyst.margin)
    direction = np.sign(raw_weight - prev_weight)
    with np.errstate(invalid="ignore"):
        pending_dir = np.sign(pending_weight - prev_weight)
    continuing = (up | down) & (pending_dir == direction)
    count = np.where(continuing, pending_count + 1, 1)
    sustained = (up | down) & ~beyond & (count >= hyst.consecutive)
    change = first | beyond | sustained
    held = (up | down) & ~change
    proposed = np.where(change, raw_weight, prev_weight)
    rule = np.select([first, same, beyond, sustained], [0, 1, 2, 3], default=4)
    return {
        "proposed": proposed,
        "pending_weight": np.where(held, raw_weight, np.nan),
        "pending_count": np.where(held, count, 0).astype(np.int64),
        "rule": rule,
    }


# -------------------------------------------------------------------------------- single node


def score_node(
    node: NodeInputs,
    policy: Policy = DEFAULT_POLICY,
    previous: WeightState | None = None,
) -> Decision:
    """Score one node and give its routing weight (with hysteresis if ``previous`` is given).

    Fleet guards (cap, panic) need the whole fleet: use :func:`fleet_weights` for them. This is
    the API's hot path: the same array code as the fleet on arrays of length one, without a
    DataFrame (which would cost ~10x the arithmetic).
    """
    ids, values, severity = _node_arrays([node])
    columns, _guards = _weigh(
        ids, values, severity, policy, {node.node_id: previous} if previous else None, False
    )
    return _decisions(
        {name: _tolist(columns[name]) for name in FLEET_COLUMNS},
        thresholds=policy.section(ENGINE),
        policy_version=policy.version,
        shadow=policy.qnet.shadow,
        fleet=None,
    )[0]


def node_score(node: NodeInputs, policy: Policy = DEFAULT_POLICY) -> NodeScore:
    """The spec's ``nodeScore`` payload of one node (no previous state)."""
    return NodeScore.model_validate(score_node(node, policy).output)


# ---------------------------------------------------------------------------------------- fleet

_RULES = {
    0: "first evaluation: weight set from the band",
    1: "score within the current band",
    2: "score crossed the band edge by at least the margin",
    3: "score outside the current band for {n} consecutive evaluations",
    4: "hysteresis: score outside the band {count}/{n} evaluations, weight held",
}


@dataclass
class FleetResult:
    """Weights of a fleet: one row per node in ``frame`` plus the fleet-level guard outcome."""

    frame: pd.DataFrame
    panic: bool
    healthy_share: float
    newly_down_weighted: int
    allowed_newly_down_weighted: int
    held_by_cap: int
    policy_version: str
    thresholds: dict[str, Any] = field(repr=False)
    shadow: bool = False
    fleet_guards: bool = True

    def weights(self) -> dict[str, float]:
        return dict(zip(self.frame["node_id"], self.frame["weight"].astype(float), strict=True))

    def states(self) -> dict[str, WeightState]:
        """The state to pass as ``previous`` to the next evaluation."""
        out = {}
        for node_id, weight, pending, count in zip(
            self.frame["node_id"],
            self.frame["weight"],
            self.frame["pending_weight"],
            self.frame["pending_count"],
            strict=True,
        ):
            out[node_id] = WeightState(
                weight=float(weight),
                pending_weight=None if math.isnan(pending) else float(pending),
                pending_count=int(count),
            )
        return out

    def summary(self) -> dict[str, Any]:
        return {
            "nodes": len(self.frame),
            "panic": self.panic,
            "healthyShare": r4(self.healthy_share),
            "newlyDownWeighted": self.newly_down_weighted,
            "allowedNewlyDownWeighted": self.allowed_newly_down_weighted,
            "heldByCap": self.held_by_cap,
        }

    def decisions(self) -> list[Decision]:
        """One :class:`Decision` per node (Python objects: build only when needed)."""
        return _decisions(
            {name: self.frame[name].tolist() for name in FLEET_COLUMNS},  # plain scalars
            thresholds=self.thresholds,
            policy_version=self.policy_version,
            shadow=self.shadow,
            fleet=self.summary() if self.fleet_guards else None,
        )


# The fleet frame's columns a decision is built from (and the warehouse stores), in order.
FLEET_COLUMNS = (
    "node_id",
    "latency_score",
    "error_rate_score",
    "capacity_score",
    "regression_score",
    "overall_score",
    "recommendation",
    "weight",
    "p95_ms",
    "p99_ms",
    "error_rate",
    "utilization",
    "regression_count",
    "regression_severity",
    "prev_weight",
    "prev_pending_weight",
    "prev_pending_count",
    "raw_weight",
    "proposed",
    "reason",
    "pending_weight",
    "pending_count",
)


def _tolist(values: Any) -> list[Any]:
    return values.tolist() if isinstance(values, np.ndarray) else list(values)


def _decisions(
    columns: Mapping[str, list[Any]],
    *,
    thresholds: dict[str, Any],
    policy_version: str,
    shadow: bool,
    fleet: dict[str, Any] | None,
) -> list[Decision]:
    """Decisions from plain-Python columns (``FLEET_COLUMNS``), one per node."""
    out = []
    for (
        node_id, lat, err, cap, reg, overall, recommendation, weight, p95, p99, rate, util,
        reg_count, reg_sev, prev_w, prev_pw, prev_pc, raw, proposed, reason, pend_w, pend_c,
    ) in zip(*(columns[n] for n in FLEET_COLUMNS), strict=True):  # fmt: skip
        previous = None
        if not math.isnan(prev_w):
            previous = {
                "weight": prev_w,
                "pendingWeight": None if math.isnan(prev_pw) else prev_pw,
                "pendingCount": int(prev_pc),
            }
        out.append(
            Decision(
                engine=ENGINE,
                subject=node_id,
                outcome=weight_label(weight),
                output={
                    "nodeId": node_id,
                    "latencyScore": lat,
                    "errorRateScore": err,
                    "capacityScore": cap,
                    "regressionScore": reg,
                    "overallScore": overall,
                    "recommendation": recommendation,
                    "routingWeight": weight,
                },
                inputs={
                    "p95Ms": p95,
                    "p99Ms": p99,
                    "errorRate": rate,
                    "utilization": util,
                    "regressionCount": int(reg_count),
                    "regressionSeverity": reg_sev,
                    "previous": previous,
                },
                thresholds=thresholds,
                evidence={
                    "bandWeight": raw,
                    "proposedWeight": proposed,
                    "reason": reason,
                    "pendingWeight": None if math.isnan(pend_w) else pend_w,
                    "pendingCount": int(pend_c),
                    "fleet": fleet,
                    "shadow": shadow,
                },
                policy_version=policy_version,
            )
        )
    return out


_NUMERIC = ("p95_ms", "p99_ms", "error_rate", "utilization", "regression_count")
_RATES = ("error_rate", "utilization")
_SEVERITIES = frozenset({"low", "medium", "high", "critical"})


def _check_arrays(
    ids: Sequence[str], values: Mapping[str, np.ndarray], severity: Sequence[str], raw: Any = None
) -> None:
    """Refuse what cannot be scored, naming the node and the field (``raw(col, i)`` gives the
    value as the caller sent it, for the message)."""
    for col in _NUMERIC:
        v = values[col]
        bad = ~np.isfinite(v) | (v < 0)
        if col in _RATES:
            bad |= v > 1
        if bad.any():
            i = int(np.argmax(bad))
            limit = "in [0, 1]" if col in _RATES else "finite and ≥ 0"
            got = raw(col, i) if raw is not None else v[i]
            raise ValueError(f"nodes[{ids[i]!r}].{col}: must be {limit} (got {got!r})")
    order = values["p95_ms"] > values["p99_ms"]
    if order.any():
        i = int(np.argmax(order))
        raise ValueError(f"nodes[{ids[i]!r}].p95_ms: must not exceed p99_ms")
    for i, sev in enumerate(severity):
        if sev not in _SEVERITIES:
            raise ValueError(
                f"nodes[{ids[i]!r}].regression_severity: expected one of "
                f"low, medium, high, critical (got {sev!r})"
            )


def _float_or_nan(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _node_arrays(
    nodes: Sequence[NodeInputs],
) -> tuple[list[str], dict[str, np.ndarray], list[str]]:
    """Validated columns of a few :class:`NodeInputs` (no DataFrame: the single-node path)."""
    ids = [str(n.node_id) for n in nodes]
    if len(set(ids)) != len(ids):
        seen: set[str] = set()
        dup = next(i for i in ids if i in seen or seen.add(i))  # type: ignore[func-returns-value]
        raise ValueError(f"nodes: node_id {dup!r} appears more than once")
    values = {
        col: np.array([_float_or_nan(getattr(n, col)) for n in nodes], dtype=np.float64)
        for col in _NUMERIC
    }
    severity = [
        "medium" if n.regression_severity is None else str(n.regression_severity) for n in nodes
    ]
    _check_arrays(ids, values, severity, lambda col, i: getattr(nodes[i], col))
    return ids, values, severity


def nodes_frame(nodes: pd.DataFrame | Sequence[NodeInputs]) -> pd.DataFrame:
    """A validated input frame (columns ``INPUT_COLUMNS`` + regression columns) for the fleet."""
    if isinstance(nodes, pd.DataFrame):
        missing = [c for c in INPUT_COLUMNS if c not in nodes.columns]
        if missing:
            raise ValueError(f"nodes: missing column(s) {', '.join(missing)}")
        frame = nodes.reset_index(drop=True).copy()
    else:
        frame = pd.DataFrame(
            [jsonable(n) for n in nodes], columns=[*NodeInputs.__dataclass_fields__]
        )
    if "regression_count" not in frame.columns:
        frame["regression_count"] = 0
    if "regression_severity" not in frame.columns:
        frame["regression_severity"] = "medium"
    frame["node_id"] = frame["node_id"].astype(str)
    if frame["node_id"].duplicated().any():
        dup = frame.loc[frame["node_id"].duplicated(), "node_id"].iloc[0]
        raise ValueError(f"nodes: node_id {dup!r} appears more than once")
    values = {
        col: pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=np.float64)
        for col in _NUMERIC
    }
    sev = frame["regression_severity"].astype(object).fillna("medium").astype(str)
    _check_arrays(
        frame["node_id"].tolist(), values, sev.tolist(), lambda col, i: frame[col].iloc[i]
    )
    for col, v in values.items():
        frame[col] = v
    frame["regression_severity"] = sev
    return frame


def _weigh(
    ids: list[str],
    values: Mapping[str, np.ndarray],
    severity: list[str],
    policy: Policy,
    previous: Mapping[str, WeightState | None] | None,
    fleet_guards: bool,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The fleet computation on validated arrays: output columns and the fleet-guard outcome."""
    qnet = policy.qnet
    bands = qnet.bands
    n = len(ids)
    penalty = qnet.regression_penalty.model_dump()
    scores = score_columns(
        values["p95_ms"],
        values["p99_ms"],
        values["error_rate"],
        values["utilization"],
        values["regression_count"],
        np.array([penalty[sev] for sev in severity], dtype=np.float64),
        qnet,
    )
    prev = previous or {}
    states = [prev.get(node_id) for node_id in ids]
    prev_weight = np.array([s.weight if s else np.nan for s in states], dtype=np.float64)
    prev_pending = np.array(
        [s.pending_weight if s and s.pending_weight is not None else np.nan for s in states],
        dtype=np.float64,
    )
    prev_count = np.array([s.pending_count if s else 0 for s in states], dtype=np.int64)
    hyst = apply_hysteresis(
        scores["overall_score"], scores["raw_weight"], prev_weight, prev_pending, prev_count, qnet
    )
    proposed = hyst["proposed"]
    weight = proposed.copy()
    pending_weight = hyst["pending_weight"].copy()
    pending_count = hyst["pending_count"].copy()
    reason = np.array(
        [
            _RULES[r].format(n=qnet.hysteresis.consecutive, count=c)
            for r, c in zip(hyst["rule"], pending_count, strict=True)
        ],
        dtype=object,
    )

    normal = bands.weight_normal
    healthy = proposed >= normal - 1e-12
    healthy_share = float(healthy.mean()) if n else 1.0
    panic = bool(fleet_guards and n > 0 and healthy_share < qnet.fleet.panic_threshold)
    held_by_cap = 0
    newly = 0
    allowed = n
    base = np.where(np.isnan(prev_weight), normal, prev_weight)  # weight before this evaluation
    if fleet_guards and panic:
        suspended = proposed < normal - 1e-12
        weight = np.where(suspended, normal, proposed)
        # Carry the proposal so the node moves as soon as the panic ends (subject to the cap).
        pending_weight = np.where(suspended, proposed, pending_weight)
        pending_count = np.where(
            suspended, np.maximum(pending_count, qnet.hysteresis.consecutive), pending_count
        )
        reason = np.where(
            suspended,
            f"panic: only {healthy_share:.0%} of nodes healthy (< "
            f"{qnet.fleet.panic_threshold:.0%}); down-weighting suspended, weight {normal:g}",
            reason,
        )
    elif fleet_guards:
        candidates = (proposed < base - 1e-12) & (proposed < normal - 1e-12)
        allowed = max(
            qnet.fleet.min_newly_down_weighted,
            math.floor(qnet.fleet.max_newly_down_weighted_share * n + 1e-9),
        )
        idx = np.flatnonzero(candidates)
        if len(idx) > allowed:
            order = np.lexsort((np.asarray(ids, dtype=object)[idx], scores["overall_score"][idx]))
            keep = idx[order[:allowed]]
            hold = np.setdiff1d(idx, keep)
            weight[hold] = base[hold]
            pending_weight[hold] = proposed[hold]
            pending_count[hold] = np.maximum(pending_count[hold], qnet.hysteresis.consecutive)
            reason[hold] = (
                f"fleet cap: at most {allowed} of {n} nodes newly down-weighted per evaluation "
                f"(worst first); weight held"
            )
            held_by_cap = len(hold)
            newly = allowed
        else:
            newly = len(idx)

    recommendation = np.array(RECOMMENDATIONS, dtype=object)[
        np.searchsorted(
            [bands.weight_critical, bands.weight_degraded, bands.weight_normal, bands.weight_up],
            scores["raw_weight"] - 1e-9,
        ).clip(0, 3)
    ]
    columns: dict[str, Any] = {
        "node_id": ids,
        **values,
        "regression_severity": severity,
        **scores,
        "proposed": proposed,
        "weight": weight,
        "recommendation": recommendation,
        "reason": reason,
        "pending_weight": pending_weight,
        "pending_count": pending_count,
        "prev_weight": prev_weight,
        "prev_pending_weight": prev_pending,
        "prev_pending_count": prev_count,
    }
    guards = {
        "panic": panic,
        "healthy_share": healthy_share,
        "newly_down_weighted": newly,
        "allowed_newly_down_weighted": allowed,
        "held_by_cap": held_by_cap,
    }
    return columns, guards


def fleet_weights(
    nodes: pd.DataFrame | Sequence[NodeInputs],
    policy: Policy = DEFAULT_POLICY,
    previous: Mapping[str, WeightState | None] | None = None,
    *,
    fleet_guards: bool = True,
) -> FleetResult:
    """Score every node and decide its routing weight: bands, hysteresis, fleet cap, panic.

    ``nodes`` is a DataFrame with ``node_id, p95_ms, p99_ms, error_rate, utilization`` (optional
    ``regression_count``, ``regression_severity``) or a sequence of :class:`NodeInputs`.
    ``previous`` maps node id → the :class:`WeightState` the last evaluation returned
    (:meth:`FleetResult.states`); nodes without one are first evaluations.
    """
    frame = nodes_frame(nodes)
    values = {col: frame[col].to_numpy() for col in _NUMERIC}
    columns, guards = _weigh(
        frame["node_id"].tolist(),
        values,
        frame["regression_severity"].tolist(),
        policy,
        previous,
        fleet_guards,
    )
    extra = {k: v for k, v in columns.items() if k not in frame.columns}
    return FleetResult(
        frame=frame.assign(**extra),
        **guards,
        policy_version=policy.version,
        thresholds=policy.section(ENGINE),
        shadow=policy.qnet.shadow,
        fleet_guards=fleet_guards,
    )
