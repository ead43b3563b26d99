"""Plotly figures of the web dashboard, as plain JSON-ready dicts (pure: model in, figures out).

Each function returns ``{"data": [traces], "layout": {...}}`` that the page hands to
``Plotly.newPlot`` unchanged, so what a chart shows is decided (and tested) here, in Python.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from ecoperf_core.dashboard import views

COLOURS = {"ok": "#2e7d32", "warn": "#f9a825", "bad": "#c62828"}
LINE = {"p50": "#90caf9", "p95": "#1e88e5", "p99": "#0d47a1"}
Figure = dict[str, Any]


def _layout(title: str, **extra: Any) -> dict[str, Any]:
    layout: dict[str, Any] = {
        "title": {"text": title, "x": 0.01, "font": {"size": 15}},
        "margin": {"l": 60, "r": 20, "t": 48, "b": 48},
        "height": 320,
        "legend": {"orientation": "h", "y": -0.2},
        "template": "plotly_white",
    }
    layout.update(extra)
    return layout


# -- overview ----------------------------------------------------------------------------------
def health_figure(model: dict[str, Any]) -> Figure:
    """Subjects per component by health (stacked bars)."""
    rows = views.component_health(model)
    names = [r["component"] for r in rows]
    data = [
        {
            "type": "bar",
            "orientation": "h",
            "name": label,
            "y": names,
            "x": [r[status] for r in rows],
            "marker": {"color": COLOURS[status]},
        }
        for status, label in (("ok", "healthy"), ("warn", "warning"), ("bad", "critical"))
    ]
    return {
        "data": data,
        "layout": _layout(
            "Health per component (decisions in force)",
            margin={"l": 130, "r": 20, "t": 48, "b": 48},
            barmode="stack",
            yaxis={"autorange": "reversed"},
        ),
    }


def node_weights_figure(model: dict[str, Any]) -> Figure:
    rows = views.nodes(model)
    return {
        "data": [
            {
                "type": "bar",
                "x": [r["node"] for r in rows],
                "y": [r["weight"] for r in rows],
                "marker": {"color": [COLOURS[r["status"]] for r in rows]},
                "customdata": [[r["recommendation"], r["score"]] for r in rows],
                "hovertemplate": "%{x}: weight %{y}<br>%{customdata[0]}, score %{customdata[1]}"
                "<extra></extra>",
                "name": "routing weight",
            }
        ],
        "layout": _layout(
            "QNET routing weight per node (worst first)",
            yaxis={"title": {"text": "weight"}, "rangemode": "tozero"},
            xaxis={"tickangle": -60, "tickfont": {"size": 9}},
        ),
    }


def dao_figure(model: dict[str, Any]) -> Figure:
    rows = views.daos(model)
    return {
        "data": [
            {
                "type": "bar",
                "x": [r["dao"] for r in rows],
                "y": [r["score"] for r in rows],
                "marker": {"color": [COLOURS[r["status"]] for r in rows]},
                "text": [r["isolation"] for r in rows],
                "textposition": "inside",
                "name": "performance score",
            }
        ],
        "layout": _layout(
            "DAO performance score and isolation recommendation",
            yaxis={"title": {"text": "score"}, "range": [0, 105]},
        ),
    }


# -- component deep-dive -----------------------------------------------------------------------
def _hour(moment: str) -> str:
    return datetime.fromisoformat(moment).replace(minute=0, second=0, microsecond=0).isoformat()


def _value_at(series: dict[str, Any], column: str, moment: str) -> float | None:
    try:
        return series[column][series["t"].index(_hour(moment))]
    except ValueError:
        return None


def _markers(
    series: dict[str, Any], found: list[dict[str, Any]], metric: str, column: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """Change points as vertical lines with labels, anomalies as marker traces."""
    shapes, notes, traces = [], [], []
    changes = [d for d in found if d["detector"] == "changepoint" and d["metric"] == metric]
    for d in changes:
        shapes.append(
            {
                "type": "line",
                "xref": "x",
                "yref": "paper",
                "x0": d["at"],
                "x1": d["at"],
                "y0": 0,
                "y1": 1,
                "line": {"color": "#c62828", "width": 2, "dash": "dash"},
            }
        )
        levels = (
            f" ({d['rawBefore']:.4g} → {d['rawAfter']:.4g})"
            if d.get("rawBefore") is not None and d.get("rawAfter") is not None
            else ""
        )
        change = d.get("relativeChange")
        notes.append(
            {
                "x": d["at"],
                "y": 1,
                "xref": "x",
                "yref": "paper",
                "yanchor": "bottom",
                "showarrow": False,
                "font": {"color": "#c62828", "size": 11},
                "text": f"change point {change:+.0%}{levels}"
                if change is not None
                else "change point",
            }
        )
    anomalies = [d for d in found if d["detector"] == "anomaly" and d["metric"] == metric]
    if anomalies:
        traces.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": f"anomalies ({len(anomalies)})",
                "x": [d["at"] for d in anomalies],
                "y": [_value_at(series, column, d["at"]) for d in anomalies],
                "marker": {"symbol": "x", "size": 11, "color": "#ff6f00", "line": {"width": 2}},
                "customdata": [d.get("score") for d in anomalies],
                "hovertemplate": "anomaly at %{x}<br>score %{customdata}<extra></extra>",
            }
        )
    if changes:
        # A legend entry for the dashed lines (shapes have none).
        traces.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": f"change points ({len(changes)})",
                "x": [changes[0]["at"], changes[0]["at"]],
                "y": [None, None],
                "line": {"color": "#c62828", "dash": "dash"},
            }
        )
    return shapes, notes, traces


def latency_figure(model: dict[str, Any], kind: str, entity: str) -> Figure:
    key = f"{kind}:{entity}"
    series = model.get("series", {}).get(key, {"t": [], "p50": [], "p95": [], "p99": []})
    found = model.get("detections", {}).get(key, [])
    data: list[dict[str, Any]] = [
        {
            "type": "scatter",
            "mode": "lines",
            "name": name,
            "x": series["t"],
            "y": series[name],
            "line": {"color": LINE[name], "width": 2 if name == "p95" else 1.3},
        }
        for name in ("p50", "p95", "p99")
    ]
    shapes, notes, traces = _markers(series, found, "latency_p95", "p95")
    data += traces
    xaxis: dict[str, Any] = {}
    if kind == "deployment":
        data += _baseline_traces(model, entity)
        window = _canary_window(model, entity)
        if window is not None:
            shapes.append(window["shape"])
            notes.append(window["note"])
            xaxis = {"range": window["range"]}
    return {
        "data": data,
        "layout": _layout(
            f"{entity}: latency p50 / p95 / p99 (ms, {model.get('seriesWindow', '1h')} windows)",
            shapes=shapes,
            annotations=notes,
            xaxis=xaxis,
            yaxis={"title": {"text": "ms"}, "rangemode": "tozero"},
        ),
    }


def _canary_window(model: dict[str, Any], deployment: str) -> dict[str, Any] | None:
    """The latest canary run of ``deployment``: its judged time range shaded, its verdict and
    what the rollout does with it written on the chart."""
    verdict = next(
        (
            v
            for v in model.get("verdicts", [])
            if v["subject"] == deployment and v["engine"] == "canary"
        ),
        None,
    )
    if verdict is None:
        return None
    source = verdict.get("source") or {}
    start, end = source.get("from"), source.get("to")
    if not start or not end:
        return None
    out = verdict.get("output") or {}
    action = views.CANARY_ACTIONS.get(verdict["outcome"], verdict["outcome"])
    colour = COLOURS[views.health_of("canary", verdict["outcome"])]
    lead = (datetime.fromisoformat(start) - timedelta(hours=12)).isoformat()
    return {
        "shape": {
            "type": "rect",
            "xref": "x",
            "yref": "paper",
            "x0": start,
            "x1": end,
            "y0": 0,
            "y1": 1,
            "fillcolor": colour,
            "opacity": 0.08,
            "line": {"width": 0},
        },
        "note": {
            "x": start,
            "y": 1,
            "xref": "x",
            "yref": "paper",
            "xanchor": "left",
            "yanchor": "bottom",
            "showarrow": False,
            "font": {"color": colour, "size": 12},
            "text": f"canary vs {out.get('baseline')}: {verdict['outcome']} "
            f"(score {out.get('score')}) → {action}",
        },
        "range": [lead, end],
    }


def _baseline_traces(model: dict[str, Any], deployment: str) -> list[dict[str, Any]]:
    """A canary's baseline p99 beside it (the comparison the canary judge made)."""
    verdict = next(
        (
            v
            for v in model.get("verdicts", [])
            if v["subject"] == deployment and v["engine"] == "canary"
        ),
        None,
    )
    baseline = (verdict or {}).get("output", {}).get("baseline")
    other = model.get("series", {}).get(f"deployment:{baseline}")
    if not baseline or other is None:
        return []
    return [
        {
            "type": "scatter",
            "mode": "lines",
            "name": f"baseline {baseline} p99",
            "x": other["t"],
            "y": other["p99"],
            "line": {"color": "#757575", "dash": "dot"},
        }
    ]


