"""Span trees, critical paths and latency breakdowns: pure functions of spans.

A span here is a mapping with ``span_id, parent_span_id, service, name, start_ts, end_ts,
duration_ms`` (a ``spans`` row). Times may be datetimes or numbers; only their order and
differences matter.

Critical path (as Jaeger computes it): walk back from the root's end. At each point in time the
path is in the span that the work is waiting on: the child that finished last before that point,
recursively; where no child is running, the parent's own (self) time is on the path. So the
critical path's segments tile the root span exactly, and a span's share of it says how much the
request's latency would shrink if that span were free. Children that outlive their parent
(asynchronous work) are clipped to the parent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

Span = Mapping[str, Any]


def _t(value: Any) -> float:
    """A time as seconds (datetime) or as given (number)."""
    if isinstance(value, datetime):
        return value.timestamp()
    return float(value)


@dataclass
class SpanNode:
    """One span with its children, ordered by start time."""

    span: Span
    children: list[SpanNode] = field(default_factory=list)

    @property
    def span_id(self) -> str:
        return str(self.span["span_id"])

    @property
    def start(self) -> float:
        return _t(self.span["start_ts"])

    @property
    def end(self) -> float:
        return _t(self.span["end_ts"])


def build_tree(spans: Iterable[Span]) -> list[SpanNode]:
    """The span forest of one trace: roots (no parent, or a parent not in the trace) first by
    start time, children ordered by start time."""
    nodes = {str(s["span_id"]): SpanNode(s) for s in spans}
    roots: list[SpanNode] = []
    for node in nodes.values():
        parent = node.span.get("parent_span_id")
        if parent is not None and str(parent) in nodes and str(parent) != node.span_id:
            nodes[str(parent)].children.append(node)
        else:
            roots.append(node)
    for node in nodes.values():
        node.children.sort(key=lambda n: (n.start, n.span_id))
    roots.sort(key=lambda n: (n.start, n.span_id))
    return roots


@dataclass(frozen=True)
class PathSegment:
    """A stretch of the critical path spent in one span's own work."""

    span_id: str
    start: float
    end: float

    @property
    def seconds(self) -> float:
        return self.end - self.start


def critical_path(root: SpanNode) -> list[PathSegment]:
    """The critical path of the tree under ``root``, as time-ordered segments tiling the root."""
    segments: list[PathSegment] = []
    _walk(root, root.start, root.end, segments)
    segments.reverse()
    merged: list[PathSegment] = []
    for seg in segments:
        if seg.end - seg.start <= 0:
            continue
        if merged and merged[-1].span_id == seg.span_id and merged[-1].end == seg.start:
            merged[-1] = PathSegment(seg.span_id, merged[-1].start, seg.end)
        else:
            merged.append(seg)
    return merged


def _walk(node: SpanNode, lo: float, hi: float, out: list[PathSegment]) -> None:
    """Append (latest first) the path of ``node`` within [lo, hi]."""
    cursor = hi
    # Children by end time, latest first; each one is on the path if it ends before the cursor.
    for child in sorted(node.children, key=lambda c: (c.end, c.start), reverse=True):
        c_start, c_end = max(child.start, lo), min(child.end, cursor)
        if c_end <= lo or c_end <= c_start:
            continue
        if c_end < cursor:
            out.append(PathSegment(node.span_id, c_end, cursor))
        _walk(child, c_start, c_end, out)
        cursor = c_start
        if cursor <= lo:
            break
    if cursor > lo:
        out.append(PathSegment(node.span_id, lo, cursor))


def self_times(root: SpanNode) -> dict[str, float]:
    """Each span's own time (seconds): its duration minus the union of its children (clipped)."""
    out: dict[str, float] = {}
    stack = [root]
    while stack:
        node = stack.pop()
        covered, reach = 0.0, node.start
        for child in node.children:  # ordered by start
            lo, hi = max(child.start, reach, node.start), min(child.end, node.end)
            if hi > lo:
                covered += hi - lo
                reach = hi
        out[node.span_id] = max(0.0, node.end - node.start - covered)
        stack.extend(node.children)
    return out


