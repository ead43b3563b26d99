"""The decision log: decisions, their outbox events and the log's head, written together.

One call stores a whole batch of decisions in ONE writer transaction, in bulk (a DataFrame scanned
by DuckDB, never a row at a time):

1. every decision goes to ``decisions`` (with ``decided_at`` and ``shadow``);
2. a non-shadow decision whose outcome differs from the subject's previous one (the
   ``latest_decisions`` head; no head counts as different) adds an ``outbox`` event, its ``seq``
   from the ``outbox_seq`` sequence;
3. non-shadow decisions become the new head of their engine and subject, with the engine state to
   carry (QNET's weight and pending change for hysteresis).

Shadow decisions (the policy section's ``shadow = true``) are stored and nothing else: no event,
and the head (the previous outcome and state) stays what the last acted-on decision left.

QNET fleets take a columnar path (:func:`store_fleet`): the JSON of 10,000 decisions is built by
DuckDB from the engine's result frame, the same documents :meth:`FleetResult.decisions` would give.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import duckdb
import pandas as pd

from ecoperf_core.engines.base import Decision, jsonable
from ecoperf_core.engines.qnet import FLEET_COLUMNS, FleetResult, WeightState, weight_label
from ecoperf_core.publish.events_feed import export_after_commit
from ecoperf_core.warehouse.sql import literal

EVENT_TYPES: dict[str, str] = {
    "qnet": "node_performance_update",
    "qflow": "qflow_policy_update",
    "qerberos": "risk_assessment_update",
    "golive": "go_live_update",
    "dao": "dao_isolation_update",
    "cicd": "deployment_gate_update",
}

_STAGED_COLUMNS = (
    "engine",
    "subject",
    "outcome",
    "inputs",
    "thresholds",
    "output",
    "evidence",
    "policy_version",
    "shadow",
    "event_type",
    "state",
)


def utc_now() -> datetime:
    """Naive UTC, as the warehouse stores times."""
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass
class StoreResult:
    """What one store call wrote."""

    decisions: int = 0
    events: int = 0
    decided_at: datetime | None = None
    changes: list[dict[str, Any]] = field(default_factory=list)  # first few changes, for output

    def to_dict(self) -> dict[str, Any]:
        return {
            "decisions": self.decisions,
            "events": self.events,
            "decidedAt": None if self.decided_at is None else self.decided_at.isoformat(),
            "changes": self.changes,
        }


def _dumps(value: Any) -> str:
    return json.dumps(jsonable(value), separators=(",", ":"), allow_nan=False)


def staged_frame(
    decisions: Sequence[Decision], states: Mapping[str, Mapping[str, Any]] | None = None
) -> pd.DataFrame:
    """The staging frame of ordinary decisions (JSON as text), one row each."""
    rows = []
    for d in decisions:
        state = None if states is None else states.get(d.subject)
        rows.append(
            (
                d.engine,
                d.subject,
                d.outcome,
                _dumps(d.inputs),
                _dumps(d.thresholds),
                _dumps(d.output),
                _dumps(d.evidence),
                d.policy_version,
                bool(d.evidence.get("shadow", False)),
                EVENT_TYPES.get(d.engine, f"{d.engine}_update"),
                None if state is None else _dumps(state),
            )
        )
    return pd.DataFrame(rows, columns=list(_STAGED_COLUMNS))


_CHANGES_SHOWN = 20


def _store_staged(
    con: duckdb.DuckDBPyConnection,
    select: str,
    decided_at: datetime,
    publish: bool = True,
    params: Mapping[str, Any] | None = None,
) -> StoreResult:
    """Write the rows of ``select`` (a query with the ``_STAGED_COLUMNS``, over a registered
    frame, with ``params``): decisions, outbox events for changed outcomes, new heads; one
    transaction. ``publish=False`` stores the decisions only (a what-if on caller-given metrics:
    no event, the head is left alone). The rows are materialized once, with their ids."""
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE staged_decisions AS
                SELECT CAST(uuid() AS VARCHAR) AS decision_id, * FROM ({select})""",
            dict(params or {}),
        )
        dup = con.execute(
            """SELECT engine, subject FROM staged_decisions GROUP BY ALL HAVING count(*) > 1
               LIMIT 1"""
        ).fetchall()
        if dup:
            raise ValueError(f"one store call has two decisions for {dup[0][0]} {dup[0][1]!r}")
        stored = con.execute(
            """INSERT INTO decisions (decision_id, engine, subject, outcome, inputs, thresholds,
                                      output, evidence, policy_version, shadow, decided_at)
               SELECT decision_id, engine, subject, outcome, inputs, thresholds, output,
                      evidence, policy_version, shadow, $at
               FROM staged_decisions""",
            {"at": decided_at},
        ).fetchall()[0][0]
        con.execute(
            """CREATE OR REPLACE TEMP TABLE changed_decisions AS
               SELECT s.decision_id, s.engine, s.subject, s.outcome, s.output, s.event_type,
                      s.policy_version, h.outcome AS previous
               FROM staged_decisions AS s
               LEFT JOIN latest_decisions AS h USING (engine, subject)
               WHERE NOT s.shadow AND h.outcome IS DISTINCT FROM s.outcome AND $publish""",
            {"publish": publish},
        )
        events = con.execute(
            """INSERT INTO outbox (seq, event_id, event_type, subject, data, decision_id,
                                   created_at)
               SELECT nextval('outbox_seq'), CAST(uuid() AS VARCHAR), event_type, subject,
                      json_object('type', event_type, 'engine', engine, 'subject', subject,
                                  'outcome', outcome, 'previousOutcome', previous,
                                  'decisionId', decision_id, 'decidedAt', $at_text,
                                  'policyVersion', policy_version,
                                  'data', CAST(output AS JSON)),
                      decision_id, $at
               FROM (SELECT * FROM changed_decisions ORDER BY engine, subject)""",
            {"at": decided_at, "at_text": decided_at.isoformat()},
        ).fetchall()[0][0]
        changes = [
            {"engine": e, "subject": s, "previous": p, "outcome": o}
            for e, s, p, o in con.execute(
                f"""SELECT engine, subject, previous, outcome FROM changed_decisions
                    ORDER BY engine, subject LIMIT {_CHANGES_SHOWN}"""
            ).fetchall()
        ]
        con.execute(
            """INSERT OR REPLACE INTO latest_decisions
               (engine, subject, decision_id, outcome, decided_at, state)
               SELECT engine, subject, decision_id, outcome, $at, state
               FROM staged_decisions WHERE NOT shadow AND $publish""",
            {"at": decided_at, "publish": publish},
        )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        con.execute("DROP TABLE IF EXISTS staged_decisions")
        con.execute("DROP TABLE IF EXISTS changed_decisions")
    if events:  # still under the writer: the events reach the feed (and the API) at once
        export_after_commit(con)
    return StoreResult(
        decisions=int(stored), events=int(events), decided_at=decided_at, changes=changes
    )


