"""HAProxy's runtime API: set server weights over its admin socket.

``set server <backend>/<server> weight <n>`` is sent on its own connection (HAProxy's socket
answers one command and closes unless put in interactive mode); an empty answer is success, any
text is HAProxy's error (``No such server.``, ``Require 'operator' level or higher.``) and terminal,
while a socket that refuses or is missing is transient (HAProxy may be reloading).

Weights: a QNET routing weight (0.1 .. 1.2 by default) times ``weight_scale`` (100), rounded, in
HAProxy's range 0..256.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from dataclasses import dataclass

from ecoperf_core.publish.config import HaproxySubscriber
from ecoperf_core.publish.delivery import Attempt, Claimed

HAPROXY_MAX_WEIGHT = 256


@dataclass(frozen=True)
class HaproxyAnswer:
    command: str
    answer: str


def haproxy_weight(routing_weight: float, scale: float) -> int:
    return max(0, min(HAPROXY_MAX_WEIGHT, round(routing_weight * scale)))


def _connect(address: str, timeout_s: float) -> socket.socket:
    if ":" in address and not address.startswith("/"):
        host, port = address.rsplit(":", 1)
        return socket.create_connection((host, int(port)), timeout=timeout_s)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout_s)
    try:
        sock.connect(address)
    except BaseException:
        sock.close()
        raise
    return sock


def runtime_command(address: str, command: str, timeout_s: float = 5.0) -> str:
    """Send one runtime API command and return HAProxy's answer (stripped)."""
    with _connect(address, timeout_s) as sock:
        sock.sendall(command.encode() + b"\n")
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace").strip()


def set_weights(
    address: str, backend: str, weights: dict[str, int], timeout_s: float = 5.0
) -> list[HaproxyAnswer]:
    """``set server`` for each server; returns HAProxy's answer to each (empty = done)."""
    out = []
    for server, weight in weights.items():
        command = f"set server {backend}/{server} weight {int(weight)}"
        out.append(HaproxyAnswer(command, runtime_command(address, command, timeout_s)))
    return out


def get_weight(address: str, backend: str, server: str, timeout_s: float = 5.0) -> int:
    """The server's current weight (``get weight`` answers ``"<current> (initial <n>)"``)."""
    answer = runtime_command(address, f"get weight {backend}/{server}", timeout_s)
    try:
        return int(answer.split()[0])
    except (IndexError, ValueError):
        raise ValueError(f"HAProxy answered {answer!r} to get weight {backend}/{server}") from None


class HaproxySender:
    def __init__(self, subscriber: HaproxySubscriber, timeout_s: float) -> None:
        self.subscriber = subscriber
        self.timeout_s = timeout_s

    def close(self) -> None:
        pass

    def send(self, items: Sequence[Claimed]) -> list[Attempt]:
        sub = self.subscriber
        out = []
        for item in items:
            routing = (item.data.get("data") or {}).get("routingWeight")
            if routing is None:  # not a weight event: nothing to set
                out.append(Attempt(item.event_id, sub.name, "ok"))
                continue
            server = sub.server_template.format(subject=item.subject)
            weight = haproxy_weight(float(routing), sub.weight_scale)
            command = f"set server {sub.backend}/{server} weight {weight}"
            try:
                answer = runtime_command(sub.socket, command, self.timeout_s)
            except OSError as exc:
                out.append(Attempt(item.event_id, sub.name, "transient", f"{command}: {exc}"))
                continue
            if answer:
                out.append(Attempt(item.event_id, sub.name, "terminal", f"{command}: {answer}"))
            else:
                out.append(Attempt(item.event_id, sub.name, "ok"))
        return out
