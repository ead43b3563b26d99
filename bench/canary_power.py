"""Canary judge power and false-fail rate, ecoperf vs Kayenta's plain method.

Simulated lognormal latency (sigma 0.5, median 1), one continuous metric, direction "increase":

* A/A: both sides from the same distribution, 200 samples per side -> false-fail rate;
* median shift: canary multiplied by 1.10, 1,000 (and 500) samples per side -> detection rate;
* tail-only regressions at 500 samples per side (median unchanged, p99 +50%), two models:
  ``stretch``: canary quantile function = baseline's times a factor rising (log-linearly) from 1
  at p90 to 1.5 at p99 and staying 1.5 above (p95 +25%, p99 +50%);
  ``slowpath``: 2% of canary requests are 4.5x slower (p95 +10%, p99 +48%, median +1%).

"Detected" means the run verdict is ``fail`` (the same rule for both judges).
Prints ``name: value`` lines.  Usage: python bench/canary_power.py [--trials 1000] [--seed 7]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ecoperf_core.stats.canary import MetricSpec, judge_canary, kayenta_judge

SIGMA = 0.5
SPEC = [MetricSpec("latency", direction="increase")]


def baseline_draw(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.lognormal(0.0, SIGMA, n)


def stretch_draw(rng: np.random.Generator, n: int) -> np.ndarray:
    u = rng.random(n)
    factor = np.exp(np.log(1.5) * np.clip((u - 0.9) / 0.09, 0.0, 1.0))
    return np.exp(SIGMA * stats.norm.ppf(u)) * factor


def slowpath_draw(rng: np.random.Generator, n: int) -> np.ndarray:
    x = rng.lognormal(0.0, SIGMA, n)
    x[rng.random(n) < 0.02] *= 4.5
    return x


def rates(
    rng: np.random.Generator,
    trials: int,
    n: int,
    canary: Callable[[np.random.Generator, int], np.ndarray],
) -> tuple[float, float]:
    eco = kay = 0
    for _ in range(trials):
        b = {"latency": baseline_draw(rng, n)}
        c = {"latency": canary(rng, n)}
        eco += judge_canary(SPEC, b, c).verdict == "fail"
        kay += kayenta_judge(SPEC, b, c).verdict == "fail"
    return eco / trials, kay / trials


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--trials", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    t0 = time.perf_counter()
    cases = [
        ("aa_false_fail_rate_200", 200, baseline_draw),
        ("median_shift_10pct_detection_1000", 1000, lambda r, n: baseline_draw(r, n) * 1.10),
        ("median_shift_10pct_detection_500", 500, lambda r, n: baseline_draw(r, n) * 1.10),
        ("tail_p99_50pct_stretch_detection_500", 500, stretch_draw),
        ("tail_p99_50pct_slowpath_detection_500", 500, slowpath_draw),
    ]
    print(f"trials: {args.trials}")
    for name, n, draw in cases:
        eco, kay = rates(rng, args.trials, n, draw)
        print(f"ecoperf_{name}: {eco:.4f}")
        print(f"kayenta_{name}: {kay:.4f}")
    print(f"elapsed_s: {time.perf_counter() - t0:.1f}")


if __name__ == "__main__":
    main()
