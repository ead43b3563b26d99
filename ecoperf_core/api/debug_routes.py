"""Debugging routes: a trace's span tree and an incident's root-cause ranking, as JSON.

Unlike the evaluation routes these answer from the warehouse itself: a trace id or an incident
time can be anything, so no serving snapshot can hold the answers. Each request opens the
warehouse read-only for one query, in a worker thread, through the same shared lock every
reader takes (``warehouse.reader``) with a short wait: while a writer holds the file the route
answers 503 with ``Retry-After`` (never DuckDB's lock error), and the spec's evaluation routes
are unaffected. They are what the dashboard's trace page (waterfall) and root-cause panel call.
"""

# No `from __future__ import annotations`: FastAPI must see the route annotations evaluated
# (they refer to this function's local `requires`).

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import JSONResponse

from ecoperf_core.api.auth import Principal  # at run time: FastAPI resolves the annotations
from ecoperf_core.errors import NotFoundError, ValidationError, WarehouseBusyError
from ecoperf_core.traces.analysis import flatten

# How long a debugging request waits for a writer to finish before answering 503.
READ_WAIT_S = 2.0


def add_debug_routes(
    router: APIRouter,
    state: Any,
    requires: Callable[[str, str], Callable[..., Awaitable[Principal]]],
    api_error: type[Exception],
) -> None:
    """Register ``GET /traces/{traceId}``, ``GET /traces`` and ``GET /root-cause/{entity}``."""
    from ecoperf_core.service import Ecoperf

    def service() -> Ecoperf:
        core = state.paths.core.model_copy(update={"writer_lock_timeout_s": READ_WAIT_S})
        return Ecoperf(core)

    async def run(call: Callable[[], Any]) -> Any:
        try:
            return await asyncio.to_thread(call)
        except ValidationError as exc:
            problem = exc.problems[0] if exc.problems else None
            raise api_error(422, str(exc), None if problem is None else problem.field) from None
        except NotFoundError as exc:
            raise api_error(404, str(exc)) from None
        except WarehouseBusyError:
            raise api_error(
                503, "warehouse busy (a flow is writing): retry shortly", None, {"Retry-After": "2"}
            ) from None

    @router.get("/traces/{trace_id}", tags=["debug"], summary="A trace's span tree and waterfall")
    async def trace(
        who: Annotated[Principal, Depends(requires("read", "traces"))],
        trace_id: Annotated[str, Path(min_length=1, max_length=64, pattern="^[0-9a-fA-F]+$")],
    ) -> JSONResponse:
        """The span tree with timings (ms from the trace start), self and critical-path time, the
        critical path, and ``waterfall``: the spans depth-first, one bar each."""
        report = await run(lambda: service().trace(trace_id))
        return JSONResponse({**report, "waterfall": flatten(report)})

    @router.get("/traces", tags=["debug"], summary="Example traces of an entity's window")
    async def traces(
        who: Annotated[Principal, Depends(requires("read", "traces"))],
        entity: Annotated[str, Query(min_length=1, max_length=256)],
        start: Annotated[str, Query(alias="from", min_length=10, max_length=40)],
        end: Annotated[str, Query(alias="to", min_length=10, max_length=40)],
        limit: Annotated[int, Query(ge=1, le=100)] = 5,
    ) -> JSONResponse:
        """Traces with a span of the entity starting in [from, to), slowest first."""
        from ecoperf_core.service import _parse_time

        a = await run(lambda: _parse_time(start, "from"))
        b = await run(lambda: _parse_time(end, "to"))
        return JSONResponse(await run(lambda: service().example_traces(entity, a, b, limit)))

    @router.get("/trace-breakdown", tags=["debug"], summary="Latency breakdown per operation")
    async def trace_breakdown(
        who: Annotated[Principal, Depends(requires("read", "traces"))],
        start: Annotated[str | None, Query(alias="from", max_length=40)] = None,
        end: Annotated[str | None, Query(alias="to", max_length=40)] = None,
        service_name: Annotated[str | None, Query(alias="service", max_length=256)] = None,
    ) -> JSONResponse:
        """Per service and operation: spans, p50/p95, mean self time, critical-path share."""
        from ecoperf_core.service import _parse_time

        a = None if start is None else await run(lambda: _parse_time(start, "from"))
        b = None if end is None else await run(lambda: _parse_time(end, "to"))
        return JSONResponse(await run(lambda: service().trace_breakdown(a, b, service_name)))

    @router.get("/root-cause/{entity}", tags=["debug"], summary="Root-cause ranking of an incident")
    async def root_cause(
        who: Annotated[Principal, Depends(requires("read", "root-cause"))],
        entity: Annotated[str, Path(min_length=1, max_length=256)],
        at: Annotated[str, Query(min_length=10, max_length=40)],
        metric: Annotated[str | None, Query(max_length=64)] = None,
        environment: Annotated[str, Query(min_length=1, max_length=64)] = "production",
    ) -> JSONResponse:
        """The incident nearest ``at`` and the suspects ranked, each with its evidence, plus
        example traces of the incident's window (what ``ecosystem-perf why`` prints)."""
        result = await run(lambda: service().why(entity, at, metric, environment))
        return JSONResponse(result)
