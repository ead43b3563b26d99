"""The pure parts: the step state machine, blue-green validation, drill verdicts, the breaker's
transitions (with an injected clock) and policy validation naming the key."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from ecoperf_core.engines.deploy import DeployPlan, decide_step, first_state, validate_green
from ecoperf_core.engines.drill import (
    FailoverSignals,
    TableCheck,
    compare_integrity,
    failover_decision,
)
from ecoperf_core.policy import PolicyError, policy_from_mapping
from ecoperf_core.publish.breaker import BreakerOpenError, BreakerSettings, BreakerStore

T = datetime(2026, 11, 1)
PLAN = DeployPlan(steps=(5.0, 25.0, 50.0, 100.0), interval=timedelta(minutes=10))


def test_pass_advances_and_the_last_judged_step_promotes() -> None:
    state = first_state(PLAN, T)
    actions = []
    while state is not None:
        step = decide_step(PLAN, state, "pass")
        actions.append((step.action, step.traffic, step.next_traffic))
        state = step.next_state
    assert actions == [("advance", 5, 25), ("advance", 25, 50), ("promote", 50, 100)]


def test_marginal_pauses_and_insufficient_data_extends_on_a_longer_window() -> None:
    state = first_state(PLAN, T)
    paused = decide_step(PLAN, state, "marginal")
    assert paused.action == "pause" and paused.next_state is not None
    assert paused.next_state.window(PLAN) == (T, T + timedelta(minutes=20))
    extended = decide_step(PLAN, paused.next_state, "insufficient_data")
    assert extended.action == "extend" and extended.next_state is not None
    assert extended.next_state.window(PLAN) == (T, T + timedelta(minutes=30))
    # A pass after re-judging starts the next step where the long window ended.
    advanced = decide_step(PLAN, extended.next_state, "pass")
    assert advanced.next_state is not None and advanced.next_state.step_start == T + timedelta(
        minutes=30
    )
    assert decide_step(PLAN, state, "fail").action == "rollback"


def test_exhausted_step_rolls_back_or_holds_but_never_promotes() -> None:
    state = first_state(PLAN, T)
    for _ in range(PLAN.max_extensions):
        step = decide_step(PLAN, state, "insufficient_data")
        assert step.action == "extend" and step.next_state is not None
        state = step.next_state
    assert decide_step(PLAN, state, "insufficient_data").action == "rollback"
    hold = DeployPlan(PLAN.steps, PLAN.interval, max_pauses=0, on_exhausted="hold")
    assert decide_step(hold, first_state(hold, T), "marginal").action == "hold"


@pytest.mark.parametrize(
    ("steps", "message"),
    [((5.0, 50.0), "last step must be 100"), ((50.0, 25.0, 100.0), "increase"), ((), "at least")],
)
def test_bad_plans_are_refused(steps: tuple[float, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DeployPlan(steps=steps, interval=timedelta(minutes=1))


def test_policy_errors_name_the_key() -> None:
    with pytest.raises(PolicyError) as err:
        policy_from_mapping({"deploy": {"steps": [5.0, 50.0], "max_pauses": -1}})
    fields = {p.field for p in err.value.problems}
    assert "deploy.max_pauses" in fields
    with pytest.raises(PolicyError) as err:
        policy_from_mapping({"deploy": {"hooks": {"traffic": 'notify "unclosed'}}})
    assert "traffic" in str(err.value)
    with pytest.raises(PolicyError) as err:
        policy_from_mapping({"drill": {"window": "soon"}, "hooks": {"attempts": 0}})
    assert {p.field for p in err.value.problems} == {"drill", "hooks.attempts"}


def test_green_validation_lists_every_violation() -> None:
    output = {
        "passed": False,
        "violations": [
            {"type": "p99_latency_degradation", "current": 300, "threshold": 230},
            {"type": "error_rate_increase", "current": 0.05, "threshold": 0.002},
        ],
    }
    result = validate_green(output)
    assert not result.passed and len(result.reasons) == 2
    assert validate_green({"passed": True, "violations": []}).passed


def test_integrity_comparison_names_each_table() -> None:
    manifest = {"a": TableCheck(3, "1"), "b": TableCheck(2, "9"), "c": TableCheck(1, "5")}
    restored = {"a": TableCheck(3, "1"), "b": TableCheck(2, "8"), "d": TableCheck(0, "0")}
    result = compare_integrity(manifest, restored)
    assert not result.ok
    assert [p.split(":")[0] for p in result.problems] == ["table b", "table c", "table d"]


def test_failover_needs_both_burn_windows_or_a_p99_breach() -> None:
    one_window = FailoverSignals(
        burn_long=20.0, burn_short=2.0, p99_short_ms=100, requests_short=500
    )
    assert not failover_decision(one_window, 14.4, 1000, "recommend", 100).failover
    both = FailoverSignals(burn_long=20.0, burn_short=30.0, p99_short_ms=100, requests_short=500)
    assert failover_decision(both, 14.4, 1000, "recommend", 100).failover
    slow = FailoverSignals(burn_long=0.0, burn_short=0.0, p99_short_ms=1500, requests_short=500)
    assert "p99 breach" in failover_decision(slow, 14.4, 1000, "trigger", 100).reasons[0]
    thin = FailoverSignals(burn_long=50.0, burn_short=50.0, p99_short_ms=5000, requests_short=3)
    assert not failover_decision(thin, 14.4, 1000, "trigger", 100).failover


def test_breaker_opens_refuses_then_half_opens_after_the_cooldown(tmp_path: Path) -> None:
    now = [1000.0]
    store = BreakerStore(tmp_path / "breakers.json", clock=lambda: now[0])
    settings = BreakerSettings(failures=2, cooldown_s=30)
    calls = []

    def failing() -> None:
        calls.append(now[0])
        raise RuntimeError("down")

    for _ in range(2):
        with pytest.raises(RuntimeError):
            store.call("hook x", settings, failing)
    assert store.get("hook x").state == "open"
    with pytest.raises(BreakerOpenError, match="2 consecutive failures"):
        store.call("hook x", settings, failing)
    assert len(calls) == 2  # refused without calling
    now[0] += 31  # cool-down over: one half-open trial, which fails and re-opens at once
    with pytest.raises(RuntimeError):
        store.call("hook x", settings, failing)
    assert store.get("hook x").state == "open" and len(calls) == 3
    now[0] += 31
    assert store.call("hook x", settings, lambda: "ok") == "ok"
    state = store.get("hook x")
    assert state.state == "closed" and state.consecutive_failures == 0 and state.refused == 1
    # State is shared through the file: a second store (another process) sees it.
    assert BreakerStore(tmp_path / "breakers.json").get("hook x").state == "closed"
