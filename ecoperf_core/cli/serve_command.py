"""``serve``: run the scheduled flows, starting a local Prefect server when none is configured."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from ecoperf_core.cli.common import ExitCode, console, err_console, handle_errors


def _wait_healthy(url: str, process: subprocess.Popen[bytes], timeout_s: float) -> bool:
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    return False


def start_prefect_server(home: Path, port: int, log_path: Path) -> subprocess.Popen[bytes]:
    """``prefect server start`` on 127.0.0.1 with its database under ``home``."""
    home.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    env.pop("PREFECT_API_URL", None)
    log = log_path.open("ab")
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "prefect",
            "server",
            "start",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def serve(
    port: Annotated[
        int, typer.Option(help="Port of the local Prefect server, if one is started.")
    ] = 4200,
    start_server: Annotated[
        bool,
        typer.Option(
            "--start-server/--no-start-server",
            help="Start a local Prefect server when PREFECT_API_URL is not set.",
        ),
    ] = True,
) -> None:
    """Serve the scheduled flows (ingest every minute, rollup every 5 minutes by default).

    Cron schedules need a Prefect server. If PREFECT_API_URL is set, that server is used;
    otherwise a local one is started on 127.0.0.1 (its database under data/prefect, its UI at
    http://127.0.0.1:PORT) and stopped on exit. Schedules come from ECOPERF_INGEST_CRON,
    ECOPERF_ROLLUP_CRON and ECOPERF_TIMEZONE. Stop with Ctrl-C.
    """
    from ecoperf_core.settings import get_settings

    settings = get_settings()
    server: subprocess.Popen[bytes] | None = None
    api_url = os.environ.get("PREFECT_API_URL", "")
    if not api_url:
        if not start_server:
            err_console.print(
                "[red]error:[/red] PREFECT_API_URL is not set and --no-start-server was given"
            )
            raise typer.Exit(ExitCode.BAD_INPUT)
        prefect_home = settings.home / "prefect"
        log_path = prefect_home / "server.log"
        prefect_home.mkdir(parents=True, exist_ok=True)
        server = start_prefect_server(prefect_home, port, log_path)
        api_url = f"http://127.0.0.1:{port}/api"
        with console.status(f"starting a Prefect server on {api_url} ..."):
            healthy = _wait_healthy(api_url, server, timeout_s=90)
        if not healthy:
            server.terminate()
            err_console.print(f"[red]error:[/red] the Prefect server did not start; see {log_path}")
            raise typer.Exit(ExitCode.UNAVAILABLE)
        console.print(f"Prefect server: {api_url.removesuffix('/api')} (log: {log_path})")
        os.environ["PREFECT_API_URL"] = api_url
    try:
        from prefect import serve as prefect_serve
        from prefect.settings import PREFECT_API_URL, temporary_settings

        from flows.deployments import build_deployments, on_demand_deployments

        with temporary_settings(updates={PREFECT_API_URL: api_url}):
            prefect_serve(*build_deployments(settings), *on_demand_deployments())
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()


def register(app: typer.Typer) -> None:
    app.command()(handle_errors(serve))
