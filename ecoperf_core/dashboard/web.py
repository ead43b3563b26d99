"""The web dashboard: pages and their data under ``/ecosystem-performance/dashboard``.

Pages are server-rendered HTML shells (navigation, chart slots, filters) that hold no data, so they
are open like the static files; each page's script fetches its figures and tables from
``dashboard/data/<page>`` with the reader's bearer token (kept in the tab's sessionStorage, given
once as ``#token=...``), draws them with Plotly (served from the ``plotly`` wheel's bundled file:
no CDN, no build step) and re-fetches when the WebSocket feed reports a new event. The data comes
from the dashboard model the publish flow writes beside the serving snapshot and from the
snapshot's recent decisions: this process never opens the warehouse.
"""

from __future__ import annotations

import html
import os
import threading
from collections.abc import Awaitable, Callable
from importlib import resources
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import orjson
from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import FileResponse, HTMLResponse, Response

from ecoperf_core.dashboard import debug_figures, figures, views
from ecoperf_core.dashboard.debug_pages import add_debug_pages
from ecoperf_core.dashboard.model import dashboard_path

if TYPE_CHECKING:
    from fastapi import Request

    from ecoperf_core.api.app import ApiState
    from ecoperf_core.api.auth import Principal, Role

PLOTLY_VERSION = version("plotly")
STATIC = Path(str(resources.files("ecoperf_core.dashboard") / "static"))
PAGES = (
    ("", "overview", "Ecosystem overview"),
    ("component", "component", "Component deep-dive"),
    ("risk", "risk", "Risk correlation"),
    ("cost", "cost", "Cost impact"),
    ("decisions", "decisions", "Policy decision log"),
    ("why", "why", "Root cause"),
    ("trace", "trace", "Trace waterfall"),
)
ENTITY_KINDS = ("node", "dao", "module", "deployment", "operation", "user")
DECISION_ENGINES = ("qnet", "qflow", "qerberos", "cicd", "golive", "dao", "canary")


def plotly_file() -> Path:
    """plotly.min.js as the plotly wheel ships it."""
    return Path(str(resources.files("plotly") / "package_data" / "plotly.min.js"))


