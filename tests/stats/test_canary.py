"""Canary judge: statistics agree with scipy, verdict logic, calibration and power (small sims)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats

from ecoperf_core.stats.canary import (
    BinomialCounts,
    CanaryConfig,
    MetricSpec,
    hodges_lehmann,
    judge_canary,
    judge_canary_intervals,
    kayenta_classify,
    kayenta_judge,
    mann_whitney,
    weighted_holm,
)

LAT = [MetricSpec("latency", direction="increase")]


def _ln(rng: np.random.Generator, n: int, scale: float = 1.0) -> np.ndarray:
    return rng.lognormal(0.0, 0.5, n) * scale


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_u_statistic_and_p_value_agree_with_scipy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    b = np.round(_ln(rng, 120), 1)  # rounding creates ties
    c = np.round(_ln(rng, 90, 1.1), 1)
    mw = mann_whitney(b, c)
    for alt, mine in [
        ("two-sided", mw.p_two_sided),
        ("greater", mw.p_greater),
        ("less", mw.p_less),
    ]:
        ref = stats.mannwhitneyu(c, b, alternative=alt, method="asymptotic")
        assert mw.u == ref.statistic
        assert mine == pytest.approx(ref.pvalue, rel=1e-9)


def test_hodges_lehmann_matches_brute_force() -> None:
    rng = np.random.default_rng(3)
    b, c = _ln(rng, 71), _ln(rng, 64, 1.2)
    d = np.sort((c[:, None] - b[None, :]).ravel())
    hl = hodges_lehmann(b, c, 0.98)
    assert hl.estimate == pytest.approx(np.median(d), abs=1e-12)
    nm = d.size
    k = int(np.floor(nm / 2 - stats.norm.ppf(0.99) * np.sqrt(nm * (71 + 64 + 1) / 12)))
    assert hl.ci_low == pytest.approx(d[k - 1], abs=1e-12)
    assert hl.ci_high == pytest.approx(d[nm - k], abs=1e-12)


def test_weighted_holm_levels() -> None:
    # The strongest (relative to weight) is tested first at alpha*w, the rest re-share alpha.
    levels = weighted_holm([0.001, 0.004, 0.5], [0.8, 0.1, 0.1], 0.01)
    assert levels[0] == pytest.approx(0.008)
    assert levels[1] == pytest.approx(0.005)  # after the first rejection: 0.01 * 0.1/0.2
    assert levels[2] == pytest.approx(0.01)  # both rejected: the last one gets all of alpha
    assert weighted_holm([0.5, 0.5], [0.5, 0.5], 0.01) == pytest.approx([0.005, 0.005])


def test_median_shift_fails_with_evidence() -> None:
    rng = np.random.default_rng(4)
    v = judge_canary(LAT, {"latency": _ln(rng, 1000)}, {"latency": _ln(rng, 1000, 1.2)})
    assert v.verdict == "fail" and v.score == 0
    m = v.metric("latency")
    assert m.classification == "high"
    loc = m.tests[0]
    assert loc.name == "mann_whitney" and loc.failed and loc.p_value < 1e-6
    assert m.effect_size == pytest.approx(1.2, rel=0.05)
    assert m.ci_low > 0 and m.ci_low < m.estimate < m.ci_high
    payload = json.loads(json.dumps(v.to_dict()))
    assert payload["metrics"][0]["tests"][0]["detail"]["confidence"] == 0.98
    assert payload["metrics"][0]["n_baseline"] == 1000


def test_direction_is_respected() -> None:
    rng = np.random.default_rng(5)
    b, c = _ln(rng, 600), _ln(rng, 600, 0.8)  # canary is faster
    assert judge_canary(LAT, {"latency": b}, {"latency": c}).verdict == "pass"
    dec = [MetricSpec("latency", direction="decrease")]
    assert judge_canary(dec, {"latency": b}, {"latency": c}).verdict == "fail"
    either = [MetricSpec("latency", direction="either")]
    v = judge_canary(either, {"latency": b}, {"latency": c})
    assert v.verdict == "fail" and v.metrics[0].classification == "low"


def test_tail_only_regression_caught_where_kayenta_passes() -> None:
    rng = np.random.default_rng(6)
    b = _ln(rng, 2000)
    c = _ln(rng, 2000)
    c[c > np.quantile(c, 0.9)] *= 1.6  # p90+ slower by 60%, median unchanged
    v = judge_canary(LAT, {"latency": b}, {"latency": c})
    assert v.verdict == "fail"
    failed = [t.name for t in v.metrics[0].tests if t.failed]
    assert any(name.startswith("tail_rank_above") for name in failed)
    assert "mann_whitney" not in failed
    assert kayenta_judge(LAT, {"latency": b}, {"latency": c}).verdict == "pass"


def test_insufficient_data_is_never_a_pass() -> None:
    rng = np.random.default_rng(7)
    v = judge_canary(LAT, {"latency": _ln(rng, 49)}, {"latency": _ln(rng, 500)})
    assert v.verdict == "insufficient_data" and v.insufficient == ("latency",)
    v = judge_canary(LAT, {"latency": _ln(rng, 500)}, {})
    assert v.verdict == "insufficient_data"
    nan_heavy = np.full(100, np.nan)
    nan_heavy[:40] = 1.0
    v = judge_canary(LAT, {"latency": _ln(rng, 100)}, {"latency": nan_heavy})
    assert v.verdict == "insufficient_data" and v.metrics[0].n_dropped == 60


def test_critical_failure_fails_run_and_group_weights() -> None:
    rng = np.random.default_rng(8)
    specs = [
        MetricSpec("latency", group="perf"),
        MetricSpec("cpu", group="perf"),
        MetricSpec("mem", group="perf"),
        MetricSpec("errors", kind="binomial", critical=True, group="errors"),
    ]
    base = {"latency": _ln(rng, 400), "cpu": _ln(rng, 400), "mem": _ln(rng, 400)}
    can = {"latency": _ln(rng, 400), "cpu": _ln(rng, 400), "mem": _ln(rng, 400)}
    base["errors"] = BinomialCounts(10, 10_000)
    can["errors"] = BinomialCounts(40, 10_000)
    v = judge_canary(specs, base, can)
    assert v.verdict == "fail" and v.critical_failures == ("errors",)
    # Non-critical: one failing group of two, weights 3:1 -> score 75 -> fail (<= marginal)
    specs[3] = MetricSpec("errors", kind="binomial", group="errors")
    cfg = CanaryConfig(group_weights={"perf": 3.0, "errors": 1.0})
    v = judge_canary(specs, base, can, cfg)
    assert v.score == pytest.approx(75.0) and v.verdict == "fail"
    cfg = CanaryConfig(group_weights={"perf": 9.0, "errors": 1.0})
    v = judge_canary(specs, base, can, cfg)
    assert v.score == pytest.approx(90.0) and v.verdict == "marginal"


def test_zero_heavy_counts_where_kayenta_is_blind() -> None:
    rng = np.random.default_rng(9)
    base = (rng.random(300) < 0.02).astype(float)
    can = (rng.random(300) < 0.12).astype(float) * rng.integers(1, 4, 300)
    spec = [MetricSpec("errors_per_min", kind="count")]
    v = judge_canary(spec, {"errors_per_min": base}, {"errors_per_min": can})
    assert v.verdict == "fail"
    assert {t.name for t in v.metrics[0].tests} == {
        "mann_whitney",
        "fisher_nonzero",
        "quasi_poisson_rate",
    }
    assert kayenta_classify(base, can, "increase").classification == "Pass"  # HL shift is 0


def test_binomial_from_outcomes_and_gate() -> None:
    rng = np.random.default_rng(10)
    spec = [MetricSpec("ok", kind="binomial", direction="increase")]
    base = (rng.random(5000) < 0.01).astype(int)
    same = (rng.random(5000) < 0.01).astype(int)
    assert judge_canary(spec, {"ok": base}, {"ok": same}).verdict in ("pass",)
    with pytest.raises(ValueError):
        judge_canary(spec, {"ok": np.array([0.5] * 60)}, {"ok": same})


def test_identical_values_pass() -> None:
    v = judge_canary(LAT, {"latency": np.ones(100)}, {"latency": np.ones(100)})
    assert v.verdict == "pass"


def test_multi_interval_fails_fast() -> None:
    rng = np.random.default_rng(11)
    good = ({"latency": _ln(rng, 300)}, {"latency": _ln(rng, 300)})
    bad = ({"latency": _ln(rng, 300)}, {"latency": _ln(rng, 300, 1.5)})
    run = judge_canary_intervals(LAT, [good, bad, good])
    assert run.verdict == "fail" and run.stopped_early and len(run.intervals) == 2
    run = judge_canary_intervals(LAT, [good, good])
    assert run.verdict == "pass" and not run.stopped_early


def test_aa_false_fail_rate_is_low() -> None:
    """300 A/A comparisons at 200/side; alpha=0.01 -> expect ~3, fail above 9 (P < 0.002)."""
    rng = np.random.default_rng(12)
    fails = sum(
        judge_canary(LAT, {"latency": _ln(rng, 200)}, {"latency": _ln(rng, 200)}).verdict == "fail"
        for _ in range(300)
    )
    assert fails <= 9


def test_power_beats_kayenta_on_median_shift() -> None:
    """+10% median at 1,000/side: 60 trials; ecoperf ≥ 52 found (~96% expected)."""
    rng = np.random.default_rng(13)
    eco = kay = 0
    for _ in range(60):
        b = {"latency": _ln(rng, 1000)}
        c = {"latency": _ln(rng, 1000, 1.10)}
        eco += judge_canary(LAT, b, c).verdict == "fail"
        kay += kayenta_judge(LAT, b, c).verdict == "fail"
    assert eco >= 52
    assert eco >= kay
