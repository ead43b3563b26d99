"""A NAB-style scorer (Numenta Anomaly Benchmark v1.1 rules), to measure anomaly detectors.

Why this exists: NAB is the public yardstick for streaming anomaly detection. Reproducing its
scorer (and checking it against NAB's own published numbers on the same files) lets us compare
our detector with published ones. The rules, as in NAB's ``sweeper.py``:

* the first 15% of each file (at most 750 rows) is probation: nothing there is scored;
* a row inside a labelled window scores ``tp·S(p)/S(-1)`` where ``S(p) = 2·sigmoid(-5p) - 1``
  and ``p = -(right - i + 1)/width`` is its position in the window (-1 at the start, ~0 at the
  end); only the best (earliest) detection per window counts; an undetected window costs
  ``-fn``;
* a row outside windows costs ``fp·S(p)`` with ``p`` its distance past the previous window's
  end relative to that window's width (``-fp`` before any window), so a late detection just
  after a window is penalised little;
* the threshold is optimised over all distinct scores (exact sweep, like NAB's sweeper), and
  the result normalised as ``100·(raw - null)/(perfect - null)`` where null = no detections
  (``-fn`` per window) and perfect = ``tp`` per window.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ecoperf_core.stats._util import Jsonable

__all__ = [
    "PROFILES",
    "FileSweep",
    "NabProfile",
    "NabResult",
    "load_corpus",
    "prepare_file",
    "probation_length",
    "read_nab_csv",
    "read_windows",
    "scaled_sigmoid",
    "score_corpus",
]


@dataclass(frozen=True)
class NabProfile(Jsonable):
    """Cost weights of one NAB application profile."""

    name: str
    tp: float
    fp: float
    fn: float


PROFILES: dict[str, NabProfile] = {
    "standard": NabProfile("standard", 1.0, 0.11, 1.0),
    "reward_low_FP": NabProfile("reward_low_FP", 1.0, 0.22, 1.0),
    "reward_low_FN": NabProfile("reward_low_FN", 1.0, 0.11, 2.0),
}


def scaled_sigmoid(position: float) -> float:
    """NAB's reward curve: 2·sigmoid(-5·position) - 1, and -1 far (> 3 widths) past a window."""
    if position > 3.0:
        return -1.0
    return 2.0 / (1.0 + math.exp(5.0 * position)) - 1.0


def probation_length(n_rows: int, percent: float = 0.15) -> int:
    """Rows at the start of a file that are never scored: min(floor(15%·n), 750)."""
    return int(min(math.floor(percent * n_rows), percent * 5000))


@dataclass
class FileSweep:
    """Per-row scoring geometry of one file (independent of profile weights and threshold).

    ``kind`` per scored row: -1 = outside windows (its ``unit`` is the unweighted FP cost
    S(p) <= 0), otherwise the window number (``unit`` = S(p)/S(-1), the TP reward fraction).
    """

    name: str
    scores: np.ndarray
    kind: np.ndarray
    unit: np.ndarray
    n_windows: int
    folder: str = field(default="")


