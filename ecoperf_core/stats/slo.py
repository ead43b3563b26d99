"""SLO math: error budgets, burn rates, multi-window multi-burn-rate alerts, OpenSLO YAML.

Why this design
---------------
Follows the Google SRE workbook ("Alerting on SLOs"): burn rate = observed error ratio divided
by the error ratio the SLO allows (1 - SLO); an alert fires only when *both* a long window (is
the budget really being spent?) and a short window (is it still happening?) burn faster than the
threshold, which gives quick detection and quick reset. A burn-rate threshold ``b`` over a window
``w`` of an SLO period ``P`` consumes ``b·w/P`` of the budget, which is how the default rules are
derived: 2% of 30 days in 1 h ⇔ 14.4, 5% in 6 h ⇔ 6, 10% in 3 days ⇔ 1.

SLO definitions are read from and written back to OpenSLO v1 YAML (``kind: SLO``), keeping the
fields this module does not use so a round trip does not lose them.
"""

from __future__ import annotations

import calendar
import copy
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import numpy as np
import yaml

from ecoperf_core.stats._util import Jsonable

__all__ = [
    "DEFAULT_BURN_RULES",
    "BudgetStatus",
    "BurnAlert",
    "BurnRateRule",
    "SLODefinition",
    "budget_consumed_for_burn",
    "budget_status",
    "burn_rate",
    "burn_rate_for_budget",
    "calendar_window_bounds",
    "dump_openslo",
    "evaluate_burn_alerts",
    "format_duration",
    "load_openslo",
    "parse_duration",
]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w|M|Q|y)\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str) -> timedelta:
    """Parse an OpenSLO/Prometheus duration ('5m', '1h', '28d', '1w').

    Calendar units (M, Q, y) have no fixed length and are only valid for calendar windows; use
    :func:`calendar_window_bounds` for those.
    """
    m = _DURATION.match(str(text))
    if not m:
        raise ValueError(f"bad duration: {text!r}")
    value, unit = float(m.group(1)), m.group(2)
    if unit not in _UNIT_SECONDS:
        raise ValueError(f"duration unit {unit!r} has no fixed length (calendar windows only)")
    return timedelta(seconds=value * _UNIT_SECONDS[unit])


def format_duration(td: timedelta) -> str:
    """Shortest exact OpenSLO duration for ``td`` ('30d', '6h', '5m', '90s')."""
    secs = td.total_seconds()
    for unit in ("d", "h", "m", "s"):
        size = _UNIT_SECONDS[unit]
        if secs >= size and abs(secs / size - round(secs / size)) < 1e-9:
            return f"{round(secs / size)}{unit}"
    return f"{round(secs * 1000)}ms"


# --------------------------------------------------------------------------------------------
# Burn rate and budget arithmetic
# --------------------------------------------------------------------------------------------


def burn_rate(error_ratio: float, slo: float) -> float:
    """Burn rate = error ratio / (1 - SLO). 1.0 spends the budget exactly over the SLO period."""
    if not 0 < slo < 1:
        raise ValueError("slo must be in (0, 1), e.g. 0.999")
    return float(error_ratio) / (1.0 - slo)


def burn_rate_for_budget(budget_fraction: float, window: timedelta, period: timedelta) -> float:
    """The burn rate that spends ``budget_fraction`` of the budget in ``window`` of ``period``."""
    return budget_fraction * period / window


def budget_consumed_for_burn(rate: float, window: timedelta, period: timedelta) -> float:
    """Fraction of the period's budget a burn ``rate`` sustained over ``window`` consumes."""
    return rate * window / period


@dataclass(frozen=True)
class BudgetStatus(Jsonable):
    """Error budget over one window.

    ``allowed_bad`` is the budget in events (occurrences) or bad slices (timeslices); ``remaining``
    is a fraction of it (negative once overspent); ``time_to_exhaustion`` extrapolates the burn of
    the last ``recent`` window (None when nothing is burning or already exhausted: see
    ``exhausted``).
    """

    window_start: datetime
    window_end: datetime
    slo: float
    total: float
    bad: float
    error_ratio: float
    burn_rate: float
    allowed_bad: float
    consumed: float
    remaining: float
    exhausted: bool
    recent_burn_rate: float | None
    time_to_exhaustion: timedelta | None


