"""Disaster-recovery drill verdicts: pure functions of measured figures in, verdicts out.

A drill has four parts (the spec's "Performance-Aware DR"):

a. **baseline verification**: the DR environment's metrics meet primary's baselines under the
   CI/CD gate criteria (the gate itself is :func:`ecoperf_core.engines.cicd.evaluate_gate`);
b. **restore drill**: a backup restored into a fresh location matches the manifest taken with the
   backup (row count and checksum per table), within the RTO (restore time) and RPO (how much
   older the newest restored data is than primary's newest) of the policy;
c. **failover trigger**: primary burning its error budget fast over both windows, or its p99
   past a limit, recommends failover (or triggers it through a hook, by policy);
d. **recovery validation**: primary passes the gate against DR again, so traffic may return.

The verdict is ``PolicyMet`` only when (a) and (b) hold; (c) and (d) are reported with it (a
drill on a healthy primary recommends no failover, which is not a DR failure).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

DrillVerdict = Literal["PolicyMet", "PolicyBreached"]


@dataclass(frozen=True)
class TableCheck:
    """One table's figures: rows and an order-independent checksum (``None``: unreadable)."""

    rows: int | None
    checksum: str | None
    error: str | None = None


@dataclass(frozen=True)
class IntegrityResult:
    ok: bool
    problems: tuple[str, ...]
    tables: int


def compare_integrity(
    manifest: Mapping[str, TableCheck], restored: Mapping[str, TableCheck]
) -> IntegrityResult:
    """Every table of the manifest must be in the restore with the same rows and checksum; each
    problem names its table."""
    problems: list[str] = []
    for table in sorted(manifest):
        want = manifest[table]
        got = restored.get(table)
        if got is None:
            problems.append(f"table {table}: missing from the restored copy")
        elif got.error is not None:
            problems.append(f"table {table}: unreadable in the restored copy ({got.error})")
        elif got.rows != want.rows:
            problems.append(f"table {table}: {got.rows} rows restored, {want.rows} backed up")
        elif got.checksum != want.checksum:
            problems.append(
                f"table {table}: checksum {got.checksum} restored, {want.checksum} backed up "
                f"({got.rows} rows each: contents differ)"
            )
    for table in sorted(set(restored) - set(manifest)):
        problems.append(f"table {table}: in the restored copy but not in the backup manifest")
    return IntegrityResult(not problems, tuple(problems), len(manifest))


@dataclass(frozen=True)
class RestoreFigures:
    restore_seconds: float | None  # None: the restore did not complete
    rpo_seconds: float | None  # primary's newest data minus the restored newest; None: no data
    integrity: IntegrityResult


def restore_verdict(
    figures: RestoreFigures, rto_seconds: float, rpo_seconds: float
) -> tuple[bool, list[str]]:
    """Restore drill: integrity, RTO and RPO; the reasons it failed."""
    reasons = list(figures.integrity.problems)
    if figures.restore_seconds is None:
        reasons.append("restore did not complete, so RTO is unmet")
    elif figures.restore_seconds > rto_seconds:
        reasons.append(
            f"RTO breached: restore took {figures.restore_seconds:.3f} s > {rto_seconds:g} s"
        )
    if figures.rpo_seconds is None:
        reasons.append("RPO unknown: the restored copy holds no data times")
    elif figures.rpo_seconds > rpo_seconds:
        reasons.append(
            f"RPO breached: newest restored data is {figures.rpo_seconds:.0f} s older than "
            f"primary's (limit {rpo_seconds:g} s)"
        )
    return not reasons, reasons


@dataclass(frozen=True)
class FailoverSignals:
    """Primary's recent health, measured by the runner."""

    burn_long: float | None
    burn_short: float | None
    p99_short_ms: float | None
    requests_short: int


@dataclass(frozen=True)
class FailoverDecision:
    failover: bool
    reasons: tuple[str, ...]
    mode: str  # recommend or trigger


def failover_decision(
    signals: FailoverSignals,
    burn_threshold: float,
    p99_limit_ms: float,
    mode: str,
    min_requests: int,
) -> FailoverDecision:
    """Fail over when both burn windows exceed the threshold (SRE workbook multi-window), or the
    short window's p99 is past the limit; with too few requests nothing is concluded."""
    reasons: list[str] = []
    if signals.requests_short < min_requests:
        return FailoverDecision(
            False,
            (f"too few primary requests in the short window ({signals.requests_short}) to judge",),
            mode,
        )
    if (
        signals.burn_long is not None
        and signals.burn_short is not None
        and signals.burn_long >= burn_threshold
        and signals.burn_short >= burn_threshold
    ):
        reasons.append(
            f"sustained burn: {signals.burn_long:.2f} (long) and {signals.burn_short:.2f} (short) "
            f">= {burn_threshold:g}"
        )
    if signals.p99_short_ms is not None and signals.p99_short_ms > p99_limit_ms:
        reasons.append(f"p99 breach: {signals.p99_short_ms:.1f} ms > {p99_limit_ms:g} ms")
    return FailoverDecision(bool(reasons), tuple(reasons), mode)


@dataclass(frozen=True)
class GateSummary:
    """CI/CD gate outcomes per entity (the gate's ``performanceGate`` payloads)."""

    passed: bool
    reasons: tuple[str, ...]
    entities: int


def summarise_gates(
    gates: Mapping[str, Mapping[str, Any]], missing: Sequence[str], what: str
) -> GateSummary:
    """All entities must pass; an entity with no comparable data fails (no silent pass)."""
    reasons = [f"{what}: {entity} has too little data to compare" for entity in missing]
    for entity in sorted(gates):
        gate = gates[entity]
        if not gate.get("passed"):
            kinds = ", ".join(v.get("type", "?") for v in gate.get("violations", []))
            reasons.append(f"{what}: {entity} violates {kinds}")
    if not gates and not missing:
        reasons.append(f"{what}: no entities to compare")
    return GateSummary(not reasons, tuple(reasons), len(gates) + len(missing))


@dataclass(frozen=True)
class DrillOutcome:
    verdict: DrillVerdict
    reasons: tuple[str, ...]
    parts: dict[str, bool] = field(default_factory=dict)


def drill_verdict(
    baseline: GateSummary, restore_ok: bool, restore_reasons: Sequence[str]
) -> DrillOutcome:
    """PolicyMet iff DR meets primary's baselines and the restore met integrity, RTO and RPO."""
    reasons = [*baseline.reasons, *restore_reasons]
    met = baseline.passed and restore_ok
    return DrillOutcome(
        "PolicyMet" if met else "PolicyBreached",
        tuple(reasons),
        {"baselineVerification": baseline.passed, "restoreDrill": restore_ok},
    )