def error_rate_figure(model: dict[str, Any], kind: str, entity: str) -> Figure:
    key = f"{kind}:{entity}"
    series = model.get("series", {}).get(key, {"t": [], "errorRate": []})
    found = model.get("detections", {}).get(key, [])
    rates = [None if v is None else v * 100 for v in series["errorRate"]]
    shapes, notes, traces = _markers({**series, "errorPct": rates}, found, "error_rate", "errorPct")
    return {
        "data": [
            {
                "type": "scatter",
                "mode": "lines",
                "name": "error rate %",
                "x": series["t"],
                "y": rates,
                "line": {"color": "#6a1b9a"},
            },
            *traces,
        ],
        "layout": _layout(
            f"{entity}: error rate (%)",
            shapes=shapes,
            annotations=notes,
            yaxis={"title": {"text": "%"}, "rangemode": "tozero"},
        ),
    }


def availability_figure(model: dict[str, Any], kind: str, entity: str) -> Figure:
    key = f"{kind}:{entity}"
    series = model.get("series", {}).get(key, {"t": [], "availability": []})
    found = model.get("detections", {}).get(key, [])
    target = (
        (
            model.get("latest", {})
            .get("dao", {})
            .get(entity, {})
            .get("output", {})
            .get("sloCompliance", {})
        )
        .get("availability", {})
        .get("target")
    )
    shapes, notes, traces = _markers(series, found, "availability", "availability")
    data: list[dict[str, Any]] = [
        {
            "type": "scatter",
            "mode": "lines",
            "name": "availability %",
            "x": series["t"],
            "y": series["availability"],
            "line": {"color": "#00838f"},
        },
        *traces,
    ]
    if target is not None and series["t"]:
        data.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": f"SLO target {target:g}%",
                "x": [series["t"][0], series["t"][-1]],
                "y": [target, target],
                "line": {"color": "#c62828", "dash": "dot"},
            }
        )
    return {
        "data": data,
        "layout": _layout(
            f"{entity}: availability (%)",
            shapes=shapes,
            annotations=notes,
            yaxis={"title": {"text": "%"}},
        ),
    }