class DashboardStore:
    """The published dashboard model, parsed again only when the file changed (checked per
    request: one stat), and only by dashboard routes (it is larger than the serving snapshot)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._key: tuple[int, int, int] | None = None
        self._model: dict[str, Any] | None = None
        self._lock = threading.Lock()

    def get(self) -> dict[str, Any]:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            if self._model is not None:
                return self._model
            raise HTTPException(
                503,
                "no dashboard model yet: run the publish flow (`ecosystem-perf dashboard "
                "--publish`, or let `ecosystem-perf serve` schedule it)",
                headers={"Retry-After": "5"},
            ) from None
        key = (st.st_ino, st.st_mtime_ns, st.st_size)
        if key != self._key:
            with self._lock:
                if key != self._key:
                    try:
                        self._model = orjson.loads(self.path.read_bytes())
                        self._key = key
                    except (OSError, ValueError):
                        pass  # replaced meanwhile: keep the last good one
        if self._model is None:
            raise HTTPException(503, "the dashboard model could not be read; retry")
        return self._model


def _stamp(model: dict[str, Any]) -> dict[str, Any]:
    return {"asOf": model.get("asOf"), "builtAt": model.get("builtAt")}


# -- HTML --------------------------------------------------------------------------------------
def _charts(*names: str, wide: bool = False) -> str:
    cls = "charts wide" if wide else "charts"
    slots = "".join(
        f'<div class="eco-chart" id="chart-{n}" data-figure="{n}"></div>' for n in names
    )
    return f'<section class="{cls}">{slots}</section>'


def _table(name: str, title: str) -> str:
    return (
        f'<section class="panel"><h2>{html.escape(title)}</h2>'
        f'<div class="eco-table" data-table="{name}"></div></section>'
    )


def _bodies() -> dict[str, str]:
    engines = "".join(f'<option value="{e}">{e}</option>' for e in DECISION_ENGINES)
    kinds = "".join(f'<option value="{k}">{k}</option>' for k in ENTITY_KINDS)
    return {
        "overview": _charts("health", "weights", "daos")
        + _table("alerts", "Firing alerts")
        + _table("verdicts", "Recent gate and canary verdicts")
        + _table("readiness", "Go-live readiness per module"),
        "component": (
            '<form class="filters" id="entity-form">'
            f'<label>kind <select name="kind">{kinds}</select></label>'
            '<label>entity <select name="id"></select></label>'
            '<button type="submit">show</button><span class="hint" id="entity-title"></span>'
            "</form>"
        )
        + _charts("latency", "errors", "weight", "availability", "cost", wide=True)
        + _table(
            "detections", "Detections (change points and anomalies; why? opens the root cause)"
        )
        + _table("inForce", "Decisions in force for this entity")
        + '<section class="panel"><h2>Example traces of a slow window '
        '<span class="hint" id="examples-window"></span></h2>'
        '<div class="eco-table" data-table="examples" data-late="1"></div></section>',
        "risk": _charts("anomalies", "cost") + _table("risk", "Riskiest entities (highest first)"),
        "cost": _charts("trend", "forecast", wide=True)
        + _charts("share")
        + _table("cost", "Cost gate per module"),
        "decisions": (
            '<form class="filters" id="decision-filters">'
            f'<label>engine <select name="engine"><option value="">any</option>{engines}'
            "</select></label>"
            '<label>subject <input name="subject" placeholder="node-17"></label>'
            '<label>outcome <input name="outcome" placeholder="block_deployment"></label>'
            '<label>limit <input name="limit" type="number" min="1" max="1000" value="200">'
            '</label><button type="submit">filter</button></form>'
        )
        + _charts("engines")
        + _table("decisions", "Decisions, newest first (click a row for its evidence)"),
        "why": (
            '<form class="filters" id="why-form">'
            '<label>entity <input name="entity" placeholder="node-17"></label>'
            '<label>at <input name="at" placeholder="2026-11-29T06:05"></label>'
            '<label>metric <input name="metric" placeholder="latency_p95"></label>'
            '<button type="submit">rank suspects</button>'
            '<span class="hint" id="why-title"></span></form>'
        )
        + _table("incident", "Incident (the stored detection nearest the time)")
        + _charts("suspects", "evidence")
        + _table("suspects", "Suspects, best first (click a row for its evidence)")
        + _table("examples", "Example traces of the incident's window"),
        "trace": (
            '<form class="filters" id="trace-form">'
            '<label>trace id <input name="id" size="36" placeholder="32 hex digits"></label>'
            '<button type="submit">show</button><span class="hint" id="trace-title"></span>'
            "</form>"
        )
        + _charts("waterfall", wide=True)
        + _table("critical", "Critical path per span (largest first)")
        + _table("spans", "Spans, depth-first (click a row for the span)"),
    }


def render_page(page: str, title: str, prefix: str) -> str:
    nav = "".join(
        f'<a href="{prefix}/dashboard{"/" + path if path else ""}"'
        f"{' class=active' if name == page else ''}>{html.escape(label)}</a>"
        for path, name, label in PAGES
    )
    static = f"{prefix}/dashboard/static"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>ecoperf · {html.escape(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{static}/dashboard.css">
<script src="{static}/plotly-{PLOTLY_VERSION}.min.js"></script>
<script src="{static}/dashboard.js" defer></script>
</head>
<body data-page="{page}" data-prefix="{prefix}">
<header><h1>ecoperf · {html.escape(title)}</h1><nav>{nav}</nav>
<div class="status"><span id="as-of">loading…</span> · feed <span id="live-state">connecting</span></div>
</header>
<main>
<div id="error" class="error" hidden></div>
<form id="token-form" class="filters" hidden>
<label>API token (role read) <input name="token" type="password" autocomplete="off"></label>
<button type="submit">use</button></form>
{_bodies()[page]}
<section class="panel"><h2>Live events (WebSocket feed)</h2><ol id="live" class="live"></ol></section>
</main></body></html>"""


