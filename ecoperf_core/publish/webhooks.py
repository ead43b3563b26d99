"""Webhook delivery: one signed JSON POST per event, idempotency key = event id.

Headers a receiver gets:

* ``Idempotency-Key`` and ``X-Ecoperf-Event-Id``: the event id (the same on every retry);
* ``X-Ecoperf-Timestamp``: Unix seconds of this attempt;
* ``X-Ecoperf-Signature``: ``sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>`` when the
  subscriber has a secret (covering the timestamp lets receivers refuse replays of old requests);
* ``X-Ecoperf-Attempt``: 1 for the first attempt, 2 for the first retry, ...

The verdict of each attempt follows :func:`ecoperf_core.publish.retry.classify_http`; a connection
refused, a reset or a timeout is transient.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import httpx

from ecoperf_core.publish.config import WebhookSubscriber
from ecoperf_core.publish.delivery import Attempt, Claimed
from ecoperf_core.publish.retry import classify_http

SIGNATURE_HEADER = "X-Ecoperf-Signature"
TIMESTAMP_HEADER = "X-Ecoperf-Timestamp"


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(
    secret: bytes,
    timestamp: str,
    body: bytes,
    signature: str,
    *,
    tolerance_s: float = 300.0,
    now: float | None = None,
) -> bool:
    """What a receiver checks: the signature matches and the timestamp is recent."""
    try:
        age = abs((now if now is not None else time.time()) - float(timestamp))
    except ValueError:
        return False
    return age <= tolerance_s and hmac.compare_digest(sign(secret, timestamp, body), signature)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:  # an HTTP date: rare from webhooks, the back-off applies
        return None


class WebhookSender:
    """Sends a batch of events to one webhook subscriber, ``concurrency`` requests at a time."""

    def __init__(self, subscriber: WebhookSubscriber, timeout_s: float) -> None:
        self.subscriber = subscriber
        self.key = subscriber.signing_key()
        timeout = subscriber.timeout_s or timeout_s
        limits = httpx.Limits(max_connections=subscriber.concurrency)
        self.client = httpx.Client(timeout=timeout, limits=limits, follow_redirects=False)

    def close(self) -> None:
        self.client.close()

    def _send_one(self, item: Claimed) -> Attempt:
        body = json.dumps(item.body(), separators=(",", ":"), allow_nan=False).encode()
        stamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": item.event_id,
            "X-Ecoperf-Event-Id": item.event_id,
            "X-Ecoperf-Event-Type": item.event_type,
            "X-Ecoperf-Attempt": str(item.attempts + 1),
            TIMESTAMP_HEADER: stamp,
        }
        if self.key is not None:
            headers[SIGNATURE_HEADER] = sign(self.key, stamp, body)
        name = self.subscriber.name
        try:
            response = self.client.post(self.subscriber.url, content=body, headers=headers)
        except httpx.TimeoutException as exc:
            return Attempt(item.event_id, name, "transient", f"timeout: {type(exc).__name__}")
        except httpx.TransportError as exc:  # refused, reset, DNS: the receiver may come back
            return Attempt(item.event_id, name, "transient", f"{type(exc).__name__}: {exc}")
        except httpx.InvalidURL as exc:
            return Attempt(item.event_id, name, "terminal", f"invalid URL: {exc}")
        kind = classify_http(response.status_code)
        error = None if kind == "ok" else f"HTTP {response.status_code}: {response.text[:200]}"
        return Attempt(
            item.event_id, name, kind, error, response.status_code, _retry_after(response)
        )

    def send(self, items: Sequence[Claimed]) -> list[Attempt]:
        if len(items) <= 1:
            return [self._send_one(item) for item in items]
        with ThreadPoolExecutor(max_workers=self.subscriber.concurrency) as pool:
            return list(pool.map(self._send_one, items))
