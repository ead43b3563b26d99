"""SLO math: the SRE workbook table, budgets, multi-window alerts, OpenSLO round trip."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from ecoperf_core.stats.slo import (
    DEFAULT_BURN_RULES,
    budget_consumed_for_burn,
    budget_status,
    burn_rate,
    burn_rate_for_budget,
    calendar_window_bounds,
    dump_openslo,
    evaluate_burn_alerts,
    load_openslo,
    parse_duration,
)

PERIOD = timedelta(days=30)


@pytest.mark.parametrize(
    ("fraction", "window", "expected"),
    [
        (0.02, timedelta(hours=1), 14.4),
        (0.05, timedelta(hours=6), 6.0),
        (0.10, timedelta(days=3), 1.0),
    ],
)
def test_sre_workbook_table(fraction: float, window: timedelta, expected: float) -> None:
    assert burn_rate_for_budget(fraction, window, PERIOD) == pytest.approx(expected)
    assert budget_consumed_for_burn(expected, window, PERIOD) == pytest.approx(fraction)


def test_default_rules_match_workbook() -> None:
    fractions = [r.budget_fraction(PERIOD) for r in DEFAULT_BURN_RULES]
    assert fractions == pytest.approx([0.02, 0.05, 0.10])
    assert [(r.long_window, r.short_window) for r in DEFAULT_BURN_RULES] == [
        (timedelta(hours=1), timedelta(minutes=5)),
        (timedelta(hours=6), timedelta(minutes=30)),
        (timedelta(days=3), timedelta(hours=6)),
    ]


def test_burn_rate_definition() -> None:
    assert burn_rate(0.001, 0.999) == pytest.approx(1.0)
    assert burn_rate(0.0144, 0.999) == pytest.approx(14.4)
    with pytest.raises(ValueError):
        burn_rate(0.1, 1.0)


def _minutes(now: datetime, days: float) -> np.ndarray:
    n = int(days * 24 * 60)
    start = np.datetime64(now.replace(tzinfo=None), "m") - np.timedelta64(n - 1, "m")
    return start + np.arange(n).astype("timedelta64[m]")


def test_multiwindow_alert_needs_both_windows() -> None:
    now = datetime(2024, 5, 10, 12, 0, tzinfo=UTC)
    ts = _minutes(now, 4)
    total = np.full(ts.size, 1000.0)
    bad = np.zeros(ts.size)
    # 20 minutes of 2% errors (burn 20 at SLO 99.9%) ending 30 minutes ago: the 1 h window
    # burns 20*20/60 = 6.7 (< 14.4) -> no fast page; nothing in the last 5 minutes either.
    bad[-50:-30] = 20
    alerts = {a.rule: a for a in evaluate_burn_alerts(ts, total - bad, total, 0.999, now)}
    assert not alerts["page-fast"].firing
    # Now a sustained 2% error rate over the last 2 hours: both 1 h and 5 m windows burn 20.
    bad[-120:] = 20
    alerts = {a.rule: a for a in evaluate_burn_alerts(ts, total - bad, total, 0.999, now)}
    assert alerts["page-fast"].firing
    assert alerts["page-fast"].long_burn_rate == pytest.approx(20.0)
    assert alerts["page-fast"].short_burn_rate == pytest.approx(20.0)
    # 6 h window: 2 h at 20 -> 6.67 >= 6, 30 m window at 20 -> page-slow fires too.
    assert alerts["page-slow"].firing
    # The error stops 10 minutes ago: long window still high, short window clean -> reset.
    bad[-10:] = 0
    alerts = {a.rule: a for a in evaluate_burn_alerts(ts, total - bad, total, 0.999, now)}
    assert alerts["page-fast"].long_burn_rate > 14.4
    assert alerts["page-fast"].short_burn_rate == 0
    assert not alerts["page-fast"].firing


def test_rolling_budget_and_time_to_exhaustion() -> None:
    now = datetime(2024, 5, 10, 12, 0, tzinfo=UTC)
    ts = _minutes(now, 30)
    total = np.full(ts.size, 100.0)
    bad = np.zeros(ts.size)
    bad[: ts.size // 2] = 0.05  # half the budget spent evenly over the first 15 days
    s = budget_status(ts, total - bad, total, 0.999, now, window=timedelta(days=30))
    assert s.allowed_bad == pytest.approx(0.001 * total.sum())
    assert s.consumed == pytest.approx(0.25, rel=1e-6)
    assert s.remaining == pytest.approx(0.75, rel=1e-6)
    assert s.time_to_exhaustion is None  # nothing burning in the last hour
    bad[-60:] = 1.0  # 1% errors in the last hour: burn 10
    s = budget_status(ts, total - bad, total, 0.999, now, window=timedelta(days=30))
    assert s.recent_burn_rate == pytest.approx(10.0)
    expected_hours = s.remaining * s.allowed_bad / 60.0  # 60 bad events per hour
    assert s.time_to_exhaustion.total_seconds() / 3600 == pytest.approx(expected_hours)


def test_calendar_budget_counts_the_whole_month() -> None:
    now = datetime(2024, 2, 15, 0, 0, tzinfo=UTC)
    start, end = calendar_window_bounds(now, "Month")
    assert (start, end) == (datetime(2024, 2, 1, tzinfo=UTC), datetime(2024, 3, 1, tzinfo=UTC))
    ts = _minutes(now, 20)  # includes January days that must be ignored
    total = np.full(ts.size, 10.0)
    bad = np.full(ts.size, 0.01)
    s = budget_status(ts, total - bad, total, 0.99, now, calendar_unit="Month")
    # 14 days elapsed of a 29-day month at burn 0.1: 0.1 * 14/29 of the budget consumed
    assert s.burn_rate == pytest.approx(0.1)
    assert s.consumed == pytest.approx(0.1 * 14 / 29, rel=1e-3)
    q = calendar_window_bounds(datetime(2024, 11, 3, tzinfo=UTC), "Quarter")
    assert q == (datetime(2024, 10, 1, tzinfo=UTC), datetime(2025, 1, 1, tzinfo=UTC))


def test_timeslices_budget() -> None:
    now = datetime(2024, 5, 10, 12, 0, tzinfo=UTC)
    ts = _minutes(now, 1)
    total = np.full(ts.size, 100.0)
    good = total.copy()
    good[:10] = 90.0  # 10 bad minutes
    s = budget_status(
        ts,
        good,
        total,
        0.99,
        now,
        window=timedelta(days=1),
        method="Timeslices",
        timeslice_target=0.95,
    )
    assert s.bad == 10
    assert s.allowed_bad == pytest.approx(14.4)
    assert s.consumed == pytest.approx(10 / 14.4)


OPENSLO = """\
apiVersion: openslo/v1
kind: SLO
metadata:
  name: checkout-availability
  displayName: Checkout availability
