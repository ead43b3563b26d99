"""Small generated warehouses for deploy and drill tests, and a real hook receiver.

Deployments (environment production, from T0, one hour): baseline ``v1.0`` (~2 requests/s,
lognormal latency around 50 ms, 0.1% errors) and candidates

- ``v1.1-good``: the baseline's distribution at ~1.5 requests/s (also healthy in staging);
- ``v1.1-bad``: 60% slower and 3% errors in production, healthy in staging;
- ``v1.1-thin``: one request a minute (never enough samples for the judge);
- ``v1.2-gate``: healthy in production but 80% slower in staging (the gate blocks it);
- ``v1.1-errors``: the baseline's latency but 3% errors (one of two metrics fails).

Modules ``qwallet`` and ``qindex`` in production and ``dr`` over the same hour, DR healthy.
Built once per session (through the service: land, ingest, rollup) and copied per test.
"""

from __future__ import annotations

import functools
import json
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

T0 = datetime(2026, 11, 1)
HOUR = 3600


def _stream(
    rng: np.random.Generator,
    kind: str,
    entity: str,
    environment: str,
    rate: float,
    *,
    seconds: int = HOUR,
    slow: float = 1.0,
    errors: float = 0.001,
    start: datetime = T0,
) -> pd.DataFrame:
    n = int(rate * seconds)
    offsets = np.sort(rng.uniform(0, seconds, size=n))
    return pd.DataFrame(
        {
            "time": [start + timedelta(seconds=float(s)) for s in offsets],
            "entity_kind": kind,
            "entity_id": entity,
            "environment": environment,
            "latency_ms": np.round(rng.lognormal(np.log(50.0 * slow), 0.5, size=n), 3),
            "ok": rng.uniform(size=n) >= errors,
            "cache_hit": rng.uniform(size=n) < 0.9,
        }
    )


def scenario_frames(seed: int = 6) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    parts = [
        _stream(rng, "deployment", "v1.0", "production", 2.0),
        _stream(rng, "deployment", "v1.1-good", "production", 1.5),
        _stream(rng, "deployment", "v1.1-bad", "production", 1.5, slow=1.6, errors=0.03),
        _stream(rng, "deployment", "v1.1-thin", "production", 1 / 60),
        _stream(rng, "deployment", "v1.2-gate", "production", 1.5),
        # Staging without errors: the CI/CD gate compares point error rates, and a few random
        # errors in 1,800 requests would decide it (the canary judge tests; the gate does not).
        _stream(rng, "deployment", "v1.0", "staging", 0.5, errors=0.0),
        _stream(rng, "deployment", "v1.1-good", "staging", 0.5, errors=0.0),
        _stream(rng, "deployment", "v1.1-bad", "staging", 0.5, errors=0.0),
        _stream(rng, "deployment", "v1.2-gate", "staging", 0.5, slow=1.8, errors=0.0),
    ]
    for module in ("qwallet", "qindex"):
        parts.append(_stream(rng, "module", module, "production", 1.0))
        parts.append(_stream(rng, "module", module, "dr", 0.5))
    parts.append(_stream(rng, "deployment", "v1.1-errors", "production", 1.5, errors=0.03))
    return pd.concat(parts, ignore_index=True)


def load_frame(home: Path, frame: pd.DataFrame, name: str) -> None:
    """Ingest ``frame`` into the warehouse of ``home`` the way files arrive (land, ingest)."""
    from ecoperf_core.service import Ecoperf
    from ecoperf_core.settings import Settings

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ECOPERF_HOME", str(home))
        service = Ecoperf(Settings())
        out = home / f"{name}.parquet"
        frame.to_parquet(out, index=False)
        report = service.ingest_landed(service.land([out]))
        assert not report.rejected, report.to_dict()
        service.rollup()


@functools.lru_cache(maxsize=1)
def _built() -> Path:
    home = Path(tempfile.mkdtemp(prefix="ecoperf-test-deploy-"))
    load_frame(home, scenario_frames(), "scenario")
    return home / "ecoperf.duckdb"


def scenario_home(target: Path) -> Path:
    """``target`` as an ecoperf home holding a fresh copy of the scenario warehouse."""
    target.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_built(), target / "ecoperf.duckdb")
    return target


# ------------------------------------------------------------------------- hook receiver


class Receiver:
    """A real HTTP server on 127.0.0.1 that records every hook call (path and JSON body) and
    answers ``status`` (200 unless told to fail)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any], dict[str, str]]] = []
        self.status = 200
        self.failing_paths: set[str] = set()  # answer 503 on these paths whatever ``status`` is
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                with receiver.lock:
                    receiver.calls.append((self.path, body, dict(self.headers)))
                    status = 503 if self.path in receiver.failing_paths else receiver.status
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def paths(self, path: str) -> list[dict[str, Any]]:
        with self.lock:
            return [body for p, body, _ in self.calls if p == path]

    def hooks(self) -> dict[str, str]:
        return {name: f"{self.url}/{name}" for name in ("traffic", "rollback", "switch")}


@contextmanager
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    thread = threading.Thread(target=r.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield r
    finally:
        r.server.shutdown()
        r.server.server_close()
