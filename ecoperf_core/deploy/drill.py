"""DR drills on a real copy of the warehouse: baseline verification, restore, failover, recovery.

Backup: under the writer lock (no write can land in between) the warehouse is checkpointed (the
WAL folded into the file), every table's row count and checksum is taken into a manifest, and
the file is copied (temp name, fsync, rename) to ``<ECOPERF_HOME>/backups``. The manifest lives
beside the copy (``<name>.manifest.json``), so a backup can be verified without the source.

Restore: the backup is copied into a fresh temporary folder, opened read-only, and every table is
counted and checksummed again. The checksum is ``sum(hash(row))`` over the whole row (order
independent, so a restore that reorders storage still matches; a changed, lost or duplicated row
does not). DuckDB checks a checksum on every storage block it reads, so a flipped byte inside a
table's data makes reading *that* table fail, and the problem names it. The restore time (copy,
open, verify) is the measured RTO; primary's newest data time minus the restored newest is the
measured RPO (the data a failover onto this backup would lose).

The pure verdicts are in :mod:`ecoperf_core.engines.drill`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from ecoperf_core.engines import cicd
from ecoperf_core.engines.base import Decision, jsonable
from ecoperf_core.engines.drill import (
    FailoverSignals,
    RestoreFigures,
    TableCheck,
    compare_integrity,
    drill_verdict,
    failover_decision,
    restore_verdict,
    summarise_gates,
)
from ecoperf_core.errors import FieldProblem, ValidationError
from ecoperf_core.policy import Policy
from ecoperf_core.publish.breaker import BreakerStore, breaker_path
from ecoperf_core.publish.hooks import HookResult, deliver
from ecoperf_core.stats.slo import burn_rate
from ecoperf_core.timeutil import parse_window
from ecoperf_core.warehouse import reader, writer
from ecoperf_core.warehouse.sql import identifier

# Exit codes of `ecosystem-perf drill` (docs/cli.md).
EXIT_CODES: dict[str, int] = {"PolicyMet": 0, "PolicyBreached": 1}

# Tables whose newest time is "the newest data" for the RPO.
_DATA_TIMES = ("SELECT max(ts) FROM requests", "SELECT max(ts) FROM samples")


@dataclass
class Backup:
    path: Path
    manifest: dict[str, TableCheck]
    newest_data: datetime | None
    file_sha256: str
    seconds: float

    @property
    def manifest_path(self) -> Path:
        return manifest_path(self.path)


@dataclass
class DrillRun:
    drill_id: str
    environment: str
    primary: str
    verdict: str
    rto_seconds: float | None
    rpo_seconds: float | None
    rto_limit_s: float
    rpo_limit_s: float
    reasons: list[str]
    checks: dict[str, Any]
    backup_name: str
    started_at: datetime
    finished_at: datetime
    report: str = ""
    failover_hook: HookResult | None = None

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.verdict]

    def to_dict(self) -> dict[str, Any]:
        return {
            "drillId": self.drill_id,
            "environment": self.environment,
            "primary": self.primary,
            "verdict": self.verdict,
            "rtoSeconds": self.rto_seconds,
            "rpoSeconds": self.rpo_seconds,
            "rtoLimitSeconds": self.rto_limit_s,
            "rpoLimitSeconds": self.rpo_limit_s,
            "reasons": self.reasons,
            "checks": self.checks,
            "backup": self.backup_name,
            "startedAt": self.started_at.isoformat(),
            "finishedAt": self.finished_at.isoformat(),
        }


def manifest_path(backup: Path) -> Path:
    return backup.with_name(backup.name + ".manifest.json")


def table_checks(con: duckdb.DuckDBPyConnection) -> dict[str, TableCheck]:
    """Rows and an order-independent checksum of every table; a table that cannot be read gets
    its error instead (and the others are still checked)."""
    tables = [
        r[0]
        for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main' "
            "AND NOT temporary ORDER BY table_name"
        ).fetchall()
    ]
    out: dict[str, TableCheck] = {}
    for table in tables:
        try:
            rows, checksum = con.execute(
                f"SELECT count(*), CAST(coalesce(sum(hash(t)), 0) AS VARCHAR) "
                f"FROM {identifier(table)} AS t"
            ).fetchall()[0]
            out[table] = TableCheck(int(rows), str(checksum))
        except duckdb.Error as exc:
            out[table] = TableCheck(None, None, str(exc).strip().splitlines()[0][:300])
    return out


def _newest_data(con: duckdb.DuckDBPyConnection) -> datetime | None:
    times = []
    for sql in _DATA_TIMES:
        try:
            value = con.execute(sql).fetchall()[0][0]
        except duckdb.Error:
            continue
        if value is not None:
            times.append(value)
    return max(times) if times else None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def backup_warehouse(db_path: Path, backup_dir: Path, timeout_s: float = 600.0) -> Backup:
    """Checkpoint, manifest and copy the warehouse under the writer lock (atomic: temp + rename)."""
    from ecoperf_core.evaluation.store import utc_now

    backup_dir.mkdir(parents=True, exist_ok=True)
    stamp = utc_now().strftime("%Y%m%dT%H%M%S%f")
    target = backup_dir / f"ecoperf-{stamp}.duckdb"
    began = time.perf_counter()
    with writer(db_path, timeout_s=timeout_s) as con:
        con.execute("CHECKPOINT")
        manifest = table_checks(con)
        newest = _newest_data(con)
        fd, tmp = tempfile.mkstemp(dir=backup_dir, prefix=".backup-", suffix=".duckdb")
        os.close(fd)
        try:
            shutil.copyfile(db_path, tmp)
            with open(tmp, "rb+") as handle:
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    backup = Backup(target, manifest, newest, _sha256(target), time.perf_counter() - began)
    document = {
        "tables": {k: {"rows": v.rows, "checksum": v.checksum} for k, v in manifest.items()},
        "newestData": None if newest is None else newest.isoformat(),
        "fileSha256": backup.file_sha256,
        "createdAt": utc_now().isoformat(),
        "source": db_path.name,
    }
    manifest_path(target).write_text(json.dumps(document, indent=2), encoding="utf-8")
    return backup


def load_backup(path: Path) -> Backup:
    """A backup made earlier, with its manifest; bad input names what is missing."""
    if not path.is_file():
        raise ValidationError(
            source="drill --backup",
            problems=[FieldProblem(field="--backup", message=f"no backup file at {path}")],
        )
    mpath = manifest_path(path)
    try:
        document = json.loads(mpath.read_text(encoding="utf-8"))
        manifest = {
            name: TableCheck(int(v["rows"]), str(v["checksum"]))
            for name, v in document["tables"].items()
        }
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValidationError(
            source="drill --backup",
            problems=[
                FieldProblem(field="--backup", message=f"unusable manifest {mpath.name}: {exc}")
            ],
        ) from None
    newest = document.get("newestData")
    return Backup(
        path,
        manifest,
        None if newest is None else datetime.fromisoformat(newest),
        str(document.get("fileSha256", "")),
        0.0,
    )


@dataclass
class RestoreResult:
    seconds: float | None
    tables: dict[str, TableCheck] = field(default_factory=dict)
    newest_data: datetime | None = None
    error: str | None = None
    file_sha256: str = ""


def restore_and_verify(backup: Path, work_dir: Path) -> RestoreResult:
    """Copy ``backup`` into a fresh folder under ``work_dir``, open it, check every table; the
    elapsed time is the measured restore time (None if the copy cannot be opened at all)."""
    work_dir.mkdir(parents=True, exist_ok=True)
    fresh = Path(tempfile.mkdtemp(dir=work_dir, prefix="restore-"))
    try:
        began = time.perf_counter()
        restored = fresh / "ecoperf.duckdb"
        shutil.copyfile(backup, restored)
        try:
            con = duckdb.connect(
                str(restored), read_only=True, config={"home_directory": str(fresh)}
            )
        except duckdb.Error as exc:
            return RestoreResult(None, error=str(exc).strip().splitlines()[0][:300])
        try:
            tables = table_checks(con)
            newest = _newest_data(con)
        finally:
            con.close()
        seconds = time.perf_counter() - began
        return RestoreResult(seconds, tables, newest, file_sha256=_sha256(restored))
    finally:
        shutil.rmtree(fresh, ignore_errors=True)


# ----------------------------------------------------------------------- environment metrics


def _environment_metrics(
    con: duckdb.DuckDBPyConnection, environment: str, kind: str, window: timedelta
) -> dict[str, dict[str, Any]]:
    """Gate metrics per entity over the environment's latest ``window`` of raw requests."""
    rows = con.execute(
        """WITH last AS (
               SELECT max(ts) AS hi FROM requests WHERE environment = $e AND entity_kind = $k)
           SELECT entity_id, count(*) AS n, quantile_cont(latency_ms, [0.95, 0.99]) AS q,
                  avg(CASE WHEN ok THEN 0.0 ELSE 1.0 END) AS err,
                  avg(CASE WHEN cache_hit THEN 1.0 WHEN NOT cache_hit THEN 0.0 END) AS cache,
                  min(ts) AS lo, max(ts) AS hi
           FROM requests, last
           WHERE environment = $e AND entity_kind = $k AND ts > last.hi - $w
           GROUP BY entity_id ORDER BY entity_id""",
        {"e": environment, "k": kind, "w": window},
    ).fetchall()
    return {
        entity: {
            "requests": int(n),
            "p95": float(q[0]),
            "p99": float(q[1]),
            "errorRate": float(err),
            "cacheHitRate": None if cache is None else float(cache),
            "from": lo.isoformat(),
            "to": hi.isoformat(),
        }
        for entity, n, q, err, cache, lo, hi in rows
    }


