"""``ecosystem-perf api token`` stores a hash and prints the token once; ``api`` serves."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
from typer.testing import CliRunner

from ecoperf_core.cli.app import app
from tests.api.conftest import free_port


def test_token_command(eco_home: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(
        app, ["api", "token", "--role", "write", "--dao", "dao-07", "--name", "ci"]
    )
    assert result.exit_code == 0, result.output
    token = result.stdout.strip().splitlines()[-1]
    from ecoperf_core.api.auth import digest, load_tokens

    principal = load_tokens(eco_home / "api-tokens.toml")[digest(token)]
    assert (principal.name, principal.role, principal.dao) == ("ci", "write", "dao-07")
    assert token not in (eco_home / "api-tokens.toml").read_text()
    again = runner.invoke(app, ["api", "token", "--role", "read", "--name", "ci"])
    assert again.exit_code == 2
    bad = runner.invoke(app, ["api", "token", "--role", "root"])
    assert bad.exit_code == 2


def test_api_command_serves(eco_home: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "ecoperf_core.cli.app", "api", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/ecosystem-performance/health")
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        assert r.json() == {"status": "ok"}
        assert httpx.get(f"http://127.0.0.1:{port}/docs").status_code == 200
        ready = httpx.get(f"http://127.0.0.1:{port}/ecosystem-performance/ready")
        assert ready.status_code == 503 and ready.json()["reason"] == "no serving snapshot"
    finally:
        proc.terminate()
        proc.wait(10)
