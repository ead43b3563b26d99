"""The one facade both doors (CLI, HTTP API) and the Prefect tasks call.

Every operation opens the warehouse for exactly as long as it needs it: writers one file or one
rollup at a time (so a scheduled flow never waits long for another), readers shared.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ecoperf_core.errors import QueryRefusedError
from ecoperf_core.ingest.landing import archive, land, landed_checksum, pending_files, quarantine
from ecoperf_core.ingest.load import IngestResult, ingest_file
from ecoperf_core.publish.operations import PublishOperations
from ecoperf_core.settings import Settings, get_settings
from ecoperf_core.warehouse import reader, writer
from ecoperf_core.warehouse.rollups import RollupResult, rollup

if TYPE_CHECKING:
    import pandas as pd

    from ecoperf_core.analysis.canary import CanaryRun
    from ecoperf_core.analysis.config import AnalysisConfig
    from ecoperf_core.analysis.runner import AnalysisResult
    from ecoperf_core.deploy.clock import Clock
    from ecoperf_core.deploy.drill import DrillRun
    from ecoperf_core.deploy.runner import DeployRun
    from ecoperf_core.evaluation.runner import Context, EvaluationResult
    from ecoperf_core.policy import Policy

# Statement types a read-only query may contain; everything else (DROP, INSERT, UPDATE, DELETE,
# COPY in either direction, ATTACH, INSTALL/LOAD, CREATE, SET, PRAGMA, EXPORT ...) is refused.
READ_ONLY_STATEMENTS = frozenset({"SELECT", "EXPLAIN"})
_STATEMENT_NAMES = {"LOAD": "INSTALL/LOAD", "COPY": "COPY", "MULTI": "PIVOT/multi-statement"}


@dataclass
class IngestReport:
    results: list[IngestResult] = field(default_factory=list)

    @property
    def loaded(self) -> list[IngestResult]:
        return [r for r in self.results if r.status == "loaded"]

    @property
    def duplicates(self) -> list[IngestResult]:
        return [r for r in self.results if r.status == "duplicate"]

    @property
    def rejected(self) -> list[IngestResult]:
        return [r for r in self.results if r.status == "rejected"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "loaded": len(self.loaded),
            "duplicates": len(self.duplicates),
            "rejected": len(self.rejected),
            "rows": sum(r.rows for r in self.loaded),
            "files": [r.to_dict() for r in self.results],
        }


@dataclass(frozen=True)
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]


def check_read_only(sql: str) -> None:
    """Raise ``QueryRefusedError`` unless every statement in ``sql`` only reads."""
    import duckdb

    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise QueryRefusedError(f"the query does not parse: {exc}") from exc
    if not statements:
        raise QueryRefusedError("the query is empty")
    for statement in statements:
        kind = statement.type.name
        if kind not in READ_ONLY_STATEMENTS:
            name = _STATEMENT_NAMES.get(kind, kind)
            raise QueryRefusedError(
                f"refused: `query` is read-only and this is a {name} statement; "
                "only SELECT (with WITH, FROM-first, DESCRIBE, SHOW, SUMMARIZE) and EXPLAIN run"
            )


class Ecoperf(PublishOperations):
    """ecoperf's operations over one warehouse, as the settings describe it."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()

    @property
    def db_path(self) -> Path:
        return self.settings.db_path

    # -- ingestion -------------------------------------------------------------------------
    def land(self, paths: Iterable[Path]) -> list[Path]:
        """Copy files into the landing zone (atomically, deduplicated by content)."""
        return [land(Path(path), self.settings.landing_path) for path in paths]

    def pending(self) -> list[Path]:
        return pending_files(self.settings.landing_path)

    def ingest_landed(
        self, files: list[Path] | None = None, on_file: Callable[[IngestResult], None] | None = None
    ) -> IngestReport:
        """Load landed files, one batch each, archiving or quarantining each afterwards."""
        report = IngestReport()
        for path in files if files is not None else self.pending():
            if not path.exists():  # another run took it meanwhile
                continue
            with writer(self.db_path, timeout_s=self.settings.writer_lock_timeout_s) as con:
                result = ingest_file(
                    con, path, source=_source_name(path), checksum=landed_checksum(path)
                )
            # Move only after the commit: a crash in between leaves the file landed, and the next
            # run finds its batch already loaded and archives it.
            if result.status == "rejected" and result.error is not None:
                quarantine(path, self.settings.quarantine_path, result.error)
            else:
                archive(path, self.settings.archive_path)
            report.results.append(result)
            if on_file is not None:
                on_file(result)
        return report

    def rollup(self, *, full: bool = False) -> RollupResult:
        with writer(self.db_path, timeout_s=self.settings.writer_lock_timeout_s) as con:
            return rollup(con, list(self.settings.rollup_windows), full=full)

    # -- reading ---------------------------------------------------------------------------
    def query(self, sql: str) -> QueryResult:
        """Run a read-only SQL query against the warehouse."""
        check_read_only(sql)
        with reader(self.db_path, timeout_s=self.settings.writer_lock_timeout_s) as con:
            # Defence in depth: no file or network access from a user's query.
            con.execute("SET enable_external_access = false")
            cursor = con.execute(sql)
            columns = [d[0] for d in cursor.description or []]
            return QueryResult(columns, cursor.fetchall())

    def overview(self) -> dict[str, Any]:
        """Headline figures per entity kind, for summaries and dashboards."""
        from ecoperf_core.warehouse import queries

        with reader(self.db_path, timeout_s=self.settings.writer_lock_timeout_s) as con:
            return {
                "latest": queries.latest_time(con),
                "slowest_nodes": queries.slowest_nodes(con),
                "dao_availability": queries.dao_availability(con),
                "module_cost": queries.module_cost_by_day(con),
                "deployments": queries.deployment_latency(con),
            }

    def status(self) -> dict[str, Any]:
        """What the warehouse holds and what is waiting."""
        with reader(self.db_path, timeout_s=self.settings.writer_lock_timeout_s) as con:
            tables = {
                name: int(count)
                for name, count in con.execute(
                    "SELECT table_name, estimated_size FROM duckdb_tables() ORDER BY table_name"
                ).fetchall()
            }
            for name in ("requests", "samples", "rollups", "decisions", "outbox"):
                tables[name] = int(con.execute(f"SELECT count(*) FROM {name}").fetchall()[0][0])
            batches = dict(
                con.execute(
                    "SELECT status, count(*) FROM ingest_batches GROUP BY status"
                ).fetchall()
            )
            pending_rollup = con.execute(
                "SELECT count(*) FROM ingest_batches "
                "WHERE status = 'loaded' AND rolled_up_at IS NULL"
            ).fetchall()[0][0]
            span = con.execute(
                "SELECT min(min_ts), max(max_ts) FROM ingest_batches WHERE status = 'loaded'"
            ).fetchall()[0]
            entities = con.execute(
                "SELECT entity_kind, count(DISTINCT entity_id) FROM rollups GROUP BY 1 ORDER BY 1"
            ).fetchall()
            version = con.execute("SELECT max(version) FROM schema_migrations").fetchall()[0][0]
        quarantine_dir = self.settings.quarantine_path
        return {
            "warehouse": str(self.db_path),
            "size_bytes": self.db_path.stat().st_size if self.db_path.exists() else 0,
            "schema_version": int(version),
            "rows": tables,
            "batches": {str(k): int(v) for k, v in batches.items()},
            "batches_pending_rollup": int(pending_rollup),
            "data_from": span[0].isoformat() if span[0] else None,
            "data_to": span[1].isoformat() if span[1] else None,
            "entities": {str(kind): int(count) for kind, count in entities},
            "landing_pending": len(self.pending()),
            "quarantined": len(list(quarantine_dir.glob("*.errors.json")))
            if quarantine_dir.is_dir()
            else 0,
            "breakers": self.breakers(),
        }

    # -- evaluation: engines over the warehouse, stored in the decision log ----------------
    # Every method reads its inputs as of the latest data time (or ``as_of``), decides with the
    # policy file (or the ``policy`` given: a Policy or a mapping validated like the file) and
    # stores the decisions, their outbox events and the log's head in one transaction.

    def evaluation_context(
        self, policy: Policy | Mapping[str, Any] | None = None, environment: str = "production"
    ) -> Context:
        from ecoperf_core.evaluation.runner import Context
        from ecoperf_core.policy import Policy, load_policy, policy_from_mapping

        if policy is None:
            resolved = load_policy()
        elif isinstance(policy, Policy):
            resolved = policy
        else:
            resolved = policy_from_mapping(policy, "policy overrides")
        return Context(
            db_path=self.db_path,
            policy=resolved,
            timeout_s=self.settings.writer_lock_timeout_s,
            environment=environment,
        )

    def latest_data_time(self) -> datetime:
        """The as-of time evaluations use by default: the latest sample time loaded."""
        from ecoperf_core.evaluation import runner

        return runner.latest_as_of(self.evaluation_context())

    def evaluate_nodes(
        self,
        as_of: datetime | str | None = None,
        policy: Policy | Mapping[str, Any] | None = None,
        skip_unchanged: bool = False,
    ) -> EvaluationResult:
        """QNET for the whole fleet (hysteresis, fleet cap, panic), as the schedule runs it."""
        from ecoperf_core.evaluation import runner

        return runner.evaluate_nodes(
            self.evaluation_context(policy), as_of, skip_unchanged=skip_unchanged
        )

    def evaluate_risk(
        self,
        kinds: Sequence[str] = ("user", "node"),
        as_of: datetime | str | None = None,
        policy: Policy | Mapping[str, Any] | None = None,
        skip_unchanged: bool = False,
    ) -> EvaluationResult:
        """Qerberos for every entity of the given kinds."""
        from ecoperf_core.evaluation import runner

        return runner.evaluate_risk(
            self.evaluation_context(policy), kinds, as_of, skip_unchanged=skip_unchanged
        )

    def evaluate_daos(
        self,
        as_of: datetime | str | None = None,
        policy: Policy | Mapping[str, Any] | None = None,
        skip_unchanged: bool = False,
    ) -> EvaluationResult:
        """DAO subnet evaluation for every DAO, with the isolation cap."""
        from ecoperf_core.evaluation import runner

        return runner.evaluate_daos(
            self.evaluation_context(policy), as_of, skip_unchanged=skip_unchanged
        )

    def evaluate_readiness(
        self,
        modules: Sequence[str] | None = None,
        as_of: datetime | str | None = None,
        policy: Policy | Mapping[str, Any] | None = None,
        skip_unchanged: bool = False,
    ) -> EvaluationResult:
        """Go-live readiness of the configured modules (default: every module seen)."""
        from ecoperf_core.evaluation import runner

        return runner.evaluate_readiness(
            self.evaluation_context(policy), modules, None, as_of, skip_unchanged=skip_unchanged
        )

    def node_weights(
        self,
        node_ids: Sequence[str] | None = None,
        environment: str = "production",
        policy: Policy | Mapping[str, Any] | None = None,
    ) -> EvaluationResult:
        """Routing weights (a fleet evaluation), reported for ``node_ids`` or all nodes."""
        from ecoperf_core.evaluation import runner

        return runner.node_weights(self.evaluation_context(policy, environment), node_ids)

    def node_score_payload(
        self, payload: str | Mapping[str, Any], policy: Policy | Mapping[str, Any] | None = None
    ) -> EvaluationResult:
        """Score the spec's node-score request (caller's metrics; a stored what-if)."""
        from ecoperf_core.evaluation import runner

        return runner.node_score_payload(self.evaluation_context(policy), _plain(payload))

    def operation_check(
        self,
        operation_id: str,
        op_type: str,
        complexity: str = "medium",
        priority: str = "normal",
        user_id: str | None = None,
        environment: str = "production",
        policy: Policy | Mapping[str, Any] | None = None,
    ) -> EvaluationResult:
        """Qflow policy check of an operation under its current conditions."""
        from ecoperf_core.evaluation import runner

        return runner.operation_check(
            self.evaluation_context(policy, environment),
            operation_id,
            op_type,
            complexity,
            priority,
            user_id,
        )

    def operation_check_payload(
        self,
        payload: str | Mapping[str, Any],
        environment: str = "production",
        policy: Policy | Mapping[str, Any] | None = None,
    ) -> EvaluationResult:
        """Qflow policy check of the spec's policy-check request."""
        from ecoperf_core.evaluation import runner

        return runner.operation_check_payload(
            self.evaluation_context(policy, environment), _plain(payload)
        )

    def entity_risk(
        self,
        entity_id: str,
        kind: str | None = None,
        environment: str = "production",
        policy: Policy | Mapping[str, Any] | None = None,
    ) -> EvaluationResult:
        """Qerberos risk of one entity from the warehouse."""
        from ecoperf_core.evaluation import runner

        return runner.entity_risk(self.evaluation_context(policy, environment), entity_id, kind)

    def risk_payload(
        self, payload: str | Mapping[str, Any], policy: Policy | Mapping[str, Any] | None = None
    ) -> EvaluationResult:
        """Qerberos risk of the spec's risk-assessment request."""
        from ecoperf_core.evaluation import runner

        return runner.risk_payload(self.evaluation_context(policy), _plain(payload))

    def deployment_gate(
        self,
        deployment: str,
        baseline: str | None = None,
        environment: str = "production",
        policy: Policy | Mapping[str, Any] | None = None,
    ) -> EvaluationResult:
        """CI/CD gate of a deployment against its baseline, from raw requests."""
        from ecoperf_core.evaluation import runner

        return runner.deployment_gate(
            self.evaluation_context(policy, environment), deployment, baseline
        )

    def gate_payload(
        self, payload: str | Mapping[str, Any], policy: Policy | Mapping[str, Any] | None = None
    ) -> EvaluationResult:
        """CI/CD gate of the spec's gate-check request."""
        from ecoperf_core.evaluation import runner

        return runner.gate_payload(self.evaluation_context(policy), _plain(payload))

    def readiness(
        self,
        module: str,
        environment: str = "production",
        policy: Policy | Mapping[str, Any] | None = None,
    ) -> EvaluationResult:
        """Go-live readiness of one module in one environment."""
        from ecoperf_core.evaluation import runner

        return runner.evaluate_readiness(
            self.evaluation_context(policy), [module], environment, trigger="on_demand"
        )

    def dao(
        self,
        dao_id: str,
        environment: str = "production",
        policy: Policy | Mapping[str, Any] | None = None,
    ) -> EvaluationResult:
        """DAO subnet evaluation of one DAO from the warehouse."""
        from ecoperf_core.evaluation import runner

        return runner.evaluate_daos(
            self.evaluation_context(policy, environment), ids=[dao_id], trigger="on_demand"
        )

    def dao_payload(
        self, payload: str | Mapping[str, Any], policy: Policy | Mapping[str, Any] | None = None
    ) -> EvaluationResult:
        """DAO subnet evaluation of the spec's subnet-evaluation request."""
        from ecoperf_core.evaluation import runner

        return runner.dao_payload(self.evaluation_context(policy), _plain(payload))

    # -- analysis: detectors over the warehouse ----------------------------------------------
    def analyze(self, config: AnalysisConfig | None = None) -> AnalysisResult:
        """Run the change-point and anomaly detectors on every new complete rollup window and
        store the detections (+ the incremental state) in one writer transaction."""
        from ecoperf_core.analysis.config import DEFAULT_CONFIG
        from ecoperf_core.analysis.runner import analyze

        return analyze(self.db_path, config or DEFAULT_CONFIG, self.settings.writer_lock_timeout_s)

    def detections(
        self,
        entity: str | None = None,
        detector: str | None = None,
        metric: str | None = None,
        limit: int = 50,
    ) -> list[dict[str, Any]]:
        """Stored detections, newest first."""
        from ecoperf_core.analysis.store import recent

        with reader(self.db_path, timeout_s=self.settings.writer_lock_timeout_s) as con:
            frame = recent(con, entity=entity, detector=detector, metric=metric, limit=limit)
        return _records(frame)

    def canary(
        self,
        canary: str,
        baseline: str,
        metrics: Sequence[str] = ("latency_ms", "errors"),
        interval: str | None = None,
        environment: str = "production",
    ) -> CanaryRun:
        """Judge deployment ``canary`` against ``baseline`` on their raw requests over the same
        time range, and store the verdict in the decision log (engine ``canary``)."""
        from ecoperf_core.analysis.canary import run_canary

        return run_canary(
            self.db_path,
            canary,
            baseline,
            list(metrics),
            interval,
            environment,
            self.settings.writer_lock_timeout_s,
        )

    def slo(
        self,
        entity: str,
        kind: str | None = None,
        openslo: str | None = None,
        environment: str = "production",
        policy: Policy | Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Error budgets and burn-rate alerts of one entity (OpenSLO YAML text if given, else
        the policy's SLO objective)."""
        from ecoperf_core.analysis.slo import entity_slo

        ctx = self.evaluation_context(policy, environment)
        return entity_slo(ctx, entity, kind, openslo)

    def decisions(
        self, engine: str | None = None, subject: str | None = None, limit: int = 20
    ) -> list[dict[str, Any]]:
        """The decision log, latest first."""
        from ecoperf_core.evaluation.store import list_decisions

        with reader(self.db_path, timeout_s=self.settings.writer_lock_timeout_s) as con:
            return list_decisions(con, engine, subject, limit)

    # -- dashboards ----------------------------------------------------------------------------
    def dashboard(self, environment: str = "production", series: bool = True) -> dict[str, Any]:
        """The dashboard read model (decisions in force, verdicts, series, detections, weight
        history) under one shared reader; the publish flow publishes the same for the API."""
        from ecoperf_core.dashboard.model import build_dashboard

        return build_dashboard(
            self.db_path, self.settings.writer_lock_timeout_s, environment, series=series
        )

    # -- deployment safety and DR drills ------------------------------------------------------
    def deploy(
        self,
        deployment: str,
        baseline: str,
        *,
        environment: str = "production",
        strategy: str = "canary",
        steps: Sequence[float] | None = None,
        interval: str | None = None,
        mode: str = "history",
        start: datetime | None = None,
        gate_environment: str | None = None,
        hooks: Mapping[str, str] | None = None,
        policy: Policy | Mapping[str, Any] | None = None,
        clock: Clock | None = None,
    ) -> DeployRun:
        """Canary (gate check, traffic steps judged by the canary judge, rollback or full
        deployment) or blue-green (gates, then switch); hooks called once per decision."""
        from ecoperf_core.deploy.runner import DeployRunner

        ctx = self.evaluation_context(policy, environment)
        return DeployRunner(
            self.db_path, self.settings.home, ctx.policy, timeout_s=ctx.timeout_s
        ).run(
            deployment,
            baseline,
            environment=environment,
            strategy=strategy,
            steps=None if steps is None else list(steps),
            interval=interval,
            mode=mode,
            start=start,
            gate_environment=gate_environment,
            hooks=None if hooks is None else dict(hooks),
            clock=clock,
        )

    def drill(
        self,
        environment: str = "dr",
        *,
        backup: Path | None = None,
        failover_hook: str | None = None,
        policy: Policy | Mapping[str, Any] | None = None,
    ) -> DrillRun:
        """DR drill: DR against primary's baselines, a restore of a real backup (integrity, RTO,
        RPO), failover trigger and recovery validation; the verdict stored with its report."""
        from ecoperf_core.deploy.drill import run_drill

        ctx = self.evaluation_context(policy)
        return run_drill(
            self.db_path,
            self.settings.home,
            ctx.policy,
            environment,
            backup=backup,
            failover_hook=failover_hook,
            timeout_s=ctx.timeout_s,
        )

    def breakers(self) -> dict[str, dict[str, Any]]:
        """Every outbound hook's circuit breaker, as the last call left it."""
        from ecoperf_core.publish.breaker import breaker_status

        return breaker_status(self.settings.home)

    # -- debugging and tuning: traces, root-cause correlation, policy replay -----------------
    def trace(self, trace_id: str) -> dict[str, Any]:
        """One trace's span tree with timings, self times and its critical path."""
        from ecoperf_core.traces import store

        with reader(self.db_path, timeout_s=self.settings.writer_lock_timeout_s) as con:
            return store.trace(con, trace_id)

    def example_traces(
        self, entity: str, start: datetime, end: datetime, limit: int = 5
    ) -> list[dict[str, Any]]:
        """The traces explaining an entity's window: slowest spans of the entity first."""
        from ecoperf_core.traces import store

        with reader(self.db_path, timeout_s=self.settings.writer_lock_timeout_s) as con:
            return store.example_traces(con, entity, start, end, limit)

    def trace_breakdown(
        self, start: datetime | None = None, end: datetime | None = None, service: str | None = None
    ) -> list[dict[str, Any]]:
        """Latency breakdown per service and operation, with each one's critical-path share."""
        from ecoperf_core.traces import store

        with reader(self.db_path, timeout_s=self.settings.writer_lock_timeout_s) as con:
            return store.breakdown(con, start, end, service)

    def replay(
        self,
        policy: Policy | Mapping[str, Any] | Path | str,
        since: str | datetime = "30d",
        incidents: Path | None = None,
        incident_window_h: float = 24.0,
    ) -> dict[str, Any]:
        """Re-run the engines over the stored decisions since ``since`` with a candidate policy
        (a file, a Policy or a mapping) and compare; read-only, nothing is published."""
        from datetime import timedelta

        from ecoperf_core.evaluation.store import utc_now
        from ecoperf_core.policy import Policy, load_policy, policy_from_mapping
        from ecoperf_core.replay import report

        if isinstance(policy, Policy):
            candidate = policy
        elif isinstance(policy, Path | str):
            candidate = load_policy(Path(policy))
        else:
            candidate = policy_from_mapping(policy, "candidate policy")
        start = since if isinstance(since, datetime) else report.parse_since(since, utc_now())
        labelled = report.labelled_incidents(incidents) if incidents is not None else []
        with reader(self.db_path, timeout_s=self.settings.writer_lock_timeout_s) as con:
            result = report.replay(
                con, candidate, start, labelled, timedelta(hours=incident_window_h)
            )
        return result.to_dict()

    def why(
        self,
        entity: str,
        at: datetime | str,
        metric: str | None = None,
        environment: str = "production",
        examples: int = 5,
    ) -> dict[str, Any]:
        """Root cause of an entity's incident near ``at``: the other metrics and entities ranked
        by how early and how strongly they moved, with evidence, plus example traces."""
        from datetime import timedelta

        from ecoperf_core.analysis.rootcause import WhyConfig, why
        from ecoperf_core.timeutil import window_seconds
        from ecoperf_core.traces import store

        moment = _parse_time(at, "--at")
        with reader(self.db_path, timeout_s=self.settings.writer_lock_timeout_s) as con:
            result = why(con, entity, moment, metric, WhyConfig(environment=environment))
            incident_at = datetime.fromisoformat(result["incident"]["at"])
            half = timedelta(seconds=max(window_seconds(result["incident"]["window"]), 900))
            result["exampleTraces"] = store.example_traces(
                con, entity, incident_at - half, incident_at + half, examples
            )
        return result

    def evaluate_shadow(
        self,
        as_of: datetime | str | None = None,
        policy: Policy | Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Decide again with the policy file's ``[shadow]`` candidate: stored with shadow =
        true beside the enforced decisions, never published. Nothing when none is named."""
        from ecoperf_core.evaluation import shadow

        ctx = self.evaluation_context(policy)
        candidate = shadow.shadow_policy(ctx.policy, shadow.enforced_policy_path())
        if candidate is None:
            return {"skipped": "the policy names no [shadow] policy"}
        return shadow.evaluate_shadow(shadow.shadow_context(ctx, candidate), as_of)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as plain dicts (times as ISO text, evidence parsed)."""
    import json

    out = []
    for row in frame.to_dict(orient="records"):
        clean: dict[str, Any] = {}
        for key, value in row.items():
            if hasattr(value, "isoformat"):
                value = value.isoformat()
            elif isinstance(value, float) and value != value:
                value = None
            elif key == "evidence" and isinstance(value, str):
                value = json.loads(value)
            clean[key] = value
        out.append(clean)
    return out


def _parse_time(value: datetime | str, name: str) -> datetime:
    """A naive-UTC time from a datetime or ISO text (an offset is converted to UTC)."""
    if isinstance(value, datetime):
        return value
    from datetime import UTC

    from ecoperf_core.errors import FieldProblem, ValidationError

    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError(
            name, [FieldProblem(name, "expected an ISO time, e.g. 2026-11-29T06:00", value)]
        ) from None
    return parsed if parsed.tzinfo is None else parsed.astimezone(UTC).replace(tzinfo=None)


def _plain(payload: str | Mapping[str, Any]) -> str | dict[str, Any]:
    return payload if isinstance(payload, str) else dict(payload)


def _source_name(landed: Path) -> str:
    # Landed names are "<hash12>_<original name>"; report the original.
    name = landed.name
    head, sep, rest = name.partition("_")
    return rest if sep and len(head) == 12 and all(c in "0123456789abcdef" for c in head) else name


def default_service() -> Ecoperf:
    return Ecoperf(get_settings())


__all__ = ["Ecoperf", "IngestReport", "QueryResult", "check_read_only", "default_service"]