def weight_figure(model: dict[str, Any], node: str) -> Figure:
    history = model.get("weights", {}).get(node, [])
    return {
        "data": [
            {
                "type": "scatter",
                "mode": "lines+markers",
                "line": {"shape": "hv", "color": "#37474f"},
                "name": "routing weight",
                "x": [h["at"] for h in history],
                "y": [h["weight"] for h in history],
                "customdata": [[h["recommendation"], h["score"]] for h in history],
                "hovertemplate": "%{x}: weight %{y}<br>%{customdata[0]}, score %{customdata[1]}"
                "<extra></extra>",
            }
        ],
        "layout": _layout(
            f"{node}: QNET routing weight over time (per evaluation)",
            yaxis={"title": {"text": "weight"}, "rangemode": "tozero"},
        ),
    }


def cost_series_figure(model: dict[str, Any], kind: str, entity: str) -> Figure:
    key = f"{kind}:{entity}"
    series = model.get("series", {}).get(key, {"t": [], "cost": []})
    found = model.get("detections", {}).get(key, [])
    shapes, notes, traces = _markers(series, found, "cost", "cost")
    return {
        "data": [
            {
                "type": "scatter",
                "mode": "lines",
                "name": "cost per hour",
                "x": series["t"],
                "y": series["cost"],
                "line": {"color": "#ef6c00"},
            },
            *traces,
        ],
        "layout": _layout(
            f"{entity}: cost per hour",
            shapes=shapes,
            annotations=notes,
            yaxis={"title": {"text": "cost"}, "rangemode": "tozero"},
        ),
    }


