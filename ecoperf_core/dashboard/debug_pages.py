"""Data routes of the dashboard's trace page and root-cause panel, and the deep-dive's example
traces.

Like the API's debugging routes (``ecoperf_core.api.debug_routes``) these answer from the
warehouse itself (a trace id or an incident time can be anything, no published model holds the
answers): each request opens it read-only through the shared reader lock, in a worker thread,
waiting at most ``READ_WAIT_S`` for a writer; while a flow writes they answer 503 with
``Retry-After`` (the page shows it and tries again on its next refresh), never DuckDB's lock
error. Everything drawn is derived in :mod:`ecoperf_core.dashboard.debug_figures` (pure).
"""

# No `from __future__ import annotations`: FastAPI must see the route annotations evaluated.

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from fastapi.params import Depends
from fastapi.responses import Response

from ecoperf_core.api.debug_routes import READ_WAIT_S
from ecoperf_core.dashboard import debug_figures, views
from ecoperf_core.errors import NotFoundError, ValidationError, WarehouseBusyError


def _problem_text(exc: ValidationError) -> str:
    problem = exc.problems[0] if exc.problems else None
    if problem is None:
        return str(exc)
    # The service names CLI options (--at); here they are the query's parameters (at).
    got = "" if problem.value is None else f" (got {problem.value!r})"
    return f"{problem.field.lstrip('-')}: {problem.message}{got}"


def _kind_of(model: dict[str, Any], entity: str) -> str | None:
    for key in (*model.get("detections", {}), *model.get("series", {})):
        kind, _, ident = key.partition(":")
        if ident == entity:
            return kind
    return None


def add_debug_pages(
    router: APIRouter,
    state: Any,
    store: Any,
    reader: Depends,
    respond: Callable[[dict[str, Any], int], Response],
) -> None:
    """Register ``data/trace``, ``data/why`` and ``data/examples`` on the dashboard router
    (``store`` is its published-model store, ``reader`` its role-``read`` dependency,
    ``respond`` its JSON response)."""
    from ecoperf_core.service import Ecoperf

    def service() -> Ecoperf:
        core = state.paths.core.model_copy(update={"writer_lock_timeout_s": READ_WAIT_S})
        return Ecoperf(core)

    async def run(call: Callable[[], Any]) -> Any:
        try:
            return await asyncio.to_thread(call)
        except ValidationError as exc:
            raise HTTPException(422, _problem_text(exc)) from None
        except NotFoundError as exc:
            raise HTTPException(404, str(exc)) from None
        except WarehouseBusyError:
            raise HTTPException(
                503, "warehouse busy (a flow is writing): retry shortly", {"Retry-After": "2"}
            ) from None

    def stamp() -> dict[str, Any]:
        model = store.get()
        return {"asOf": model.get("asOf"), "builtAt": model.get("builtAt")}

    @router.get("/data/trace", dependencies=[reader], summary="A trace as a waterfall")
    async def trace(
        id: Annotated[str, Query(min_length=1, max_length=64, pattern="^[0-9a-fA-F]+$")],
    ) -> Response:
        from ecoperf_core.traces.analysis import flatten

        report = await run(lambda: service().trace(id))
        page = debug_figures.trace_page({**report, "waterfall": flatten(report)})
        return respond({**stamp(), **page}, state.hub.last_id)

    @router.get("/data/why", dependencies=[reader], summary="Root-cause panel of an incident")
    async def why(
        entity: Annotated[str | None, Query(min_length=1, max_length=256)] = None,
        at: Annotated[str | None, Query(min_length=10, max_length=40)] = None,
        metric: Annotated[str | None, Query(max_length=64)] = None,
    ) -> Response:
        model = store.get()
        if entity is None:
            chosen = views.default_entity(model)
            if chosen is None:
                raise HTTPException(404, "no entity has a series yet: give entity and at")
            entity = chosen[1]
        if at is None:
            kind = _kind_of(model, entity)
            at = None if kind is None else debug_figures.default_incident(model, kind, entity)
            if at is None:
                raise HTTPException(
                    422, f"at: {entity!r} has no stored detection to open on; give a time"
                )
        # Bound for the lambda below (mypy cannot narrow captured optionals).
        chosen_entity, chosen_at = entity, at
        result = await run(lambda: service().why(chosen_entity, chosen_at, metric))
        return respond(
            {**stamp(), "entity": entity, "at": at, **debug_figures.why_page(result)},
            state.hub.last_id,
        )

    @router.get("/data/examples", dependencies=[reader], summary="Example traces of a slow window")
    async def examples(
        kind: Annotated[str, Query(min_length=1, max_length=32)],
        id: Annotated[str, Query(min_length=1, max_length=256)],
        limit: Annotated[int, Query(ge=1, le=50)] = 8,
    ) -> Response:
        model = store.get()
        window = debug_figures.slow_window(model, kind, id)
        rows: list[dict[str, Any]] = []
        if window is not None:
            start = datetime.fromisoformat(window["from"])
            end = datetime.fromisoformat(window["to"])
            found = await run(lambda: service().example_traces(id, start, end, limit))
            rows = debug_figures.example_rows(found)
        return respond(
            {**stamp(), "kind": kind, "id": id, "window": window, "tables": {"examples": rows}},
            state.hub.last_id,
        )
