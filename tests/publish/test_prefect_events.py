"""The publish flow delivers outbox events as Prefect events, once per event id."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.publish.events import write_events

pytestmark = pytest.mark.usefixtures("prefect_runtime")


def _prefect_events(name: str) -> list[dict[str, Any]]:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        response = client.request(
            "POST", "/events/filter", json={"filter": {"event": {"name": [name]}}, "limit": 50}
        )  # type: ignore[arg-type]
        return list(response.json()["events"])


def test_publish_flow_emits_prefect_events_for_automations(
    eco_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.publish import publish_flow

    db = eco_home / "ecoperf.duckdb"
    ids = write_events(db, 3, engine="cicd", outcome="block_deployment", prefix="v7")
    (eco_home / "subscribers.toml").write_text(
        '[[subscriber]]\nname = "prefect"\nkind = "prefect"\n'
    )
    result = publish_flow()
    assert result["deliveries"]["delivered"] == 3, result["deliveries"]

    deadline = time.monotonic() + 15  # the server stores posted events asynchronously
    events = _prefect_events("ecoperf.deployment_gate_update")
    while {e["id"] for e in events} != set(ids) and time.monotonic() < deadline:
        time.sleep(0.2)
        events = _prefect_events("ecoperf.deployment_gate_update")
    assert {e["id"] for e in events} == set(ids)
    event = next(e for e in events if e["resource"]["prefect.resource.name"] == "v7-0")
    assert event["resource"]["prefect.resource.id"] == "ecoperf.cicd.v7-0"
    assert event["resource"]["ecoperf.outcome"] == "block_deployment"
    assert event["payload"]["data"]["outcome"] == "block_deployment"
    assert event["related"][0]["prefect.resource.role"] == "decision"

    # Sent again (a replay after a lost answer), Prefect still holds one event per id.
    from ecoperf_core.warehouse import writer

    with writer(db) as con:
        con.execute("UPDATE deliveries SET status = 'dead'")
    monkeypatch.setenv("ECOPERF_DB", str(db))
    from ecoperf_core.service import Ecoperf

    assert Ecoperf().replay_dead() == 3
    assert publish_flow()["deliveries"]["delivered"] == 3
    time.sleep(1.0)
    assert len(_prefect_events("ecoperf.deployment_gate_update")) == 3