def _gates(
    candidates: dict[str, dict[str, Any]],
    baselines: dict[str, dict[str, Any]],
    policy: Policy,
    min_requests: int,
) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """The CI/CD gate of each candidate entity against the same entity's baseline."""
    gates: dict[str, dict[str, Any]] = {}
    missing: list[str] = []
    for entity in sorted(set(candidates) | set(baselines)):
        cand, base = candidates.get(entity), baselines.get(entity)
        if (
            cand is None
            or base is None
            or cand["requests"] < min_requests
            or base["requests"] < min_requests
        ):
            missing.append(entity)
            continue
        cache_c, cache_b = cand["cacheHitRate"], base["cacheHitRate"]
        if cache_c is None or cache_b is None:  # nothing cacheable on one side: like with like
            cache_c = cache_b = cache_c if cache_c is not None else (cache_b or 0.0)

        def metrics(m: dict[str, Any], cache: float) -> cicd.GateMetrics:
            return cicd.GateMetrics(
                round(m["p95"], 3), round(m["p99"], 3), round(m["errorRate"], 6), round(cache, 6)
            )

        decision = cicd.evaluate_gate(
            cicd.GateInputs(entity, metrics(cand, cache_c), metrics(base, cache_b)), policy
        )
        gates[entity] = {**decision.output, "candidate": cand, "baseline": base}
    return gates, missing