def component_figures(model: dict[str, Any], kind: str, entity: str) -> dict[str, Figure]:
    """The deep-dive's charts for one node, DAO, module, deployment, operation or user."""
    figures = {
        "latency": latency_figure(model, kind, entity),
        "errors": error_rate_figure(model, kind, entity),
    }
    if kind == "node":
        figures["weight"] = weight_figure(model, entity)
    if kind == "dao":
        figures["availability"] = availability_figure(model, kind, entity)
    if kind in ("module", "user"):
        figures["cost"] = cost_series_figure(model, kind, entity)
    return figures


# -- risk correlation --------------------------------------------------------------------------
def risk_figures(model: dict[str, Any]) -> dict[str, Figure]:
    rows = views.risk_rows(model)
    level_colour = {
        "low": COLOURS["ok"],
        "moderate": COLOURS["warn"],
        "high": COLOURS["bad"],
        "critical": "#4a148c",
    }
    costs = [r["cost"] or 0.0 for r in rows]
    top = max(costs, default=0.0) or 1.0

    def scatter(x_key: str, x_title: str, title: str) -> Figure:
        return {
            "data": [
                {
                    "type": "scatter",
                    "mode": "markers+text",
                    "name": "entities",
                    "x": [r[x_key] for r in rows],
                    "y": [r["riskScore"] for r in rows],
                    # Names only where Qerberos itself saw risk (its level, not a threshold here).
                    "text": [
                        r["entity"] if r["riskLevel"] not in (None, "low") else "" for r in rows
                    ],
                    "textposition": "top center",
                    "marker": {
                        "size": [8 + 30 * (c / top) for c in costs],
                        "color": [level_colour.get(r["riskLevel"], "#9e9e9e") for r in rows],
                        "opacity": 0.75,
                    },
                    "customdata": [[r["entity"], r["riskLevel"], r["cost"]] for r in rows],
                    "hovertemplate": "%{customdata[0]}: risk %{y} (%{customdata[1]})<br>"
                    f"{x_title} %{{x}}<br>cost %{{customdata[2]}}<extra></extra>",
                }
            ],
            "layout": _layout(
                title,
                xaxis={"title": {"text": x_title}},
                yaxis={"title": {"text": "risk score"}, "range": [-5, 105]},
                showlegend=False,
            ),
        }

    return {
        "anomalies": scatter(
            "anomalies", "anomalies (last day)", "Risk score against anomalies (size: current cost)"
        ),
        "cost": scatter(
            "costIncrease", "cost increase vs history", "Risk score against cost increase"
        ),
    }


# -- cost impact -------------------------------------------------------------------------------
PALETTE = ("#1e88e5", "#43a047", "#ef6c00", "#8e24aa", "#00897b", "#6d4c41", "#d81b60")