def read_nab_csv(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read a NAB ``timestamp,<value>`` CSV (CR line endings tolerated) -> (datetime64, float)."""
    with open(path, newline="") as fh:
        text = fh.read().replace("\r\n", "\n").replace("\r", "\n")
    rows = list(csv.reader(text.splitlines()))
    body = [r for r in rows[1:] if r]
    ts = np.array([np.datetime64(r[0].strip().replace(" ", "T")) for r in body], "datetime64[ns]")
    vals = np.array([float(r[1]) for r in body], dtype=float)
    return ts, vals


def read_windows(path: str | Path) -> dict[str, list[tuple[np.datetime64, np.datetime64]]]:
    """Read NAB's ``combined_windows.json``."""
    raw = json.loads(Path(path).read_text())
    return {
        k: [
            (
                np.datetime64(a.replace(" ", "T"), "ns"),
                np.datetime64(b.replace(" ", "T"), "ns"),
            )
            for a, b in v
        ]
        for k, v in raw.items()
    }


def prepare_file(
    name: str,
    timestamps: np.ndarray,
    scores: Sequence[float] | np.ndarray,
    windows: Sequence[tuple[np.datetime64, np.datetime64]],
) -> FileSweep:
    """Compute every scored row's window membership and reward/penalty fraction."""
    ts = np.asarray(timestamps, dtype="datetime64[ns]")
    sc = np.asarray(scores, dtype=float)
    n = ts.size
    if sc.size != n:
        raise ValueError(f"{name}: {sc.size} scores for {n} rows")
    bounds = []
    for a, b in sorted(windows):
        left = int(np.searchsorted(ts, a, side="left"))
        right = int(np.searchsorted(ts, b, side="right")) - 1
        if right >= left:
            bounds.append((left, right))
    probation = probation_length(n)
    max_tp = scaled_sigmoid(-1.0)
    kind = np.full(n, -1, dtype=int)
    unit = np.zeros(n)
    w = 0
    prev_right: int | None = None
    prev_width = 0.0
    for i in range(n):
        if w < len(bounds) and bounds[w][0] <= i <= bounds[w][1]:
            left, right = bounds[w]
            width = float(right - left + 1)
            kind[i] = w
            unit[i] = scaled_sigmoid(-(right - i + 1) / width) / max_tp
            if i == right:
                prev_right, prev_width = right, width
                w += 1
        else:
            if prev_right is None:
                unit[i] = -1.0
            else:
                denom = prev_width - 1.0
                pos = abs(prev_right - i) / denom if denom > 0 else math.inf
                unit[i] = scaled_sigmoid(pos)
    keep = np.arange(n) >= probation
    scored_windows = {int(k) for k in kind[keep] if k >= 0}
    # Renumber windows so that the ones entirely in probation disappear.
    remap = {old: new for new, old in enumerate(sorted(scored_windows))}
    kk = np.array([remap.get(int(k), -1) if k >= 0 else -1 for k in kind[keep]], dtype=int)
    return FileSweep(name, sc[keep], kk, unit[keep], len(scored_windows))


def _file_curve(f: FileSweep, prof: NabProfile, thresholds: np.ndarray) -> np.ndarray:
    """Raw score of one file at each threshold (detection = score >= threshold)."""
    out = np.empty(thresholds.size)
    fp_mask = f.kind < 0
    fp_scores = f.scores[fp_mask]
    fp_units = f.unit[fp_mask]
    order = np.argsort(-fp_scores, kind="stable")
    fp_sorted = fp_scores[order]
    fp_cum = np.concatenate([[0.0], np.cumsum(fp_units[order])])
    # FP part: sum of units of FP rows with score >= t
    n_ge = np.searchsorted(-fp_sorted, -thresholds, side="right")
    out[:] = prof.fp * fp_cum[n_ge]
    for w in range(f.n_windows):
        m = f.kind == w
        s, u = f.scores[m], f.unit[m]
        # best reward among rows with score >= t: running max over rows sorted by score desc
        o = np.argsort(-s, kind="stable")
        s_sorted = s[o]
        best = np.maximum.accumulate(u[o])
        k = np.searchsorted(-s_sorted, -thresholds, side="right")
        val = np.where(k > 0, prof.tp * best[np.maximum(k - 1, 0)], -prof.fn)
        out += val
    return out


@dataclass(frozen=True)
class NabResult(Jsonable):
    """Normalised NAB score for one profile, with its parts."""

    profile: str
    threshold: float
    raw: float
    null: float
    perfect: float
    score: float
    per_folder: dict[str, float]
    per_file_raw: dict[str, float]


def score_corpus(
    files: Sequence[FileSweep],
    profile: str | NabProfile = "standard",
    threshold: float | None = None,
) -> NabResult:
    """Optimise the threshold over the corpus (unless given) and normalise like NAB.

    Per-folder scores reuse the corpus threshold and normalise with the folder's own null and
    perfect (folders without windows report their raw score instead, 0 = no false positives).
    """
    prof = PROFILES[profile] if isinstance(profile, str) else profile
    if threshold is None:
        cands = np.unique(np.concatenate([f.scores for f in files] + [np.array([np.inf])]))
        totals = np.zeros(cands.size)
        for f in files:
            totals += _file_curve(f, prof, cands)
        # NAB prefers the highest threshold among ties (fewest detections).
        best = int(np.flatnonzero(totals == totals.max())[-1])
        th = float(cands[best])
    else:
        th = float(threshold)
    per_file = {f.name: float(_file_curve(f, prof, np.array([th]))[0]) for f in files}
    n_windows = {f.name: f.n_windows for f in files}

    def norm(names: Sequence[str]) -> float:
        raw = sum(per_file[n] for n in names)
        nw = sum(n_windows[n] for n in names)
        null, perfect = -prof.fn * nw, prof.tp * nw
        return 100.0 * (raw - null) / (perfect - null) if perfect > null else raw

    folders: dict[str, list[str]] = {}
    for f in files:
        folders.setdefault(f.folder or f.name.split("/")[0], []).append(f.name)
    total_w = sum(n_windows.values())
    raw_total = sum(per_file.values())
    null = -prof.fn * total_w
    perfect = prof.tp * total_w
    return NabResult(
        profile=prof.name,
        threshold=th,
        raw=raw_total,
        null=null,
        perfect=perfect,
        score=100.0 * (raw_total - null) / (perfect - null) if perfect > null else math.nan,
        per_folder={k: norm(v) for k, v in sorted(folders.items())},
        per_file_raw=per_file,
    )


def load_corpus(
    nab_root: str | Path, scores: Mapping[str, np.ndarray] | None = None, detector: str = ""
) -> list[FileSweep]:
    """Prepare every labelled file under ``nab_root`` with scores from ``scores`` (keyed by
    'folder/file.csv') or, with ``detector``, from ``reference_results/<detector>``."""
    root = Path(nab_root)
    windows = read_windows(root / "labels" / "combined_windows.json")
    out = []
    for name in sorted(windows):
        ts, _ = read_nab_csv(root / "data" / name)
        if scores is not None:
            sc = np.asarray(scores[name], dtype=float)
        else:
            folder, fname = name.split("/")
            path = root / "reference_results" / detector / folder / f"{detector}_{fname}"
            _, sc = read_nab_csv(path)
        fs = prepare_file(name, ts, sc, windows[name])
        fs.folder = name.split("/")[0]
        out.append(fs)
    return out