def _failover_signals(
    con: duckdb.DuckDBPyConnection, primary: str, long: timedelta, short: timedelta
) -> tuple[FailoverSignals, datetime | None]:
    row = con.execute(
        """WITH last AS (SELECT max(ts) AS hi FROM requests WHERE environment = $e)
           SELECT last.hi,
                  count(*) FILTER (WHERE ts > last.hi - $long),
                  avg(CASE WHEN ok THEN 0.0 ELSE 1.0 END) FILTER (WHERE ts > last.hi - $long),
                  count(*) FILTER (WHERE ts > last.hi - $short),
                  avg(CASE WHEN ok THEN 0.0 ELSE 1.0 END) FILTER (WHERE ts > last.hi - $short),
                  quantile_cont(latency_ms, 0.99) FILTER (WHERE ts > last.hi - $short)
           FROM requests, last WHERE environment = $e GROUP BY last.hi""",
        {"e": primary, "long": long, "short": short},
    ).fetchall()
    if not row:
        return FailoverSignals(None, None, None, 0), None
    hi, _n_long, err_long, n_short, err_short, p99 = row[0]
    return (
        FailoverSignals(
            burn_long=None if err_long is None else float(err_long),
            burn_short=None if err_short is None else float(err_short),
            p99_short_ms=None if p99 is None else float(p99),
            requests_short=int(n_short or 0),
        ),
        hi,
    )