def store_decisions(
    con: duckdb.DuckDBPyConnection,
    decisions: Sequence[Decision],
    *,
    states: Mapping[str, Mapping[str, Any]] | None = None,
    decided_at: datetime | None = None,
    publish: bool = True,
) -> StoreResult:
    """Store decisions (+ events, + heads) in one transaction; ``states`` maps subject → the
    engine state to carry to the next evaluation."""
    decided_at = decided_at or utc_now()
    if not decisions:
        return StoreResult(decided_at=decided_at)
    frame = staged_frame(decisions, states)
    con.register("staged_input", frame)
    try:
        return _store_staged(con, "SELECT * FROM staged_input", decided_at, publish)
    finally:
        con.unregister("staged_input")


# -------------------------------------------------------------------------------- QNET fleet


_SOURCE_COLUMNS = {
    "requests": "src_requests",
    "window_from": "src_from",
    "window_to": "src_to",
    "utilization_known": "src_util_known",
    "max_relative_change": "src_max_change",
    "last_change_at": "src_last_change",
}


def _iso(column: str) -> str:
    """SQL rendering a TIMESTAMP as Python's ``isoformat()`` would (NULL stays NULL)."""
    return (
        f"CASE WHEN {column} IS NULL THEN NULL WHEN microsecond({column}) = 0 "
        f"THEN strftime({column}, '%Y-%m-%dT%H:%M:%S') "
        f"ELSE strftime({column}, '%Y-%m-%dT%H:%M:%S.%f') END"
    )


