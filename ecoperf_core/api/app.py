"""The FastAPI application: the spec's routes under ``/ecosystem-performance``.

Every evaluation runs the same pure engines the CLI's runner calls (one place computes a node
score), on the request payload plus the serving snapshot where the spec's request lacks inputs
(Qflow's current conditions, QNET's hysteresis state, DAOs already isolated). Decisions are spooled
(:mod:`ecoperf_core.api.spool`) before the 2xx; the publish flow loads them into the decision log.
The process never opens the warehouse.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request, WebSocket
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.websockets import WebSocketDisconnect

from ecoperf_core.api.auth import Principal, RateLimiter, Role, TokenStore
from ecoperf_core.api.edge import Edge
from ecoperf_core.api.metrics import ApiMetrics
from ecoperf_core.api.realtime import KNOWN_TYPES, Client, Hub
from ecoperf_core.api.settings import ApiPaths, ApiSettings
from ecoperf_core.api.snapshot import SnapshotStore
from ecoperf_core.api.spool import Spool, new_spool_id, spool_record
from ecoperf_core.engines import cicd, dao, qerberos, qflow, qnet
from ecoperf_core.engines.base import ENGINES, Decision
from ecoperf_core.models import (
    DaoSubnetRequest,
    GateCheckRequest,
    NodeScoreRequest,
    PolicyCheckRequest,
    RiskAssessmentRequest,
)
from ecoperf_core.policy import Policy, load_policy
from ecoperf_core.settings import Settings

log = logging.getLogger(__name__)

PREFIX = "/ecosystem-performance"


class ApiError(Exception):
    """An answer other than 2xx, with a message naming what is wrong."""

    def __init__(
        self,
        status: int,
        message: str,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field
        self.headers = headers


def _error_body(message: str, problems: list[dict[str, str]] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"detail": message}
    if problems is not None:
        body["problems"] = problems
    return body


class ApiState:
    """Everything the routes share in one process."""

    def __init__(self, paths: ApiPaths) -> None:
        self.paths = paths
        self.settings = paths.api
        self.snapshots = SnapshotStore(paths.snapshot, paths.api.reload_interval_s)
        self.spool = Spool(paths.spool, paths.api.spool_batch_ms / 1000.0)
        self.hub = Hub(paths.events, paths.api.ring_size, min(0.1, paths.api.reload_interval_s))
        self.tokens = TokenStore(paths.tokens)
        self.limiter = RateLimiter(paths.api.rate_limit_rps, paths.api.rate_limit_burst)
        self.metrics = ApiMetrics(self.snapshots)
        self._policy: Policy | None = None
        self._policy_checked = 0.0

    @property
    def policy(self) -> Policy:
        """The policy file, re-read at most every 5 s (a file edit applies without a restart)."""
        now = time.monotonic()
        if self._policy is None or now - self._policy_checked > 5.0:
            self._policy_checked = now
            try:
                self._policy = load_policy()
            except Exception:  # a broken edit: keep serving with the last good policy
                if self._policy is None:
                    raise
                log.warning("policy file unreadable; keeping the previous policy", exc_info=True)
        return self._policy

    def authenticate(self, authorization: str | None, needed: Role, component: str) -> Principal:
        if not self.settings.auth:
            return Principal("anonymous", "admin")
        if not authorization or not authorization.lower().startswith("bearer "):
            raise ApiError(
                401,
                "authorization: a bearer token is required",
                headers={"WWW-Authenticate": "Bearer"},
            )
        principal = self.tokens.lookup(authorization[7:].strip())
        if principal is None:
            raise ApiError(
                401, "authorization: unknown token", headers={"WWW-Authenticate": "Bearer"}
            )
        wait = self.limiter.take(principal.name)
        if wait > 0:
            raise ApiError(
                429,
                f"rate limit of token {principal.name!r} exceeded",
                headers={"Retry-After": str(max(1, round(wait + 0.5)))},
            )
        if not principal.allows(needed):
            raise ApiError(
                403,
                f"token {principal.name!r} (role {principal.role}) may not call this "
                f"route: it needs role {needed}",
            )
        if principal.dao is not None and component not in ("dao", "decisions", "realtime"):
            raise ApiError(
                403,
                f"token {principal.name!r} is scoped to {principal.dao}: "
                f"{component} is not available to it",
            )
        return principal


def _requires(role: Role, component: str) -> Callable[[Request], Awaitable[Principal]]:
    # async: FastAPI runs a plain-def dependency on its thread pool, a hop to a worker thread
    # and back on every request; the check itself is a hash and a dict lookup.
    async def dependency(request: Request) -> Principal:
        state: ApiState = request.app.state.eco
        return state.authenticate(request.headers.get("authorization"), role, component)

    return dependency


def _stamp(
    decision: Decision, principal: Principal, spool_id: str, source: dict[str, Any]
) -> Decision:
    evidence = {
        **decision.evidence,
        "source": source,
        "trigger": "payload",
        "spoolId": spool_id,
        "via": "api",
        "token": principal.name,
        "receivedAt": datetime.now(UTC).replace(tzinfo=None).isoformat(),
    }
    return replace(decision, evidence=evidence)


def _engine(call: Callable[[], Any], what: str) -> Any:
    """An engine refusing its input (defence in depth behind the models) is a 422, not a 500."""
    try:
        return call()
    except ValueError as exc:
        raise ApiError(422, f"{what}: {exc}") from None


async def _accept(state: ApiState, decision: Decision, publish: bool) -> JSONResponse:
    """Spool durably, then answer: accepted means on disk."""
    try:
        await state.spool.append(spool_record(decision, publish))
    except OSError as exc:
        log.error("spooling a decision failed: %s", exc)
        raise ApiError(
            503, "the decision could not be recorded; retry later", headers={"Retry-After": "1"}
        ) from None
    return JSONResponse(decision.output, headers={"X-Decision-Id": decision.evidence["spoolId"]})


def _parse_nodes(raw: str | None) -> list[str] | None:
    """``nodes`` as the spec's JSON array (``[{"id":"node-1"}]``) or ``node-1,node-2``."""
    if raw is None or not raw.strip():
        return None
    text = raw.strip()
    if text.startswith("["):
        try:
            items = json.loads(text, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
        except (ValueError, RecursionError):
            raise ApiError(422, 'nodes: not a JSON array of {"id": ...} objects', "nodes") from None
        ids = []
        for i, item in enumerate(items):
            if isinstance(item, dict) and isinstance(item.get("id"), str) and item["id"]:
                ids.append(item["id"])
            elif isinstance(item, str) and item:
                ids.append(item)
            else:
                raise ApiError(422, f"nodes[{i}].id: expected a non-empty string", f"nodes[{i}].id")
        return ids
    ids = [part.strip() for part in text.split(",")]
    if any(not i for i in ids):
        raise ApiError(422, "nodes: empty node id in the list", "nodes")
    return ids


def create_app(core: Settings | None = None, api: ApiSettings | None = None) -> FastAPI:
    """Build the application (one :class:`ApiState` per app)."""
    paths = ApiPaths(core, api)
    state = ApiState(paths)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state.snapshots.refresh()
        state.spool.recover()
        await state.hub.poll_once()
        _ = state.policy
        # The engines bring pandas, scipy and DuckDB: ~145k objects the cyclic GC would walk on
        # every full collection, an 85 ms stall of the event loop (every request waits) a few
        # times a minute under load. Objects alive now live as long as the process: freezing
        # them leaves the collector only what requests create.
        gc.collect()
        gc.freeze()
        state.hub.start()
        yield
        await state.spool.close()
        await state.hub.stop()
        gc.unfreeze()  # an app stopped in a longer-lived process (tests) leaves no frozen cycles

    app = FastAPI(
        title="ecoperf API",
        version="0.1.0",
        description="ecoperf's HTTP API: the spec's evaluation routes and the real-time feed.",
        lifespan=lifespan,
    )
    app.state.eco = state

    # -- errors: every refusal names its field; the catch-all is the last resort ----------------
    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        problems = [{"field": exc.field, "message": exc.message}] if exc.field else None
        return JSONResponse(_error_body(exc.message, problems), exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for err in exc.errors()[:50]:
            loc = [str(p) for p in err.get("loc", ())]
            where = loc[0] if loc else ""
            field = (
                ".".join(loc[1:]) if where in ("body", "query", "path", "header") else ".".join(loc)
            )
            field = field or where or "body"
            problems.append({"field": field, "message": f"{field}: {err.get('msg', 'invalid')}"})
        message = "; ".join(p["message"] for p in problems[:5]) or "invalid request"
        return JSONResponse(_error_body(message, problems), 422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(_error_body(str(exc.detail)), exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:  # pragma: no cover
        log.exception("unexpected error")
        return JSONResponse(_error_body("internal error"), 500)

    router = APIRouter(prefix=PREFIX)

    # -- QNET -----------------------------------------------------------------------------------
    @router.post("/qnet/node-score", tags=["qnet"], summary="Score a node from its metrics")
    async def node_score(
        body: NodeScoreRequest, who: Annotated[Principal, Depends(_requires("write", "qnet"))]
    ) -> JSONResponse:
        """QNET score and routing weight of the caller's metrics (a what-if: spooled to the log,
        no event, the node's state in force unchanged, as the CLI's ``--payload``)."""
        snap = state.snapshots.get()
        prev = snap.data.get("qnetStates", {}).get(body.node_id)
        previous = (
            None
            if prev is None
            else qnet.WeightState(
                weight=prev["weight"],
                pending_weight=prev.get("pendingWeight"),
                pending_count=int(prev.get("pendingCount") or 0),
            )
        )
        decision = _engine(
            lambda: qnet.score_node(qnet.NodeInputs.from_request(body), state.policy, previous),
            "nodeMetrics",
        )
        decision = _stamp(decision, who, new_spool_id(), {"payload": True})
        return await _accept(state, decision, publish=False)

    @router.get("/qnet/weights", tags=["qnet"], summary="Routing weights in force")
    async def weights(
        who: Annotated[Principal, Depends(_requires("read", "qnet"))],
        nodes: Annotated[
            str | None,
            Query(
                max_length=20_000,
                description=(
                    'JSON array `[{"id":"node-1"}]` or `node-1,node-2`; default every node'
                ),
            ),
        ] = None,
    ) -> JSONResponse:
        """The routing weights the last evaluation set (from the serving snapshot)."""
        ids = _parse_nodes(nodes)
        snap = state.snapshots.get()
        latest = snap.latest("qnet")
        if ids is not None:
            missing = [i for i in ids if i not in latest]
            if missing:
                raise ApiError(
                    404,
                    f"unknown node{'s' if len(missing) > 1 else ''}: "
                    f"{', '.join(repr(m) for m in missing[:20])}",
                    "nodes",
                )
        chosen = ids if ids is not None else sorted(latest)
        outputs = [latest[i]["output"] for i in chosen]
        return JSONResponse(
            {
                "asOf": snap.data.get("asOf"),
                "weights": {o["nodeId"]: o["routingWeight"] for o in outputs},
                "nodes": outputs,
            }
        )

    # -- Qflow ----------------------------------------------------------------------------------
    @router.post("/qflow/policy-check", tags=["qflow"], summary="Policy check of an operation")
    async def policy_check(
        body: PolicyCheckRequest, who: Annotated[Principal, Depends(_requires("write", "qflow"))]
    ) -> JSONResponse:
        """The caller's operation under its current conditions (from the snapshot)."""
        snap = state.snapshots.get()
        if not snap.present:
            raise ApiError(
                503, "no serving snapshot yet: run the publish flow", headers={"Retry-After": "5"}
            )
        per_type = snap.data.get("operations", {}).get(body.operation.id)
        if per_type is None:
            raise ApiError(
                404, f"operation.id: unknown operation {body.operation.id!r}", "operation.id"
            )
        sourced = per_type[body.operation.type]
        inputs = replace(qflow.OperationInputs.from_request(body), **sourced["conditions"])
        decision = _engine(lambda: qflow.evaluate_operation(inputs, state.policy), "operation")
        source = {**sourced["source"], "snapshotAsOf": snap.data.get("asOf")}
        decision = _stamp(decision, who, new_spool_id(), source)
        return await _accept(state, decision, publish=True)

    # -- Qerberos -------------------------------------------------------------------------------
    @router.post("/qerberos/risk-assessment", tags=["qerberos"], summary="Risk of an entity")
    async def risk(
        body: RiskAssessmentRequest,
        who: Annotated[Principal, Depends(_requires("write", "qerberos"))],
    ) -> JSONResponse:
        """Qerberos risk signal of the caller's performance data."""
        decision = _engine(
            lambda: qerberos.assess_risk(qerberos.RiskInputs.from_request(body), state.policy),
            "performanceData",
        )
        decision = _stamp(decision, who, new_spool_id(), {"payload": True})
        return await _accept(state, decision, publish=True)

    # -- CI/CD ----------------------------------------------------------------------------------
    @router.post("/cicd/gate-check", tags=["cicd"], summary="Performance gate of a deployment")
    async def gate(
        body: GateCheckRequest, who: Annotated[Principal, Depends(_requires("write", "cicd"))]
    ) -> JSONResponse:
        """The deployment's metrics against the baseline (the spec's gate criteria)."""
        decision = _engine(
            lambda: cicd.evaluate_gate(cicd.GateInputs.from_request(body), state.policy),
            "deploymentMetrics",
        )
        decision = _stamp(decision, who, new_spool_id(), {"payload": True})
        return await _accept(state, decision, publish=True)

    # -- go-live --------------------------------------------------------------------------------
    @router.get("/go-live/readiness/{module}", tags=["go-live"], summary="Go-live readiness")
    async def readiness(
        who: Annotated[Principal, Depends(_requires("read", "golive"))],
        module: Annotated[str, Path(min_length=1, max_length=256)],
        environment: Annotated[str, Query(min_length=1, max_length=64)] = "production",
    ) -> JSONResponse:
        """The readiness decision in force for the module (the evaluate flow's, from the snapshot)."""
        snap = state.snapshots.get()
        if module not in state.snapshots.known("module"):
            raise ApiError(404, f"module: unknown module {module!r}", "module")
        item = snap.latest("golive").get(f"{module}@{environment}")
        if item is None:
            raise ApiError(
                404,
                f"environment: no readiness of {module!r} in environment {environment!r} yet",
                "environment",
            )
        return JSONResponse(item["output"], headers={"X-Decision-Id": item["decisionId"]})

    # -- DAO ------------------------------------------------------------------------------------
    @router.post("/dao/subnet-evaluation", tags=["dao"], summary="Evaluate a DAO subnet")
    async def subnet(
        body: DaoSubnetRequest, who: Annotated[Principal, Depends(_requires("write", "dao"))]
    ) -> JSONResponse:
        """SLO compliance and isolation recommendation, with the cap counting DAOs isolated now."""
        if who.dao is not None and body.dao_id != who.dao:
            raise ApiError(
                403, f"daoId: token {who.name!r} is scoped to {who.dao}, not {body.dao_id}", "daoId"
            )
        isolated = state.snapshots.get().data.get("isolatedDaos", [])
        decisions = _engine(
            lambda: dao.evaluate_daos([dao.DaoInputs.from_request(body)], state.policy, isolated),
            "subnetMetrics",
        )
        decision = _stamp(decisions[0], who, new_spool_id(), {"payload": True})
        return await _accept(state, decision, publish=True)

    # -- decision log ---------------------------------------------------------------------------
    @router.get("/decisions", tags=["decisions"], summary="Recent decisions, latest first")
    async def decisions(
        who: Annotated[Principal, Depends(_requires("read", "decisions"))],
        engine: Annotated[str | None, Query(max_length=32)] = None,
        subject: Annotated[str | None, Query(max_length=256)] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 20,
    ) -> JSONResponse:
        """The recent decisions of the snapshot (the log's newest, capped); spooled API decisions
        appear once the publish flow has loaded them."""
        if engine is not None and engine not in ENGINES:
            raise ApiError(
                422, f"engine: must be one of {', '.join(ENGINES)} (got {engine!r})", "engine"
            )
        if who.dao is not None:
            if engine not in (None, "dao") or subject not in (None, who.dao):
                raise ApiError(403, f"token {who.name!r} is scoped to {who.dao}", "subject")
            engine, subject = "dao", who.dao
        rows = [
            d
            for d in state.snapshots.recent()
            if (engine is None or d["engine"] == engine)
            and (subject is None or d["subject"] == subject)
        ]
        return JSONResponse(rows[:limit])

    # -- operations -----------------------------------------------------------------------------
    @router.get("/health", tags=["ops"], summary="Liveness (open)")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/ready", tags=["ops"], summary="Readiness: a fresh snapshot is loaded (open)")
    async def ready() -> JSONResponse:
        snap = state.snapshots.get()
        built = snap.built_at()
        if built is None:
            return JSONResponse({"status": "not_ready", "reason": "no serving snapshot"}, 503)
        age = (datetime.now(UTC) - built).total_seconds()
        body = {"status": "ready", "snapshotAgeS": round(age, 3), "asOf": snap.data.get("asOf")}
        if age > state.settings.snapshot_max_age_s:
            body |= {"status": "not_ready", "reason": "snapshot too old"}
            return JSONResponse(body, 503)
        return JSONResponse(body)

    @app.get("/metrics", tags=["ops"], summary="Prometheus metrics")
    async def metrics(who: Annotated[Principal, Depends(_requires("read", "metrics"))]) -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    # -- real-time ------------------------------------------------------------------------------
    @router.websocket("/realtime")
    async def realtime(websocket: WebSocket) -> None:
        """Events ``{id, type, time, data}``; ``?types=a,b`` filters, ``?since=ID`` resumes,
        ``{"action": "subscribe", "types": [...]}`` changes the filter. Token: the
        ``Authorization`` header or ``?token=`` (browsers cannot set headers)."""
        params = websocket.query_params
        header = websocket.headers.get("authorization")
        if header is None and params.get("token"):
            header = f"Bearer {params['token']}"
        try:
            who = state.authenticate(header, "read", "realtime")
            types = _types(params.get("types"))
            since = _since(params.get("since"))
        except ApiError as exc:
            await websocket.close(code=1008, reason=exc.message[:120])
            return
        await websocket.accept()
        client = Client(types=types, dao=who.dao)
        state.hub.subscribe(client)
        try:
            await _serve_client(state.hub, websocket, client, since)
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            state.hub.unsubscribe(client)

    from ecoperf_core.api.debug_routes import add_debug_routes

    add_debug_routes(router, state, _requires, ApiError)  # traces, root cause (read the warehouse)
    app.include_router(router)
    from ecoperf_core.dashboard.web import dashboard_router

    app.include_router(dashboard_router(state, _requires, PREFIX))
    if state.settings.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=state.settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
        )
    app.add_middleware(Edge, metrics=state.metrics, max_body=state.settings.max_body_bytes)
    return app


def _types(raw: str | None) -> set[str] | None:
    if raw is None or not raw.strip():
        return None
    types = {t.strip() for t in raw.split(",") if t.strip()}
    unknown = sorted(types - KNOWN_TYPES)
    if unknown:
        raise ApiError(422, f"types: unknown event type(s) {', '.join(unknown)}", "types")
    return types


def _since(raw: str | None) -> int | None:
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(422, "since: expected an event id (integer)", "since") from None
    if value < 0:
        raise ApiError(422, "since: must be ≥ 0", "since")
    return value


async def _serve_client(hub: Hub, ws: WebSocket, client: Client, since: int | None) -> None:
    """Replay from ``since`` (ring or files), then live events; ids never repeat or go back."""
    last = hub.last_id if since is None else since
    if since is not None:
        for event in await hub.backlog(since):
            if client.wants(event):
                await ws.send_text(json.dumps(event, separators=(",", ":")))
            last = max(last, event["id"])

    async def control() -> None:
        while True:
            text = await ws.receive_text()
            try:
                message = json.loads(text)
                action = message.get("action")
                types = _types(",".join(message.get("types") or []))
            except (ValueError, AttributeError, TypeError, ApiError) as exc:
                reason = exc.message if isinstance(exc, ApiError) else "expected JSON"
                await ws.send_text(json.dumps({"type": "error", "message": reason}))
                continue
            if action == "subscribe":
                client.types = types
            elif action == "unsubscribe":
                client.types = (client.types or set(KNOWN_TYPES)) - (types or set())
            else:
                await ws.send_text(
                    json.dumps({"type": "error", "message": "action: subscribe or unsubscribe"})
                )
                continue
            current = sorted(client.types) if client.types is not None else sorted(KNOWN_TYPES)
            await ws.send_text(json.dumps({"type": "subscribed", "types": current}))

    async def pump() -> None:
        nonlocal last
        while True:
            event = await client.queue.get()
            if event is None:  # dropped for being too slow
                await ws.close(code=1013, reason="too slow: reconnect with since")
                return
            if event["id"] > last and client.wants(event):
                await ws.send_text(json.dumps(event, separators=(",", ":")))
                last = event["id"]

    tasks = [asyncio.create_task(control()), asyncio.create_task(pump())]
    try:
        done, _pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            task.result()
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task


__all__ = ["ApiError", "ApiState", "create_app"]
