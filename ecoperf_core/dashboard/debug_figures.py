"""Figures and tables of the dashboard's debugging pages (pure: reports in, figures out).

The trace page draws a trace report (``service.trace`` plus its depth-first ``waterfall``
rows, what ``GET /traces/{traceId}`` answers) as a waterfall; the root-cause page draws a
``why`` result (what ``GET /root-cause/{entity}`` answers) as the ranked suspects and their
evidence. Links between pages are ``{"link": page, "params": {...}, "text": ...}`` cells that
the page script turns into anchors under the dashboard's prefix.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from ecoperf_core.dashboard.figures import Figure, _layout

# Service colours by order of first appearance in the trace (the root's service first), so
# one service keeps its colour on every bar of a trace.
PALETTE = (
    "#1e88e5",
    "#43a047",
    "#fb8c00",
    "#8e24aa",
    "#00897b",
    "#6d4c41",
    "#3949ab",
    "#c0ca33",
    "#d81b60",
    "#546e7a",
)
CRITICAL = "#b71c1c"
# Either side of the incident: the window whose example traces the deep-dive lists.
EXAMPLE_HALF_WINDOW = timedelta(minutes=30)


def link(page: str, text: str, **params: str) -> dict[str, Any]:
    """A table cell the page script renders as an anchor to another dashboard page."""
    return {"link": page, "params": params, "text": text}


# -- the trace page ----------------------------------------------------------------------------
def service_colours(rows: list[dict[str, Any]]) -> dict[str, str]:
    colours: dict[str, str] = {}
    for row in rows:
        service = str(row.get("service"))
        if service not in colours:
            colours[service] = PALETTE[len(colours) % len(PALETTE)]
    return colours


def _span_label(row: dict[str, Any]) -> str:
    # Non-breaking spaces: Plotly trims ordinary leading spaces from tick labels.
    return "\u00a0\u00a0" * int(row.get("depth") or 0) + f"{row.get('service')} · {row.get('name')}"


def waterfall_figure(report: dict[str, Any]) -> Figure:
    """One horizontal bar per span (start offset → duration, ms from the trace start), coloured
    by service, the critical path drawn over them as narrow dark bars, root at the top."""
    rows: list[dict[str, Any]] = report.get("waterfall", [])
    colours = service_colours(rows)
    position = {}
    for index, row in enumerate(rows):
        position.setdefault(row["spanId"], index)
    data: list[dict[str, Any]] = []
    for service, colour in colours.items():
        mine = [(i, r) for i, r in enumerate(rows) if str(r.get("service")) == service]
        data.append(
            {
                "type": "bar",
                "orientation": "h",
                "name": service,
                "y": [i for i, _ in mine],
                "x": [r["durationMs"] for _, r in mine],
                "base": [r["startMs"] for _, r in mine],
                "width": 0.7,
                "marker": {
                    "color": colour,
                    "opacity": 0.75,
                    # An error span gets a red outline: it may explain the trace on its own.
                    "line": {
                        "color": [
                            CRITICAL if r.get("status") == "error" else colour for _, r in mine
                        ],
                        "width": [2 if r.get("status") == "error" else 0 for _, r in mine],
                    },
                },
                "customdata": [
                    [r.get("name"), r["startMs"], r["selfMs"], r["criticalMs"], r.get("status")]
                    for _, r in mine
                ],
                "hovertemplate": f"{service} · %{{customdata[0]}}<br>start %{{customdata[1]}} ms,"
                " duration %{x} ms<br>self %{customdata[2]} ms, on the critical path "
                "%{customdata[3]} ms<br>status %{customdata[4]}<extra></extra>",
            }
        )
    path = [s for s in report.get("criticalPath", []) if s["spanId"] in position]
    if path:
        data.append(
            {
                "type": "bar",
                "orientation": "h",
                "name": "critical path",
                "y": [position[s["spanId"]] for s in path],
                "x": [s["durationMs"] for s in path],
                "base": [s["startMs"] for s in path],
                "width": 0.25,
                "marker": {"color": CRITICAL},
                "customdata": [[s["service"], s["name"], s["startMs"]] for s in path],
                "hovertemplate": "critical path: %{customdata[0]} · %{customdata[1]}<br>"
                "%{customdata[2]} ms + %{x} ms<extra></extra>",
            }
        )
    total = report.get("durationMs")
    return {
        "data": data,
        "layout": _layout(
            f"Trace {report.get('traceId', '')[:16]}… · {total} ms, {len(rows)} spans"
            " (dark bars: critical path)",
            height=max(260, 90 + 28 * len(rows)),
            barmode="overlay",
            margin={"l": 260, "r": 20, "t": 48, "b": 60},
            xaxis={"title": {"text": "ms from the trace start"}, "rangemode": "tozero"},
            yaxis={
                "autorange": "reversed",
                "tickvals": list(range(len(rows))),
                # Plain labels: right-aligned tick text cannot show the tree's indentation
                # (the spans table below does).
                "ticktext": [f"{r.get('service')} · {r.get('name')}" for r in rows],
                "tickfont": {"size": 11},
            },
        ),
    }


def span_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The waterfall's spans as a table (the full span in the row's evidence)."""
    out = []
    for r in report.get("waterfall", []):
        entity = r.get("entity")
        out.append(
            {
                "span": _span_label(r),
                "startMs": r["startMs"],
                "durationMs": r["durationMs"],
                "selfMs": r["selfMs"],
                "criticalMs": r["criticalMs"],
                "status": r.get("status"),
                "entity": entity,
                "evidence": {k: v for k, v in r.items() if k not in ("depth",)},
            }
        )
    return out