def _num(column: str) -> str:
    """SQL mapping a NaN (how the engine frame spells "none") to NULL."""
    return f"CASE WHEN isnan({column}) THEN NULL ELSE {column} END"


def store_fleet(
    con: duckdb.DuckDBPyConnection,
    fleet: FleetResult,
    source: pd.DataFrame | None = None,
    *,
    common: Mapping[str, Any] | None = None,
    decided_at: datetime | None = None,
) -> StoreResult:
    """Store a QNET fleet evaluation: one decision per node, JSON built column-wise by DuckDB.

    ``source`` (with a ``node_id`` column) may carry per-node evidence columns ``requests,
    window_from, window_to, utilization_known, max_relative_change, last_change_at``; ``common``
    is evidence shared by every node (as-of time, trigger). Each stored document equals
    ``FleetResult.decisions()[i].to_dict()`` plus ``evidence.source`` and the ``common`` keys.
    """
    decided_at = decided_at or utc_now()
    f = fleet.frame
    if f.empty:
        return StoreResult(decided_at=decided_at)
    frame = f.loc[:, list(FLEET_COLUMNS)].reset_index(drop=True)
    frame["outcome"] = [weight_label(w) for w in frame["weight"].to_numpy()]
    src = pd.DataFrame(index=frame.index)
    if source is not None:
        aligned = source.set_index("node_id").reindex(frame["node_id"]).reset_index(drop=True)
        for name, alias in _SOURCE_COLUMNS.items():
            if name in aligned.columns:
                src[alias] = aligned[name]
    for name, alias in _SOURCE_COLUMNS.items():
        if alias not in src.columns:
            src[alias] = True if name == "utilization_known" else None
    for alias in ("src_from", "src_to", "src_last_change"):
        src[alias] = pd.to_datetime(src[alias])
    src["src_requests"] = pd.array(src["src_requests"], dtype="Int64")
    src["src_util_known"] = pd.array(src["src_util_known"], dtype="boolean")
    src["src_max_change"] = pd.array(src["src_max_change"], dtype="Float64")
    frame = pd.concat([frame, src], axis=1)
    fleet_json = _dumps(fleet.summary()) if fleet.fleet_guards else "null"
    params = {
        "thresholds": _dumps(fleet.thresholds),
        "fleet": fleet_json,
        "version": fleet.policy_version,
        "shadow": bool(fleet.shadow),
        "event": EVENT_TYPES["qnet"],
    }
    # The shared evidence keys become struct fields (JSON parameters), not a per-row
    # json_merge_patch: same document, a quarter less time building 10,000 of them.
    common_fields = ""
    for i, (key, value) in enumerate(dict(common or {}).items()):
        params[f"common_{i}"] = _dumps(value)
        common_fields += f", {literal(key)}: CAST($common_{i} AS JSON)"
    select = f"""
            SELECT
                'qnet' AS engine,
                node_id AS subject,
                outcome,
                to_json({{
                    'p95Ms': p95_ms, 'p99Ms': p99_ms, 'errorRate': error_rate,
                    'utilization': utilization, 'regressionCount': regression_count,
                    'regressionSeverity': regression_severity,
                    'previous': CASE WHEN {_num("prev_weight")} IS NULL THEN NULL ELSE {{
                        'weight': prev_weight,
                        'pendingWeight': {_num("prev_pending_weight")},
                        'pendingCount': prev_pending_count}} END
                }}) AS inputs,
                CAST($thresholds AS JSON) AS thresholds,
                to_json({{
                    'nodeId': node_id, 'latencyScore': latency_score,
                    'errorRateScore': error_rate_score, 'capacityScore': capacity_score,
                    'regressionScore': regression_score, 'overallScore': overall_score,
                    'recommendation': recommendation, 'routingWeight': weight
                }}) AS output,
                to_json({{
                    'bandWeight': raw_weight, 'proposedWeight': proposed, 'reason': reason,
                    'pendingWeight': {_num("pending_weight")}, 'pendingCount': pending_count,
                    'fleet': CAST($fleet AS JSON), 'shadow': CAST($shadow AS BOOLEAN),
                    'source': {{
                        'requests': src_requests,
                        'windowFrom': {_iso("src_from")},
                        'windowTo': {_iso("src_to")},
                        'utilizationKnown': src_util_known,
                        'regression': CASE WHEN src_max_change IS NULL THEN NULL ELSE {{
                            'maxRelativeChange': src_max_change,
                            'lastChangeAt': {_iso("src_last_change")}}} END
                    }}{common_fields}
                }}) AS evidence,
                CAST($version AS VARCHAR) AS policy_version,
                CAST($shadow AS BOOLEAN) AS shadow,
                CAST($event AS VARCHAR) AS event_type,
                to_json({{
                    'weight': weight, 'pendingWeight': {_num("pending_weight")},
                    'pendingCount': pending_count
                }}) AS state
            FROM fleet_input"""
    con.register("fleet_input", frame)
    try:
        return _store_staged(con, select, decided_at, params=params)
    finally:
        con.unregister("fleet_input")


