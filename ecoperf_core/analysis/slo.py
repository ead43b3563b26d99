"""Error budgets and burn-rate alerts of one entity from its 5m rollups (``ecosystem-perf slo``).

The math is :mod:`ecoperf_core.stats.slo`'s (the SRE workbook's multi-window rules; OpenSLO
definitions). Good and total events per 5-minute window come from the rollups: requests minus
errors where raw requests were counted, else requests x availability where only availability
points were reported.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np

from ecoperf_core.engines.base import jsonable
from ecoperf_core.errors import FieldProblem, NotFoundError, ValidationError
from ecoperf_core.evaluation import readers
from ecoperf_core.evaluation.runner import Context
from ecoperf_core.stats.slo import (
    SLODefinition,
    budget_status,
    evaluate_burn_alerts,
    load_openslo,
)
from ecoperf_core.warehouse import reader


def _definitions(ctx: Context, entity: str, openslo: str | None) -> list[SLODefinition]:
    if openslo is None:
        return [
            SLODefinition(
                name=f"{entity}-availability",
                service=entity,
                targets=({"target": ctx.policy.slo.objective},),
                window=ctx.windows.slo_period,
                calendar_unit=None,
                calendar_count=1,
                is_rolling=True,
                budgeting_method="Occurrences",
            )
        ]
    try:
        slos = load_openslo(openslo)
    except (ValueError, KeyError, TypeError) as exc:
        raise ValidationError(
            source="slo --openslo", problems=[FieldProblem(field="--openslo", message=str(exc))]
        ) from None
    if not slos:
        raise ValidationError(
            source="slo --openslo",
            problems=[FieldProblem(field="--openslo", message="no `kind: SLO` document")],
        )
    return slos


def entity_slo(
    ctx: Context, entity: str, kind: str | None = None, openslo: str | None = None
) -> dict[str, Any]:
    """Budget status and burn alerts of ``entity`` for each SLO definition."""
    slos = _definitions(ctx, entity, openslo)
    with reader(ctx.db_path, timeout_s=ctx.timeout_s) as con:
        kinds = readers.entity_kinds_of(con, entity)
        if kind is not None:
            kinds = [k for k in kinds if k == kind]
        if not kinds:
            raise NotFoundError(f"unknown entity {entity!r}: no rollups for it")
        if len(kinds) > 1:
            raise ValidationError(
                source="slo --entity",
                problems=[FieldProblem(field="--kind", message=f"{entity!r} is a {kinds}")],
            )
        now = readers.latest_data_time(con)
        longest = max((s.window or timedelta(days=400)) for s in slos)
        frame = con.execute(
            """SELECT window_start + INTERVAL 5 MINUTE AS ts, requests AS total,
                      CASE WHEN errors IS NOT NULL THEN requests - errors
                           ELSE requests * coalesce(availability, 100) / 100 END AS good
               FROM rollups
               WHERE "window" = '5m' AND entity_kind = $k AND entity_id = $id
                 AND environment = $e AND window_start > $since ORDER BY 1""",
            {"k": kinds[0], "id": entity, "e": ctx.environment, "since": now - longest},
        ).df()
    ts = frame["ts"].to_numpy()
    good = frame["good"].to_numpy(dtype=np.float64)
    total = frame["total"].to_numpy(dtype=np.float64)
    out = []
    for slo in slos:
        method = "Timeslices" if slo.budgeting_method != "Occurrences" else "Occurrences"
        status = budget_status(
            ts,
            good,
            total,
            slo.target,
            now,
            window=slo.window if slo.is_rolling else None,
            calendar_unit=None if slo.is_rolling else slo.calendar_unit,
            method=method,  # type: ignore[arg-type]
            timeslice_target=slo.targets[0].get("timeSliceTarget"),
        )
        alerts = evaluate_burn_alerts(ts, good, total, slo.target, now)
        out.append(
            {
                "slo": slo.name,
                "target": slo.target,
                "budget": jsonable(status.to_dict()),
                "alerts": [jsonable(a.to_dict()) for a in alerts],
                "firing": [a.rule for a in alerts if a.firing],
            }
        )
    return {"entity": entity, "kind": kinds[0], "asOf": now.isoformat(), "slos": out}