def trace_report(spans: Sequence[Span]) -> dict[str, Any]:
    """One trace as a JSON-able tree: every span with its timings (ms from the trace start),
    self time and critical-path time, plus the critical path itself."""
    roots = build_tree(spans)
    if not roots:
        return {"spans": 0, "roots": [], "criticalPath": []}
    t0 = min(r.start for r in roots)
    root = max(roots, key=lambda r: r.end - r.start)  # the request; orphans are shown beside
    path = critical_path(root)
    on_path: dict[str, float] = {}
    for seg in path:
        on_path[seg.span_id] = on_path.get(seg.span_id, 0.0) + seg.seconds
    own: dict[str, float] = {}
    for r in roots:
        own.update(self_times(r))

    def render(node: SpanNode, depth: int) -> dict[str, Any]:
        s = node.span
        return {
            "spanId": node.span_id,
            "parentSpanId": s.get("parent_span_id"),
            "service": s.get("service"),
            "name": s.get("name"),
            "kind": s.get("kind"),
            "status": s.get("status"),
            "entity": s.get("entity_id"),
            "depth": depth,
            "startMs": round((node.start - t0) * 1000, 3),
            "durationMs": round((node.end - node.start) * 1000, 3),
            "selfMs": round(own.get(node.span_id, 0.0) * 1000, 3),
            "criticalMs": round(on_path.get(node.span_id, 0.0) * 1000, 3),
            "children": [render(c, depth + 1) for c in node.children],
        }

    by_id = {str(s["span_id"]): s for s in spans}
    return {
        "spans": len(spans),
        "durationMs": round((root.end - root.start) * 1000, 3),
        "rootSpanId": root.span_id,
        "roots": [render(r, 0) for r in roots],
        "criticalPath": [
            {
                "spanId": seg.span_id,
                "service": by_id[seg.span_id].get("service"),
                "name": by_id[seg.span_id].get("name"),
                "startMs": round((seg.start - t0) * 1000, 3),
                "durationMs": round(seg.seconds * 1000, 3),
            }
            for seg in path
        ],
    }


def flatten(tree: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The rendered tree's spans depth-first (waterfall order), children dropped."""
    out: list[dict[str, Any]] = []
    stack = list(reversed(tree.get("roots", [])))
    while stack:
        node = stack.pop()
        out.append({k: v for k, v in node.items() if k != "children"})
        stack.extend(reversed(node["children"]))
    return out


def _quantile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    pos = q * (len(ordered) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def latency_breakdown(traces: Mapping[str, Sequence[Span]]) -> list[dict[str, Any]]:
    """Per service and operation (span name) over many traces: spans, duration p50/p95, mean
    self time and the share of all critical-path time spent there (what to speed up first)."""
    stats: dict[tuple[str, str], dict[str, list[float]]] = {}
    total_path = 0.0
    for spans in traces.values():
        roots = build_tree(spans)
        if not roots:
            continue
        root = max(roots, key=lambda r: r.end - r.start)
        path = critical_path(root)
        on_path: dict[str, float] = {}
        for seg in path:
            on_path[seg.span_id] = on_path.get(seg.span_id, 0.0) + seg.seconds
        total_path += sum(seg.seconds for seg in path)
        own: dict[str, float] = {}
        for r in roots:
            own.update(self_times(r))
        for s in spans:
            key = (str(s.get("service")), str(s.get("name")))
            entry = stats.setdefault(key, {"duration": [], "self": [], "critical": []})
            sid = str(s["span_id"])
            entry["duration"].append((_t(s["end_ts"]) - _t(s["start_ts"])) * 1000)
            entry["self"].append(own.get(sid, 0.0) * 1000)
            entry["critical"].append(on_path.get(sid, 0.0) * 1000)
    rows = []
    for (service, name), entry in stats.items():
        critical = sum(entry["critical"])
        rows.append(
            {
                "service": service,
                "operation": name,
                "spans": len(entry["duration"]),
                "p50Ms": round(_quantile(entry["duration"], 0.5), 3),
                "p95Ms": round(_quantile(entry["duration"], 0.95), 3),
                "meanSelfMs": round(sum(entry["self"]) / len(entry["self"]), 3),
                "criticalShare": round(critical / (total_path * 1000), 4) if total_path else 0.0,
            }
        )
    rows.sort(key=lambda r: (-r["criticalShare"], r["service"], r["operation"]))
    return rows
