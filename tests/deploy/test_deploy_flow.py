"""The deploy flow end to end: real Prefect flow runs over generated warehouse data, hooks on a
real HTTP receiver on 127.0.0.1, every interval's verdict stored, the report an artifact."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.deploy.scenario import receiver, scenario_home


@pytest.fixture
def home(eco_home: Path) -> Path:
    return scenario_home(eco_home)


def _deploy(candidate: str, hooks: dict[str, str], **kwargs: Any) -> dict[str, Any]:
    from flows.deploy import deploy_flow

    return deploy_flow(deployment=candidate, baseline="v1.0", hooks=hooks, **kwargs)


def _rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _artifact(key: str) -> str | None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    async def read() -> str | None:
        async with get_client() as client:
            found = await client.read_artifacts(
                artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key]))
            )
        return str(found[0].data) if found else None

    return asyncio.run(read())


def test_healthy_candidate_reaches_full_traffic_with_one_traffic_call_per_step(
    prefect_runtime: None, home: Path
) -> None:
    with receiver() as r:
        run = _deploy("v1.1-good", r.hooks())
        assert run["outcome"] == "promoted" and run["finalTraffic"] == 100.0
        assert [b["trafficPercent"] for b in r.paths("/traffic")] == [5, 25, 50, 100]
        assert len(r.paths("/switch")) == 1 and r.paths("/rollback") == []
        # Every call carries its decision key, also as the Idempotency-Key header.
        keys = [h["Idempotency-Key"] for _, _, h in r.calls]
        assert len(set(keys)) == len(keys) == 5
        # The gate ran first, in staging, and passed.
        assert run["gate"]["environment"] == "staging" and run["gate"]["passed"] is True

        # Re-running the same deployment over the same data calls nothing again.
        again = _deploy("v1.1-good", r.hooks())
        assert again["reused"] is True and again["outcome"] == "promoted"
        assert len(r.calls) == 5

    db = home / "ecoperf.duckdb"
    intervals = _rows(
        db,
        f"SELECT traffic, verdict, action, samples, metrics FROM deploy_intervals "
        f"WHERE run_key = '{run['runKey']}' ORDER BY seq",
    )
    assert [(t, v, a) for t, v, a, _, _ in intervals] == [
        (5.0, "pass", "advance"),
        (25.0, "pass", "advance"),
        (50.0, "pass", "promote"),
    ]
    for *_, samples, metrics in intervals:
        assert min(json.loads(samples).values()) >= 50  # judged on real samples
        assert {m["name"] for m in json.loads(metrics)} == {"latency_ms", "errors"}
    # Each traffic change is a decision with an outbox event.
    events = _rows(
        db,
        "SELECT json_extract_string(data, '$.outcome') FROM outbox "
        "WHERE event_type = 'deploy_update' ORDER BY seq",
    )
    assert [e[0] for e in events] == ["traffic_5", "traffic_25", "traffic_50", "promoted"]
    assert _rows(db, "SELECT count(*) FROM hook_calls WHERE status = 'delivered'") == [(5,)]
    report = _artifact(f"deploy-{run['runKey']}")
    assert report is not None and "| 3 | 50%" in report and "promote" in report


def test_regressing_candidate_is_rolled_back_at_the_first_failing_step(
    prefect_runtime: None, home: Path
) -> None:
    with receiver() as r:
        run = _deploy("v1.1-bad", r.hooks())
        assert run["outcome"] == "rolled_back" and run["finalTraffic"] == 0.0
        assert len(r.paths("/rollback")) == 1
        assert [b["trafficPercent"] for b in r.paths("/traffic")] == [5]
        assert r.paths("/switch") == []
        rollback = r.paths("/rollback")[0]
        assert rollback["verdict"] == "fail" and "latency_ms" in rollback["reason"]
    assert [(i["traffic"], i["verdict"], i["action"]) for i in run["intervals"]] == [
        (5.0, "fail", "rollback")
    ]
    stored = _rows(
        home / "ecoperf.duckdb",
        f"SELECT outcome, reason FROM deploy_runs WHERE run_key = '{run['runKey']}'",
    )
    assert stored[0][0] == "rolled_back" and "failed at 5%" in stored[0][1]


def test_candidate_with_too_few_samples_is_never_promoted(
    prefect_runtime: None, home: Path
) -> None:
    with receiver() as r:
        run = _deploy("v1.1-thin", r.hooks())
        assert r.paths("/switch") == []
        assert [b["trafficPercent"] for b in r.paths("/traffic")] == [5]
    verdicts = [i["verdict"] for i in run["intervals"]]
    assert verdicts == ["insufficient_data"] * 4  # first judgement + 3 extensions
    assert [i["action"] for i in run["intervals"]] == ["extend"] * 3 + ["rollback"]
    # Each extension judges a longer window of the same step.
    spans = [(i["from"], i["to"]) for i in run["intervals"]]
    assert len({f for f, _ in spans}) == 1 and len({t for _, t in spans}) == 4
    assert run["outcome"] == "rolled_back" and "never promoted" in run["reason"]


def test_hold_policy_keeps_an_unproven_candidate_where_it_is(home: Path) -> None:
    from ecoperf_core.policy import DEFAULT_POLICY
    from ecoperf_core.service import Ecoperf

    policy = DEFAULT_POLICY.normalised()
    policy["deploy"]["on_exhausted"] = "hold"
    policy["deploy"]["max_extensions"] = 1
    with receiver() as r:
        run = Ecoperf().deploy("v1.1-thin", "v1.0", hooks=r.hooks(), policy=policy)
        assert run.outcome == "held" and run.final_traffic == 5.0
        assert r.paths("/rollback") == [] and r.paths("/switch") == []
    assert run.exit_code == 4


def test_gate_failure_blocks_before_any_traffic_moves(prefect_runtime: None, home: Path) -> None:
    with receiver() as r:
        run = _deploy("v1.2-gate", r.hooks())
        assert r.calls == []
    assert run["outcome"] == "blocked" and run["intervals"] == []
    assert "p95_latency_degradation" in run["reason"]


def test_blue_green_switches_only_after_green_passes_the_gates(home: Path, tmp_path: Path) -> None:
    from ecoperf_core.service import Ecoperf

    # The switch hook is a command given the decision as JSON on stdin.
    seen = tmp_path / "switch.jsonl"
    script = f"import sys; open({str(seen)!r}, 'a').write(sys.stdin.read() + '\\n')"
    command = f"{sys.executable} -c {json.dumps(script)}"
    with receiver() as r:
        hooks = r.hooks() | {"switch": command}
        bad = Ecoperf().deploy("v1.1-bad", "v1.0", strategy="blue-green", hooks=hooks)
        assert bad.outcome == "blocked" and not seen.exists() and r.calls == []
        assert "error_rate_increase" in bad.reason and "p95_latency_degradation" in bad.reason
        good = Ecoperf().deploy("v1.1-good", "v1.0", strategy="blue-green", hooks=hooks)
        assert good.outcome == "switched" and r.calls == []
    lines = seen.read_text().splitlines()
    assert len(lines) == 1
    assert json.loads(lines[0])["action"] == "switch"
    stored = _rows(
        home / "ecoperf.duckdb",
        "SELECT outcome, reason FROM deploy_runs WHERE strategy = 'blue-green' ORDER BY outcome",
    )
    assert [o for o, _ in stored] == ["blocked", "switched"]
    assert "green failed validation" in stored[0][1]


def test_failing_hook_opens_its_breaker_and_the_flow_reports_it(
    prefect_runtime: None, home: Path
) -> None:
    from ecoperf_core.service import Ecoperf

    policy = {"hooks": {"attempts": 3, "retry_delay_s": 0.05, "breaker_failures": 3}}
    with receiver() as r:
        r.status = 500
        started = time.monotonic()
        run = _deploy("v1.1-good", r.hooks(), policy=policy)
        assert time.monotonic() - started < 30
        assert run["outcome"] == "halted"
        assert "breaker" in run["reason"] and "HTTP 500" in run["reason"]
        assert len(r.paths("/traffic")) == 3  # three tries, then the breaker opened
        assert run["intervals"] == []  # nothing judged as if traffic had moved

        breakers = Ecoperf().status()["breakers"]
        traffic = breakers[f"traffic {r.url}/traffic"]
        assert traffic["state"] == "open" and traffic["consecutive_failures"] == 3

        # Again at once: the open breaker refuses without calling the receiver.
        again = _deploy("v1.1-good", r.hooks(), policy=policy)
        assert again["outcome"] == "halted" and "circuit breaker open" in again["reason"]
        assert len(r.paths("/traffic")) == 3

    from typer.testing import CliRunner

    from ecoperf_core.cli.app import app

    shown = CliRunner().invoke(app, ["status"], terminal_width=200)
    assert shown.exit_code == 0 and "breaker traffic" in shown.output and "open" in shown.output


def test_a_halted_run_resumes_without_calling_a_delivered_hook_again(home: Path) -> None:
    from ecoperf_core.service import Ecoperf

    policy = {"hooks": {"attempts": 2, "retry_delay_s": 0.01, "breaker_cooldown_s": 0.0}}
    with receiver() as r:
        r.failing_paths = {"/rollback"}
        first = Ecoperf().deploy("v1.1-bad", "v1.0", hooks=r.hooks(), policy=policy)
        assert first.outcome == "halted" and "rollback hook not delivered" in first.reason
        assert len(r.paths("/traffic")) == 1 and len(r.paths("/rollback")) == 2
        r.failing_paths = set()
        resumed = Ecoperf().deploy("v1.1-bad", "v1.0", hooks=r.hooks(), policy=policy)
        assert resumed.outcome == "rolled_back" and not resumed.reused
        assert [h.status for h in resumed.hook_calls("traffic")] == ["already_delivered"]
        assert len(r.paths("/traffic")) == 1  # the 5% call was not repeated
        assert len(r.paths("/rollback")) == 3  # the failed rollback was delivered on resume
        assert {b["callKey"] for b in r.paths("/rollback")} == {f"{first.run_key}-01:rollback"}


def test_live_mode_waits_for_each_interval_to_fill(home: Path) -> None:
    from datetime import timedelta

    from ecoperf_core.deploy.clock import LiveClock
    from ecoperf_core.errors import TransientError
    from ecoperf_core.service import Ecoperf
    from tests.deploy.scenario import T0

    fake_now = [T0 + timedelta(seconds=1)]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        fake_now[0] += timedelta(seconds=seconds)

    clock = LiveClock(grace_s=5, max_wait_s=3600, sleep=sleep, now=lambda: fake_now[0])
    run = Ecoperf().deploy(
        "v1.1-good", "v1.0", mode="live", steps=[20, 100], interval="5m", clock=clock
    )
    assert run.outcome == "promoted" and run.started_from == T0 + timedelta(seconds=1)
    # It waited the interval plus the grace before judging (in steps of at most 1 s).
    assert abs(sum(slept) - 305) < 1e-6 and max(slept) <= 1.0
    far = LiveClock(max_wait_s=60, sleep=sleep, now=lambda: T0)
    with pytest.raises(TransientError, match="wait bound"):
        far.wait_until(T0 + timedelta(hours=2))


def test_shadow_mode_decides_and_logs_but_calls_no_hook(home: Path) -> None:
    from ecoperf_core.service import Ecoperf

    with receiver() as r:
        run = Ecoperf().deploy(
            "v1.1-bad", "v1.0", hooks=r.hooks(), policy={"deploy": {"shadow": True}}
        )
        assert r.calls == []
    assert run.outcome == "rolled_back"
    assert {h.status for h in run.hooks} == {"shadow"}
    shadow = _rows(
        home / "ecoperf.duckdb", "SELECT bool_and(shadow) FROM decisions WHERE engine = 'deploy'"
    )
    assert shadow == [(True,)]


def test_deploy_is_an_on_demand_prefect_deployment_and_the_drill_is_weekly(
    prefect_runtime: None, eco_home: Path
) -> None:
    from prefect.client.orchestration import get_client

    from flows.deployments import build_deployments, on_demand_deployments

    (deploy,) = on_demand_deployments()
    drill = {d.name: d for d in build_deployments()}["drill-dr"]

    async def apply() -> dict[str, Any]:
        stored = {}
        async with get_client() as client:
            for deployment in (deploy, drill):
                stored[deployment.name] = await client.read_deployment(await deployment.aapply())
        return stored

    stored = asyncio.run(apply())
    assert stored["deploy"].schedules == []
    parameters = stored["deploy"].parameter_openapi_schema["properties"]
    assert {"deployment", "baseline", "steps", "interval", "hooks"} <= set(parameters)
    assert [s.schedule.cron for s in stored["drill-dr"].schedules] == ["0 3 * * 1"]
    assert stored["drill-dr"].parameters == {"environment": "dr"}


def test_marginal_pauses_and_re_judges_without_aborting(home: Path) -> None:
    """With a judge whose marginal band is 40-95, errors failing and latency passing scores 50:
    marginal. The step pauses (no hook, no abort) and is re-judged on a longer window; when it
    stays marginal past ``max_pauses`` the run rolls back, never promotes."""
    from ecoperf_core.deploy.runner import DeployRunner
    from ecoperf_core.policy import policy_from_mapping
    from ecoperf_core.stats.canary import CanaryConfig

    policy = policy_from_mapping({"deploy": {"max_pauses": 2}})
    runner = DeployRunner(
        home / "ecoperf.duckdb", home, policy, canary_config=CanaryConfig(marginal_threshold=40)
    )
    with receiver() as r:
        run = runner.run("v1.1-errors", "v1.0", hooks=r.hooks())
        assert [b["trafficPercent"] for b in r.paths("/traffic")] == [5]
        assert len(r.paths("/rollback")) == 1 and r.paths("/switch") == []
    assert [(i.verdict, i.score, i.action) for i in run.intervals] == [
        ("marginal", 50.0, "pause"),
        ("marginal", 50.0, "pause"),
        ("marginal", 50.0, "rollback"),
    ]
    ends = [i.window_to - i.window_from for i in run.intervals]
    assert [e.total_seconds() for e in ends] == [600, 1200, 1800]
    assert "still marginal after 2 pauses" in run.reason


def test_a_hook_endpoint_that_never_answers_times_out_and_opens_its_breaker(
    home: Path,
) -> None:
    import socket

    from ecoperf_core.service import Ecoperf

    # Listens (connections complete in the backlog) but never reads or answers.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    url = f"http://127.0.0.1:{silent.getsockname()[1]}/traffic"
    policy = {"hooks": {"timeout_s": 0.3, "attempts": 3, "retry_delay_s": 0.0}}
    try:
        started = time.monotonic()
        run = Ecoperf().deploy("v1.1-good", "v1.0", hooks={"traffic": url}, policy=policy)
        elapsed = time.monotonic() - started
    finally:
        silent.close()
    assert run.outcome == "halted" and "Timeout" in run.reason and "breaker" in run.reason
    assert elapsed < 10
    (call,) = run.hook_calls("traffic")
    assert call.status == "breaker_open" and call.attempts == 3