def _trailing_mean(values: list[float | None], width: int) -> list[float | None]:
    """Mean of the last ``width`` known values at each point (a day of hourly costs smooths the
    daily traffic cycle away and leaves the trend)."""
    out: list[float | None] = []
    window: list[float] = []
    for value in values:
        if value is not None:
            window.append(value)
        if len(window) > width:
            window.pop(0)
        out.append(sum(window) / len(window) if len(window) == width else None)
    return out


def cost_trend_figure(model: dict[str, Any]) -> Figure:
    """Cost per day (trailing 24 h of hourly rollups) per module against its budget per day."""
    rows = views.cost_rows(model)
    data: list[dict[str, Any]] = []
    notes: list[dict[str, Any]] = []
    for i, r in enumerate(rows):
        series = model.get("series", {}).get(f"module:{r['module']}")
        if series is None:
            continue
        colour = PALETTE[i % len(PALETTE)]
        per_day = [None if v is None else v * 24 for v in _trailing_mean(series["cost"], 24)]
        data.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": f"{r['module']}",
                "x": series["t"],
                "y": per_day,
                "line": {"color": colour, "width": 2},
                "legendgroup": r["module"],
            }
        )
        if r["monthlyBudget"]:
            budget = r["monthlyBudget"] / 30.0
            crossing = next(
                (
                    (t, v)
                    for t, v, before in zip(series["t"][1:], per_day[1:], per_day, strict=False)
                    if v is not None and before is not None and before < budget <= v
                ),
                None,
            )
            if crossing is not None:
                notes.append(
                    {
                        "x": crossing[0],
                        "y": crossing[1],
                        "text": f"{r['module']} crosses its budget",
                        "showarrow": True,
                        "arrowhead": 2,
                        "ax": -60,
                        "ay": -35,
                        "font": {"color": "#c62828"},
                    }
                )
            data.append(
                {
                    "type": "scatter",
                    "mode": "lines",
                    "name": f"{r['module']} budget/day",
                    "x": [series["t"][0], series["t"][-1]],
                    "y": [budget, budget],
                    "line": {"color": colour, "dash": "dot", "width": 1},
                    "legendgroup": r["module"],
                    "showlegend": False,
                    "hovertemplate": f"{r['module']} budget %{{y:.3g}}/day<extra></extra>",
                }
            )
    return {
        "data": data,
        "layout": _layout(
            "Cost trend: cost per day (trailing 24 h) per module, budget per day dotted",
            annotations=notes,
            yaxis={"title": {"text": "cost per day"}, "rangemode": "tozero"},
        ),
    }