# ------------------------------------------------------------------------------------ drill


def run_drill(
    db_path: Path,
    home: Path,
    policy: Policy,
    environment: str = "dr",
    *,
    backup: Path | None = None,
    failover_hook: str | None = None,
    timeout_s: float = 600.0,
    breakers: BreakerStore | None = None,
) -> DrillRun:
    """Run the four parts of a DR drill, store the verdict (``drill_runs`` and the decision log,
    engine ``drill``) and return it with its Markdown report."""
    from ecoperf_core.deploy.report import drill_report
    from ecoperf_core.evaluation.store import store_decisions, utc_now

    pol = policy.drill
    if environment == pol.primary:
        raise ValidationError(
            source="drill",
            problems=[
                FieldProblem(
                    field="--environment",
                    message=f"the DR environment must differ from primary ({pol.primary!r})",
                )
            ],
        )
    started = utc_now()
    drill_id = str(uuid.uuid4())
    window = parse_window(pol.window)

    # (a) baseline verification and (d) recovery validation read the live warehouse.
    with reader(db_path, timeout_s=timeout_s) as con:
        dr = _environment_metrics(con, environment, pol.entity_kind, window)
        primary = _environment_metrics(con, pol.primary, pol.entity_kind, window)
        signals, primary_hi = _failover_signals(
            con,
            pol.primary,
            parse_window(pol.failover_long_window),
            parse_window(pol.failover_short_window),
        )
        primary_newest = _newest_data(con)
    objective = policy.slo.objective
    signals = FailoverSignals(
        burn_long=None if signals.burn_long is None else burn_rate(signals.burn_long, objective),
        burn_short=None if signals.burn_short is None else burn_rate(signals.burn_short, objective),
        p99_short_ms=signals.p99_short_ms,
        requests_short=signals.requests_short,
    )
    baseline_gates, baseline_missing = _gates(dr, primary, policy, pol.min_requests)
    baseline = summarise_gates(baseline_gates, baseline_missing, f"{environment} vs {pol.primary}")
    recovery_gates, recovery_missing = _gates(primary, dr, policy, pol.min_requests)
    recovery = summarise_gates(recovery_gates, recovery_missing, f"{pol.primary} vs {environment}")

    # (b) restore drill on a real copy.
    if backup is None:
        made = backup_warehouse(db_path, home / "backups", timeout_s)
    else:
        made = load_backup(backup)
    restored = restore_and_verify(made.path, home / "restores")
    integrity = compare_integrity(made.manifest, restored.tables)
    problems = list(integrity.problems)
    if restored.error is not None:
        problems.insert(0, f"the restored copy cannot be opened: {restored.error}")
    elif made.file_sha256 and restored.file_sha256 != made.file_sha256 and integrity.ok:
        problems.append("backup file checksum differs from the manifest's")
    integrity = type(integrity)(not problems, tuple(problems), integrity.tables)
    rpo = (
        None
        if primary_newest is None or restored.newest_data is None
        else max(0.0, (primary_newest - restored.newest_data).total_seconds())
    )
    figures = RestoreFigures(restored.seconds, rpo, integrity)
    restore_ok, restore_reasons = restore_verdict(figures, pol.rto_seconds, pol.rpo_seconds)

    # (c) failover trigger.
    failover = failover_decision(
        signals, pol.failover_burn_rate, pol.failover_p99_ms, pol.failover_mode, pol.min_requests
    )
    outcome = drill_verdict(baseline, restore_ok, restore_reasons)
    checks: dict[str, Any] = {
        "baseline": {
            "passed": baseline.passed,
            "gates": baseline_gates,
            "missing": baseline_missing,
            "window": pol.window,
        },
        "restore": {
            "passed": restore_ok,
            "restoreSeconds": restored.seconds,
            "backupSeconds": made.seconds,
            "rpoSeconds": rpo,
            "primaryNewest": None if primary_newest is None else primary_newest.isoformat(),
            "restoredNewest": None
            if restored.newest_data is None
            else restored.newest_data.isoformat(),
            "tables": {
                table: {
                    "manifestRows": want.rows,
                    "restoredRows": restored.tables.get(table, TableCheck(None, None)).rows,
                    "match": restored.tables.get(table) == want,
                    "error": restored.tables.get(table, TableCheck(None, None, "missing")).error,
                }
                for table, want in sorted(made.manifest.items())
            },
            "problems": list(integrity.problems),
        },
        "failover": {
            "failover": failover.failover,
            "mode": failover.mode,
            "reasons": list(failover.reasons),
            "signals": jsonable(signals),
        },
        "recovery": {
            "passed": recovery.passed,
            "reasons": list(recovery.reasons),
            "gates": {k: {"passed": v["passed"]} for k, v in recovery_gates.items()},
        },
    }
    hook_result = None
    target = failover_hook if failover_hook is not None else pol.hooks.failover
    if failover.failover and failover.mode == "trigger":
        # One failover call per primary state: the same data re-drilled does not fail over twice.
        key = (
            "failover-"
            + hashlib.sha256(f"{pol.primary}|{environment}|{primary_hi}".encode()).hexdigest()[:16]
        )
        hook_result = deliver(
            db_path,
            breakers or BreakerStore(breaker_path(home)),
            hook="failover",
            target=target,
            call_key=f"{key}:failover",
            run_key=drill_id,
            payload={
                "decisionKey": key,
                "action": "failover",
                "from": pol.primary,
                "to": environment,
                "reasons": list(failover.reasons),
            },
            policy=policy.hooks,
            timeout_s=timeout_s,
        )
        checks["failover"]["hook"] = hook_result.to_dict()
    finished = utc_now()
    drill = DrillRun(
        drill_id=drill_id,
        environment=environment,
        primary=pol.primary,
        verdict=outcome.verdict,
        rto_seconds=restored.seconds,
        rpo_seconds=rpo,
        rto_limit_s=pol.rto_seconds,
        rpo_limit_s=pol.rpo_seconds,
        reasons=list(outcome.reasons),
        checks=jsonable(checks),
        backup_name=made.path.name,
        started_at=started,
        finished_at=finished,
        failover_hook=hook_result,
    )
    drill.report = drill_report(drill)
    decision = Decision(
        engine="drill",
        subject=environment,
        outcome=outcome.verdict,
        output={
            "environment": environment,
            "primary": pol.primary,
            "verdict": outcome.verdict,
            "rtoSeconds": restored.seconds,
            "rpoSeconds": rpo,
            "failoverRecommended": failover.failover,
            "recoveryReady": recovery.passed,
            "reasons": list(outcome.reasons),
        },
        inputs={"backup": made.path.name, "window": pol.window, "entityKind": pol.entity_kind},
        thresholds=policy.section("drill"),
        evidence={"drillId": drill_id, **drill.checks},
        policy_version=policy.version,
    )
    with writer(db_path, timeout_s=timeout_s) as con:
        con.execute(
            """INSERT INTO drill_runs (drill_id, environment, primary_environment, verdict,
                   rto_seconds, rpo_seconds, rto_limit_s, rpo_limit_s, reasons, checks,
                   backup_path, report, started_at, finished_at)
               VALUES ($id, $env, $primary, $verdict, $rto, $rpo, $rto_limit, $rpo_limit,
                       $reasons, $checks, $backup, $report, $started, $finished)""",
            {
                "id": drill_id,
                "env": environment,
                "primary": pol.primary,
                "verdict": outcome.verdict,
                "rto": restored.seconds,
                "rpo": rpo,
                "rto_limit": pol.rto_seconds,
                "rpo_limit": pol.rpo_seconds,
                "reasons": json.dumps(list(outcome.reasons)),
                "checks": json.dumps(drill.checks, default=str),
                "backup": str(made.path),
                "report": drill.report,
                "started": started,
                "finished": finished,
            },
        )
        store_decisions(con, [decision])
    return drill
