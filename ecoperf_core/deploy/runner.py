"""A deploy run: gate check, then canary steps judged on warehouse data, or a blue-green switch.

The spec's deployment diagram::

    gate check ─fail─▶ block
        │pass
    canary at 5% ─▶ monitor (judge the step's interval) ─fail─▶ automatic rollback
        ▲                       │pass
        └── increase traffic ◀──┘ ... ─▶ 100%: full deployment (switch)

Each judged interval is stored (``deploy_intervals``: metrics, verdict, action) and logged as a
decision (engine ``deploy``, an outbox event when its outcome changes). Traffic changes, the
rollback and the final switch call the configured hooks through :func:`publish.hooks.deliver`,
keyed by the decision, so a re-run over the same data calls nothing twice. A hook that cannot be
delivered (its breaker open) halts the run at once with the reason: traffic must not be judged
as if it had moved when the load balancer was never told.

Intervals are windows of data time. ``mode="history"`` judges the samples already stored,
starting at the candidate's first request; ``mode="live"`` starts now and waits for each window
to fill (bounded).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from ecoperf_core.deploy.clock import Clock, HistoryClock, LiveClock
from ecoperf_core.engines import cicd
from ecoperf_core.engines.base import Decision, jsonable
from ecoperf_core.engines.deploy import (
    DeployPlan,
    StepDecision,
    StepState,
    decide_step,
    first_state,
    validate_green,
)
from ecoperf_core.errors import FieldProblem, NotFoundError, ValidationError
from ecoperf_core.policy import Policy
from ecoperf_core.publish.breaker import BreakerStore
from ecoperf_core.publish.hooks import HookResult, deliver
from ecoperf_core.stats.canary import CanaryConfig, judge_canary
from ecoperf_core.warehouse import reader, writer

Strategy = Literal["canary", "blue-green"]
Mode = Literal["history", "live"]

# Exit codes of `ecosystem-perf deploy` per outcome (docs/cli.md).
EXIT_CODES: dict[str, int] = {
    "promoted": 0,
    "switched": 0,
    "rolled_back": 1,
    "blocked": 1,
    "held": 4,
    "halted": 6,
}


@dataclass
class IntervalRecord:
    seq: int
    step: int
    traffic: float
    window_from: datetime
    window_to: datetime
    verdict: str
    score: float | None
    action: str
    reason: str
    samples: dict[str, int]
    metrics: list[dict[str, Any]]
    decision_key: str
    hooks: list[HookResult] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "step": self.step,
            "traffic": self.traffic,
            "from": self.window_from.isoformat(),
            "to": self.window_to.isoformat(),
            "verdict": self.verdict,
            "score": self.score,
            "action": self.action,
            "reason": self.reason,
            "samples": self.samples,
            "decisionKey": self.decision_key,
            "hooks": [h.to_dict() for h in self.hooks],
        }


@dataclass
class DeployRun:
    run_key: str
    deployment: str
    baseline: str
    environment: str
    strategy: str
    mode: str
    steps: list[float]
    interval_s: float
    started_from: datetime
    outcome: str = "running"
    final_traffic: float = 0.0
    reason: str = ""
    gate: dict[str, Any] = field(default_factory=dict)
    intervals: list[IntervalRecord] = field(default_factory=list)
    hooks: list[HookResult] = field(default_factory=list)  # every hook result, in order
    report: str = ""
    reused: bool = False

    @property
    def exit_code(self) -> int:
        return EXIT_CODES.get(self.outcome, 1)

    def hook_calls(self, hook: str) -> list[HookResult]:
        return [h for h in self.hooks if h.hook == hook]

    def to_dict(self) -> dict[str, Any]:
        return {
            "runKey": self.run_key,
            "deployment": self.deployment,
            "baseline": self.baseline,
            "environment": self.environment,
            "strategy": self.strategy,
            "mode": self.mode,
            "steps": self.steps,
            "intervalSeconds": self.interval_s,
            "startedFrom": self.started_from.isoformat(),
            "outcome": self.outcome,
            "finalTraffic": self.final_traffic,
            "reason": self.reason,
            "gate": self.gate,
            "intervals": [i.to_dict() for i in self.intervals],
            "hooks": [h.to_dict() for h in self.hooks],
            "reused": self.reused,
        }


def _bad(field_name: str, message: str) -> ValidationError:
    return ValidationError(
        source="deploy", problems=[FieldProblem(field=field_name, message=message)]
    )


def _run_key(parts: list[Any]) -> str:
    text = json.dumps(parts, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class DeployRunner:
    """One deploy run over one warehouse; every collaborator injectable for tests."""

    def __init__(
        self,
        db_path: Path,
        home: Path,
        policy: Policy,
        *,
        timeout_s: float = 600.0,
        breakers: BreakerStore | None = None,
        canary_config: CanaryConfig | None = None,
    ) -> None:
        from ecoperf_core.publish.breaker import breaker_path

        self.db_path = db_path
        self.policy = policy
        self.timeout_s = timeout_s
        self.breakers = breakers or BreakerStore(breaker_path(home))
        self.canary_config = canary_config or CanaryConfig()

    # ------------------------------------------------------------------------------ entry
    def run(
        self,
        deployment: str,
        baseline: str,
        *,
        environment: str = "production",
        strategy: str = "canary",
        steps: list[float] | None = None,
        interval: str | None = None,
        mode: str = "history",
        start: datetime | None = None,
        gate_environment: str | None = None,
        hooks: dict[str, str] | None = None,
        clock: Clock | None = None,
    ) -> DeployRun:
        from ecoperf_core.analysis.canary import METRICS
        from ecoperf_core.timeutil import parse_window

        if strategy not in ("canary", "blue-green"):
            raise _bad("strategy", f"expected canary or blue-green, got {strategy!r}")
        if mode not in ("history", "live"):
            raise _bad("mode", f"expected history or live, got {mode!r}")
        try:
            step_length = parse_window(interval or self.policy.deploy.interval)
        except ValueError as exc:
            raise _bad("interval", str(exc)) from None
        try:
            plan = DeployPlan.from_policy(self.policy.deploy, steps, step_length)
        except ValueError as exc:
            raise _bad("steps", str(exc)) from None
        unknown = [m for m in self.policy.deploy.metrics if m not in METRICS]
        if unknown:
            raise _bad(
                "deploy.metrics", f"unknown metric(s) {unknown}; choose from {sorted(METRICS)}"
            )
        targets = self.policy.deploy.hooks.model_dump() | {k: v for k, v in (hooks or {}).items()}
        bad_hooks = sorted(set(targets) - {"traffic", "rollback", "switch"})
        if bad_hooks:
            raise _bad("hooks", f"unknown hook(s) {bad_hooks}; hooks are traffic, rollback, switch")
        if deployment == baseline:
            raise _bad("baseline", "the baseline must differ from the deployment")

        from ecoperf_core.evaluation import readers

        with reader(self.db_path, timeout_s=self.timeout_s) as con:
            readers.require_known(con, "deployment", [deployment, baseline], environment)
            first, last = con.execute(
                """SELECT min(ts), max(ts) FROM requests
                   WHERE entity_kind = 'deployment' AND entity_id = $d AND environment = $e""",
                {"d": deployment, "e": environment},
            ).fetchall()[0]
        if first is None:
            raise NotFoundError(f"deployment {deployment!r} has no raw requests in {environment!r}")
        if clock is None:
            clock = (
                HistoryClock(last)
                if mode == "history"
                else LiveClock(grace_s=self.policy.deploy.live_grace_s)
            )
        began = start or (first if mode == "history" else clock.now())
        run = DeployRun(
            run_key=_run_key(
                [deployment, baseline, environment, strategy, plan.steps, step_length, began]
            ),
            deployment=deployment,
            baseline=baseline,
            environment=environment,
            strategy=strategy,
            mode=mode,
            steps=list(plan.steps),
            interval_s=step_length.total_seconds(),
            started_from=began,
        )
        stored = self._stored_run(run.run_key)
        if stored is not None:
            return stored
        self._save_run(run, finished=False)
        if strategy == "blue-green":
            self._blue_green(run, targets)
        else:
            self._canary(run, plan, targets, clock, gate_environment)
        from ecoperf_core.deploy.report import deploy_report

        run.report = deploy_report(run)
        self._save_run(run, finished=True)
        return run

    # ------------------------------------------------------------------------- strategies
    def _gate(self, run: DeployRun, environment: str) -> dict[str, Any] | None:
        """CI/CD gate of the candidate against the baseline in ``environment``; None when the
        candidate (or the baseline) has no data there."""
        from ecoperf_core.evaluation import readers

        try:
            with reader(self.db_path, timeout_s=self.timeout_s) as con:
                sourced = readers.gate_inputs(con, run.deployment, run.baseline, environment)
        except NotFoundError as exc:
            return {"skipped": True, "reason": str(exc), "environment": environment}
        decision = cicd.evaluate_gate(sourced.inputs, self.policy)
        evidence = {**decision.evidence, "source": sourced.source, "trigger": "deploy"}
        from dataclasses import replace

        from ecoperf_core.evaluation.store import store_decisions

        with writer(self.db_path, timeout_s=self.timeout_s) as con:
            store_decisions(con, [replace(decision, evidence=evidence)])
        return {
            "skipped": False,
            "environment": environment,
            "passed": bool(decision.output["passed"]),
            "output": decision.output,
            "source": sourced.source,
        }

    def _blue_green(self, run: DeployRun, targets: dict[str, str]) -> None:
        gate = self._gate(run, run.environment)
        run.gate = gate or {}
        if gate is None or gate.get("skipped"):
            run.outcome, run.reason = (
                "blocked",
                f"green cannot be validated: {gate and gate['reason']}",
            )
            self._log(run, f"{run.run_key}-bg", "blocked", {"reasons": [run.reason]})
            return
        validation = validate_green(gate["output"])
        key = f"{run.run_key}-bg"
        if not validation.passed:
            run.outcome = "blocked"
            run.reason = "green failed validation: " + "; ".join(validation.reasons)
            self._log(run, key, "blocked", {"reasons": list(validation.reasons)})
            return
        self._log(run, key, "switched", {"gate": gate["output"]})
        result = self._call(
            run, "switch", targets, key, {"action": "switch", "trafficPercent": 100}
        )
        if not result.ok:
            run.outcome, run.reason = "halted", f"switch hook not delivered: {result.detail}"
            return
        run.outcome, run.final_traffic = "switched", 100.0
        run.reason = "green passed the performance gates; traffic switched"

    def _canary(
        self,
        run: DeployRun,
        plan: DeployPlan,
        targets: dict[str, str],
        clock: Clock,
        gate_environment: str | None,
    ) -> None:
        gate_env = gate_environment or self.policy.deploy.gate_environment
        gate = self._gate(run, gate_env)
        run.gate = gate or {}
        if gate and gate.get("skipped"):
            if self.policy.deploy.missing_gate_data == "block":
                run.outcome = "blocked"
                run.reason = f"no data for the gate check in {gate_env!r}: {gate['reason']}"
                self._log(run, f"{run.run_key}-00", "blocked", {"gate": gate})
                return
        elif gate and not gate["passed"]:
            run.outcome = "blocked"
            kinds = ", ".join(v["type"] for v in gate["output"]["violations"])
            run.reason = f"performance gate failed in {gate_env!r}: {kinds}"
            self._log(run, f"{run.run_key}-00", "blocked", {"gate": gate})
            return
        # Start the canary: the first traffic step.
        start_key = f"{run.run_key}-00"
        self._log(run, start_key, f"traffic_{plan.steps[0]:g}", {"trafficPercent": plan.steps[0]})
        first = self._call(
            run,
            "traffic",
            targets,
            start_key,
            {"action": "start", "trafficPercent": plan.steps[0], "previousTrafficPercent": 0},
        )
        if not first.ok:
            run.outcome, run.reason = "halted", f"traffic hook not delivered: {first.detail}"
            return
        run.final_traffic = plan.steps[0]
        state: StepState | None = first_state(plan, run.started_from)
        bound = len(plan.steps) * (1 + plan.max_extensions + plan.max_pauses) + 1
        seq = 0
        while state is not None and seq < bound:
            seq += 1
            window_from, window_to = state.window(plan)
            clock.wait_until(window_to)
            record, step = self._judge(run, plan, state, seq, window_from, window_to)
            run.intervals.append(record)
            if not self._act(run, record, step, targets):
                return
            state = step.next_state
        if run.outcome == "running":  # the bound is a guard; the state machine always ends first
            run.outcome, run.reason = "held", "step bound reached without a verdict"

    # ---------------------------------------------------------------------------- pieces
    def _judge(
        self,
        run: DeployRun,
        plan: DeployPlan,
        state: StepState,
        seq: int,
        window_from: datetime,
        window_to: datetime,
    ) -> tuple[IntervalRecord, StepDecision]:
        from ecoperf_core.analysis.canary import METRICS, side_samples

        names = list(self.policy.deploy.metrics)
        with reader(self.db_path, timeout_s=self.timeout_s) as con:
            frame = con.execute(
                """SELECT entity_id, latency_ms, ok, cost FROM requests
                   WHERE entity_kind = 'deployment' AND environment = $e
                     AND entity_id IN ($c, $b) AND ts >= $lo AND ts < $hi""",
                {
                    "e": run.environment,
                    "c": run.deployment,
                    "b": run.baseline,
                    "lo": window_from,
                    "hi": window_to,
                },
            ).df()
        sides = {name: frame[frame["entity_id"] == name] for name in (run.baseline, run.deployment)}
        verdict = judge_canary(
            [METRICS[m] for m in names],
            side_samples(sides[run.baseline], names),
            side_samples(sides[run.deployment], names),
            self.canary_config,
        )
        step = decide_step(plan, state, verdict.verdict, verdict.reason)
        record = IntervalRecord(
            seq=seq,
            step=state.step,
            traffic=step.traffic,
            window_from=window_from,
            window_to=window_to,
            verdict=verdict.verdict,
            score=verdict.score,
            action=step.action,
            reason=step.reason,
            samples={name: len(side) for name, side in sides.items()},
            metrics=[jsonable(m.to_dict()) for m in verdict.metrics],
            decision_key=f"{run.run_key}-{seq:02d}",
        )
        self._store_interval(run, record, step)
        return record, step

    def _act(
        self, run: DeployRun, record: IntervalRecord, step: StepDecision, targets: dict[str, str]
    ) -> bool:
        """Call the hooks the action needs; False when the run ends (or cannot go on)."""
        key = record.decision_key
        base = {
            "action": step.action,
            "verdict": record.verdict,
            "score": record.score,
            "reason": record.reason,
            "interval": {
                "from": record.window_from.isoformat(),
                "to": record.window_to.isoformat(),
            },
            "previousTrafficPercent": record.traffic,
        }
        calls: list[tuple[str, dict[str, Any]]] = []
        if step.action in ("advance", "promote"):
            calls.append(("traffic", {**base, "trafficPercent": step.next_traffic}))
        if step.action == "promote":
            calls.append(("switch", {**base, "trafficPercent": 100.0}))
        if step.action == "rollback":
            calls.append(("rollback", {**base, "trafficPercent": 0.0}))
        for hook, payload in calls:
            result = self._call(run, hook, targets, key, payload)
            record.hooks.append(result)
            if not result.ok:
                run.outcome = "halted"
                run.reason = f"{hook} hook not delivered ({step.reason}): {result.detail}"
                return False
            if hook == "traffic":
                run.final_traffic = float(step.next_traffic or run.final_traffic)
        if step.action == "promote":
            run.outcome, run.reason = "promoted", step.reason
        elif step.action == "rollback":
            run.outcome, run.reason, run.final_traffic = "rolled_back", step.reason, 0.0
        elif step.action == "hold":
            run.outcome, run.reason = "held", step.reason
        return not step.terminal

    def _call(
        self,
        run: DeployRun,
        hook: str,
        targets: dict[str, str],
        decision_key: str,
        payload: dict[str, Any],
    ) -> HookResult:
        body = {
            "decisionKey": decision_key,
            "runKey": run.run_key,
            "deployment": run.deployment,
            "baseline": run.baseline,
            "environment": run.environment,
            "strategy": run.strategy,
            **payload,
        }
        if self.policy.deploy.shadow:  # computed and logged, never acted on
            shadowed = HookResult(hook, targets.get(hook, ""), f"{decision_key}:{hook}", "shadow")
            run.hooks.append(shadowed)
            return shadowed
        result = deliver(
            self.db_path,
            self.breakers,
            hook=hook,
            target=targets.get(hook, ""),
            call_key=f"{decision_key}:{hook}",
            run_key=run.run_key,
            payload=body,
            policy=self.policy.hooks,
            timeout_s=self.timeout_s,
        )
        run.hooks.append(result)
        return result

    # ---------------------------------------------------------------------------- storage
    def _log(self, run: DeployRun, key: str, outcome: str, output: dict[str, Any]) -> None:
        """One decision-log entry (engine ``deploy``) per decision key, never twice."""
        from ecoperf_core.evaluation.store import store_decisions

        decision = Decision(
            engine="deploy",
            subject=run.deployment,
            outcome=outcome,
            output={"deploymentId": run.deployment, "baseline": run.baseline, **output},
            inputs={
                "environment": run.environment,
                "strategy": run.strategy,
                "steps": run.steps,
                "intervalSeconds": run.interval_s,
                "startedFrom": run.started_from.isoformat(),
            },
            thresholds=self.policy.section("deploy")
            | {"canary": jsonable(self.canary_config.to_dict())},
            evidence={
                "decisionKey": key,
                "runKey": run.run_key,
                "shadow": self.policy.deploy.shadow,
            },
            policy_version=self.policy.version,
        )
        with writer(self.db_path, timeout_s=self.timeout_s) as con:
            seen = con.execute(
                """SELECT count(*) FROM decisions WHERE engine = 'deploy' AND subject = $s
                   AND json_extract_string(evidence, '$.decisionKey') = $k""",
                {"s": run.deployment, "k": key},
            ).fetchall()[0][0]
            if not seen:
                store_decisions(con, [decision])

    def _store_interval(self, run: DeployRun, record: IntervalRecord, step: StepDecision) -> None:
        from ecoperf_core.evaluation.store import utc_now

        outcome = outcome_label(step)
        self._log(
            run,
            record.decision_key,
            outcome,
            {
                "action": step.action,
                "trafficPercent": step.traffic,
                "nextTrafficPercent": step.next_traffic,
                "verdict": record.verdict,
                "score": record.score,
                "reason": record.reason,
                "samples": record.samples,
                "metrics": record.metrics,
            },
        )
        with writer(self.db_path, timeout_s=self.timeout_s) as con:
            con.execute(
                """INSERT OR REPLACE INTO deploy_intervals
                   (run_key, seq, step, traffic, window_from, window_to, verdict, score, action,
                    reason, samples, metrics, decision_key, decided_at)
                   VALUES ($run, $seq, $step, $traffic, $lo, $hi, $verdict, $score, $action,
                           $reason, $samples, $metrics, $key, $at)""",
                {
                    "run": run.run_key,
                    "seq": record.seq,
                    "step": record.step,
                    "traffic": record.traffic,
                    "lo": record.window_from,
                    "hi": record.window_to,
                    "verdict": record.verdict,
                    "score": record.score,
                    "action": record.action,
                    "reason": record.reason,
                    "samples": json.dumps(record.samples),
                    "metrics": json.dumps(record.metrics, default=str),
                    "key": record.decision_key,
                    "at": utc_now(),
                },
            )

    def _save_run(self, run: DeployRun, *, finished: bool) -> None:
        from ecoperf_core.evaluation.store import utc_now

        now = utc_now()
        with writer(self.db_path, timeout_s=self.timeout_s) as con:
            con.execute(
                """INSERT INTO deploy_runs
                   (run_key, deployment, baseline, environment, strategy, mode, steps, interval_s,
                    started_from, outcome, final_traffic, reason, gate, report, started_at,
                    finished_at)
                   VALUES ($k, $d, $b, $e, $s, $m, $steps, $i, $from, $o, $t, $r, $g, $rep,
                           $now, $fin)
                   ON CONFLICT (run_key) DO UPDATE SET outcome = excluded.outcome,
                       final_traffic = excluded.final_traffic, reason = excluded.reason,
                       gate = excluded.gate, report = excluded.report,
                       finished_at = excluded.finished_at""",
                {
                    "k": run.run_key,
                    "d": run.deployment,
                    "b": run.baseline,
                    "e": run.environment,
                    "s": run.strategy,
                    "m": run.mode,
                    "steps": json.dumps(run.steps),
                    "i": run.interval_s,
                    "from": run.started_from,
                    "o": run.outcome,
                    "t": run.final_traffic,
                    "r": run.reason,
                    "g": json.dumps(run.gate, default=str),
                    "rep": run.report,
                    "now": now,
                    "fin": now if finished else None,
                },
            )

    def _stored_run(self, run_key: str) -> DeployRun | None:
        """A finished run with this key (same deployment, data and plan): reuse its result
        instead of judging (and possibly calling hooks) again. Runs that are still ``running``
        (a crash) or ``halted`` (a hook failed) are resumed: judged again, hooks already
        delivered skipped."""
        with reader(self.db_path, timeout_s=self.timeout_s) as con:
            rows = con.execute(
                """SELECT deployment, baseline, environment, strategy, mode, steps, interval_s,
                          started_from, outcome, final_traffic, reason, gate, report
                   FROM deploy_runs WHERE run_key = $k AND outcome NOT IN ('running', 'halted')""",
                {"k": run_key},
            ).fetchall()
            if not rows:
                return None
            intervals = con.execute(
                """SELECT seq, step, traffic, window_from, window_to, verdict, score, action,
                          reason, samples, metrics, decision_key
                   FROM deploy_intervals WHERE run_key = $k ORDER BY seq""",
                {"k": run_key},
            ).fetchall()
        d, b, e, s, m, steps, interval_s, began, outcome, traffic, reason, gate, report = rows[0]
        run = DeployRun(
            run_key,
            d,
            b,
            e,
            s,
            m,
            json.loads(steps),
            interval_s,
            began,
            outcome,
            traffic,
            reason,
            json.loads(gate) if gate else {},
            report=report or "",
            reused=True,
        )
        for seq, step, tr, lo, hi, verdict, score, action, why, samples, metrics, key in intervals:
            run.intervals.append(
                IntervalRecord(
                    seq,
                    step,
                    tr,
                    lo,
                    hi,
                    verdict,
                    score,
                    action,
                    why,
                    json.loads(samples),
                    json.loads(metrics),
                    key,
                )
            )
        return run


def outcome_label(step: StepDecision) -> str:
    """The decision log's outcome of a step: distinct per traffic level, so every traffic change
    is an outcome change (and so an outbox event)."""
    if step.action == "advance":
        return f"traffic_{step.next_traffic:g}"
    if step.action == "promote":
        return "promoted"
    if step.action == "rollback":
        return "rolled_back"
    past = {"pause": "paused", "extend": "extended", "hold": "held"}[step.action]
    return f"{past}_{step.traffic:g}"
