"""Reports of a CI/CD gate decision for CI systems: a criteria table, JUnit XML and Markdown.

Pure functions of a stored gate :class:`Decision` (its inputs, thresholds and evidence), so the
table a human reads, the JUnit a CI server parses and the Markdown a pull request shows can never
disagree with the decision.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from ecoperf_core.engines.base import Decision


@dataclass(frozen=True)
class GateRow:
    """One criterion of the gate: the candidate's value against its threshold."""

    criterion: str
    metric: str
    current: float
    baseline: float
    threshold: float
    rule: str
    passed: bool
    severity: str | None


_CRITERIA = (
    # violation type, metric key in inputs, label, ratio key, higher is worse
    ("p95_latency_degradation", "p95_latency", "P95 latency (ms)", "p95_ratio_max", True),
    ("p99_latency_degradation", "p99_latency", "P99 latency (ms)", "p99_ratio_max", True),
    (
        "cache_hit_rate_degradation",
        "cache_hit_rate",
        "Cache hit rate",
        "cache_hit_ratio_min",
        False,
    ),
    ("error_rate_increase", "error_rate", "Error rate", "error_rate_ratio_max", True),
)
_EFFECTIVE = {
    "p95_latency": "p95Latency",
    "p99_latency": "p99Latency",
    "cache_hit_rate": "cacheHitRate",
    "error_rate": "errorRate",
}


def gate_rows(decision: Decision) -> list[GateRow]:
    """The four criteria of a gate decision with their thresholds, passing ones included."""
    violations = {v["type"]: v for v in decision.output["violations"]}
    candidate = decision.inputs["candidate"]
    baseline = decision.inputs["baseline"]
    effective = decision.evidence.get("effectiveBaseline", {})
    rows = []
    for kind, metric, label, ratio_key, higher_is_worse in _CRITERIA:
        ratio = float(decision.thresholds[ratio_key])
        base_eff = float(effective.get(_EFFECTIVE[metric], baseline[metric]))
        threshold = base_eff * ratio
        if not higher_is_worse:
            threshold = min(1.0, threshold)
        if kind in violations:
            threshold = float(violations[kind]["threshold"])
        sign = "≤" if higher_is_worse else "≥"
        rows.append(
            GateRow(
                criterion=kind,
                metric=label,
                current=float(candidate[metric]),
                baseline=float(baseline[metric]),
                threshold=round(threshold, 6),
                rule=f"{sign} {ratio:.0%} of baseline",
                passed=kind not in violations,
                severity=violations[kind]["severity"] if kind in violations else None,
            )
        )
    return rows


def _num(value: float) -> str:
    return f"{value:.4g}" if abs(value) < 1 else f"{value:.1f}"


def gate_junit(decision: Decision) -> str:
    """JUnit XML: one test case per criterion, a failure per violation."""
    rows = gate_rows(decision)
    failures = sum(not r.passed for r in rows)
    suite = f"performance-gate.{decision.subject}"
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<testsuites name={quoteattr("ecoperf")} tests="{len(rows)}" failures="{failures}">',
        f'  <testsuite name={quoteattr(suite)} tests="{len(rows)}" failures="{failures}" '
        'errors="0" skipped="0">',
    ]
    for row in rows:
        name = quoteattr(f"{row.metric} {row.rule}")
        lines.append(f"    <testcase classname={quoteattr(suite)} name={name}>")
        if not row.passed:
            message = (
                f"{row.criterion}: {_num(row.current)} vs threshold {_num(row.threshold)} "
                f"(baseline {_num(row.baseline)}), severity {row.severity}"
            )
            lines.append(
                f"      <failure message={quoteattr(message)} type={quoteattr(row.criterion)}>"
                f"{escape(message)}</failure>"
            )
        lines.append("    </testcase>")
    lines.append("  </testsuite>")
    lines.append("</testsuites>")
    return "\n".join(lines) + "\n"


def gate_markdown(decision: Decision, context: dict[str, Any] | None = None) -> str:
    """A Markdown summary: verdict, the criteria table and where the numbers came from."""
    rows = gate_rows(decision)
    output = decision.output
    verdict = "✅ passed" if output["passed"] else "❌ blocked"
    lines = [
        f"## Performance gate: `{decision.subject}` {verdict}",
        "",
        f"Recommendation: **{output['recommendation']}** (policy `{decision.policy_version}`)",
        "",
        "| criterion | candidate | baseline | threshold | rule | result |",
        "|---|---:|---:|---:|---|---|",
    ]
    for row in rows:
        result = "pass" if row.passed else f"**fail** ({row.severity})"
        lines.append(
            f"| {row.metric} | {_num(row.current)} | {_num(row.baseline)} | "
            f"{_num(row.threshold)} | {row.rule} | {result} |"
        )
    source = (context or {}) | decision.evidence.get("source", {})
    if source.get("baseline"):
        lines += [
            "",
            f"Baseline `{source['baseline']}` over the same time range "
            f"({source.get('from')} to {source.get('to')}), exact percentiles from raw requests.",
        ]
    return "\n".join(lines) + "\n"
