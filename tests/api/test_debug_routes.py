"""The trace and root-cause routes over real HTTP: what the dashboard's trace page (waterfall)
and root-cause panel call."""

from __future__ import annotations

import time

from ecoperf_core.warehouse import writer
from tests.api.conftest import Server
from tests.api.payloads import P


def test_trace_and_root_cause_routes(api_server: Server) -> None:
    with api_server.client("read") as c:
        examples = c.get(
            f"{P}/traces",
            params={"entity": "node-17", "from": "2026-11-29T05:45:00", "to": "2026-11-29T06:30"},
        )
        assert examples.status_code == 200, examples.text
        assert examples.json() and all(e["entityMs"] > 0 for e in examples.json())
        trace_id = examples.json()[0]["traceId"]
        trace = c.get(f"{P}/traces/{trace_id}")
        assert trace.status_code == 200, trace.text
        body = trace.json()
        bars = body["waterfall"]
        assert [b["depth"] for b in bars][:3] == [0, 1, 2]  # depth-first: root, wallet, ledger
        assert len(bars) == body["spans"] and all(b["startMs"] >= 0 for b in bars)
        assert abs(sum(s["durationMs"] for s in body["criticalPath"]) - body["durationMs"]) < 0.01
        breakdown = c.get(
            f"{P}/trace-breakdown", params={"from": "2026-11-29T06:00", "to": "2026-11-29T09:00"}
        )
        assert breakdown.status_code == 200, breakdown.text
        top = breakdown.json()[0]  # after 06:00 node-17's disk writes dominate the transfers
        assert (top["service"], top["operation"]) == ("qnet-node", "disk.write")
        why = c.get(f"{P}/root-cause/node-17", params={"at": "2026-11-29T06:00:00Z"})
        assert why.status_code == 200, why.text
        top = why.json()["suspects"][0]
        assert (top["entity"], top["metric"]) == ("node-17", "utilization")
        assert {"changeAt", "leadMinutes", "correlation", "lagMinutes"} <= set(top["evidence"])
        assert why.json()["exampleTraces"]
        # Refusals name what is wrong, never a 5xx.
        assert c.get(f"{P}/traces/{'ab' * 16}").status_code == 404
        assert c.get(f"{P}/traces/not-hex").status_code == 422
        bad_time = c.get(f"{P}/root-cause/node-17", params={"at": "not-a-time"})
        assert bad_time.status_code == 422 and "--at" in bad_time.text
        assert (
            c.get(f"{P}/root-cause/node-99", params={"at": "2026-11-29T06:00"}).status_code == 404
        )
    with api_server.client(None) as anonymous:
        assert anonymous.get(f"{P}/traces/{trace_id}").status_code == 401


def test_debug_routes_answer_503_while_a_writer_holds_the_warehouse(api_server: Server) -> None:
    with writer(api_server.home / "ecoperf.duckdb"), api_server.client("read") as c:
        started = time.monotonic()
        busy = c.get(f"{P}/traces/{'ab' * 16}")
        assert busy.status_code == 503 and busy.headers["retry-after"] == "2"
        assert time.monotonic() - started < 5
        # The spec's routes answer from the snapshot meanwhile.
        assert c.get(f"{P}/qnet/weights").status_code == 200
