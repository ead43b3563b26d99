"""Policy replay over the decision log: what a candidate policy would have decided differently.

Read-only: the warehouse is opened as a reader, nothing is stored, no event is written, nothing
is published. The report compares the candidate's decisions with the decisions actually made
(``decisions`` rows that were acted on: shadow decisions are left out) and with incidents:

* gates (CI/CD deploy gates, go-live readiness) that would have blocked or passed differently;
* DAO isolations (and any other DAO tier change);
* QNET weight changes, and flaps per node (how often a node's weight changed between
  consecutive evaluations, actual vs candidate);
* which adverse decisions (a block, an isolation, a weight below normal, a high risk, a deferral)
  coincide with an incident on their subject: a stored detection (change point or anomaly)
  within ``incident_window`` before the decision's data time, or a labelled incident given by the
  caller. Adverse without an incident estimates false positives, not adverse with one false
  negatives.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from ecoperf_core.errors import FieldProblem, NotFoundError, ValidationError
from ecoperf_core.policy import Policy
from ecoperf_core.replay.rerun import (
    REPLAYED_ENGINES,
    ReplayedDecision,
    ReplayState,
    StoredDecision,
    replay_history,
)

_SINCE = re.compile(r"^(\d+)([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(text: str, now: datetime) -> datetime:
    """``30d``, ``12h``, ``90m``, ``2w`` before ``now``, or an ISO date/time."""
    match = _SINCE.match(text.strip())
    if match:
        return now - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    try:
        return pd.Timestamp(text).tz_localize(None).to_pydatetime()
    except (ValueError, TypeError):
        raise ValidationError(
            "replay",
            [
                FieldProblem(
                    "--since", "expected a duration like 30d, 12h, 90m or an ISO time", text
                )
            ],
        ) from None


def adverse(engine: str, outcome: str) -> bool:
    """An outcome that acts against its subject."""
    if engine == "qnet":
        try:
            return float(outcome) < 1.0
        except ValueError:
            return False
    return outcome in {
        "block_deployment",
        "blocked",
        "performance_monitoring",
        "traffic_throttling",
        "immediate_isolation",
        "high",
        "critical",
        "defer",
        "cache_fallback",
    }


def _is_block(engine: str, outcome: str) -> bool:
    return (engine, outcome) in {("cicd", "block_deployment"), ("golive", "blocked")}


@dataclass(frozen=True)
class Incident:
    """An incident on an entity: detected (stored detection) or labelled by the caller."""

    entity: str
    start: datetime
    end: datetime
    source: str  # "detected:<metric>/<detector>" or "labelled"


def labelled_incidents(path: Path) -> list[Incident]:
    """A JSON list of ``{"entity": ..., "start": ISO, "end": ISO}`` (``end`` optional)."""
    try:
        items = json.loads(path.read_text(encoding="utf-8"))
        assert isinstance(items, list)
        return [
            Incident(
                str(item["entity"]),
                pd.Timestamp(item["start"]).tz_localize(None).to_pydatetime(),
                pd.Timestamp(item.get("end") or item["start"]).tz_localize(None).to_pydatetime(),
                "labelled",
            )
            for item in items
        ]
    except (OSError, ValueError, KeyError, TypeError, AssertionError) as exc:
        raise ValidationError(
            str(path),
            [FieldProblem("--incidents", f"expected a JSON list of {{entity, start, end}}: {exc}")],
        ) from None


@dataclass
class ReplayReport:
    """Everything the replay found; :meth:`to_dict` is the JSON output."""

    policy_version: str
    since: datetime
    evaluations: int
    replayed: list[ReplayedDecision]
    incidents: list[Incident]
    incident_window: timedelta
    skipped: dict[str, int] = field(default_factory=dict)

    def _incident_for(self, r: ReplayedDecision) -> Incident | None:
        subject = r.stored.subject.split("@", 1)[0]
        as_of = r.stored.evidence.get("asOf")
        moment = pd.Timestamp(as_of).to_pydatetime() if as_of else r.stored.decided_at
        for incident in self.incidents:
            if incident.entity != subject:
                continue
            if incident.start - self.incident_window <= moment and (
                incident.end >= moment - self.incident_window
            ):
                return incident
        return None

    def _confusion(self, candidate: bool) -> dict[str, int]:
        out = {"adverseWithIncident": 0, "possibleFalsePositives": 0, "possibleFalseNegatives": 0}
        for r in self.replayed:
            outcome = r.outcome if candidate else r.stored.outcome
            hit = self._incident_for(r) is not None
            bad = adverse(r.stored.engine, outcome)
            if bad and hit:
                out["adverseWithIncident"] += 1
            elif bad:
                out["possibleFalsePositives"] += 1
            elif hit:
                out["possibleFalseNegatives"] += 1
        return out

    def differences(self) -> list[dict[str, Any]]:
        rows = []
        for r in self.replayed:
            if r.same:
                continue
            incident = self._incident_for(r)
            rows.append(
                {
                    "engine": r.stored.engine,
                    "subject": r.stored.subject,
                    "decidedAt": pd.Timestamp(r.stored.decided_at).isoformat(),
                    "decisionId": r.stored.decision_id,
                    "actual": r.stored.outcome,
                    "candidate": r.outcome,
                    "incident": None if incident is None else incident.source,
                }
            )
        return rows

    def _flaps(self, candidate: bool) -> dict[str, int]:
        last: dict[str, str] = {}
        flaps: dict[str, int] = {}
        for r in self.replayed:
            if r.stored.engine != "qnet" or r.stored.evidence.get("trigger") == "payload":
                continue
            outcome = r.outcome if candidate else r.stored.outcome
            node = r.stored.subject
            if node in last and last[node] != outcome:
                flaps[node] = flaps.get(node, 0) + 1
            last[node] = outcome
        return flaps

    def to_dict(self) -> dict[str, Any]:
        per_engine: dict[str, dict[str, int]] = {}
        for r in self.replayed:
            e = per_engine.setdefault(r.stored.engine, {"decisions": 0, "different": 0})
            e["decisions"] += 1
            e["different"] += 0 if r.same else 1
        diffs = self.differences()

        def listed(pred: Any) -> list[dict[str, Any]]:
            return [d for d in diffs if pred(d)]

        extra_blocks = listed(
            lambda d: (
                _is_block(d["engine"], d["candidate"]) and not _is_block(d["engine"], d["actual"])
            )
        )
        fewer_blocks = listed(
            lambda d: (
                _is_block(d["engine"], d["actual"]) and not _is_block(d["engine"], d["candidate"])
            )
        )
        iso = "immediate_isolation"
        actual_flaps, candidate_flaps = self._flaps(False), self._flaps(True)
        nodes = sorted(set(actual_flaps) | set(candidate_flaps))
        return {
            "policyVersion": self.policy_version,
            "since": self.since.isoformat(),
            "evaluations": self.evaluations,
            "decisions": len(self.replayed),
            "reproduced": sum(1 for r in self.replayed if r.same),
            "different": len(diffs),
            "skipped": self.skipped,
            "engines": per_engine,
            "gates": {"extraBlocks": extra_blocks, "fewerBlocks": fewer_blocks},
            "isolations": {
                "actual": sum(
                    1 for r in self.replayed if r.stored.engine == "dao" and r.stored.outcome == iso
                ),
                "candidate": sum(
                    1 for r in self.replayed if r.stored.engine == "dao" and r.outcome == iso
                ),
                "changes": listed(lambda d: d["engine"] == "dao"),
            },
            "weights": {
                "changes": listed(lambda d: d["engine"] == "qnet"),
                "flaps": {
                    n: {"actual": actual_flaps.get(n, 0), "candidate": candidate_flaps.get(n, 0)}
                    for n in nodes
                },
            },
            "incidents": {
                "count": len(self.incidents),
                "windowHours": self.incident_window.total_seconds() / 3600,
                "actual": self._confusion(False),
                "candidate": self._confusion(True),
            },
            "differences": diffs,
            "published": False,
        }


def to_markdown(report: Mapping[str, Any]) -> str:
    """The report as Markdown (for a pull request or a change review)."""
    lines = [
        f"# Policy replay: candidate `{report['policyVersion']}`",
        "",
        f"Stored decisions since {report['since']}: {report['decisions']} in "
        f"{report['evaluations']} evaluations; {report['reproduced']} decided the same, "
        f"**{report['different']} differently**. Nothing was stored or published.",
        "",
        "| engine | decisions | different |",
        "|---|---:|---:|",
    ]
    for engine, counts in sorted(report["engines"].items()):
        lines.append(f"| {engine} | {counts['decisions']} | {counts['different']} |")
    gates = report["gates"]
    lines += [
        "",
        f"## Gates: {len(gates['extraBlocks'])} extra blocks, {len(gates['fewerBlocks'])} fewer",
        "",
    ]
    for d in gates["extraBlocks"] + gates["fewerBlocks"]:
        lines.append(
            f"- {d['engine']} `{d['subject']}` at {d['decidedAt']}: {d['actual']} → {d['candidate']}"
        )
    iso = report["isolations"]
    lines += [
        "",
        f"## DAO isolations: {iso['actual']} actual, {iso['candidate']} with the candidate",
        "",
    ]
    for d in iso["changes"]:
        lines.append(f"- `{d['subject']}` at {d['decidedAt']}: {d['actual']} → {d['candidate']}")
    weights = report["weights"]
    lines += ["", f"## QNET weights: {len(weights['changes'])} different", ""]
    if weights["flaps"]:
        lines += ["| node | flaps (actual) | flaps (candidate) |", "|---|---:|---:|"]
        for node, f in weights["flaps"].items():
            lines.append(f"| {node} | {f['actual']} | {f['candidate']} |")
    inc = report["incidents"]
    lines += [
        "",
        f"## Against {inc['count']} incidents (±{inc['windowHours']:g} h)",
        "",
        "| | adverse with incident | possible false positives | possible false negatives |",
        "|---|---:|---:|---:|",
    ]
    for side in ("actual", "candidate"):
        c = inc[side]
        lines.append(
            f"| {side} | {c['adverseWithIncident']} | {c['possibleFalsePositives']} | "
            f"{c['possibleFalseNegatives']} |"
        )
    return "\n".join(lines) + "\n"


# -------------------------------------------------------------------------------- warehouse


def _loads(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else (value or {})


def stored_decisions(
    con: Any, since: datetime
) -> tuple[list[StoredDecision], ReplayState, dict[str, int]]:
    """Acted-on decisions since ``since`` (oldest first), the state the log left before them,
    and how many decisions were not replayed, by engine (canary verdicts, shadow decisions)."""
    engines = list(REPLAYED_ENGINES)
    cursor = con.execute(
        """SELECT decision_id, engine, subject, outcome, decided_at, inputs, output, evidence,
                  policy_version
           FROM decisions WHERE decided_at >= $since AND NOT shadow AND list_contains($e, engine)
           ORDER BY decided_at, engine, subject""",
        {"since": since, "e": engines},
    )
    rows = [
        StoredDecision(i, e, s, o, at, _loads(inp), _loads(out), _loads(ev), v)
        for i, e, s, o, at, inp, out, ev, v in cursor.fetchall()
    ]
    skipped = {
        f"{engine}{' (shadow)' if shadow else ''}": int(n)
        for engine, shadow, n in con.execute(
            """SELECT engine, shadow, count(*) FROM decisions WHERE decided_at >= $since
               AND (shadow OR NOT list_contains($e, engine)) GROUP BY ALL ORDER BY 1, 2""",
            {"since": since, "e": engines},
        ).fetchall()
    }
    isolated = {
        s
        for (s,) in con.execute(
            """SELECT subject FROM decisions WHERE engine = 'dao' AND NOT shadow
               AND decided_at < $since
               QUALIFY row_number() OVER (PARTITION BY subject ORDER BY decided_at DESC) = 1
                   AND outcome = 'immediate_isolation'""",
            {"since": since},
        ).fetchall()
    }
    return rows, ReplayState(isolated=isolated), skipped


def detected_incidents(con: Any) -> list[Incident]:
    return [
        Incident(entity, at, at, f"detected:{metric}/{detector}")
        for entity, at, metric, detector in con.execute(
            "SELECT entity_id, detected_at, metric, detector FROM detections ORDER BY detected_at"
        ).fetchall()
    ]


def replay(
    con: Any,
    policy: Policy,
    since: datetime,
    labelled: Sequence[Incident] = (),
    incident_window: timedelta = timedelta(hours=24),
) -> ReplayReport:
    """Replay ``policy`` over the acted-on decisions since ``since`` (``con``: a reader)."""
    rows, state, skipped = stored_decisions(con, since)
    if not rows:
        raise NotFoundError(f"no decisions to replay since {since:%Y-%m-%d %H:%M}")
    evaluations = len({(r.engine, r.decided_at) for r in rows})
    try:
        replayed = replay_history(rows, policy, state)
    except (TypeError, KeyError, ValueError) as exc:
        raise ValidationError(
            "replay", [FieldProblem("decisions.inputs", f"cannot be replayed: {exc}")]
        ) from None
    incidents = [*detected_incidents(con), *labelled]
    return ReplayReport(
        policy.version, since, evaluations, replayed, incidents, incident_window, skipped
    )
