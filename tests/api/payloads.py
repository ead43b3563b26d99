"""The spec's example bodies and every route of the API, shared by the API tests."""

from __future__ import annotations

from typing import Any

from tests.cli.test_engine_cli import DAO, GATE, NODE_SCORE, POLICY_CHECK, RISK

P = "/ecosystem-performance"

# (method, path, body, the role it needs, the component a DAO-scoped token may not use or None)
ROUTES: list[tuple[str, str, dict[str, Any] | None, str]] = [
    ("POST", f"{P}/qnet/node-score", NODE_SCORE, "write"),
    ("GET", f"{P}/qnet/weights?nodes=node-01,node-02", None, "read"),
    ("POST", f"{P}/qflow/policy-check", POLICY_CHECK, "write"),
    ("POST", f"{P}/qerberos/risk-assessment", RISK, "write"),
    ("POST", f"{P}/cicd/gate-check", GATE, "write"),
    ("GET", f"{P}/go-live/readiness/qwallet?environment=production", None, "read"),
    ("POST", f"{P}/dao/subnet-evaluation", {**DAO, "daoId": "dao-07"}, "write"),
    ("GET", f"{P}/decisions?limit=5", None, "read"),
    ("GET", "/metrics", None, "read"),
]

__all__ = ["DAO", "GATE", "NODE_SCORE", "POLICY_CHECK", "RISK", "ROUTES", "P"]
