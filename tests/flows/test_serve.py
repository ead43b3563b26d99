"""`ecosystem-perf serve` starts a Prefect server when none is configured and serves the cron
deployments on it; Ctrl-C stops both."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_serve_starts_a_server_and_registers_scheduled_deployments(eco_home: Path) -> None:
    port = _free_port()
    env = {**os.environ, "ECOPERF_HOME": str(eco_home), "ECOPERF_ROLLUP_CRON": "*/7 * * * *"}
    env.pop("PREFECT_API_URL", None)
    env.pop("PREFECT_SERVER_DATABASE_CONNECTION_URL", None)  # the server's own SQLite file
    process = subprocess.Popen(
        [sys.executable, "-m", "ecoperf_core.cli.app", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    api = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + 150
        schedules: dict[str, list[str]] = {}
        while time.monotonic() < deadline and not {"ingest-landing", "rollup"} <= set(schedules):
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            try:
                response = httpx.post(f"{api}/deployments/filter", json={}, timeout=5)
                if response.status_code == 200:
                    schedules = {
                        d["name"]: [s["schedule"]["cron"] for s in d["schedules"]]
                        for d in response.json()
                    }
            except httpx.HTTPError:
                pass
            time.sleep(1)
        assert schedules["ingest-landing"] == ["* * * * *"]
        assert schedules["rollup"] == ["*/7 * * * *"]
        # Every other flow is served on a schedule too (evaluate, and what later issues add).
        # (on-demand deployments such as deploy have none: pipelines trigger them).
        on_demand = {"deploy"}
        assert all(len(c) == 1 for n, c in schedules.items() if n not in on_demand), schedules
        assert schedules.get("deploy", []) == []
        assert (eco_home / "prefect" / "server.log").exists()
    finally:
        process.send_signal(signal.SIGINT)  # Ctrl-C: serve stops, then stops its server
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            raise
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{api}/health", timeout=2)