spec:
  service: checkout
  description: 99.9% of checkout requests succeed
  indicatorRef: checkout-good-ratio
  budgetingMethod: Occurrences
  timeWindow:
    - duration: 28d
      isRolling: true
  objectives:
    - displayName: good
      target: 0.999
---
apiVersion: openslo/v1
kind: Service
metadata:
  name: checkout
spec: {}
---
apiVersion: openslo/v1
kind: SLO
metadata:
  name: search-latency
spec:
  service: search
  budgetingMethod: Timeslices
  timeWindow:
    - duration: 1M
      isRolling: false
      calendar:
        startTime: 2024-01-01 00:00:00
        timeZone: UTC
  objectives:
    - target: 0.99
      timeSliceTarget: 0.95
      timeSliceWindow: 1m
"""


def test_openslo_read_and_round_trip() -> None:
    slos = load_openslo(OPENSLO)
    assert [s.name for s in slos] == ["checkout-availability", "search-latency"]
    a, b = slos
    assert a.target == 0.999 and a.is_rolling and a.window == timedelta(days=28)
    assert a.budgeting_method == "Occurrences" and a.service == "checkout"
    assert b.calendar_unit == "Month" and not b.is_rolling
    assert b.budgeting_method == "Timeslices" and b.targets[0]["timeSliceTarget"] == 0.95
    text = dump_openslo(slos)
    again = load_openslo(text)
    assert again == slos
    assert [s.raw for s in again] == [s.raw for s in slos]  # unmodelled fields survive
    assert "indicatorRef: checkout-good-ratio" in text


def test_openslo_rejects_bad_documents() -> None:
    with pytest.raises(ValueError, match="apiVersion"):
        load_openslo("apiVersion: openslo/v2\nkind: SLO\nspec: {}\n")
    with pytest.raises(ValueError, match="target"):
        load_openslo(
            "apiVersion: openslo/v1\nkind: SLO\nmetadata: {name: x}\nspec:\n"
            "  timeWindow: [{duration: 1d, isRolling: true}]\n  objectives: [{target: 99.9}]\n"
        )
    assert parse_duration("5m") == timedelta(minutes=5)
    with pytest.raises(ValueError):
        parse_duration("1M")