def fleet_source(row: Mapping[str, Any]) -> dict[str, Any]:
    """``evidence.source`` of one node, as :func:`store_fleet` writes it (for Decision objects)."""

    def when(value: Any) -> str | None:
        return None if value is None or pd.isna(value) else pd.Timestamp(value).isoformat()

    change = row.get("max_relative_change")
    known = row.get("utilization_known", True)
    requests = row.get("requests")
    return {
        "requests": None if requests is None or pd.isna(requests) else int(requests),
        "windowFrom": when(row.get("window_from")),
        "windowTo": when(row.get("window_to")),
        "utilizationKnown": None if known is None or pd.isna(known) else bool(known),
        "regression": None
        if change is None or pd.isna(change)
        else {"maxRelativeChange": float(change), "lastChangeAt": when(row.get("last_change_at"))},
    }


# ---------------------------------------------------------------------------------- reading


def qnet_states(con: duckdb.DuckDBPyConnection) -> dict[str, WeightState]:
    """The hysteresis state every node's last acted-on QNET decision left."""
    rows = con.execute(
        """SELECT subject,
                  CAST(state->>'weight' AS DOUBLE),
                  CAST(state->>'pendingWeight' AS DOUBLE),
                  coalesce(CAST(state->>'pendingCount' AS BIGINT), 0)
           FROM latest_decisions WHERE engine = 'qnet' AND state IS NOT NULL"""
    ).fetchall()
    return {
        subject: WeightState(weight=weight, pending_weight=pending, pending_count=int(count))
        for subject, weight, pending, count in rows
        if weight is not None
    }


def subjects_with_outcome(con: duckdb.DuckDBPyConnection, engine: str, outcome: str) -> list[str]:
    """Subjects whose last acted-on decision of ``engine`` had ``outcome`` (e.g. isolated DAOs)."""
    rows = con.execute(
        """SELECT subject FROM latest_decisions WHERE engine = $engine AND outcome = $outcome
           ORDER BY subject""",
        {"engine": engine, "outcome": outcome},
    ).fetchall()
    return [r[0] for r in rows]


def _loads(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def list_decisions(
    con: duckdb.DuckDBPyConnection,
    engine: str | None = None,
    subject: str | None = None,
    limit: int = 20,
) -> list[dict[str, Any]]:
    """Latest decisions first, optionally of one engine and/or subject."""
    where, params = [], {}
    if engine is not None:
        where.append("engine = $engine")
        params["engine"] = engine
    if subject is not None:
        where.append("subject = $subject")
        params["subject"] = subject
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    cursor = con.execute(
        f"""SELECT decision_id, engine, subject, outcome, decided_at, shadow, policy_version,
                   output, inputs, thresholds, evidence
            FROM decisions {clause}
            ORDER BY decided_at DESC, engine, subject
            LIMIT {int(limit)}""",
        params,
    )
    columns = [d[0] for d in cursor.description or []]
    out = []
    for row in cursor.fetchall():
        item = dict(zip(columns, row, strict=True))
        for key in ("output", "inputs", "thresholds", "evidence"):
            item[key] = _loads(item[key])
        item["decided_at"] = item["decided_at"].isoformat()
        out.append(item)
    return out
