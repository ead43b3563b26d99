"""Alertmanager (API v2) delivery: one alert per component condition, resolved when it clears.

An event about ``engine`` and ``subject`` becomes the alert ``ecoperf_<engine>`` with labels
``component``, ``subject`` and ``source="ecoperf"``, and annotations (summary, outcome, decision id,
``severity``: ``critical`` or ``warning``). It
fires when the event's outcome is one of the component's firing outcomes in the policy
(``publish.alerts``), with ``endsAt`` = now + ``firing_ttl_s``; any other outcome sends the same
labels with ``endsAt`` = now, which Alertmanager reads as resolved. Alertmanager identifies an
alert by its labels, so severity is an annotation on purpose: a condition that goes from warning
to critical stays one alert, updated, rather than becoming a second one.

The whole batch goes in one ``POST /api/v2/alerts``; the subscriber is a state subscriber (only the
latest event per subject is sent, see :func:`ecoperf_core.publish.delivery.supersede`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import httpx

from ecoperf_core.policy import AlertsPolicy
from ecoperf_core.publish.config import AlertmanagerSubscriber
from ecoperf_core.publish.delivery import Attempt, Claimed
from ecoperf_core.publish.retry import classify_http


def _rfc3339(at: datetime) -> str:
    return at.isoformat(timespec="milliseconds") + "Z"


def _decided_at(item: Claimed) -> datetime:
    text = item.data.get("decidedAt")
    try:
        return datetime.fromisoformat(text) if text else item.created_at
    except ValueError:
        return item.created_at


def alert_for(item: Claimed, policy: AlertsPolicy, now: datetime) -> dict[str, Any] | None:
    """The Alertmanager alert an event means, or None when its component has no alert rule."""
    engine = str(item.data.get("engine") or item.event_type.split("_")[0])
    rule = getattr(policy, engine, None)
    if rule is None or not hasattr(rule, "firing"):
        return None
    outcome = str(item.data.get("outcome"))
    firing = outcome in rule.firing
    decided = _decided_at(item)
    labels = {"alertname": f"ecoperf_{engine}", "component": engine, "subject": item.subject}
    labels["source"] = "ecoperf"
    annotations = {
        "summary": f"{engine} {item.subject}: {outcome}",
        "description": (
            f"{engine} decided {outcome!r} for {item.subject} "
            f"(previously {item.data.get('previousOutcome')!r})"
        ),
        "outcome": outcome,
        "decisionId": str(item.data.get("decisionId")),
        "eventId": item.event_id,
        "severity": "critical" if outcome in rule.critical else "warning",
    }
    # Resolved means an endsAt that is not in the future when Alertmanager receives it.
    ends = now + timedelta(seconds=policy.firing_ttl_s) if firing else now
    return {
        "labels": labels,
        "annotations": annotations,
        "startsAt": _rfc3339(decided),
        "endsAt": _rfc3339(ends),
    }


class AlertmanagerSender:
    def __init__(
        self, subscriber: AlertmanagerSubscriber, policy: AlertsPolicy, timeout_s: float
    ) -> None:
        self.subscriber = subscriber
        self.policy = policy
        self.client = httpx.Client(timeout=timeout_s)

    def close(self) -> None:
        self.client.close()

    def send(self, items: Sequence[Claimed]) -> list[Attempt]:
        from ecoperf_core.evaluation.store import utc_now

        name = self.subscriber.name
        now = utc_now()
        alerts = []
        for item in items:
            alert = alert_for(item, self.policy, now)
            component = alert["labels"]["component"] if alert else None
            if alert is not None and component in self.subscriber.components:
                alerts.append(alert)
        if not alerts:  # nothing alertable: acknowledged without a request
            return [Attempt(i.event_id, name, "ok") for i in items]
        url = self.subscriber.url.rstrip("/") + "/api/v2/alerts"
        try:
            response = self.client.post(url, json=alerts)
        except httpx.TimeoutException as exc:
            return [Attempt(i.event_id, name, "transient", f"timeout: {exc}") for i in items]
        except httpx.TransportError as exc:
            error = f"{type(exc).__name__}: {exc}"
            return [Attempt(i.event_id, name, "transient", error) for i in items]
        kind = classify_http(response.status_code)
        error = None if kind == "ok" else f"HTTP {response.status_code}: {response.text[:200]}"
        return [Attempt(i.event_id, name, kind, error, response.status_code) for i in items]


def delivered_latest(con: Any, subscriber: str) -> list[Claimed]:
    """The latest delivered event per subject for this subscriber (what Alertmanager was last
    told about each subject)."""
    import json

    rows = con.execute(
        """SELECT d.event_id, d.subscriber, d.seq, d.attempts, o.event_type, o.subject,
                  o.created_at, CAST(o.data AS VARCHAR)
           FROM deliveries d JOIN outbox o USING (event_id)
           WHERE d.subscriber = $name
           QUALIFY d.seq = max(d.seq) OVER (PARTITION BY o.event_type, o.subject)
             AND d.status = 'delivered'""",
        {"name": subscriber},
    ).fetchall()
    return [
        Claimed(e, s, int(q), int(a), t, subj, at, json.loads(data))
        for e, s, q, a, t, subj, at, data in rows
    ]


def refresh_firing(
    sender: AlertmanagerSender, con: Any, now: datetime | None = None
) -> tuple[int, str | None]:
    """Re-send every alert that is firing now, with a fresh ``endsAt``, as Prometheus re-sends
    its firing alerts: events only come when an outcome changes, and an alert nobody refreshes
    would be resolved by Alertmanager at ``endsAt`` while its condition still holds. Returns how
    many were re-sent and the error, if the post failed (the next publish run tries again)."""
    from ecoperf_core.evaluation.store import utc_now

    now = now or utc_now()
    alerts = []
    for item in delivered_latest(con, sender.subscriber.name):
        alert = alert_for(item, sender.policy, now)
        if alert is None or alert["labels"]["component"] not in sender.subscriber.components:
            continue
        if (
            alert["annotations"]["outcome"]
            in getattr(sender.policy, alert["labels"]["component"]).firing
        ):
            alerts.append(alert)
    if not alerts:
        return 0, None
    url = sender.subscriber.url.rstrip("/") + "/api/v2/alerts"
    try:
        response = sender.client.post(url, json=alerts)
    except httpx.HTTPError as exc:
        return 0, f"{type(exc).__name__}: {exc}"
    if classify_http(response.status_code) != "ok":
        return 0, f"HTTP {response.status_code}: {response.text[:200]}"
    return len(alerts), None
