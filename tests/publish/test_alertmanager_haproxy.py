"""State subscribers against the real servers: Alertmanager fires and resolves, HAProxy reweights."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from ecoperf_core.cli.app import app
from ecoperf_core.engines.base import Decision
from ecoperf_core.evaluation.store import store_decisions
from ecoperf_core.policy import policy_from_mapping
from ecoperf_core.publish.config import parse_subscribers
from ecoperf_core.publish.haproxy import get_weight
from ecoperf_core.publish.publisher import deliver
from ecoperf_core.warehouse import reader, writer
from tests.publish.receiver import Receiver
from tests.publish.servers import alertmanager, haproxy

FAST = policy_from_mapping(
    {"publish": {"retry": {"base_delay_s": 0.05, "max_delay_s": 0.2, "timeout_s": 2.0}}}
)


def _decide(db: Path, engine: str, outcomes: dict[str, str], output: dict[str, Any]) -> None:
    decisions = [
        Decision(engine, subject, outcome, {**output, "subject": subject}, {}, {}, {}, "test")
        for subject, outcome in outcomes.items()
    ]
    with writer(db) as con:
        store_decisions(con, decisions)


def _active_alerts(url: str) -> dict[str, dict[str, Any]]:
    alerts = httpx.get(f"{url}/api/v2/alerts", params={"active": "true"}, timeout=5).json()
    return {a["labels"]["subject"]: a for a in alerts if a["status"]["state"] == "active"}


def _wait(predicate: Any, timeout_s: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    return predicate()


def _notifications(receiver: Receiver) -> list[tuple[str, str]]:
    with receiver.lock:
        bodies = [body for _key, _at, body in receiver.received]
    return [(body["status"], a["labels"]["subject"]) for body in bodies for a in body["alerts"]]


@pytest.mark.slow
def test_alertmanager_shows_the_firing_alert_and_later_its_resolution(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    notified = Receiver()  # Alertmanager's own webhook receiver: what on-call would get
    with alertmanager(tmp_path / "am", notified.url) as am:
        subs = parse_subscribers(
            f'[[subscriber]]\nname = "am"\nkind = "alertmanager"\nurl = "{am.url}"\n'
        )
        _decide(db, "cicd", {"v2.1.0": "block_deployment"}, {"recommendation": "block"})
        # Fired and cleared before anyone delivered: only the clear is sent (superseded).
        _decide(db, "qerberos", {"user-9": "critical"}, {"riskLevel": "critical"})
        _decide(db, "qerberos", {"user-9": "low"}, {"riskLevel": "low"})
        report = deliver(db, subs, FAST, wait_for_retries=True, max_seconds=10)
        assert report.delivered == 2 and report.superseded == 1 and report.dead == 0

        active = _wait(lambda: _active_alerts(am.url))
        assert set(active) == {"v2.1.0"}
        alert = active["v2.1.0"]
        assert alert["labels"] == {
            "alertname": "ecoperf_cicd",
            "component": "cicd",
            "subject": "v2.1.0",
            "source": "ecoperf",
        }
        assert alert["annotations"]["outcome"] == "block_deployment"
        assert alert["annotations"]["severity"] == "critical"
        assert _wait(lambda: ("firing", "v2.1.0") in _notifications(notified))
        # No new event: the next publish re-sends the firing alert with a later endsAt (else
        # Alertmanager would resolve it at endsAt while the deployment is still blocked).
        time.sleep(0.05)
        again = deliver(db, subs, FAST, max_seconds=10)
        assert again.delivered == 0 and again.refreshed == 1
        refreshed = _wait(lambda: _active_alerts(am.url))["v2.1.0"]
        assert refreshed["endsAt"] > alert["endsAt"]
        assert refreshed["startsAt"] == alert["startsAt"]

        _decide(db, "cicd", {"v2.1.0": "proceed"}, {"recommendation": "proceed"})
        report = deliver(db, subs, FAST, wait_for_retries=True, max_seconds=10)
        assert report.delivered == 1
        assert _wait(lambda: not _active_alerts(am.url)), "resolved alerts are no longer active"
        assert _wait(lambda: ("resolved", "v2.1.0") in _notifications(notified))
        assert ("firing", "user-9") not in _notifications(notified)
    notified.stop()


@pytest.mark.slow
def test_haproxy_shows_the_new_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "home" / "ecoperf.duckdb"
    nodes = ["node-1", "node-2", "node-3"]
    with haproxy(tmp_path / "haproxy", "qnet", nodes) as (_server, sock):
        assert [get_weight(sock, "qnet", n) for n in nodes] == [100, 100, 100]
        subs = parse_subscribers(
            f'[[subscriber]]\nname = "lb"\nkind = "haproxy"\nsocket = "{sock}"\nbackend = "qnet"\n'
        )
        weights = {"node-1": "0.5", "node-2": "1.2", "node-3": "0.1"}
        for node, label in weights.items():
            _decide(db, "qnet", {node: label}, {"nodeId": node, "routingWeight": float(label)})
        report = deliver(db, subs, FAST, max_seconds=10)
        assert report.delivered == 3 and report.dead == 0
        assert [get_weight(sock, "qnet", n) for n in nodes] == [50, 120, 10]

        # A node HAProxy does not know: HAProxy's answer is the dead letter's reason.
        _decide(db, "qnet", {"node-404": "1.0"}, {"nodeId": "node-404", "routingWeight": 1.0})
        report = deliver(db, subs, FAST, max_seconds=10)
        assert report.dead == 1
        with reader(db) as con:
            reason = con.execute(
                "SELECT last_error FROM deliveries WHERE status = 'dead'"
            ).fetchall()[0][0]
        assert "set server qnet/node-404 weight 100" in reason and "No such server" in reason

        # The versioned document and a full sync through the CLI.
        monkeypatch.setenv("ECOPERF_HOME", str(db.parent))
        runner = CliRunner()
        shown = runner.invoke(app, ["routing", "export"])
        assert shown.exit_code == 0, shown.output
        document = json.loads(shown.stdout)
        assert document["schema"] == "ecoperf.routing-weights/v1" and document["version"] > 0
        assert {w["nodeId"]: w["weight"] for w in document["weights"]} == {
            "node-1": 0.5, "node-2": 1.2, "node-3": 0.1, "node-404": 1.0,
        }  # fmt: skip
        envoy = json.loads(runner.invoke(app, ["routing", "export", "--format", "envoy"]).stdout)
        lb = envoy["endpoints"][0]["lb_endpoints"]
        assert {e["endpoint"]["hostname"]: e["load_balancing_weight"] for e in lb}["node-2"] == 120
        # Someone reset a weight by hand; the full sync puts the weights in force back.
        from ecoperf_core.publish.haproxy import runtime_command

        assert runtime_command(sock, "set server qnet/node-2 weight 7") == ""
        synced = runner.invoke(app, ["routing", "haproxy", "--socket", sock, "--backend", "qnet"])
        assert synced.exit_code == 1  # node-404 is still unknown to HAProxy
        assert "No such server" in synced.output
        assert [get_weight(sock, "qnet", n) for n in nodes] == [50, 120, 10]
