"""QNET routing weights in the formats load balancers consume.

* :func:`weights_document`: ecoperf's versioned JSON document. ``version`` is the outbox ``seq`` of
  the latest weight change (monotonic: a consumer applies a document only if its version is newer
  than the one it holds), ``weights`` one entry per node with the decision that set it.
* :func:`envoy_cluster_load_assignment`: the same weights as an Envoy EDS
  ``ClusterLoadAssignment`` (v3). Envoy wants positive integer ``load_balancing_weight``\\ s, so
  routing weights are scaled by 100 (0.1 → 10, 1.2 → 120); node ids are used as hostnames with a
  port, since ecoperf knows node ids, not addresses (``address_template`` maps them).
"""

from __future__ import annotations

from typing import Any

import duckdb

from ecoperf_core.evaluation.store import utc_now

SCHEMA = "ecoperf.routing-weights/v1"


def weights_document(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    rows = con.execute(
        """SELECT h.subject, CAST(d.output->>'routingWeight' AS DOUBLE), h.decision_id,
                  h.decided_at, d.policy_version
           FROM latest_decisions h JOIN decisions d USING (decision_id)
           WHERE h.engine = 'qnet' ORDER BY h.subject"""
    ).fetchall()
    version = con.execute(
        "SELECT coalesce(max(seq), 0) FROM outbox WHERE event_type = 'node_performance_update'"
    ).fetchall()[0][0]
    return {
        "schema": SCHEMA,
        "version": int(version),
        "generatedAt": utc_now().isoformat() + "Z",
        "weights": [
            {
                "nodeId": subject,
                "weight": weight,
                "decisionId": decision_id,
                "decidedAt": decided_at.isoformat() + "Z",
                "policyVersion": policy_version,
            }
            for subject, weight, decision_id, decided_at, policy_version in rows
            if weight is not None
        ],
    }


def envoy_cluster_load_assignment(
    document: dict[str, Any],
    cluster: str,
    *,
    address_template: str = "{node}",
    port: int = 443,
    scale: float = 100.0,
) -> dict[str, Any]:
    """An ``envoy.config.endpoint.v3.ClusterLoadAssignment`` of the document's weights."""
    endpoints = [
        {
            "endpoint": {
                "address": {
                    "socket_address": {
                        "address": address_template.format(node=w["nodeId"]),
                        "port_value": port,
                    }
                },
                "hostname": w["nodeId"],
            },
            "load_balancing_weight": max(1, round(w["weight"] * scale)),
            "metadata": {
                "filter_metadata": {
                    "ecoperf": {"decisionId": w["decisionId"], "version": document["version"]}
                }
            },
        }
        for w in document["weights"]
    ]
    return {
        "@type": "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment",
        "cluster_name": cluster,
        "endpoints": [{"lb_endpoints": endpoints}],
    }
