"""NAB scorer rules on a tiny fixture, NAB reference numbers (if shared data exists), detector."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from ecoperf_core.stats.anomaly import AnomalyDetector, score_series
from ecoperf_core.stats.nab import (
    load_corpus,
    prepare_file,
    probation_length,
    scaled_sigmoid,
    score_corpus,
)

NAB = Path(__file__).resolve().parents[3] / "shared" / "data" / "nab"


def test_sigmoid_and_probation() -> None:
    assert scaled_sigmoid(-1.0) == pytest.approx(0.98661, abs=1e-5)
    assert scaled_sigmoid(0.0) == 0.0
    assert scaled_sigmoid(3.5) == -1.0
    assert probation_length(1000) == 150
    assert probation_length(10_000) == 750


def _file(scores: np.ndarray) -> list:
    ts = np.datetime64("2024-01-01T00:00", "ns") + np.arange(1000) * np.timedelta64(5, "m")
    win = [(ts[500], ts[599])]
    f = prepare_file("folder/x.csv", ts, scores, win)
    f.folder = "folder"
    return [f]


def test_scorer_rules_on_synthetic_file() -> None:
    s = np.zeros(1000)
    assert score_corpus(_file(s), threshold=0.5).score == pytest.approx(0.0)  # null
    s[500] = 1.0  # detection at the very start of the window -> perfect
    assert score_corpus(_file(s), threshold=0.5).score == pytest.approx(100.0)
    s[100] = 1.0  # inside probation: ignored
    assert score_corpus(_file(s), threshold=0.5).score == pytest.approx(100.0)
    s[300] = 1.0  # one FP before any window costs fp weight 0.11 of the 2-point range
    assert score_corpus(_file(s), threshold=0.5).score == pytest.approx(100 * (2 - 0.11) / 2)
    s2 = np.zeros(1000)
    s2[599] = 1.0  # at the very end of the window: small reward
    late = score_corpus(_file(s2), threshold=0.5).score
    assert 50 < late < 52
    s3 = np.zeros(1000)
    s3[650] = 1.0  # after the window: FN plus a (small) FP penalty
    assert score_corpus(_file(s3), threshold=0.5).score < 0
    # threshold optimisation picks the detection, not the noise
    s4 = np.full(1000, 0.1)
    s4[510] = 0.9
    r = score_corpus(_file(s4))
    assert r.threshold == pytest.approx(0.9) and r.score > 90


@pytest.mark.skipif(not (NAB / "reference_results").exists(), reason=f"NAB data absent: {NAB}")
def test_reproduces_nab_reference_numbers() -> None:
    expected = {
        "numenta": {"standard": 72.30, "reward_low_FP": 69.12, "reward_low_FN": 75.98},
        "twitterADVec": {"standard": 41.18, "reward_low_FP": 23.48, "reward_low_FN": 49.68},
    }
    for det, by_profile in expected.items():
        files = load_corpus(NAB, detector=det)
        for prof, value in by_profile.items():
            assert score_corpus(files, prof).score == pytest.approx(value, abs=0.005)
    files = load_corpus(NAB, detector="numenta")
    assert score_corpus(files).threshold == pytest.approx(0.555459, abs=1e-6)


def test_detector_scores_spike_dip_and_stays_quiet_on_flat_and_zero_series() -> None:
    rng = np.random.default_rng(0)
    x = 50 + rng.standard_normal(600)
    x[400] = 80
    x[500] = 20
    s = score_series(x)
    assert s[400] > 0.8 and s[500] > 0.8
    assert np.quantile(s[100:390], 0.99) < 0.6
    assert np.all((s >= 0) & (s <= 1))
    assert score_series(np.full(300, 7.0)).max() == 0.0
    zeros = np.zeros(500)
    zeros[rng.choice(500, 25, replace=False)] = 1.0
    zeros[450] = 40.0
    z = score_series(zeros)
    assert z[450] == z.max() and z[450] > 0.8


def test_detector_uses_daily_seasonality() -> None:
    rng = np.random.default_rng(1)
    n = 288 * 5
    ts = np.datetime64("2024-01-01T00:00") + np.arange(n) * np.timedelta64(5, "m")
    phase = np.arange(n) % 288
    x = 100 + 50 * (phase >= 144) + rng.standard_normal(n)  # daily square wave
    x[288 * 4 + 50] += 25  # anomaly at a time of day that is normally low
    det = AnomalyDetector()
    scores = [det.update(v, t) for v, t in zip(x, ts, strict=True)]
    day5 = np.array([a.score for a in scores[288 * 4 :]])
    assert day5[50] == day5.max()
    assert scores[288 * 4 + 144].score < day5[50]  # the daily step is expected
    assert not math.isnan(scores[-1].z)
