"""QNET and Qerberos evaluations in shards: inputs per shard, fleet decisions in one writer.

Per entity, QNET's inputs (current p95/p99/error rate/utilization, stored regressions) and
Qerberos' whole assessment depend only on the entity's own rows, except the latency trend, which
is relative to the fleet's median per hour: the plan computes those medians once. So shards read
their entities' rollups, raw requests and detections from hive-partitioned Parquet and write:

* QNET: their nodes' input rows. The fleet step (hysteresis, ejection cap, panic threshold needs
  the whole fleet) runs in the writer on all shards' rows, exactly as the unsharded run does.
* Qerberos: their entities' decisions, stored together by the writer.

DAO isolation (a fleet-wide cap over a few hundred DAOs) and go-live readiness (a few modules)
stay single tasks: they are small whatever the node count.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from ecoperf_core.engines import qerberos, qnet
from ecoperf_core.engines.base import Decision
from ecoperf_core.errors import NotFoundError
from ecoperf_core.evaluation import readers
from ecoperf_core.evaluation.runner import (
    Context,
    EvaluationResult,
    _already_evaluated,
    _skipped,
    _with_context,
)
from ecoperf_core.evaluation.series import column_medians
from ecoperf_core.evaluation.store import (
    StoreResult,
    _store_staged,
    qnet_states,
    staged_frame,
    store_fleet,
    utc_now,
)
from ecoperf_core.scale import exchange
from ecoperf_core.scale.analyze import ShardOutcome
from ecoperf_core.warehouse import reader, writer

DAY = timedelta(days=1)


@dataclass(frozen=True)
class EvaluatePlan:
    """What every shard of one evaluation needs (small and picklable)."""

    run_dir: Path
    shards: int
    as_of: datetime
    context: Context
    risk_kinds: tuple[str, ...]
    skipped: dict[str, str] = field(default_factory=dict)  # engine -> why it is not evaluated
    trend_medians: dict[str, tuple[float, ...] | None] = field(default_factory=dict)
    seconds: float = 0.0


def plan(
    ctx: Context,
    exchange_root: Path,
    shards: int,
    as_of: datetime | str | None = None,
    risk_kinds: tuple[str, ...] = ("user", "node"),
    skip_unchanged: bool = True,
) -> EvaluatePlan:
    """Export the rollups, raw requests and detections the shards read; the fleet's medians."""
    started = time.perf_counter()
    w = ctx.windows
    with reader(ctx.db_path, timeout_s=ctx.timeout_s) as con:
        exchange.cap_memory(con)
        moment = readers.resolve_as_of(con, as_of)
        skipped: dict[str, str] = {}
        for engine in ("qnet", "qerberos"):
            if skip_unchanged and (why := _already_evaluated(con, engine, moment, ctx.policy)):
                skipped[engine] = why
        kinds = sorted(
            ({"node"} if "qnet" not in skipped else set())
            | (set(risk_kinds) if "qerberos" not in skipped else set())
        )
        medians: dict[str, tuple[float, ...] | None] = {}
        if "qerberos" not in skipped:
            for kind in risk_kinds:
                _ids, hourly, _ts = readers.latency_matrix(
                    con, kind, moment, ctx.environment, w.trend_lookback, window="1h"
                )
                rows = hourly.shape[0]
                medians[kind] = None if rows < 3 else tuple(column_medians(hourly, rows).tolist())
        run_dir = exchange.new_run_dir(exchange_root, "evaluate")
        if kinds:
            end = readers.ceil_to(moment, readers.FIVE_MIN)
            env, kind_list = (
                exchange.literal(ctx.environment),
                ", ".join(exchange.literal(k) for k in kinds),
            )
            since_5m = end - max(w.current_max, w.cost_days * DAY)
            since_1h = readers.ceil_to(moment, timedelta(hours=1)) - w.trend_lookback
            exchange.export_table(
                con,
                f"""SELECT * FROM rollups
                    WHERE environment = {env} AND entity_kind IN ({kind_list})
                      AND (("window" = '5m' AND window_start >= {exchange.literal(since_5m)}
                            AND window_start < {exchange.literal(end)})
                        OR ("window" = '1h' AND window_start >= {exchange.literal(since_1h)}))""",
                run_dir,
                "rollups",
                shards,
                "window_start",
            )
            exchange.export_table(
                con,
                f"""SELECT entity_kind, entity_id, environment, ts, latency_ms, ok FROM requests
                    WHERE environment = {env} AND entity_kind IN ({kind_list})
                      AND ts >= {exchange.literal(end - w.current_max)}
                      AND ts <= {exchange.literal(moment)}""",
                run_dir,
                "requests",
                shards,
                "ts",
            )
            lookback = max(w.regression_lookback, w.anomaly_lookback) + w.anomaly_changepoint_grace
            exchange.export_table(
                con,
                f"""SELECT * FROM detections
                    WHERE environment = {env} AND entity_kind IN ({kind_list})
                      AND detected_at > {exchange.literal(moment - lookback)}
                      AND detected_at <= {exchange.literal(moment)}""",
                run_dir,
                "detections",
                shards,
                "detected_at",
            )
    return EvaluatePlan(
        run_dir=run_dir,
        shards=shards,
        as_of=moment,
        context=ctx,
        risk_kinds=tuple(risk_kinds),
        skipped=skipped,
        trend_medians=medians,
        seconds=time.perf_counter() - started,
    )