def cost_forecast_figure(model: dict[str, Any]) -> Figure:
    """The go-live cost gate's forecast month, cumulative, as a share of each module's budget."""
    rows = [
        r for r in views.cost_rows(model) if r["monthlyBudget"] and r["slopePerDay"] is not None
    ]
    as_of = model.get("asOf")
    start = datetime.fromisoformat(as_of) if as_of else datetime(1970, 1, 1)
    data: list[dict[str, Any]] = []
    notes: list[dict[str, Any]] = []
    horizon = 30
    for i, r in enumerate(rows):
        n = len(r["dailyCosts"])
        total, days, shares = 0.0, [start.date().isoformat()], [0.0]
        crossed = None
        for k in range(horizon):
            total += max(0.0, r["intercept"] + r["slopePerDay"] * (n + k))
            day = (start + timedelta(days=k + 1)).date().isoformat()
            days.append(day)
            shares.append(100.0 * total / r["monthlyBudget"])
            if crossed is None and shares[-1] >= 100.0:
                crossed = (day, shares[-1])
        colour = PALETTE[i % len(PALETTE)]
        data.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": r["module"],
                "x": days,
                "y": shares,
                "line": {"color": colour, "width": 2},
            }
        )
        if crossed is not None:
            notes.append(
                {
                    "x": crossed[0],
                    "y": crossed[1],
                    "text": f"{r['module']} exceeds its budget",
                    "showarrow": True,
                    "arrowhead": 2,
                    "ax": -70,
                    "ay": -30,
                    "font": {"color": "#c62828"},
                }
            )
    limit = next((r["limit"] for r in rows if r["limit"] is not None), None)
    shapes = [
        {
            "type": "line",
            "xref": "paper",
            "x0": 0,
            "x1": 1,
            "y0": 100,
            "y1": 100,
            "line": {"color": "#c62828", "width": 2},
        }
    ]
    if limit is not None:
        shapes.append(
            {
                "type": "line",
                "xref": "paper",
                "x0": 0,
                "x1": 1,
                "y0": limit * 100,
                "y1": limit * 100,
                "line": {"color": "#c62828", "dash": "dash", "width": 1},
            }
        )
    return {
        "data": data,
        "layout": _layout(
            "Forecast: cumulative cost of the next 30 days as % of the monthly budget "
            "(budget solid"
            + (f", go-live limit {limit:.0%} dashed)" if limit is not None else ")"),
            shapes=shapes,
            annotations=notes,
            yaxis={"title": {"text": "% of monthly budget"}, "rangemode": "tozero"},
            height=360,
        ),
    }


def cost_share_figure(model: dict[str, Any]) -> Figure:
    share = [r for r in views.cost_rows(model) if r["utilization"] is not None]
    limit = next((r["limit"] for r in share if r["limit"] is not None), None)
    shapes = []
    if limit is not None:
        shapes.append(
            {
                "type": "line",
                "xref": "paper",
                "x0": 0,
                "x1": 1,
                "y0": limit * 100,
                "y1": limit * 100,
                "line": {"color": "#c62828", "dash": "dash"},
            }
        )
    return {
        "data": [
            {
                "type": "bar",
                "name": "forecast / budget",
                "x": [r["module"] for r in share],
                "y": [r["utilization"] * 100 for r in share],
                "marker": {
                    "color": [
                        COLOURS["bad"] if r["status"] == "failed" else COLOURS["ok"] for r in share
                    ]
                },
                "text": [f"{r['utilization']:.0%}" for r in share],
                "textposition": "outside",
            }
        ],
        "layout": _layout(
            "Go-live cost gate: forecast month as % of budget"
            + (f" (limit {limit:.0%})" if limit is not None else ""),
            shapes=shapes,
            yaxis={"title": {"text": "% of monthly budget"}, "rangemode": "tozero"},
        ),
    }


def cost_figures(model: dict[str, Any]) -> dict[str, Figure]:
    return {
        "trend": cost_trend_figure(model),
        "forecast": cost_forecast_figure(model),
        "share": cost_share_figure(model),
    }


# -- decision log ------------------------------------------------------------------------------
def decisions_figure(decisions: list[dict[str, Any]]) -> Figure:
    """Decisions shown, per engine and health of their outcome."""
    counts: dict[str, dict[str, int]] = {}
    for d in decisions:
        outcome = d["outcome"]
        if d["engine"] == "qnet":
            outcome = (d.get("output") or {}).get("recommendation", outcome)
        elif d["engine"] == "qerberos":
            outcome = (d.get("output") or {}).get("riskLevel", outcome)
        status = views.health_of(d["engine"], str(outcome))
        counts.setdefault(d["engine"], {"ok": 0, "warn": 0, "bad": 0})[status] += 1
    engines = sorted(counts)
    return {
        "data": [
            {
                "type": "bar",
                "name": label,
                "x": engines,
                "y": [counts[e][status] for e in engines],
                "marker": {"color": COLOURS[status]},
            }
            for status, label in (("ok", "healthy"), ("warn", "warning"), ("bad", "critical"))
        ],
        "layout": _layout(
            "Decisions shown, per engine and outcome health", barmode="stack", height=260
        ),
    }