def critical_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Time on the critical path per span, largest first (what to speed up first)."""
    total = report.get("durationMs") or 0.0
    per_span: dict[str, dict[str, Any]] = {}
    for seg in report.get("criticalPath", []):
        entry = per_span.setdefault(
            seg["spanId"],
            {"service": seg["service"], "operation": seg["name"], "criticalMs": 0.0},
        )
        entry["criticalMs"] += seg["durationMs"]
    rows = sorted(per_span.values(), key=lambda e: -e["criticalMs"])
    return [
        {
            **e,
            "criticalMs": round(e["criticalMs"], 3),
            "share": round(e["criticalMs"] / total, 4) if total else 0.0,
        }
        for e in rows
    ]


def trace_page(report: dict[str, Any]) -> dict[str, Any]:
    return {
        "traceId": report.get("traceId"),
        "start": report.get("start"),
        "durationMs": report.get("durationMs"),
        "figures": {"waterfall": waterfall_figure(report)},
        "tables": {"critical": critical_rows(report), "spans": span_rows(report)},
    }


# -- example traces of a slow window -----------------------------------------------------------
def slow_window(model: dict[str, Any], kind: str, entity: str) -> dict[str, Any] | None:
    """The window of the entity the deep-dive lists example traces for: around its latest
    change point, else its latest anomaly, else its slowest hour (highest p95) in the series."""
    found = model.get("detections", {}).get(f"{kind}:{entity}", [])
    for detector in ("changepoint", "anomaly"):
        times = [d["at"] for d in found if d.get("detector") == detector]
        if times:
            at = datetime.fromisoformat(max(times))
            return {
                "reason": f"latest {detector} ({max(times)})",
                "from": (at - EXAMPLE_HALF_WINDOW).isoformat(),
                "to": (at + EXAMPLE_HALF_WINDOW).isoformat(),
            }
    series = model.get("series", {}).get(f"{kind}:{entity}")
    if not series:
        return None
    ranked = [(v, t) for v, t in zip(series.get("p95", []), series["t"], strict=False) if v]
    if not ranked:
        return None
    worst, hour = max(ranked)
    start = datetime.fromisoformat(hour)
    return {
        "reason": f"slowest hour (p95 {worst} ms)",
        "from": start.isoformat(),
        "to": (start + timedelta(hours=1)).isoformat(),
    }


def example_rows(examples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "trace": link("trace", e["traceId"], id=e["traceId"]),
            "durationMs": e["durationMs"],
            "entityMs": e["entityMs"],
            "entitySpans": e["entitySpans"],
            "error": e["error"],
            "criticalTop": e["criticalTop"],
            "criticalTopShare": e["criticalTopShare"],
        }
        for e in examples
    ]


def detection_links(kind: str, entity: str, detections: list[dict[str, Any]]) -> list[Any]:
    """Each detection row with a link to the root-cause page of that incident."""
    return [
        {
            **d,
            "rootCause": link("why", "why?", entity=entity, at=d["at"], metric=d["metric"]),
        }
        for d in detections
    ]


# -- the root-cause page -----------------------------------------------------------------------
def _suspect_label(s: dict[str, Any]) -> str:
    return f"{s['entityKind']} {s['entity']} · {s['metric']}"


def suspects_figure(result: dict[str, Any]) -> Figure:
    """Suspects by score, best on top; the first one highlighted."""
    suspects = result.get("suspects", [])
    incident = result.get("incident", {})
    labels = [f"#{s['rank']} {_suspect_label(s)}" for s in suspects]
    return {
        "data": [
            {
                "type": "bar",
                "orientation": "h",
                "name": "score",
                "y": labels,
                "x": [s["score"] for s in suspects],
                "marker": {"color": [CRITICAL if s["rank"] == 1 else "#90a4ae" for s in suspects]},
                "customdata": [
                    [
                        s["evidence"].get("changeAt"),
                        s["evidence"].get("leadMinutes"),
                        s["evidence"].get("correlation"),
                        s["evidence"].get("relativeChange"),
                    ]
                    for s in suspects
                ],
                "hovertemplate": "%{y}: score %{x}<br>moved at %{customdata[0]}, "
                "%{customdata[1]} min before the incident<br>correlation %{customdata[2]}, "
                "relative change %{customdata[3]}<extra></extra>",
            }
        ],
        "layout": _layout(
            f"Suspects for {incident.get('entity')} {incident.get('metric')} at "
            f"{incident.get('at')}<br><sub>higher: moved earlier and more strongly</sub>",
            height=max(280, 80 + 30 * len(suspects)),
            margin={"l": 300, "r": 20, "t": 64, "b": 48},
            yaxis={"autorange": "reversed"},
            xaxis={"title": {"text": "root-cause score"}, "rangemode": "tozero"},
            showlegend=False,
        ),
    }


def evidence_figure(result: dict[str, Any]) -> Figure:
    """How early (lead minutes before the incident) against how strongly (lead-lag
    correlation) each suspect moved; marker size is the score."""
    suspects = [
        s for s in result.get("suspects", []) if s["evidence"].get("leadMinutes") is not None
    ]
    top = max((s["score"] for s in suspects), default=1.0) or 1.0
    return {
        "data": [
            {
                "type": "scatter",
                "mode": "markers+text",
                "name": "suspects",
                "x": [s["evidence"]["leadMinutes"] for s in suspects],
                "y": [s["evidence"].get("correlation") for s in suspects],
                "text": [f"#{s['rank']}" for s in suspects],
                "textposition": "middle right",  # above, the top label is clipped
                "marker": {
                    "size": [10 + 30 * s["score"] / top for s in suspects],
                    "color": [CRITICAL if s["rank"] == 1 else "#78909c" for s in suspects],
                    "opacity": 0.8,
                },
                "customdata": [
                    [_suspect_label(s), s["evidence"].get("changeAt")] for s in suspects
                ],
                "hovertemplate": "%{customdata[0]}<br>moved at %{customdata[1]}: %{x} min "
                "before the incident<br>correlation %{y}<extra></extra>",
            }
        ],
        "layout": _layout(
            "Evidence: lead before the incident against correlation (size: score)",
            xaxis={"title": {"text": "lead (minutes before the incident)"}},
            yaxis={"title": {"text": "lead-lag correlation"}},
            showlegend=False,
        ),
    }


def suspect_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "rank": s["rank"],
            "entity": link(
                "component",
                f"{s['entityKind']} {s['entity']}",
                kind=s["entityKind"],
                id=s["entity"],
            ),
            "metric": s["metric"],
            "score": s["score"],
            "changeAt": s["evidence"].get("changeAt"),
            "leadMinutes": s["evidence"].get("leadMinutes"),
            "correlation": s["evidence"].get("correlation"),
            "lagMinutes": s["evidence"].get("lagMinutes"),
            "relativeChange": s["evidence"].get("relativeChange"),
            "pValue": s["evidence"].get("pValue"),
            "evidence": s["evidence"],
        }
        for s in result.get("suspects", [])
    ]


def why_page(result: dict[str, Any]) -> dict[str, Any]:
    incident = result.get("incident", {})
    return {
        "incident": incident,
        "window": result.get("window"),
        "candidates": result.get("candidates"),
        "figures": {"suspects": suspects_figure(result), "evidence": evidence_figure(result)},
        "tables": {
            "incident": [
                {
                    **{k: v for k, v in incident.items()},
                    "candidates": result.get("candidates"),
                    "evidence": {
                        "window": result.get("window"),
                        "parameters": result.get("parameters"),
                    },
                }
            ],
            "suspects": suspect_rows(result),
            "examples": example_rows(result.get("exampleTraces", [])),
        },
    }


def default_incident(model: dict[str, Any], kind: str, entity: str) -> str | None:
    """The time the root-cause page opens on for an entity: its latest change point, else its
    latest detection."""
    found = model.get("detections", {}).get(f"{kind}:{entity}", [])
    changes = [d["at"] for d in found if d.get("detector") == "changepoint"]
    if changes:
        return max(changes)
    return max((d["at"] for d in found), default=None)


__all__ = [
    "default_incident",
    "detection_links",
    "example_rows",
    "slow_window",
    "trace_page",
    "waterfall_figure",
    "why_page",
]
