"""Canary judge power and false-fail rate, ecoperf vs Kayenta's plain method.

One continuous metric, direction "increase", baseline lognormal latency (sigma 0.5, median 1)
unless said otherwise. "Detected" / "false fail" means the run verdict is ``fail`` (the same rule
for both judges). Cases:

* A/A, 200 samples per side, both sides from the same distribution -> false-fail rate, for
  ``lognormal``; ``pareto`` (classic Pareto, shape 1.5: infinite variance); ``bimodal`` (80%
  cache hits around 1, 20% misses around 4); ``int_ms`` (lognormal with median 20 rounded to
  whole milliseconds: ties); ``coarse`` (median 3 rounded: ~10 distinct values, heavy ties);
  ``lognormal_100v400`` (unequal sides, baseline 100 / canary 400) and ``lognormal_400v100``.
* median shift: canary multiplied by 1.10, 1,000 and 500 samples per side.
* tail-only regressions (median unchanged, p99 +50%), 500 samples per side:
  ``sigma`` (primary): the same lognormal median with a wider spread,
  sigma' = 0.5 + ln(1.5)/z_0.99 = 0.674, so p99 is exactly x1.5, p95 x1.31, p90 x1.25, median x1;
  ``stretch``: canary quantile function = baseline's times a factor rising log-linearly from 1
  at p90 to 1.5 at p99 and staying 1.5 above (p95 +25%, p99 +50%, everything below p90 equal);
  ``slowpath``: 2% of canary requests are 4.5x slower (p95 +10%, p99 +48%, median +1%).
* direction (must not fail; rates comparable to A/A or lower), 500 samples per side:
  ``better_tail``: sigma 0.4 instead of 0.5 (same median, p99 -21%); ``faster_body``: every
  request under 1.5 (~80% of them) 10% faster, the tail untouched.
* ``ms_per_judgement_1000``: one metric, 1,000 samples per side, mean wall time.
* ``--limits``: power at alpha 1% of a rank test built for each tail model's exact shape
  (scores = the model's log density ratio), an information limit at 500/side, not a judge.
* ``bound_*``: analytic ceiling for the +10% median shift at 1,000/side: no level-alpha test
  (not even a t-test on log latency, which knows the data are lognormal) has power above
  Phi(ln(1.1) / (0.5 sqrt(2/1000)) - z_alpha).

Prints ``name: value`` lines.  Usage: python bench/canary_power.py [--trials 1000] [--seed 7]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ecoperf_core.stats.canary import MetricSpec, judge_canary, kayenta_judge

SIGMA = 0.5
SIGMA_TAIL = SIGMA + math.log(1.5) / float(stats.norm.ppf(0.99))
SPEC = [MetricSpec("latency", direction="increase")]
Draw = Callable[[np.random.Generator, int], np.ndarray]


def lognormal(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.lognormal(0.0, SIGMA, n)


def pareto(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.pareto(1.5, n) + 1.0


def bimodal(rng: np.random.Generator, n: int) -> np.ndarray:
    miss = rng.random(n) < 0.2
    return np.where(miss, rng.lognormal(math.log(4.0), 0.3, n), rng.lognormal(0.0, 0.3, n))


def int_ms(rng: np.random.Generator, n: int) -> np.ndarray:
    return np.round(rng.lognormal(math.log(20.0), SIGMA, n))


def coarse(rng: np.random.Generator, n: int) -> np.ndarray:
    return np.round(rng.lognormal(math.log(3.0), SIGMA, n))


def shifted(rng: np.random.Generator, n: int) -> np.ndarray:
    return lognormal(rng, n) * 1.10


def sigma_tail(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.lognormal(0.0, SIGMA_TAIL, n)


def stretch(rng: np.random.Generator, n: int) -> np.ndarray:
    u = rng.random(n)
    factor = np.exp(np.log(1.5) * np.clip((u - 0.9) / 0.09, 0.0, 1.0))
    return np.exp(SIGMA * stats.norm.ppf(u)) * factor


def slowpath(rng: np.random.Generator, n: int) -> np.ndarray:
    x = rng.lognormal(0.0, SIGMA, n)
    x[rng.random(n) < 0.02] *= 4.5
    return x


def narrow_tail(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.lognormal(0.0, 0.4, n)


def faster_body(rng: np.random.Generator, n: int) -> np.ndarray:
    x = lognormal(rng, n)
    x[x < 1.5] *= 0.9
    return x


def rates(
    rng: np.random.Generator, trials: int, nb: int, nc: int, base: Draw, canary: Draw
) -> tuple[float, float]:
    eco = kay = 0
    for _ in range(trials):
        b = {"latency": base(rng, nb)}
        c = {"latency": canary(rng, nc)}
        eco += judge_canary(SPEC, b, c).verdict == "fail"
        kay += kayenta_judge(SPEC, b, c).verdict == "fail"
    return eco / trials, kay / trials


def timing(rng: np.random.Generator, reps: int = 50) -> tuple[float, float]:
    b = {"latency": lognormal(rng, 1000)}
    c = {"latency": lognormal(rng, 1000)}
    out = []
    for judge in (judge_canary, kayenta_judge):
        judge(SPEC, b, c)
        t0 = time.perf_counter()
        for _ in range(reps):
            judge(SPEC, b, c)
        out.append((time.perf_counter() - t0) / reps * 1e3)
    return out[0], out[1]


def _log_density_ratio(model: str) -> Callable[[np.ndarray], np.ndarray]:
    """log(canary density / baseline density) at latency ``y`` for a tail model (exact)."""

    def log_f_base(y: np.ndarray) -> np.ndarray:
        return stats.norm.logpdf(np.log(y) / SIGMA) - np.log(SIGMA * y)

    if model == "sigma":
        return lambda y: (
            stats.norm.logpdf(np.log(y) / SIGMA_TAIL) - np.log(SIGMA_TAIL * y) - log_f_base(y)
        )
    if model == "slowpath":
        return lambda y: (
            np.log(0.98 * np.exp(log_f_base(y)) + 0.02 * np.exp(log_f_base(y / 4.5)) / 4.5)
            - log_f_base(y)
        )
    grid = np.linspace(1e-7, 1 - 1e-7, 400_001)
    y_grid = np.exp(SIGMA * stats.norm.ppf(grid) + np.log(1.5) * np.clip((grid - 0.9) / 0.09, 0, 1))
    dy = np.gradient(y_grid, grid)
    return lambda y: -np.log(np.interp(np.interp(y, y_grid, grid), grid, dy)) - log_f_base(y)


def shape_oracle_power(
    rng: np.random.Generator, model: str, draw: Draw, trials: int, alpha: float = 0.01
) -> float:
    """Power of the rank test whose scores are the model's exact log density ratio.

    This test is told the exact shape of the regression in advance and spends all of alpha on
    it (no family, no direction safety), so no two-sample rank judge can do much better on that
    shape: it is an information limit for 500 samples per side, not a competitor.
    """
    llr = _log_density_ratio(model)
    n = 500
    u = np.arange(1, 2 * n + 1) / (2 * n + 1)
    scores = llr(np.exp(SIGMA * stats.norm.ppf(u)))
    centred = scores - scores.mean()
    sd = math.sqrt(n * n / (2 * n * (2 * n - 1)) * float(centred @ centred))
    crit = float(stats.norm.isf(alpha))
    hits = 0
    for _ in range(trials):
        pooled = np.concatenate([lognormal(rng, n), draw(rng, n)])
        ranks = np.argsort(np.argsort(pooled))
        hits += float(centred[ranks[n:]].sum()) / sd > crit
    return hits / trials


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--trials", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument(
        "--aa-trials", type=int, default=None, help="trials for the must-not-fail cases"
    )
    ap.add_argument(
        "--limits", action="store_true", help="only the shape-oracle information limits"
    )
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    t0 = time.perf_counter()
    if args.limits:
        print(f"trials: {args.trials}")
        for model, draw in (("sigma", sigma_tail), ("stretch", stretch), ("slowpath", slowpath)):
            power = shape_oracle_power(rng, model, draw, args.trials)
            print(f"limit_shape_oracle_rank_test_{model}_500_alpha_0.01: {power:.4f}")
        print(f"elapsed_s: {time.perf_counter() - t0:.1f}")
        return
    cases: list[tuple[str, int, int, Draw, Draw]] = [
        ("aa_false_fail_lognormal_200", 200, 200, lognormal, lognormal),
        ("aa_false_fail_pareto_200", 200, 200, pareto, pareto),
        ("aa_false_fail_bimodal_200", 200, 200, bimodal, bimodal),
        ("aa_false_fail_int_ms_200", 200, 200, int_ms, int_ms),
        ("aa_false_fail_coarse_200", 200, 200, coarse, coarse),
        ("aa_false_fail_lognormal_100v400", 100, 400, lognormal, lognormal),
        ("aa_false_fail_lognormal_400v100", 400, 100, lognormal, lognormal),
        ("median_shift_10pct_detection_1000", 1000, 1000, lognormal, shifted),
        ("median_shift_10pct_detection_500", 500, 500, lognormal, shifted),
        ("tail_p99_50pct_sigma_detection_500", 500, 500, lognormal, sigma_tail),
        ("tail_p99_50pct_stretch_detection_500", 500, 500, lognormal, stretch),
        ("tail_p99_50pct_slowpath_detection_500", 500, 500, lognormal, slowpath),
        ("better_tail_false_fail_500", 500, 500, lognormal, narrow_tail),
        ("faster_body_false_fail_500", 500, 500, lognormal, faster_body),
    ]
    aa_trials = args.aa_trials or args.trials
    print(f"trials: {args.trials}")
    print(f"aa_trials: {aa_trials}")
    for name, nb, nc, base, draw in cases:
        trials = aa_trials if "false_fail" in name else args.trials
        eco, kay = rates(rng, trials, nb, nc, base, draw)
        print(f"ecoperf_{name}: {eco:.4f}")
        print(f"kayenta_{name}: {kay:.4f}")
    eco_ms, kay_ms = timing(rng)
    print(f"ecoperf_ms_per_judgement_1000: {eco_ms:.2f}")
    print(f"kayenta_ms_per_judgement_1000: {kay_ms:.2f}")
    z_shift = math.log(1.1) / (SIGMA * math.sqrt(2.0 / 1000))
    for alpha in (0.01, 0.005, 0.002):
        bound = float(stats.norm.cdf(z_shift - stats.norm.isf(alpha)))
        print(f"bound_median_shift_10pct_1000_alpha_{alpha:g}: {bound:.4f}")
    print(f"elapsed_s: {time.perf_counter() - t0:.1f}")


if __name__ == "__main__":
    main()