def calendar_window_bounds(now: datetime, unit: str, count: int = 1) -> tuple[datetime, datetime]:
    """Start and end of the calendar window (``unit`` in Day/Week/Month/Quarter/Year) holding now.

    Weeks start on Monday; all times in UTC when ``now`` is naive it is taken as UTC.
    """
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    u = unit.lower()
    if u in ("day", "d"):
        start = now.replace(hour=0, minute=0, second=0, microsecond=0)
        return start, start + timedelta(days=count)
    if u in ("week", "w"):
        start = (now - timedelta(days=now.weekday())).replace(
            hour=0, minute=0, second=0, microsecond=0
        )
        return start, start + timedelta(weeks=count)
    months = {"month": 1, "m": 1, "quarter": 3, "q": 3, "year": 12, "y": 12}.get(u)
    if months is None:
        raise ValueError(f"unknown calendar unit {unit!r}")
    span = months * count
    month0 = (now.month - 1) // months * months if months > 1 else now.month - 1
    start = now.replace(month=month0 + 1, day=1, hour=0, minute=0, second=0, microsecond=0)
    y, mo = divmod(month0 + span, 12)
    end = start.replace(year=start.year + y, month=mo + 1)
    return start, end


def _as_utc(ts: Sequence[Any] | np.ndarray) -> np.ndarray:
    arr = np.asarray(ts)
    if np.issubdtype(arr.dtype, np.datetime64):
        return arr.astype("datetime64[ns]")
    out = []
    for t in arr.tolist():
        if isinstance(t, datetime) and t.tzinfo is not None:
            t = t.astimezone(UTC).replace(tzinfo=None)
        out.append(np.datetime64(t, "ns"))
    return np.array(out, dtype="datetime64[ns]")


def _np(dt: datetime) -> np.datetime64:
    if dt.tzinfo is not None:
        dt = dt.astimezone(UTC).replace(tzinfo=None)
    return np.datetime64(dt, "ns")


def budget_status(
    timestamps: Sequence[Any] | np.ndarray,
    good: Sequence[float] | np.ndarray,
    total: Sequence[float] | np.ndarray,
    slo: float,
    now: datetime,
    window: timedelta | None = None,
    calendar_unit: str | None = None,
    method: Literal["Occurrences", "Timeslices"] = "Occurrences",
    timeslice_target: float | None = None,
    recent: timedelta = timedelta(hours=1),
) -> BudgetStatus:
    """Error budget over a rolling ``window`` ending at ``now`` or the calendar window holding it.

    Inputs are per-bucket counts (e.g. one row per minute: good and total requests).
    ``Occurrences`` counts events; ``Timeslices`` counts buckets whose good/total ratio is below
    ``timeslice_target`` as bad slices and budgets them against the slice count of the window.
    For a calendar window the budget is that of the *whole* window (the allowance does not shrink
    because the month has just started), which is what "budget remaining this month" means.
    """
    if (window is None) == (calendar_unit is None):
        raise ValueError("give exactly one of window (rolling) or calendar_unit (calendar)")
    ts = _as_utc(timestamps)
    g = np.asarray(good, dtype=float)
    t = np.asarray(total, dtype=float)
    if not (ts.size == g.size == t.size):
        raise ValueError("timestamps, good and total must have the same length")
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    if window is not None:
        start, end, budget_end = now - window, now, now
    else:
        assert calendar_unit is not None
        start, budget_end = calendar_window_bounds(now, calendar_unit)
        end = now
    sel = (ts > _np(start)) & (ts <= _np(end))
    if method == "Occurrences":
        tot = float(t[sel].sum())
        bad = float((t[sel] - g[sel]).sum())
        elapsed = (end - start).total_seconds()
        full = (budget_end - start).total_seconds()
        # For a calendar window expected traffic for the rest of the window is extrapolated
        # from the rate so far, so the allowance is for the whole window.
        expected_total = tot * (full / elapsed) if elapsed > 0 and window is None else tot
        allowed = (1.0 - slo) * expected_total
    elif method == "Timeslices":
        if timeslice_target is None:
            raise ValueError("Timeslices needs timeslice_target")
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(t[sel] > 0, g[sel] / t[sel], 1.0)
        tot = float(sel.sum())
        bad = float(np.sum(ratio < timeslice_target))
        if tot > 1 and window is None:
            step = float(np.median(np.diff(np.sort(ts[sel]).astype("int64")))) / 1e9
            full_slices = (budget_end - start).total_seconds() / step if step > 0 else tot
        else:
            full_slices = tot
        allowed = (1.0 - slo) * max(full_slices, tot)
    else:
        raise ValueError(f"unknown budgeting method {method!r}")
    ratio_all = bad / tot if tot > 0 else 0.0
    consumed = bad / allowed if allowed > 0 else (math.inf if bad > 0 else 0.0)
    remaining = 1.0 - consumed
    recent_sel = sel & (ts > _np(now - recent))
    if method == "Occurrences":
        rt = float(t[recent_sel].sum())
        rb = float((t[recent_sel] - g[recent_sel]).sum())
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            rr = np.where(t[recent_sel] > 0, g[recent_sel] / t[recent_sel], 1.0)
        rt = float(recent_sel.sum())
        rb = float(np.sum(rr < (timeslice_target or 0.0)))
    recent_burn = burn_rate(rb / rt, slo) if rt > 0 else None
    tte: timedelta | None = None
    if remaining > 0 and rt > 0 and rb > 0 and allowed > 0:
        # bad units per second recently, budget left in units
        bad_per_sec = rb / recent.total_seconds()
        tte = timedelta(seconds=remaining * allowed / bad_per_sec)
    return BudgetStatus(
        window_start=start,
        window_end=budget_end,
        slo=slo,
        total=tot,
        bad=bad,
        error_ratio=ratio_all,
        burn_rate=burn_rate(ratio_all, slo),
        allowed_bad=allowed,
        consumed=consumed,
        remaining=remaining,
        exhausted=remaining <= 0,
        recent_burn_rate=recent_burn,
        time_to_exhaustion=tte,
    )