# -- data --------------------------------------------------------------------------------------
def overview_data(model: dict[str, Any]) -> dict[str, Any]:
    return {
        **_stamp(model),
        "figures": {
            "health": figures.health_figure(model),
            "weights": figures.node_weights_figure(model),
            "daos": figures.dao_figure(model),
        },
        "tables": {
            "alerts": views.alerts(model),
            "verdicts": views.verdicts(model),
            "readiness": views.readiness(model),
        },
    }


def component_data(model: dict[str, Any], kind: str | None, entity: str | None) -> dict[str, Any]:
    if kind is None or entity is None:
        chosen = views.default_entity(model)
        if chosen is None:
            raise HTTPException(404, "no entity has a series yet")
        kind, entity = chosen
    if kind not in ENTITY_KINDS:
        raise HTTPException(422, f"kind: must be one of {', '.join(ENTITY_KINDS)} (got {kind!r})")
    if f"{kind}:{entity}" not in model.get("series", {}):
        raise HTTPException(404, f"id: unknown {kind} {entity!r} (no series in the dashboard)")
    in_force = [
        {"engine": engine, "subject": subject, **item}
        for engine, subjects in model.get("latest", {}).items()
        for subject, item in subjects.items()
        if subject == entity or subject.startswith(f"{entity}@")
    ]
    return {
        **_stamp(model),
        "kind": kind,
        "id": entity,
        "entities": views.entities(model),
        "figures": figures.component_figures(model, kind, entity),
        "tables": {
            "detections": debug_figures.detection_links(
                kind, entity, model.get("detections", {}).get(f"{kind}:{entity}", [])
            ),
            "inForce": [
                {
                    "engine": d["engine"],
                    "subject": d["subject"],
                    "outcome": d["outcome"],
                    "decidedAt": d["decidedAt"],
                    "evidence": {
                        "output": d["output"],
                        "inputs": d.get("inputs"),
                        "evidence": d.get("evidence"),
                    },
                }
                for d in in_force
            ],
        },
    }


def risk_data(model: dict[str, Any]) -> dict[str, Any]:
    return {
        **_stamp(model),
        "figures": figures.risk_figures(model),
        # The 25 riskiest: the charts show every entity, the table the ones worth reading.
        "tables": {"risk": views.risk_rows(model)[:25]},
    }


def cost_data(model: dict[str, Any]) -> dict[str, Any]:
    rows = [{k: v for k, v in r.items() if k != "dailyCosts"} for r in views.cost_rows(model)]
    return {**_stamp(model), "figures": figures.cost_figures(model), "tables": {"cost": rows}}


def decisions_data(
    recent: list[dict[str, Any]],
    engine: str | None,
    subject: str | None,
    outcome: str | None,
    limit: int,
    stamp: dict[str, Any],
) -> dict[str, Any]:
    rows = [
        d
        for d in recent
        if (not engine or d["engine"] == engine)
        and (not subject or subject.lower() in str(d["subject"]).lower())
        and (not outcome or outcome.lower() in str(d["outcome"]).lower())
    ][:limit]
    return {
        **stamp,
        "figures": {"engines": figures.decisions_figure(rows)},
        "tables": {
            "decisions": [
                {
                    "decidedAt": d["decided_at"],
                    "engine": d["engine"],
                    "subject": d["subject"],
                    "outcome": d["outcome"],
                    "policy": d.get("policy_version"),
                    "evidence": {
                        "output": d.get("output"),
                        "inputs": d.get("inputs"),
                        "thresholds": d.get("thresholds"),
                        "evidence": d.get("evidence"),
                    },
                }
                for d in rows
            ]
        },
    }