def run_shard(eval_plan: EvaluatePlan, shard: int) -> ShardOutcome:
    """QNET inputs and Qerberos decisions of one shard's entities, written as Parquet."""
    outcome = ShardOutcome(shard=shard, started=time.time())
    ctx = eval_plan.context
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute("SET threads = 1")
        if len(eval_plan.skipped) < 2:  # both skipped: nothing was exported
            for name in ("rollups", "requests", "detections"):
                exchange.attach_shard(con, eval_plan.run_dir, name, shard)
        if "qnet" not in eval_plan.skipped:
            inputs = readers.node_inputs(con, eval_plan.as_of, ctx.environment, ctx.windows)
            exchange.write_result(inputs, eval_plan.run_dir, "qnet_inputs", shard)
            outcome.extra["nodes"] = len(inputs)
        if "qerberos" not in eval_plan.skipped:
            decisions: list[Decision] = []
            for kind in eval_plan.risk_kinds:
                medians = eval_plan.trend_medians.get(kind)
                for sourced in readers.risk_inputs(
                    con,
                    kind,
                    eval_plan.as_of,
                    ctx.environment,
                    None,
                    ctx.windows,
                    trend_medians=None if medians is None else np.asarray(medians, np.float64),
                ):
                    decision = qerberos.assess_risk(sourced.inputs, ctx.policy)
                    decisions.append(
                        _with_context(decision, sourced.source, eval_plan.as_of, "scheduled")
                    )
            # The rows store_decisions would stage, so the writer inserts them from Parquet
            # (a fleet's decisions as Python objects would grow the writer's memory with it).
            staged = staged_frame(decisions)
            rank = {k: i for i, k in enumerate(eval_plan.risk_kinds)}
            staged["kind_rank"] = [rank[d.evidence["source"]["entityKind"]] for d in decisions]
            staged["risk_score"] = [float(d.output["riskScore"]) for d in decisions]
            exchange.write_result(staged, eval_plan.run_dir, "qerberos", shard)
            outcome.extra["entities"] = len(decisions)
    finally:
        con.close()
    outcome.ended = time.time()
    return outcome


def _qnet_inputs(eval_plan: EvaluatePlan) -> pd.DataFrame:
    frame = exchange.read_results(eval_plan.run_dir, "qnet_inputs", eval_plan.shards)
    frame = frame.sort_values("node_id", ignore_index=True)
    for column in ("max_relative_change", "last_change_at"):
        frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
    return frame