# --------------------------------------------------------------------------------------------
# Multi-window, multi-burn-rate alerts
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BurnRateRule(Jsonable):
    """Alert when the burn over ``long_window`` AND over ``short_window`` exceed ``burn_rate``."""

    name: str
    severity: Literal["page", "ticket"]
    long_window: timedelta
    short_window: timedelta
    burn_rate: float

    def budget_fraction(self, period: timedelta = timedelta(days=30)) -> float:
        """Share of a ``period`` budget this rule's long window spends at its threshold."""
        return budget_consumed_for_burn(self.burn_rate, self.long_window, period)


DEFAULT_BURN_RULES: tuple[BurnRateRule, ...] = (
    BurnRateRule("page-fast", "page", timedelta(hours=1), timedelta(minutes=5), 14.4),
    BurnRateRule("page-slow", "page", timedelta(hours=6), timedelta(minutes=30), 6.0),
    BurnRateRule("ticket", "ticket", timedelta(days=3), timedelta(hours=6), 1.0),
)


@dataclass(frozen=True)
class BurnAlert(Jsonable):
    """One rule's evaluation, with both windows' burn rates as evidence."""

    rule: str
    severity: Literal["page", "ticket"]
    firing: bool
    threshold: float
    long_window: timedelta
    short_window: timedelta
    long_burn_rate: float | None
    short_burn_rate: float | None
    long_total: float
    short_total: float


def _window_ratio(
    ts: np.ndarray, g: np.ndarray, t: np.ndarray, now: np.datetime64, w: timedelta
) -> tuple[float | None, float]:
    sel = (ts > now - np.timedelta64(int(w.total_seconds() * 1e9), "ns")) & (ts <= now)
    tot = float(t[sel].sum())
    if tot <= 0:
        return None, 0.0
    return float((t[sel] - g[sel]).sum()) / tot, tot


def evaluate_burn_alerts(
    timestamps: Sequence[Any] | np.ndarray,
    good: Sequence[float] | np.ndarray,
    total: Sequence[float] | np.ndarray,
    slo: float,
    now: datetime,
    rules: Sequence[BurnRateRule] = DEFAULT_BURN_RULES,
) -> list[BurnAlert]:
    """Evaluate multi-window burn-rate rules on per-bucket good/total counts at ``now``.

    A rule fires only if both windows have traffic and both burn rates are ≥ its threshold.
    """
    ts = _as_utc(timestamps)
    g = np.asarray(good, dtype=float)
    t = np.asarray(total, dtype=float)
    n = _np(now if now.tzinfo else now.replace(tzinfo=UTC))
    out = []
    for r in rules:
        lr, lt = _window_ratio(ts, g, t, n, r.long_window)
        sr, st = _window_ratio(ts, g, t, n, r.short_window)
        lb = burn_rate(lr, slo) if lr is not None else None
        sb = burn_rate(sr, slo) if sr is not None else None
        firing = lb is not None and sb is not None and lb >= r.burn_rate and sb >= r.burn_rate
        out.append(
            BurnAlert(
                rule=r.name,
                severity=r.severity,
                firing=bool(firing),
                threshold=r.burn_rate,
                long_window=r.long_window,
                short_window=r.short_window,
                long_burn_rate=lb,
                short_burn_rate=sb,
                long_total=lt,
                short_total=st,
            )
        )
    return out


