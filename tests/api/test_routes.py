"""Every route over real HTTP with the spec's example payloads; validation never gives a 5xx; the
decisions the API accepted reach the warehouse through the spool, once."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from tests.api.conftest import Server, wait_until_spool_sealed
from tests.api.payloads import DAO, GATE, NODE_SCORE, POLICY_CHECK, RISK, P


def test_post_routes_answer_the_spec_shapes(api_server: Server) -> None:
    with api_server.client("write") as c:
        node = c.post(f"{P}/qnet/node-score", json=NODE_SCORE)
        assert node.status_code == 200, node.text
        assert node.json()["nodeId"] == "node-1"
        assert {"latencyScore", "overallScore", "recommendation", "routingWeight"} <= set(
            node.json()
        )
        assert node.headers["x-decision-id"]
        qflow = c.post(f"{P}/qflow/policy-check", json=POLICY_CHECK)
        assert qflow.status_code == 200, qflow.text
        assert qflow.json()["decision"] in {"proceed", "queue_deferral", "cache_fallback"}
        assert {"reason", "riskLevel", "alternatives"} <= set(qflow.json())
        risk = c.post(f"{P}/qerberos/risk-assessment", json=RISK)
        assert risk.status_code == 200, risk.text
        assert {"entityId", "riskLevel", "riskScore", "signals", "correlations"} <= set(risk.json())
        gate = c.post(f"{P}/cicd/gate-check", json=GATE)
        assert gate.status_code == 200, gate.text
        assert gate.json()["deployment"] == "v2.1.0"
        assert {"passed", "violations", "recommendation"} <= set(gate.json())
        dao = c.post(f"{P}/dao/subnet-evaluation", json=DAO)
        assert dao.status_code == 200, dao.text
        body = dao.json()
        assert body["daoId"] == "dao-123"
        assert body["sloCompliance"]["availability"]["status"] == "violation"


def test_get_routes(api_server: Server) -> None:
    with api_server.client("read") as c:
        spec = c.get(f"{P}/qnet/weights", params={"nodes": '[{"id":"node-01"},{"id":"node-02"}]'})
        assert spec.status_code == 200, spec.text
        assert set(spec.json()["weights"]) == {"node-01", "node-02"}
        plain = c.get(f"{P}/qnet/weights?nodes=node-02,node-01").json()
        assert [n["nodeId"] for n in plain["nodes"]] == ["node-02", "node-01"]
        everything = c.get(f"{P}/qnet/weights").json()
        assert len(everything["weights"]) >= 10
        # The spec's literal example names nodes the demo does not have: 404 naming them.
        unknown = c.get(f"{P}/qnet/weights", params={"nodes": '[{"id":"node-1"},{"id":"node-2"}]'})
        assert unknown.status_code == 404 and "'node-1'" in unknown.json()["detail"]
        ready = c.get(f"{P}/go-live/readiness/qwallet", params={"environment": "production"})
        assert ready.status_code == 200, ready.text
        assert ready.json()["module"] == "qwallet"
        assert {"overallStatus", "gates", "blockers", "recommendations"} <= set(ready.json())
        nope = c.get(f"{P}/go-live/readiness/qnope")
        assert nope.status_code == 404 and "qnope" in nope.json()["detail"]
        env = c.get(f"{P}/go-live/readiness/qwallet?environment=mars")
        assert env.status_code == 404 and "mars" in env.json()["detail"]
        decisions = c.get(f"{P}/decisions", params={"engine": "golive", "limit": 3}).json()
        assert 1 <= len(decisions) <= 3 and all(d["engine"] == "golive" for d in decisions)
        one = c.get(f"{P}/decisions", params={"subject": "node-17"}).json()
        assert all(d["subject"] == "node-17" for d in one)
        assert c.get(f"{P}/decisions?engine=nope").status_code == 422
        assert c.get(f"{P}/decisions?limit=0").status_code == 422
    with api_server.client(None) as anon:
        assert anon.get(f"{P}/health").json() == {"status": "ok"}
        assert anon.get(f"{P}/ready").json()["status"] == "ready"
    with api_server.client("read") as c:
        metrics = c.get("/metrics").text
        assert 'ecoperf_node_weight{node="node-01"}' in metrics
        assert "ecoperf_dao_isolation_level" in metrics
        assert "ecoperf_golive_ready" in metrics
        assert (
            'ecoperf_api_request_seconds_bucket{le="0.005",method="GET",route="/ecosystem-performance/qnet/weights"'
            in metrics
        )
        assert c.get("/openapi.json").status_code == 200
        assert c.get("/docs").status_code == 200


def _set(body: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    out = copy.deepcopy(body)
    *parents, leaf = path.split(".")
    node = out
    for key in parents:
        node = node[key]
    if value is _DELETE:
        del node[leaf]
    else:
        node[leaf] = value
    return out


_DELETE = object()

BAD: list[tuple[str, dict[str, Any], str]] = [
    (
        "qnet/node-score",
        _set(NODE_SCORE, "nodeMetrics.errorRate", "0.002"),
        "nodeMetrics.errorRate",
    ),
    ("qnet/node-score", _set(NODE_SCORE, "nodeMetrics.latency.p95", -1), "nodeMetrics.latency.p95"),
    ("qnet/node-score", _set(NODE_SCORE, "nodeMetrics.latency.p95", 500), "nodeMetrics.latency"),
    ("qnet/node-score", _set(NODE_SCORE, "nodeMetrics.capacity", _DELETE), "nodeMetrics.capacity"),
    ("qnet/node-score", _set(NODE_SCORE, "nodeMetrics.errorRate", 1.5), "nodeMetrics.errorRate"),
    ("qnet/node-score", _set(NODE_SCORE, "nodeId", ""), "nodeId"),
    ("qnet/node-score", _set(NODE_SCORE, "extra", 1), "extra"),
    ("qflow/policy-check", _set(POLICY_CHECK, "operation.type", "delete"), "operation.type"),
    ("qflow/policy-check", _set(POLICY_CHECK, "operation.id", _DELETE), "operation.id"),
    (
        "qerberos/risk-assessment",
        _set(RISK, "performanceData.latency.p99", True),
        "performanceData.latency.p99",
    ),
    (
        "qerberos/risk-assessment",
        _set(RISK, "performanceData.costMetrics.historical", [1, -2]),
        "performanceData.costMetrics.historical.1",
    ),
    ("cicd/gate-check", _set(GATE, "baseline.p95Latency", 300), "baseline"),
    (
        "cicd/gate-check",
        _set(GATE, "deploymentMetrics.cacheHitRate", None),
        "deploymentMetrics.cacheHitRate",
    ),
    (
        "dao/subnet-evaluation",
        _set(DAO, "subnetMetrics.availability.uptime", 101),
        "subnetMetrics.availability.uptime",
    ),
    (
        "dao/subnet-evaluation",
        _set(DAO, "subnetMetrics.throughput", _DELETE),
        "subnetMetrics.throughput",
    ),
]


@pytest.mark.parametrize(("route", "body", "field"), BAD, ids=[f"{r}:{f}" for r, _b, f in BAD])
def test_bad_bodies_are_422_naming_the_field(
    api_server: Server, route: str, body: dict[str, Any], field: str
) -> None:
    with api_server.client("admin") as c:
        response = c.post(f"{P}/{route}", json=body)
    assert response.status_code == 422, response.text
    fields = [p["field"] for p in response.json()["problems"]]
    assert any(f == field or f.startswith(field + ".") for f in fields), (fields, field)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"nodeId":"n","nodeMetrics":{"latency":{"p99":NaN,"p95":1},"errorRate":0.1,"capacity":{"utilization":0.2}}}',
        b'{"nodeId":"n","nodeMetrics":{"latency":{"p99":Infinity,"p95":1},"errorRate":0.1,"capacity":{"utilization":0.2}}}',
        b'{"nodeId":"n","nodeMetrics":{"latency":{"p99":1e999,"p95":1},"errorRate":0.1,"capacity":{"utilization":0.2}}}',
        b"[1, 2]",
        b"not json",
        b"\xff\xfe",
        b"",
        b"[" * 5000 + b"]" * 5000,
        b'{"nodeId": ' + b"9" * 5000 + b"}",
    ],
)
def test_malformed_json_is_4xx(api_server: Server, raw: bytes) -> None:
    with api_server.client("admin") as c:
        response = c.post(
            f"{P}/qnet/node-score", content=raw, headers={"content-type": "application/json"}
        )
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["detail"]


def test_nan_names_its_field(api_server: Server) -> None:
    raw = json.dumps(NODE_SCORE).replace("180", "NaN").encode()
    with api_server.client("admin") as c:
        response = c.post(
            f"{P}/qnet/node-score", content=raw, headers={"content-type": "application/json"}
        )
    assert response.status_code == 422
    assert "nodeMetrics.latency.p99" in response.json()["detail"]


def test_oversized_body_is_413_before_reading_it(api_server: Server) -> None:
    big = {"nodeId": "x" * 20_000, "nodeMetrics": NODE_SCORE["nodeMetrics"]}
    with api_server.client("admin") as c:
        declared = c.post(f"{P}/qnet/node-score", json=big)
        assert declared.status_code == 413 and "limit" in declared.json()["detail"]

        def chunks():  # no Content-Length: counted while reading, stopped at the limit
            for _ in range(100):
                yield b"x" * 1000

        streamed = c.post(f"{P}/qnet/node-score", content=chunks())
        assert streamed.status_code == 413


def test_unknown_operation_is_404_naming_it(api_server: Server) -> None:
    body = _set(POLICY_CHECK, "operation.id", "no-such-op")
    with api_server.client("write") as c:
        response = c.post(f"{P}/qflow/policy-check", json=body)
    assert response.status_code == 404 and "no-such-op" in response.json()["detail"]


def test_bad_query_params(api_server: Server) -> None:
    with api_server.client("read") as c:
        for nodes in ('[{"id": 3}]', "[", "node-01,,node-02", "[NaN]"):
            response = c.get(f"{P}/qnet/weights", params={"nodes": nodes})
            assert response.status_code == 422, (nodes, response.text)
            assert "nodes" in response.json()["detail"]


def test_spooled_decisions_reach_the_warehouse_once(api_server: Server) -> None:
    """Accepted = spooled: the loader stores each once (a second load finds them all loaded)."""
    from ecoperf_core.api.settings import ApiPaths
    from ecoperf_core.api.spool import load_spool, spooled_files
    from ecoperf_core.service import Ecoperf

    ids = []
    with api_server.client("write") as c:
        for i in range(5):
            body = _set(RISK, "entityId", f"spool-user-{i}")
            response = c.post(f"{P}/qerberos/risk-assessment", json=body)
            assert response.status_code == 200
            ids.append(response.headers["x-decision-id"])
    paths = ApiPaths()
    wait_until_spool_sealed(paths.spool)
    # Keep a copy of a spooled file to replay it: a crash after commit but before archiving.
    copies = {p.name: p.read_bytes() for p in spooled_files(paths.spool)}
    first = load_spool(paths.spool, paths.spool_archive, paths.core.db_path)
    assert first.loaded >= 5 and not spooled_files(paths.spool)
    for name, data in copies.items():
        (paths.spool / name).write_bytes(data)
    again = load_spool(paths.spool, paths.spool_archive, paths.core.db_path)
    assert again.loaded == 0 and again.already_loaded == first.loaded
    rows = (
        Ecoperf()
        .query("SELECT evidence->>'spoolId' FROM decisions WHERE evidence->>'spoolId' IS NOT NULL")
        .rows
    )
    stored = [r[0] for r in rows]
    assert all(stored.count(i) == 1 for i in ids)
