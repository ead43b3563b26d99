"""NAB scores: verify the scorer on NAB's reference results, then score ecoperf's detector.

Prints ``name: value`` lines: the reference detectors' normalised scores (to compare with the
table in ../shared/data/README.md) and ecoperf's score overall, per folder and per profile,
both at NAB's optimised threshold (``ecoperf_<profile>...``, how NAB reports every detector) and
at the detector's own default threshold (``ecoperf_default_<profile>...``), plus the time per
point of the streaming detector (one global configuration, no per-file parameters).
Usage: python bench/nab_score.py [--nab ../shared/data/nab]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ecoperf_core.stats.anomaly import AnomalyDetector, score_series
from ecoperf_core.stats.nab import (
    PROFILES,
    load_corpus,
    read_nab_csv,
    read_windows,
    score_corpus,
)

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "data" / "nab"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--nab", type=Path, default=DEFAULT)
    args = ap.parse_args()
    if not (args.nab / "labels" / "combined_windows.json").exists():
        print(f"error: NAB data not found under {args.nab}")
        raise SystemExit(2)
    for det in ("numenta", "twitterADVec"):
        if (args.nab / "reference_results" / det).exists():
            files = load_corpus(args.nab, detector=det)
            for prof in PROFILES:
                r = score_corpus(files, prof)
                print(f"reference_{det}_{prof}: {r.score:.2f}")
            print(f"reference_{det}_threshold_standard: {score_corpus(files).threshold:.6f}")
    t0 = time.perf_counter()
    scores = {}
    n_rows = 0
    for name in read_windows(args.nab / "labels" / "combined_windows.json"):
        ts, vals = read_nab_csv(args.nab / "data" / name)
        scores[name] = score_series(vals, ts)
        n_rows += vals.size
    elapsed = time.perf_counter() - t0
    files = load_corpus(args.nab, scores=scores)
    default_th = AnomalyDetector().threshold
    for tag, th in (("", None), ("default_", default_th)):
        for prof in PROFILES:
            r = score_corpus(files, prof, threshold=th)
            print(f"ecoperf_{tag}{prof}: {r.score:.2f}")
            print(f"ecoperf_{tag}{prof}_threshold: {r.threshold:.6f}")
            for folder, value in r.per_folder.items():
                label = "raw" if folder == "artificialNoAnomaly" else "normalised"
                print(f"ecoperf_{tag}{prof}_{folder}_{label}: {value:.2f}")
    print(f"ecoperf_rows_scored: {n_rows}")
    print(f"ecoperf_us_per_point: {1e6 * elapsed / n_rows:.1f}")


if __name__ == "__main__":
    main()
