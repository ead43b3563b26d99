"""Real Prometheus, Alertmanager and HAProxy for tests, on free 127.0.0.1 ports in tmp folders.

Each helper skips the test with a reason when the binary is absent (``.ci/run`` installs the Debian
packages), waits until the server answers, and stops it when the fixture's context ends.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _binary(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (Debian package {package}; .ci/run installs it)")
    return path


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    folder: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _wait_http(server: Server, path: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            log = (server.folder / "server.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"server exited with {server.process.returncode}:\n{log}")
        try:
            if httpx.get(server.url + path, timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{server.url}{path} did not answer within {timeout_s} s")


@contextmanager
def _running(command: list[str], folder: Path, port: int, ready: str | None) -> Iterator[Server]:
    log = (folder / "server.log").open("wb")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=folder)
    server = Server(process, port, folder)
    try:
        if ready is not None:
            _wait_http(server, ready)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@contextmanager
def prometheus(folder: Path, targets: list[str], scrape_interval: str = "1s") -> Iterator[Server]:
    binary = _binary("prometheus", "prometheus")
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = folder / "prometheus.yml"
    quoted = ", ".join(f"'{t}'" for t in targets)
    config.write_text(
        f"global:\n  scrape_interval: {scrape_interval}\n  evaluation_interval: {scrape_interval}\n"
        f"scrape_configs:\n  - job_name: exporter\n    static_configs:\n"
        f"      - targets: [{quoted}]\n"
    )
    command = [
        binary,
        f"--config.file={config}",
        f"--web.listen-address=127.0.0.1:{port}",
        f"--storage.tsdb.path={folder / 'tsdb'}",
    ]
    with _running(command, folder, port, "/-/ready") as server:
        yield server


@contextmanager
def alertmanager(folder: Path, webhook_url: str) -> Iterator[Server]:
    binary = _binary("prometheus-alertmanager", "prometheus-alertmanager")
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = folder / "alertmanager.yml"
    config.write_text(
        "route:\n  receiver: hook\n  group_by: ['alertname', 'subject']\n"
        "  group_wait: 0s\n  group_interval: 1s\n  repeat_interval: 1h\n"
        "receivers:\n  - name: hook\n    webhook_configs:\n"
        f"      - url: '{webhook_url}'\n        send_resolved: true\n"
    )
    command = [
        binary,
        f"--config.file={config}",
        f"--web.listen-address=127.0.0.1:{port}",
        f"--storage.path={folder / 'data'}",
        "--cluster.listen-address=",
    ]
    with _running(command, folder, port, "/-/ready") as server:
        yield server


@contextmanager
def haproxy(folder: Path, backend: str, servers: list[str]) -> Iterator[tuple[Server, str]]:
    """HAProxy with one backend of ``servers`` (no health checks) and an admin socket; yields the
    server and the socket path."""
    binary = _binary("haproxy", "haproxy")
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    sock = folder / "admin.sock"
    lines = [
        "global",
        f"  stats socket {sock} mode 600 level admin",
        "defaults",
        "  mode http",
        "  timeout connect 1s",
        "  timeout client 5s",
        "  timeout server 5s",
        "frontend main",
        f"  bind 127.0.0.1:{port}",
        f"  default_backend {backend}",
        f"backend {backend}",
        "  balance roundrobin",
    ]
    lines += [f"  server {name} 127.0.0.1:{free_port()} weight 100" for name in servers]
    config = folder / "haproxy.cfg"
    config.write_text("\n".join(lines) + "\n")
    command = [binary, "-db", "-f", str(config)]
    with _running(command, folder, port, None) as server:
        deadline = time.monotonic() + 15
        while not sock.exists():
            if server.process.poll() is not None or time.monotonic() > deadline:
                log = (folder / "server.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"haproxy did not start:\n{log}")
            time.sleep(0.05)
        yield server, str(sock)
