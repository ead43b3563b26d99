"""The WebSocket feed over real HTTP: a client receives the events of real flow runs (evaluate,
then publish loading the API's spooled decisions) within a second of their export, filters by
type, and resumes after a reconnect with ``since`` without a gap."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.client import connect

from tests.api.conftest import Server, UvicornThread, free_port, wait_until_spool_sealed
from tests.api.payloads import POLICY_CHECK, RISK, P
from tests.evaluation.demo_warehouse import demo_home


@pytest.fixture(scope="module")
def fresh_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """An API over a demo warehouse nothing has evaluated yet (no events, no snapshot)."""
    from ecoperf_core.api.app import create_app
    from ecoperf_core.api.auth import create_token
    from ecoperf_core.api.settings import ApiPaths, ApiSettings
    from ecoperf_core.settings import Settings

    home = demo_home(tmp_path_factory.mktemp("rt") / "home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ECOPERF_HOME", str(home))
        api = ApiSettings(rate_limit_rps=10_000, rate_limit_burst=10_000)
        paths = ApiPaths(Settings(), api)
        tokens = {
            "read": create_token(paths.tokens, "read", "reader"),
            "write": create_token(paths.tokens, "write", "writer"),
            "dao07": create_token(paths.tokens, "read", "dao07", dao="dao-07"),
        }
        port = free_port()
        app = create_app(Settings(), api)
        with UvicornThread(app, port):
            yield Server(f"http://127.0.0.1:{port}", home, tokens, app)


class Listener:
    """A WebSocket client in a thread, recording (receipt time, event)."""

    def __init__(self, server: Server, query: str = "", token: str = "read") -> None:
        url = server.url.replace("http", "ws") + f"{P}/realtime{query}"
        self.ws = connect(
            url, additional_headers={"Authorization": f"Bearer {server.tokens[token]}"}
        )
        self.events: list[tuple[float, dict[str, Any]]] = []
        self.others: list[dict[str, Any]] = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            for text in self.ws:
                message = json.loads(text)
                if "id" in message:
                    self.events.append((time.time(), message))
                else:
                    self.others.append(message)
        except Exception:
            return

    def ids(self) -> list[int]:
        return [e["id"] for _t, e in self.events]

    def wait_for(self, count: int, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while len(self.events) < count and time.monotonic() < deadline:
            time.sleep(0.02)

    def close(self) -> None:
        self.ws.close()
        self.thread.join(5)


def _outbox(after: int = 0) -> list[tuple[int, str, str]]:
    from ecoperf_core.service import Ecoperf

    return (
        Ecoperf()
        .query(f"SELECT seq, event_type, subject FROM outbox WHERE seq > {after} ORDER BY seq")
        .rows
    )


def _feed_mtimes(home: Path) -> dict[int, float]:
    """Event id → when its feed file was published (its rename)."""
    from ecoperf_core.publish.events_feed import feed_files

    out = {}
    for f in feed_files(home / "events"):
        for i in range(f.first, f.last + 1):
            out[i] = f.path.stat().st_mtime
    return out


def test_flow_events_reach_clients_within_a_second_filtered_and_resumable(
    fresh_server: Server, prefect_runtime: None
) -> None:
    from ecoperf_core.api.settings import ApiPaths
    from flows.evaluate import evaluate_flow
    from flows.publish import publish_flow

    everything = Listener(fresh_server)
    nodes = Listener(fresh_server, "?types=node_performance_update,go_live_update")
    dao07 = Listener(fresh_server, token="dao07")
    control = Listener(fresh_server)
    control.ws.send(json.dumps({"action": "subscribe", "types": ["dao_isolation_update"]}))
    time.sleep(0.3)

    evaluate_flow()  # a real Prefect flow run: every first decision is a change, so an event
    outbox = _outbox()
    assert len(outbox) > 20
    everything.wait_for(len(outbox))
    assert everything.ids() == [seq for seq, _t, _s in outbox]
    published = _feed_mtimes(fresh_server.home)
    delays = [received - published[e["id"]] for received, e in everything.events]
    assert max(delays) < 1.0, max(delays)
    first = everything.events[0][1]
    assert set(first) == {"id", "type", "time", "data"}
    assert first["data"]["subject"] and first["data"]["outcome"]

    wanted = [s for s, t, _ in outbox if t in ("node_performance_update", "go_live_update")]
    nodes.wait_for(len(wanted))
    time.sleep(0.3)
    assert nodes.ids() == wanted
    assert control.others and control.others[0] == {
        "type": "subscribed",
        "types": ["dao_isolation_update"],
    }
    assert {e["type"] for _t, e in control.events} <= {"dao_isolation_update"}
    assert all(e["data"]["subject"] == "dao-07" for _t, e in dao07.events)

    # Disconnect after part of the stream, then more events arrive from the publish flow (which
    # loads the API's spooled decisions), then resume from the last id seen: no gap, no repeat.
    last_seen = everything.ids()[len(outbox) // 2]
    everything.close()
    with fresh_server.client("write") as c:
        for i in range(3):
            body = {**RISK, "entityId": f"ws-user-{i}"}
            assert c.post(f"{P}/qerberos/risk-assessment", json=body).status_code == 200
        assert c.post(f"{P}/qflow/policy-check", json=POLICY_CHECK).status_code in (200, 503)
    wait_until_spool_sealed(ApiPaths().spool)
    publish_flow()
    after = [seq for seq, _t, _s in _outbox(last_seen)]
    resumed = Listener(fresh_server, f"?since={last_seen}")
    resumed.wait_for(len(after))
    time.sleep(0.3)
    assert resumed.ids() == after
    assert {"ws-user-0", "ws-user-1", "ws-user-2"} <= {
        e["data"]["subject"] for _t, e in resumed.events
    }
    # From further back than the ring buffer holds: served from the feed files.
    fresh_server.app.state.eco.hub.ring.clear()
    from_files = Listener(fresh_server, "?since=0")
    from_files.wait_for(len(_outbox()))
    assert from_files.ids() == [seq for seq, _t, _s in _outbox()]
    for listener in (nodes, dao07, control, resumed, from_files):
        listener.close()


def test_bad_realtime_requests_are_refused(fresh_server: Server) -> None:
    from websockets.exceptions import InvalidStatus

    url = fresh_server.url.replace("http", "ws") + f"{P}/realtime"
    with pytest.raises(InvalidStatus):
        connect(url).recv(1)
    token = {"Authorization": f"Bearer {fresh_server.tokens['read']}"}
    for query in ("?types=nope", "?since=abc", "?since=-1"):
        with pytest.raises(InvalidStatus):
            connect(url + query, additional_headers=token).recv(1)
    with connect(url + f"?token={fresh_server.tokens['read']}") as ws:
        ws.send("not json")
        assert json.loads(ws.recv(2))["type"] == "error"
