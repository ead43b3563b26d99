"""Root-cause ranking: the demo's injected cause ranks first for its incident; the ranking
prefers what moved before the incident over what moved after it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from ecoperf_core.cli.app import app
from ecoperf_core.demo import INCIDENTS
from ecoperf_core.service import Ecoperf
from ecoperf_core.stats.rootcause import rank_suspects
from tests.evaluation.demo_warehouse import demo_home


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    target = demo_home(tmp_path_factory.mktemp("why-home"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ECOPERF_HOME", str(target))
        yield target


def test_the_demos_injected_cause_ranks_first_for_its_incident(home: Path) -> None:
    incident = INCIDENTS["degrading_node"]
    cause = incident["cause"]
    assert isinstance(cause, dict)
    result = Ecoperf().why(str(incident["entity"]), incident["starts"].replace(tzinfo=None))  # type: ignore[union-attr]
    found = result["incident"]
    assert (found["entity"], found["metric"], found["source"]) == (
        "node-17", "latency_p95", "detection:changepoint",
    )  # fmt: skip
    first, second = result["suspects"][:2]
    assert (first["entity"], first["metric"]) == (cause["entity"], cause["metric"])
    ev = first["evidence"]
    cause_at = cause["starts"].replace(tzinfo=None)
    assert abs(np.datetime64(ev["changeAt"]) - np.datetime64(cause_at)) <= np.timedelta64(10, "m")
    assert ev["leadMinutes"] >= 20 and ev["relativeChange"] > 0.3 and ev["correlation"] > 0.5
    assert first["score"] > 1.5 * second["score"]  # a clear first, not a coin toss
    assert result["candidates"] > 300  # every entity's metrics were compared
    # The slow window's example traces: node-17's slowest spans, slowest first.
    examples = result["exampleTraces"]
    assert examples and [e["entityMs"] for e in examples] == sorted(
        (e["entityMs"] for e in examples), reverse=True
    )
    trace = Ecoperf().trace(examples[0]["traceId"])
    assert any(s["entity"] == "node-17" for s in _walk(trace["roots"]))
    assert trace["criticalPath"] and sum(s["durationMs"] for s in trace["criticalPath"]) == (
        pytest.approx(trace["durationMs"], abs=0.01)
    )


def _walk(nodes: list[dict]) -> Iterator[dict]:  # type: ignore[type-arg]
    for node in nodes:
        yield node
        yield from _walk(node["children"])


def test_why_command(home: Path) -> None:
    runner = CliRunner()
    out = runner.invoke(app, ["why", "node-17", "--at", "2026-11-29T06:00:00Z", "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["suspects"][0]["metric"] == "utilization"
    table = runner.invoke(app, ["why", "node-17", "--at", "2026-11-29T06:00"], terminal_width=150)
    assert (
        table.exit_code == 0 and "utilization" in table.output and "example trace" in table.output
    )
    assert runner.invoke(app, ["why", "node-17", "--at", "yesterday"]).exit_code == 2
    assert (
        runner.invoke(
            app, ["why", "node-17", "--at", "2026-11-29T06:00", "--metric", "x"]
        ).exit_code
        == 2
    )
    unknown = runner.invoke(app, ["why", "node-99", "--at", "2026-11-29T06:00"])
    assert unknown.exit_code == 3 and "node-99" in unknown.output


def test_ranking_prefers_the_earlier_mover() -> None:
    rng = np.random.default_rng(3)
    n, incident = 84, 72
    steps = np.arange(n)
    effect = 1.0 + 1.0 * (steps >= incident) + rng.normal(0, 0.05, n)
    cause = 0.5 + 0.3 * (steps >= incident - 6) + rng.normal(0, 0.02, n)
    follower = 2.0 + 1.0 * (steps >= incident + 6) + rng.normal(0, 0.05, n)
    noise = rng.normal(1.0, 0.05, n)
    ranked = rank_suspects(effect, {"noise": noise, "follower": follower, "cause": cause}, incident)
    assert ranked[0].key == "cause"
    by_key = {s.key: s for s in ranked}
    assert by_key["cause"].lead_steps == 6 and by_key["cause"].lag_steps == 6
    assert by_key["follower"].score < by_key["cause"].score
    assert by_key["noise"].change_index is None
    with pytest.raises(ValueError, match="length"):
        rank_suspects(effect, {"short": noise[:10]}, incident)
    assert timedelta(minutes=5 * by_key["cause"].lead_steps) == timedelta(minutes=30)