def _json_response(payload: dict[str, Any], feed_last_id: int = 0) -> Response:
    # orjson writes NaN as null (a browser's JSON.parse refuses NaN) and is fast on big figures.
    # feedLastId lets a page replay the feed's latest events when it connects.
    body = {**payload, "feedLastId": feed_last_id}
    return Response(orjson.dumps(body, default=str), media_type="application/json")


def dashboard_router(
    state: ApiState,
    requires: Callable[[Role, str], Callable[[Request], Awaitable[Principal]]],
    prefix: str,
) -> APIRouter:
    """The dashboard's routes; ``state`` is the API's (snapshot store, paths), ``requires`` its
    auth dependency factory (data routes need role ``read``; DAO-scoped tokens are refused: the
    dashboard shows the whole ecosystem)."""
    store = DashboardStore(dashboard_path(state.paths.snapshot))
    router = APIRouter(prefix=f"{prefix}/dashboard", tags=["dashboard"])
    reader = Depends(requires("read", "dashboard"))
    pages = {name: (path, label) for path, name, label in PAGES}

    def page_route(name: str) -> Callable[[], HTMLResponse]:
        def serve() -> HTMLResponse:
            return HTMLResponse(render_page(name, pages[name][1], prefix))

        serve.__name__ = f"dashboard_{name}_page"
        return serve

    for path, name, label in PAGES:
        router.add_api_route(
            f"/{path}" if path else "",
            page_route(name),
            methods=["GET"],
            summary=f"Dashboard page: {label}",
            response_class=HTMLResponse,
        )

    @router.get("/static/{name}", summary="Dashboard scripts and styles (open)")
    def static(name: str) -> FileResponse:
        cache = {"Cache-Control": "public, max-age=86400"}
        if name == f"plotly-{PLOTLY_VERSION}.min.js":
            return FileResponse(plotly_file(), media_type="text/javascript", headers=cache)
        if name in ("dashboard.js", "dashboard.css"):
            kind = "text/javascript" if name.endswith(".js") else "text/css"
            return FileResponse(
                STATIC / name, media_type=kind, headers={"Cache-Control": "no-cache"}
            )
        raise HTTPException(404, f"no static file {name!r}")

    @router.get("/data/overview", dependencies=[reader], summary="Overview figures and tables")
    def overview() -> Response:
        return _json_response(overview_data(store.get()), state.hub.last_id)

    @router.get("/data/component", dependencies=[reader], summary="Deep-dive of one entity")
    def component(
        kind: Annotated[str | None, Query(max_length=32)] = None,
        id: Annotated[str | None, Query(max_length=256)] = None,
    ) -> Response:
        return _json_response(component_data(store.get(), kind, id), state.hub.last_id)

    @router.get("/data/risk", dependencies=[reader], summary="Risk correlation")
    def risk() -> Response:
        return _json_response(risk_data(store.get()), state.hub.last_id)

    @router.get("/data/cost", dependencies=[reader], summary="Cost impact")
    def cost() -> Response:
        return _json_response(cost_data(store.get()), state.hub.last_id)

    @router.get("/data/decisions", dependencies=[reader], summary="Decision log, filtered")
    def decisions(
        engine: Annotated[str | None, Query(max_length=32)] = None,
        subject: Annotated[str | None, Query(max_length=256)] = None,
        outcome: Annotated[str | None, Query(max_length=64)] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    ) -> Response:
        if engine and engine not in DECISION_ENGINES:
            raise HTTPException(
                422, f"engine: must be one of {', '.join(DECISION_ENGINES)} (got {engine!r})"
            )
        snap = state.snapshots.get()
        stamp = {"asOf": snap.data.get("asOf"), "builtAt": snap.data.get("builtAt")}
        return _json_response(
            decisions_data(state.snapshots.recent(), engine, subject, outcome, limit, stamp),
            state.hub.last_id,
        )

    add_debug_pages(router, state, store, reader, _json_response)
    return router
