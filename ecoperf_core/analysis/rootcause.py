"""``why ENTITY --at TIME``: the incident, its suspects ranked, and example traces.

The incident is the stored detection (change point or anomaly) of the entity nearest to the
given time (within ``search``), else the given time on the entity's ``latency_p95``. Every
entity's rollup series of the incident's window length, from ``lookback`` before the incident to
``after`` it, are the candidates: each metric of each entity, divided by the median of its
kind's entities per window when the kind has at least three (the daily cycle every entity shares
cancels out, as the analyze stage does). :func:`ecoperf_core.stats.rootcause.rank_suspects`
ranks them; each suspect keeps its evidence (change point time, lead, relative change, p-value,
best lag and correlation).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from ecoperf_core.errors import FieldProblem, NotFoundError, ValidationError
from ecoperf_core.stats.rootcause import RootCauseParams, rank_suspects
from ecoperf_core.timeutil import window_seconds

METRICS = (
    "latency_p95",
    "error_rate",
    "utilization",
    "throughput_rps",
    "cost",
    "availability",
    "cache_hit_rate",
)


@dataclass(frozen=True)
class WhyConfig:
    """Windows of the root-cause search (documented in docs/detectors.md)."""

    lookback: timedelta = timedelta(hours=6)
    after: timedelta = timedelta(hours=1)
    search: timedelta = timedelta(hours=2)  # how far from --at a stored detection is taken
    environment: str = "production"
    top: int = 10
    params: RootCauseParams = field(default_factory=RootCauseParams)


def _incident(
    con: Any, entity: str, at: datetime, metric: str | None, cfg: WhyConfig
) -> dict[str, Any]:
    where = "entity_id = $e AND environment = $env AND detected_at BETWEEN $a AND $b"
    params: dict[str, Any] = {
        "e": entity,
        "env": cfg.environment,
        "a": at - cfg.search,
        "b": at + cfg.search,
        "at": at,
    }
    if metric is not None:
        where += " AND metric = $m"
        params["m"] = metric
    rows = con.execute(
        f"""SELECT entity_kind, metric, "window", detector, detected_at, relative_change, p_value
            FROM detections WHERE {where}
            ORDER BY abs(epoch(detected_at) - epoch($at::TIMESTAMP)), detector LIMIT 1""",
        params,
    ).fetchall()
    if rows:
        kind, m, window, detector, when, change, p = rows[0]
        return {
            "entity": entity,
            "entityKind": kind,
            "metric": m,
            "window": window,
            "at": when,
            "source": f"detection:{detector}",
            "relativeChange": change,
            "pValue": p,
        }
    kinds = con.execute(
        "SELECT DISTINCT entity_kind FROM rollups WHERE entity_id = $e AND environment = $env",
        {"e": entity, "env": cfg.environment},
    ).fetchall()
    if not kinds:
        raise NotFoundError(f"unknown entity {entity!r}: no rollups for it in {cfg.environment!r}")
    return {
        "entity": entity,
        "entityKind": kinds[0][0],
        "metric": metric or "latency_p95",
        "window": "5m",
        "at": at,
        "source": "given time (no stored detection nearby)",
        "relativeChange": None,
        "pValue": None,
    }


def _series(con: Any, window: str, start: datetime, end: datetime, env: str) -> pd.DataFrame:
    columns = ", ".join(METRICS)
    return con.execute(
        f"""SELECT entity_kind, entity_id, window_start, {columns} FROM rollups
            WHERE "window" = $w AND environment = $env AND window_start >= $a
              AND window_start <= $b""",
        {"w": window, "env": env, "a": start, "b": end},
    ).df()


def _normalised(frame: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, str]]:
    """Each metric divided by its kind's median per window (kinds with ≥ 3 entities)."""
    out = frame.copy()
    how: dict[str, str] = {}
    for kind, group in frame.groupby("entity_kind"):
        peers = group["entity_id"].nunique() >= 3
        how[str(kind)] = "peer" if peers else "none"
        if not peers:
            continue
        for metric in METRICS:
            median = group.groupby("window_start")[metric].transform("median")
            out.loc[group.index, metric] = group[metric] / median.where(median > 0)
    return out, how


def why(
    con: Any,
    entity: str,
    at: datetime,
    metric: str | None = None,
    cfg: WhyConfig = WhyConfig(),
) -> dict[str, Any]:
    """The incident of ``entity`` near ``at`` and its suspects, best first, with evidence."""
    if metric is not None and metric not in METRICS:
        raise ValidationError(
            "why", [FieldProblem("--metric", f"expected one of {', '.join(METRICS)}", metric)]
        )
    incident = _incident(con, entity, at, metric, cfg)
    step = timedelta(seconds=window_seconds(incident["window"]))
    moment = pd.Timestamp(incident["at"]).floor(step).to_pydatetime()
    start, end = moment - cfg.lookback, moment + cfg.after
    frame = _series(con, incident["window"], start, end, cfg.environment)
    if frame.empty:
        raise NotFoundError(f"no {incident['window']} rollups between {start} and {end}")
    frame, normalisation = _normalised(frame)
    grid = pd.date_range(start, end, freq=step)
    incident_index = int(grid.get_indexer([moment])[0])
    target_key = (incident["entityKind"], entity, incident["metric"])
    matrices: dict[tuple[str, str, str], np.ndarray] = {}
    for (kind, ident), group in frame.groupby(["entity_kind", "entity_id"]):
        aligned = group.set_index("window_start").reindex(grid)
        for m in METRICS:
            values = aligned[m].to_numpy(dtype=float)
            if np.isfinite(values).sum() >= cfg.params.min_overlap:
                matrices[(str(kind), str(ident), m)] = values
    if target_key not in matrices:
        raise NotFoundError(
            f"no {incident['metric']} series for {entity!r} around {moment:%Y-%m-%d %H:%M}"
        )
    target = matrices.pop(target_key)
    labels = {f"{k}/{i}/{m}": key for key in matrices for k, i, m in [key]}
    ranked = rank_suspects(
        target, {label: matrices[key] for label, key in labels.items()}, incident_index, cfg.params
    )
    suspects = []
    for rank, s in enumerate(ranked[: cfg.top], start=1):
        kind, ident, m = labels[s.key]
        change_at = None if s.change_index is None else grid[s.change_index].to_pydatetime()
        suspects.append(
            {
                "rank": rank,
                "entityKind": kind,
                "entity": ident,
                "metric": m,
                "score": s.score,
                "evidence": {
                    "changeAt": None if change_at is None else change_at.isoformat(),
                    "leadMinutes": None
                    if s.lead_steps is None
                    else s.lead_steps * step.total_seconds() / 60,
                    "relativeChange": s.relative_change,
                    "pValue": s.p_value,
                    "correlation": s.correlation,
                    "lagMinutes": s.lag_steps * step.total_seconds() / 60,
                    "normalisation": normalisation.get(kind, "none"),
                },
            }
        )
    return {
        "incident": {**incident, "at": pd.Timestamp(incident["at"]).isoformat()},
        "window": {"from": start.isoformat(), "to": end.isoformat(), "step": incident["window"]},
        "candidates": len(ranked),
        "parameters": {
            "lookbackMinutes": cfg.lookback.total_seconds() / 60,
            "afterMinutes": cfg.after.total_seconds() / 60,
            **cfg.params.to_dict(),
        },
        "suspects": suspects,
    }