# --------------------------------------------------------------------------------------------
# OpenSLO
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SLODefinition(Jsonable):
    """The parts of an OpenSLO v1 ``SLO`` this module computes with, plus the raw document.

    ``targets`` holds one entry per objective (``target`` as a ratio, e.g. 0.999, and optional
    ``displayName`` / ``timeSliceTarget``). ``raw`` keeps the whole parsed document so that
    :func:`dump_openslo` writes back everything, including fields we do not model.
    """

    name: str
    service: str | None
    targets: tuple[dict[str, Any], ...]
    window: timedelta | None
    calendar_unit: str | None
    calendar_count: int
    is_rolling: bool
    budgeting_method: Literal["Occurrences", "Timeslices", "RatioTimeslices"]
    raw: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def target(self) -> float:
        """The first (usually only) objective's target."""
        return float(self.targets[0]["target"])


def _parse_slo(doc: Mapping[str, Any]) -> SLODefinition:
    if doc.get("apiVersion") != "openslo/v1":
        raise ValueError(f"unsupported apiVersion {doc.get('apiVersion')!r} (need openslo/v1)")
    if doc.get("kind") != "SLO":
        raise ValueError(f"not an SLO document: kind={doc.get('kind')!r}")
    spec = doc.get("spec") or {}
    objectives = spec.get("objectives") or []
    if not objectives:
        raise ValueError("SLO has no objectives")
    targets = []
    for o in objectives:
        if "target" not in o:
            raise ValueError("objective without target (targetPercent is not supported)")
        tgt = float(o["target"])
        if not 0 < tgt < 1:
            raise ValueError(f"target must be a ratio in (0, 1), got {tgt}")
        targets.append(dict(o))
    windows = spec.get("timeWindow") or []
    if len(windows) != 1:
        raise ValueError("OpenSLO v1 needs exactly one timeWindow")
    w = windows[0]
    rolling = bool(w.get("isRolling", False))
    window = None
    unit = None
    count = 1
    if rolling:
        window = parse_duration(w["duration"])
    else:
        dur = str(w.get("duration", "1M"))
        m = re.match(r"^(\d+)([dwMQy])$", dur)
        if not m:
            raise ValueError(f"bad calendar duration {dur!r}")
        count = int(m.group(1))
        unit = {"d": "Day", "w": "Week", "M": "Month", "Q": "Quarter", "y": "Year"}[m.group(2)]
    method = spec.get("budgetingMethod", "Occurrences")
    if method not in ("Occurrences", "Timeslices", "RatioTimeslices"):
        raise ValueError(f"unknown budgetingMethod {method!r}")
    return SLODefinition(
        name=str((doc.get("metadata") or {}).get("name", "")),
        service=spec.get("service"),
        targets=tuple(targets),
        window=window,
        calendar_unit=unit,
        calendar_count=count,
        is_rolling=rolling,
        budgeting_method=method,
        raw=copy.deepcopy(dict(doc)),
    )


def load_openslo(text: str) -> list[SLODefinition]:
    """Read every ``kind: SLO`` document of an OpenSLO v1 YAML stream (other kinds skipped)."""
    out = []
    for doc in yaml.safe_load_all(text):
        if isinstance(doc, dict) and doc.get("kind") == "SLO":
            out.append(_parse_slo(doc))
    return out


def dump_openslo(slos: Sequence[SLODefinition]) -> str:
    """Write SLOs back as OpenSLO v1 YAML, with our modelled fields applied over ``raw``."""
    docs = []
    for s in slos:
        doc = copy.deepcopy(s.raw) if s.raw else {}
        doc["apiVersion"] = "openslo/v1"
        doc["kind"] = "SLO"
        doc.setdefault("metadata", {})["name"] = s.name
        spec = doc.setdefault("spec", {})
        if s.service is not None:
            spec["service"] = s.service
        spec["budgetingMethod"] = s.budgeting_method
        spec["objectives"] = [dict(t) for t in s.targets]
        if s.is_rolling:
            assert s.window is not None
            old_dur = (spec.get("timeWindow") or [{}])[0].get("duration")
            try:
                keep = old_dur is not None and parse_duration(old_dur) == s.window
            except ValueError:
                keep = False
            dur = old_dur if keep else format_duration(s.window)
            tw: dict[str, Any] = {"duration": dur, "isRolling": True}
        else:
            letter = {"Day": "d", "Week": "w", "Month": "M", "Quarter": "Q", "Year": "y"}
            tw = {
                "duration": f"{s.calendar_count}{letter[s.calendar_unit or 'Month']}",
                "isRolling": False,
            }
            old = (spec.get("timeWindow") or [{}])[0]
            if "calendar" in old:
                tw["calendar"] = old["calendar"]
        spec["timeWindow"] = [tw]
        docs.append(doc)
    return yaml.safe_dump_all(docs, sort_keys=False)


def days_in_month(year: int, month: int) -> int:
    """Number of days in a month (helper for calendar budgets)."""
    return calendar.monthrange(year, month)[1]
