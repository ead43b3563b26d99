"""A real API on loopback over a small demo warehouse's snapshot, shared by the API tests.

The demo warehouse is built once per session (tests/evaluation/demo_warehouse.py), evaluated once
per module, and its serving snapshot published; uvicorn then runs in a thread on a free port.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.evaluation.demo_warehouse import demo_home


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until_spool_sealed(spool: Path, timeout_s: float = 10.0) -> None:
    """Wait until the API has sealed its open spool segment (a second after the last decision),
    the point from which the publish flow's loader takes those decisions."""
    deadline = time.monotonic() + timeout_s
    while any(not p.name.startswith(".") for p in spool.glob("*.open")) or not any(
        spool.glob("*.jsonl")
    ):
        assert time.monotonic() < deadline, f"no sealed spool segment in {spool}"
        time.sleep(0.05)


@dataclass
class Server:
    url: str
    home: Path
    tokens: dict[str, str]
    app: object

    def client(self, token: str | None = "admin") -> httpx.Client:
        headers = (
            {} if token is None else {"Authorization": f"Bearer {self.tokens.get(token, token)}"}
        )
        return httpx.Client(base_url=self.url, headers=headers, timeout=10)


class UvicornThread:
    """uvicorn in a thread (its own event loop), stopped cleanly at the end."""

    def __init__(self, app: object, port: int) -> None:
        import uvicorn

        config = uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> UvicornThread:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def evaluate_and_publish(home: Path) -> None:
    """What the scheduled evaluate + publish flows do, through the same functions."""
    from ecoperf_core.api.settings import ApiPaths
    from ecoperf_core.api.snapshot import build_snapshot, write_snapshot
    from ecoperf_core.service import Ecoperf

    service = Ecoperf()
    service.evaluate_nodes()
    service.evaluate_risk()
    service.evaluate_daos()
    service.evaluate_readiness()
    paths = ApiPaths()
    write_snapshot(build_snapshot(paths.core.db_path), paths.snapshot)


@pytest.fixture(scope="module")
def api_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    from ecoperf_core.api.app import create_app
    from ecoperf_core.api.auth import create_token
    from ecoperf_core.api.settings import ApiPaths, ApiSettings
    from ecoperf_core.settings import Settings

    home = demo_home(tmp_path_factory.mktemp("api") / "home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ECOPERF_HOME", str(home))
        evaluate_and_publish(home)
        api = ApiSettings(rate_limit_rps=10_000, rate_limit_burst=10_000, max_body_bytes=16_384)
        paths = ApiPaths(Settings(), api)
        tokens = {
            "read": create_token(paths.tokens, "read", "reader"),
            "write": create_token(paths.tokens, "write", "writer"),
            "admin": create_token(paths.tokens, "admin", "admin"),
            "dao07": create_token(paths.tokens, "write", "dao07-writer", dao="dao-07"),
            "dao03": create_token(paths.tokens, "write", "dao03-writer", dao="dao-03"),
        }
        port = free_port()
        app = create_app(Settings(), api)
        with UvicornThread(app, port):
            yield Server(f"http://127.0.0.1:{port}", home, tokens, app)
