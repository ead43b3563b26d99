"""The canary judge (:mod:`ecoperf_core.stats.canary`) on warehouse data, stored as a decision.

Samples are the raw requests of the two deployments over the *same* time range (the canary's first
to last request), so both sides see the same traffic mix and daily cycle: latency as a continuous
metric (critical: a tail-only regression fails the run), errors as binomial counts (failures =
requests not ok). Direction ``increase`` is bad for both. With ``interval`` the range is cut into
cumulative intervals (Kayenta's multi-interval run), failing fast on the first interval at or below
marginal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from ecoperf_core.engines.base import Decision, jsonable
from ecoperf_core.errors import FieldProblem, NotFoundError, ValidationError
from ecoperf_core.evaluation import readers
from ecoperf_core.evaluation.store import StoreResult, store_decisions
from ecoperf_core.stats.canary import (
    BinomialCounts,
    CanaryConfig,
    MetricSpec,
    judge_canary,
    judge_canary_intervals,
)
from ecoperf_core.warehouse import reader, writer

# What each --metric means on raw requests.
METRICS: dict[str, MetricSpec] = {
    "latency_ms": MetricSpec(
        "latency_ms", "continuous", "increase", critical=True, group="latency"
    ),
    "errors": MetricSpec("errors", "binomial", "increase", critical=False, group="errors"),
    "cost": MetricSpec("cost", "continuous", "increase", critical=False, group="cost"),
}

# Exit codes of `ecosystem-perf canary` per verdict (docs/cli.md).
EXIT_CODES: dict[str, int] = {"pass": 0, "fail": 1, "marginal": 4, "insufficient_data": 5}


@dataclass
class CanaryRun:
    """A canary verdict with its evidence and what storing it wrote."""

    canary: str
    baseline: str
    verdict: str
    score: float | None
    window_from: datetime
    window_to: datetime
    samples: dict[str, dict[str, int]]
    metrics: list[dict[str, Any]]
    detail: dict[str, Any]
    stored: StoreResult = field(default_factory=StoreResult)

    def to_dict(self) -> dict[str, Any]:
        return {
            "canary": self.canary,
            "baseline": self.baseline,
            "verdict": self.verdict,
            "score": self.score,
            "from": self.window_from.isoformat(),
            "to": self.window_to.isoformat(),
            "samples": self.samples,
            "metrics": self.metrics,
            "reason": self.detail.get("reason"),
            "stored": self.stored.to_dict(),
        }


def side_samples(frame: Any, names: list[str]) -> dict[str, Any]:
    """One side's samples per judged metric from its raw requests: errors as failures out of
    requests, continuous metrics as their finite values (a request without a cost has none)."""
    out: dict[str, Any] = {}
    for name in names:
        if name == "errors":
            ok = frame["ok"].to_numpy(dtype=bool)
            out[name] = BinomialCounts(failures=int((~ok).sum()), total=int(ok.size))
        else:
            values = frame[name].to_numpy(dtype=np.float64)
            out[name] = values[np.isfinite(values)]
    return out


def run_canary(
    db_path: Path,
    canary: str,
    baseline: str,
    metrics: list[str],
    interval: str | None = None,
    environment: str = "production",
    timeout_s: float = 600.0,
    config: CanaryConfig | None = None,
) -> CanaryRun:
    """Judge ``canary`` against ``baseline`` and store the verdict (engine ``canary``)."""
    unknown = [m for m in metrics if m not in METRICS]
    if unknown or not metrics:
        raise ValidationError(
            source="canary --metric",
            problems=[
                FieldProblem(
                    field="--metric",
                    message=f"unknown metric(s) {unknown}; choose from {sorted(METRICS)}",
                )
            ],
        )
    step = None
    if interval is not None:
        from ecoperf_core.timeutil import window_seconds

        try:
            step = timedelta(seconds=window_seconds(interval))
        except ValueError as exc:
            raise ValidationError(
                source="canary --interval",
                problems=[FieldProblem(field="--interval", message=str(exc))],
            ) from None
    cfg = config or CanaryConfig()
    specs = [METRICS[m] for m in metrics]
    with reader(db_path, timeout_s=timeout_s) as con:
        readers.require_known(con, "deployment", [canary, baseline], environment)
        lo, hi, n = con.execute(
            """SELECT min(ts), max(ts), count(*) FROM requests
               WHERE entity_kind = 'deployment' AND entity_id = $c AND environment = $e""",
            {"c": canary, "e": environment},
        ).fetchall()[0]
        if not n:
            raise NotFoundError(f"deployment {canary!r} has no raw requests in {environment!r}")
        frame = con.execute(
            """SELECT entity_id, ts, latency_ms, ok, cost FROM requests
               WHERE entity_kind = 'deployment' AND environment = $e
                 AND entity_id IN ($c, $b) AND ts BETWEEN $lo AND $hi ORDER BY ts""",
            {"e": environment, "c": canary, "b": baseline, "lo": lo, "hi": hi},
        ).df()
    sides = {name: frame[frame["entity_id"] == name] for name in (baseline, canary)}
    counts = {name: {"requests": len(side)} for name, side in sides.items()}
    if step is None:
        verdict = judge_canary(
            specs, side_samples(sides[baseline], metrics), side_samples(sides[canary], metrics), cfg
        )
        outcome, score, reason, final = verdict.verdict, verdict.score, verdict.reason, verdict
        intervals: list[dict[str, Any]] = []
    else:
        cuts = []
        t = lo + step
        while t < hi:
            cuts.append(t)
            t += step
        cuts.append(hi + timedelta(microseconds=1))
        pairs = [
            tuple(side_samples(sides[s][sides[s]["ts"] < cut], metrics) for s in (baseline, canary))
            for cut in cuts
        ]
        run = judge_canary_intervals(specs, pairs, cfg)  # type: ignore[arg-type]
        outcome, score, reason, final = run.verdict, run.score, run.reason, run.intervals[-1]
        intervals = [
            {"interval": i + 1, "verdict": v.verdict, "score": v.score}
            for i, v in enumerate(run.intervals)
        ]
    metric_rows = [jsonable(m.to_dict()) for m in final.metrics]
    detail = {
        "reason": reason,
        "intervals": intervals,
        "stoppedEarly": bool(intervals) and len(intervals) < len(cuts),
        "criticalFailures": list(final.critical_failures),
        "insufficient": list(final.insufficient),
    }
    decision = Decision(
        engine="canary",
        subject=canary,
        outcome=outcome,
        output={
            "deploymentId": canary,
            "baseline": baseline,
            "verdict": outcome,
            "score": score,
            "reason": reason,
        },
        inputs={"samples": counts, "metrics": metrics, "interval": interval},
        thresholds=jsonable(cfg.to_dict()),
        evidence={
            "metrics": metric_rows,
            **detail,
            "source": {
                "table": "requests",
                "environment": environment,
                "from": lo.isoformat(),
                "to": hi.isoformat(),
            },
            "trigger": "on_demand",
        },
        policy_version="canary-judge",
    )
    with writer(db_path, timeout_s=timeout_s) as con:
        stored = store_decisions(con, [decision])
    return CanaryRun(canary, baseline, outcome, score, lo, hi, counts, metric_rows, detail, stored)
