"""Property-based fuzz over real HTTP: bodies derived from the spec's examples by hypothesis
(leaves replaced by arbitrary JSON incl. NaN/Infinity, keys dropped or added, whole bodies
replaced) and arbitrary query/path values for the GET routes. Zero 5xx; every refusal says why.
Bounded examples per route so it runs in CI in well under a minute."""

from __future__ import annotations

import copy
import json
import os
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.conftest import Server
from tests.api.payloads import DAO, GATE, NODE_SCORE, POLICY_CHECK, RISK, P

EXAMPLES = int(os.environ.get("ECOPERF_FUZZ_EXAMPLES", "120"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | st.sampled_from(["read", "write", "high", "increasing", "-1", "1e999", ""])
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            out += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            out += _paths(child, (*prefix, i))
    return out


@st.composite
def mutated(draw: st.DrawFn, example: dict[str, Any]) -> Any:
    body: Any = copy.deepcopy(example)
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        paths = _paths(body)
        path = draw(st.sampled_from(paths))
        kind = draw(st.sampled_from(["replace", "delete", "add", "whole"]))
        if kind == "whole" or not path:
            body = draw(json_values)
            continue
        parent = body
        for key in path[:-1]:
            parent = parent[key]
        if kind == "replace":
            parent[path[-1]] = draw(json_values)
        elif kind == "delete" and isinstance(parent, dict):
            del parent[path[-1]]
        elif kind == "add" and isinstance(parent, dict):
            parent[draw(st.text(max_size=12))] = draw(json_values)
    return body


def _check(response: Any) -> None:
    assert response.status_code < 500, (response.status_code, response.text[:500])
    if response.status_code >= 400:
        assert response.json()["detail"]


ROUTES = [
    ("qnet/node-score", NODE_SCORE),
    ("qflow/policy-check", POLICY_CHECK),
    ("qerberos/risk-assessment", RISK),
    ("cicd/gate-check", GATE),
    ("dao/subnet-evaluation", DAO),
]


@pytest.mark.parametrize(("route", "example"), ROUTES, ids=[r for r, _e in ROUTES])
def test_fuzz_post_bodies(api_server: Server, route: str, example: dict[str, Any]) -> None:
    with api_server.client("admin") as c:

        @FUZZ
        @given(body=mutated(example))
        def run(body: Any) -> None:
            raw = json.dumps(body, allow_nan=True).encode()
            _check(
                c.post(f"{P}/{route}", content=raw, headers={"content-type": "application/json"})
            )

        run()


text = st.text(max_size=40)


def test_fuzz_get_routes(api_server: Server) -> None:
    with api_server.client("admin") as c:

        @FUZZ
        @given(
            nodes=text | st.just('[{"id":"node-01"}]') | json_values.map(json.dumps),
            engine=st.none() | text | st.sampled_from(["qnet", "dao"]),
            subject=st.none() | text,
            limit=st.none() | st.integers(min_value=-5, max_value=5000) | text,
            module=st.text(min_size=1, max_size=30) | st.sampled_from(["qwallet", "qdrive"]),
            environment=st.none() | text,
        )
        def run(
            nodes: str, engine: Any, subject: Any, limit: Any, module: str, environment: Any
        ) -> None:
            _check(c.get(f"{P}/qnet/weights", params={"nodes": nodes}))
            params = {
                k: v
                for k, v in (("engine", engine), ("subject", subject), ("limit", limit))
                if v is not None
            }
            _check(c.get(f"{P}/decisions", params=params))
            env = {} if environment is None else {"environment": environment}
            _check(c.get(f"{P}/go-live/readiness/{quote(module, safe='')}", params=env))

        run()


def test_openapi_lists_every_route(api_server: Server) -> None:
    with api_server.client("read") as c:
        spec = c.get("/openapi.json").json()
    paths = set(spec["paths"])
    for route, _e in ROUTES:
        assert f"{P}/{route}" in paths
        body = spec["paths"][f"{P}/{route}"]["post"]["requestBody"]
        assert body["content"]["application/json"]["schema"]
    assert {f"{P}/qnet/weights", f"{P}/decisions", f"{P}/go-live/readiness/{{module}}"} <= paths
