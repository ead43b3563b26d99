"""Outbox events as Prefect events, so Prefect automations can react to ecoperf decisions.

Each outbox event becomes the Prefect event ``ecoperf.<event_type>`` (e.g.
``ecoperf.deployment_gate_update``) about the resource ``ecoperf.<engine>.<subject>``, with the
outbox event id as the Prefect event id and the event document as payload.

Why not ``prefect.events.emit_event``: it hands the event to a background worker and returns before
anything is sent (a failure is only logged), so nothing could tell delivered from lost. This sender
builds the same ``prefect.events.Event`` and posts it to the API's ``/events`` endpoint, which
answers when the server has accepted it; Prefect keeps one event per id, so a retry after a lost
answer does not make a second one. Lives in ``tasks/`` because ``ecoperf_core`` never imports
Prefect.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC
from typing import Any
from uuid import UUID

from ecoperf_core.policy import Policy
from ecoperf_core.publish.config import Subscriber
from ecoperf_core.publish.delivery import Attempt, Claimed
from ecoperf_core.publish.retry import classify_http


def prefect_event(item: Claimed) -> dict[str, Any]:
    from prefect.events import Event

    engine = str(item.data.get("engine") or item.event_type.split("_")[0])
    related = []
    if item.data.get("decisionId"):
        related.append(
            {
                "prefect.resource.id": f"ecoperf.decision.{item.data['decisionId']}",
                "prefect.resource.role": "decision",
            }
        )
    event = Event(
        event=f"ecoperf.{item.event_type}",
        resource={
            "prefect.resource.id": f"ecoperf.{engine}.{item.subject}",
            "prefect.resource.name": item.subject,
            "ecoperf.engine": engine,
            "ecoperf.outcome": str(item.data.get("outcome")),
        },
        related=related,
        occurred=item.created_at.replace(tzinfo=UTC),
        payload=item.body(),
        id=UUID(item.event_id),
    )
    return event.model_dump(mode="json")


class PrefectEventsSender:
    def __init__(self, subscriber: Subscriber, timeout_s: float) -> None:
        self.subscriber = subscriber
        self.timeout_s = timeout_s

    def close(self) -> None:
        pass

    def send(self, items: Sequence[Claimed]) -> list[Attempt]:
        from prefect.client.orchestration import get_client

        name = self.subscriber.name
        try:
            events = [prefect_event(item) for item in items]
        except ValueError as exc:  # an event id that is not a UUID: never sendable
            return [
                Attempt(i.event_id, name, "terminal", f"not a Prefect event: {exc}") for i in items
            ]
        try:
            with get_client(sync_client=True) as client:
                response = client.request("POST", "/events", json=events)  # type: ignore[arg-type]
                status = response.status_code
                text = "" if status < 300 else response.text[:200]
        except Exception as exc:  # the API is down or unreachable: retry later
            status_code = getattr(getattr(exc, "response", None), "status_code", None)
            kind = "transient" if status_code is None else classify_http(int(status_code))
            error = f"{type(exc).__name__}: {str(exc)[:200]}"
            return [Attempt(i.event_id, name, kind, error, status_code) for i in items]
        kind = classify_http(status)
        error = None if kind == "ok" else f"HTTP {status}: {text}"
        return [Attempt(i.event_id, name, kind, error, status) for i in items]


def prefect_sender_factories() -> dict[str, Any]:
    """``extra_senders`` for :func:`ecoperf_core.publish.publisher.deliver`."""

    def factory(subscriber: Subscriber, policy: Policy) -> PrefectEventsSender:
        return PrefectEventsSender(subscriber, policy.publish.retry.timeout_s)

    return {"prefect": factory}
