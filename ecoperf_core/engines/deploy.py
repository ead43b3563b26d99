"""Progressive delivery: the step state machine of a canary deployment, and blue-green validation.

Pure: the canary judge's verdict of one interval in, the next action out. The runner
(``ecoperf_core/deploy``) reads the samples, calls the judge and the hooks, and stores everything.

One step = one traffic percentage. The candidate enters a step (a traffic hook), then the step's
interval is judged:

=================  ==========================================================================
verdict            action
=================  ==========================================================================
pass               ``advance`` to the next step (traffic hook); entering 100% is the full
                   deployment, so ``promote`` (traffic hook at 100, then the switch hook)
marginal           ``pause``: stay at this traffic and re-judge the step over a longer window
insufficient_data  ``extend``: stay and judge a longer window; never counts as a pass
fail               ``rollback`` (rollback hook)
=================  ==========================================================================

A step that stays marginal more than ``max_pauses`` times, or short of data more than
``max_extensions`` times, is *exhausted*: the run rolls back or holds (``on_exhausted``), never
promotes. The 100% step is not judged: at full traffic the baseline has no traffic left to
compare against; the last judged step is the one before it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

from ecoperf_core.policy import DeployPolicy, steps_problem

Action = Literal["advance", "promote", "pause", "extend", "rollback", "hold"]
Verdict = Literal["pass", "marginal", "fail", "insufficient_data"]

# Actions that end a run.
TERMINAL_ACTIONS: frozenset[str] = frozenset({"promote", "rollback", "hold"})


@dataclass(frozen=True)
class DeployPlan:
    """Traffic steps (percent, increasing, the last 100) and the interval each step is judged on."""

    steps: tuple[float, ...]
    interval: timedelta
    max_extensions: int = 3
    max_pauses: int = 2
    on_exhausted: Literal["rollback", "hold"] = "rollback"

    def __post_init__(self) -> None:
        problem = steps_problem(list(self.steps))
        if problem:
            raise ValueError(f"steps: {problem}")
        if self.interval <= timedelta(0):
            raise ValueError("interval: must be positive")

    @classmethod
    def from_policy(
        cls,
        policy: DeployPolicy,
        steps: list[float] | None = None,
        interval: timedelta | None = None,
    ) -> DeployPlan:
        from ecoperf_core.timeutil import parse_window

        return cls(
            steps=tuple(float(s) for s in (steps if steps is not None else policy.steps)),
            interval=interval if interval is not None else parse_window(policy.interval),
            max_extensions=policy.max_extensions,
            max_pauses=policy.max_pauses,
            on_exhausted=policy.on_exhausted,
        )


@dataclass(frozen=True)
class StepState:
    """Where a run is: the step being judged, since when, and how often it was re-judged."""

    step: int
    step_start: datetime
    extensions: int = 0
    pauses: int = 0

    def window(self, plan: DeployPlan) -> tuple[datetime, datetime]:
        """The interval judged next: from the step's start, one interval longer per re-judgement
        (a marginal or thin step is judged again on more data, not on a fresh small window)."""
        length = plan.interval * (1 + self.extensions + self.pauses)
        return self.step_start, self.step_start + length


@dataclass(frozen=True)
class StepDecision:
    """What to do after judging one interval, and the state after it."""

    action: Action
    step: int
    traffic: float
    next_traffic: float | None  # the traffic the action sets (None: unchanged or rolled back)
    verdict: str
    reason: str
    next_state: StepState | None  # None when the run ends

    @property
    def terminal(self) -> bool:
        return self.action in TERMINAL_ACTIONS


def first_state(plan: DeployPlan, start: datetime) -> StepState:
    return StepState(step=0, step_start=start)


def decide_step(plan: DeployPlan, state: StepState, verdict: str, reason: str = "") -> StepDecision:
    """The action for one judged interval (see the module docstring)."""
    traffic = plan.steps[state.step]
    _, window_end = state.window(plan)
    why = f": {reason}" if reason else ""
    if verdict == "pass":
        following = plan.steps[state.step + 1]
        if following >= 100.0:
            return StepDecision(
                "promote",
                state.step,
                traffic,
                100.0,
                verdict,
                f"passed at {traffic:g}%{why}; full deployment",
                None,
            )
        return StepDecision(
            "advance",
            state.step,
            traffic,
            following,
            verdict,
            f"passed at {traffic:g}%{why}; traffic to {following:g}%",
            StepState(step=state.step + 1, step_start=window_end),
        )
    if verdict == "fail":
        return StepDecision(
            "rollback", state.step, traffic, None, verdict, f"failed at {traffic:g}%{why}", None
        )
    if verdict == "marginal":
        if state.pauses < plan.max_pauses:
            return StepDecision(
                "pause",
                state.step,
                traffic,
                None,
                verdict,
                f"marginal at {traffic:g}%{why}; paused, re-judging on a longer interval "
                f"({state.pauses + 1}/{plan.max_pauses})",
                replace(state, pauses=state.pauses + 1),
            )
        return _exhausted(plan, state, verdict, f"still marginal after {plan.max_pauses} pauses")
    if verdict == "insufficient_data":
        if state.extensions < plan.max_extensions:
            return StepDecision(
                "extend",
                state.step,
                traffic,
                None,
                verdict,
                f"too few samples at {traffic:g}%{why}; interval extended "
                f"({state.extensions + 1}/{plan.max_extensions})",
                replace(state, extensions=state.extensions + 1),
            )
        return _exhausted(
            plan, state, verdict, f"still too few samples after {plan.max_extensions} extensions"
        )
    raise ValueError(f"unknown canary verdict {verdict!r}")


def _exhausted(plan: DeployPlan, state: StepState, verdict: str, why: str) -> StepDecision:
    traffic = plan.steps[state.step]
    if plan.on_exhausted == "rollback":
        return StepDecision(
            "rollback",
            state.step,
            traffic,
            None,
            verdict,
            f"no sound verdict at {traffic:g}%: {why}; rolled back (never promoted)",
            None,
        )
    return StepDecision(
        "hold",
        state.step,
        traffic,
        None,
        verdict,
        f"no sound verdict at {traffic:g}%: {why}; held at {traffic:g}% for a person to decide",
        None,
    )


# ---------------------------------------------------------------------------- blue-green


@dataclass(frozen=True)
class GreenValidation:
    """Whether the green environment may take all traffic, and why not."""

    passed: bool
    reasons: tuple[str, ...]


def validate_green(gate_output: dict[str, object]) -> GreenValidation:
    """Blue-green: the switch may happen only when green's CI/CD gate (the spec's
    ``performanceGate`` payload) passed; otherwise each violation is a reason."""
    if gate_output.get("passed") is True:
        return GreenValidation(True, ())
    reasons = []
    for violation in gate_output.get("violations", []) or []:  # type: ignore[union-attr]
        v = dict(violation)  # type: ignore[call-overload]
        reasons.append(
            f"{v.get('type')}: {v.get('current')} against threshold {v.get('threshold')} "
            f"(baseline {v.get('baseline')}, severity {v.get('severity')})"
        )
    return GreenValidation(False, tuple(reasons) or ("the performance gate did not pass",))
