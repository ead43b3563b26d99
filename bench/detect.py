"""Change-point benchmark: ecoperf vs Apache Otava's E-Divisive, on the same series.

* timing: 10,000 series x 1,000 points (half pure Gaussian noise, half with one +10% shift at a
  random position in [100, 900); level 100, noise sd 5 = 5% of level). ecoperf runs all of them;
  Otava (``otava.analysis.compute_change_points(series, window_len=50, max_pvalue=0.001)``) runs
  the first ``--otava-series`` of them (default 1,000, i.e. 500 noise + 500 shifted in the same
  mix) and its time is scaled per series to 10,000 — said in the output;
* false change points per 10,000 pure-noise points (noise half of the timed series);
* detection rate of a +10% shift with 50 points each side (``--shift-trials`` series of 100
  points; found = a change point within 5 points of the true one).

Otava pins numpy 2.2 / scipy < 1.17, so it runs in its own venv (``bench/.venv-otava``, created
on first use with ``python -m venv`` + ``pip install apache-otava==0.8.0``) as a subprocess on
series saved to a temporary .npy file. Prints ``name: value`` lines, the last one ``ratio: X``
(ecoperf time / Otava time for the same number of series).

Usage: python bench/detect.py [--series 10000] [--otava-series 1000] [--shift-trials 1000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ecoperf_core.stats.changepoint import detect_change_points  # noqa: E402

VENV = ROOT / "bench" / ".venv-otava"

OTAVA_RUNNER = r"""
import json, sys, time
import numpy as np
from otava.analysis import compute_change_points

series = np.load(sys.argv[1])
noise_flags = np.load(sys.argv[2])
shift = np.load(sys.argv[3])
out = {"n": int(series.shape[0])}
t0 = time.perf_counter()
found = [[cp.index for cp in compute_change_points(s.tolist(), window_len=50, max_pvalue=0.001)[0]]
         for s in series]
out["seconds"] = time.perf_counter() - t0
out["noise_points"] = int(noise_flags.sum() * series.shape[1])
out["noise_cps"] = int(sum(len(f) for f, z in zip(found, noise_flags) if z))
hits = 0
for s in shift:
    cps = compute_change_points(s.tolist(), window_len=50, max_pvalue=0.001)[0]
    hits += any(abs(cp.index - 50) <= 5 for cp in cps)
out["shift_hits"] = hits
out["shift_trials"] = int(shift.shape[0])
print(json.dumps(out))
"""


def ensure_otava() -> Path:
    """Create the Otava venv on first use; return its python."""
    py = VENV / "bin" / "python"
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", "apache-otava==0.8.0"], check=True)
    return py


def make_series(n_series: int, n_points: int, rng: np.random.Generator) -> tuple:
    x = 100.0 + 5.0 * rng.standard_normal((n_series, n_points))
    noise = np.arange(n_series) % 2 == 0
    pos = rng.integers(100, n_points - 100, n_series)
    for i in np.flatnonzero(~noise):
        x[i, pos[i] :] += 10.0
    return x, noise, pos


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--series", type=int, default=10_000)
    ap.add_argument("--points", type=int, default=1_000)
    ap.add_argument("--otava-series", type=int, default=1_000)
    ap.add_argument("--shift-trials", type=int, default=1_000)
    ap.add_argument("--seed", type=int, default=11)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    series, noise, pos = make_series(args.series, args.points, rng)
    shift = 100.0 + 5.0 * rng.standard_normal((args.shift_trials, 100))
    shift[:, 50:] += 10.0

    t0 = time.perf_counter()
    found = [detect_change_points(s) for s in series]
    eco_s = time.perf_counter() - t0
    noise_pts = int(noise.sum()) * args.points
    eco_fp = sum(len(f) for f, z in zip(found, noise, strict=True) if z)
    eco_loc = [
        any(abs(c.index - p) <= 5 for c in f)
        for f, z, p in zip(found, noise, pos, strict=True)
        if not z
    ]
    eco_hits = sum(any(abs(c.index - 50) <= 5 for c in detect_change_points(s)) for s in shift)

    py = ensure_otava()
    k = min(args.otava_series, args.series)
    with tempfile.TemporaryDirectory() as tmp:
        paths = [Path(tmp) / f for f in ("series.npy", "noise.npy", "shift.npy", "run.py")]
        np.save(paths[0], series[:k])
        np.save(paths[1], noise[:k])
        np.save(paths[2], shift)
        paths[3].write_text(OTAVA_RUNNER)
        proc = subprocess.run(
            [str(py), str(paths[3]), *map(str, paths[:3])],
            capture_output=True,
            text=True,
            check=True,
        )
    ot = json.loads(proc.stdout.strip().splitlines()[-1])
    ot_per = ot["seconds"] / ot["n"]
    ot_total = ot_per * args.series
    print(f"series: {args.series}")
    print(f"points_per_series: {args.points}")
    print(f"ecoperf_seconds: {eco_s:.2f}")
    print(f"ecoperf_ms_per_series: {1e3 * eco_s / args.series:.3f}")
    print(f"otava_series_timed: {ot['n']}")
    print(f"otava_seconds_measured: {ot['seconds']:.2f}")
    scaled = "scaled per series from the subset" if ot["n"] < args.series else "measured"
    print(f"otava_seconds_for_{args.series}: {ot_total:.2f} ({scaled})")
    print(f"otava_ms_per_series: {1e3 * ot_per:.3f}")
    print(f"ecoperf_false_cps_per_10k_noise_points: {1e4 * eco_fp / noise_pts:.3f}")
    print(f"ecoperf_noise_points: {noise_pts}")
    print(f"otava_false_cps_per_10k_noise_points: {1e4 * ot['noise_cps'] / ot['noise_points']:.3f}")
    print(f"otava_noise_points: {ot['noise_points']}")
    print(f"ecoperf_shift_located_in_1000pt_series: {np.mean(eco_loc):.4f}")
    print(f"ecoperf_shift10_detection_50_each_side: {eco_hits / args.shift_trials:.4f}")
    print(f"otava_shift10_detection_50_each_side: {ot['shift_hits'] / ot['shift_trials']:.4f}")
    print(f"ratio: {eco_s / ot_total:.4f}")


if __name__ == "__main__":
    main()