def land(eval_plan: EvaluatePlan, keep_exchange: bool = False) -> dict[str, EvaluationResult]:
    """The fleet step and the store, in the writer: QNET then Qerberos, as the flow orders them."""
    ctx = eval_plan.context
    out: dict[str, EvaluationResult] = {}
    try:
        if "qnet" in eval_plan.skipped or "qerberos" in eval_plan.skipped:
            with reader(ctx.db_path, timeout_s=ctx.timeout_s) as con:
                for engine, why in eval_plan.skipped.items():
                    out[engine] = _skipped(engine, eval_plan.as_of, why, con, ctx.policy)
        if "qnet" not in eval_plan.skipped:
            out["qnet"] = _land_qnet(eval_plan, _qnet_inputs(eval_plan))
        if "qerberos" not in eval_plan.skipped:
            out["qerberos"] = _land_qerberos(eval_plan)
    finally:
        if not keep_exchange:
            exchange.remove_run(eval_plan.run_dir)
    return out


def _land_qerberos(eval_plan: EvaluatePlan) -> EvaluationResult:
    """Every shard's staged Qerberos rows stored in one transaction, straight from Parquet."""
    ctx = eval_plan.context
    relation, count = exchange.result_relation(eval_plan.run_dir, "qerberos", eval_plan.shards)
    stored = StoreResult(decided_at=None)
    counts: dict[str, int] = {}
    highest: list[dict[str, Any]] = []
    if relation is not None:
        with writer(ctx.db_path, timeout_s=ctx.timeout_s) as con:
            exchange.cap_memory(con)
            con.execute(f"CREATE OR REPLACE TEMP VIEW staged_qerberos AS SELECT * FROM {relation}")
            try:
                stored = _store_staged(con, "SELECT * FROM staged_qerberos", utc_now())
                counts = dict(
                    con.execute(
                        "SELECT outcome, count(*) FROM staged_qerberos GROUP BY 1 ORDER BY 1"
                    ).fetchall()
                )
                highest = [
                    {"entity": s, "riskLevel": o, "riskScore": r}
                    for s, o, r in con.execute(
                        """SELECT subject, outcome, risk_score FROM staged_qerberos
                           ORDER BY risk_score DESC, kind_rank, subject LIMIT 5"""
                    ).fetchall()
                ]
            finally:
                con.execute("DROP VIEW IF EXISTS staged_qerberos")
    extra = {"entities": count, "highest": highest, "outcomes": counts}
    return EvaluationResult("qerberos", [], stored, eval_plan.as_of, extra=extra)


def _land_qnet(eval_plan: EvaluatePlan, inputs: pd.DataFrame) -> EvaluationResult:
    ctx, moment = eval_plan.context, eval_plan.as_of
    if inputs.empty:  # what the unsharded task reports for a NotFoundError
        why = NotFoundError(
            f"no node has data in the {ctx.windows.current_max} before {moment:%Y-%m-%d %H:%M} "
            f"in {ctx.environment!r}"
        )
        return EvaluationResult(
            "qnet", [], StoreResult(decided_at=None), moment, extra={"skipped": str(why)}
        )
    with writer(ctx.db_path, timeout_s=ctx.timeout_s) as con:
        exchange.cap_memory(con)
        fleet = qnet.fleet_weights(inputs, ctx.policy, qnet_states(con))
        common = {"asOf": moment.isoformat(), "trigger": "scheduled"}
        stored = store_fleet(con, fleet, inputs, common=common)
    frame = fleet.frame
    down = frame[frame["weight"] < ctx.policy.qnet.bands.weight_normal - 1e-12]
    extra = {
        "nodes": len(frame),
        "fleet": fleet.summary(),
        "downWeighted": [
            {"node": n, "weight": float(w), "overallScore": float(s), "reason": str(r)}
            for n, w, s, r in zip(
                down["node_id"], down["weight"], down["overall_score"], down["reason"], strict=True
            )
        ][:50],
        "regressions": int((frame["regression_count"] > 0).sum()),
        "shards": eval_plan.shards,
    }
    return EvaluationResult(
        "qnet", [], stored, moment, fleet, extra, sources=inputs.set_index("node_id"), common=common
    )


def evaluate_sharded(
    ctx: Context,
    exchange_root: Path,
    shards: int,
    as_of: datetime | str | None = None,
    risk_kinds: tuple[str, ...] = ("user", "node"),
) -> dict[str, Any]:
    """Plan, every shard in turn, land: the sharded evaluation in one process."""
    eval_plan = plan(ctx, exchange_root, shards, as_of, risk_kinds)
    for k in range(shards):
        run_shard(eval_plan, k)
    return land(eval_plan)
