"""API latency under a running flow, against a bare FastAPI floor (open-loop load).

    python bench/api.py [--samples 10000000] [--rate 300] [--duration 20]

1. builds a demo warehouse of ``--samples`` samples (generate, land, ingest, roll up), evaluates
   it and publishes the serving snapshot;
2. starts the ecoperf API and a bare FastAPI endpoint (same uvicorn settings: one worker, loopback,
   no access log) in their own processes;
3. starts a flow process that runs the Prefect ``analyze`` flow over the whole history, the
   evaluate engines and a snapshot publish, in a loop, so the load meets a busy machine and a
   warehouse being written;
4. a load generator in its own process sends requests on a fixed schedule (open loop: a request
   is sent at its time whether or not earlier ones returned; latency is measured from the
   scheduled time, so queueing shows): ``--rate`` requests/s to ecoperf, alternating POST
   node-score and GET weights, and ``--rate`` requests/s to the floor, interleaved.

Prints ``name: value`` lines, the last one ``ratio: X`` (ecoperf p99 / floor p99).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
NODE_SCORE = {
    "nodeId": "node-01",
    "nodeMetrics": {
        "latency": {"p99": 180, "p95": 120},
        "errorRate": 0.002,
        "capacity": {"utilization": 0.65},
    },
}
BARE_APP = """
from fastapi import FastAPI
app = FastAPI()

@app.get("/ping")
async def ping() -> dict:
    return {"status": "ok"}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def build(home: Path, samples: int) -> dict[str, float]:
    """Warehouse + first evaluation + snapshot, through the service (what the flows call)."""
    os.environ["ECOPERF_HOME"] = str(home)
    from ecoperf_core.api.auth import create_token
    from ecoperf_core.api.settings import ApiPaths
    from ecoperf_core.api.snapshot import build_snapshot, write_snapshot
    from ecoperf_core.demo import generate_demo
    from ecoperf_core.evaluation.demo_policy import demo_policy, policy_to_toml
    from ecoperf_core.policy import DEFAULT_POLICY
    from ecoperf_core.service import Ecoperf

    timings = {}
    t = time.perf_counter()
    home.mkdir(parents=True, exist_ok=True)
    (home / "policy.toml").write_text(policy_to_toml(demo_policy(DEFAULT_POLICY, samples), "bench"))
    service = Ecoperf()
    files = generate_demo(home / "demo", size=samples)
    service.ingest_landed(service.land(files.files))
    service.rollup()
    timings["build_s"] = time.perf_counter() - t
    t = time.perf_counter()
    service.evaluate_nodes()
    service.evaluate_risk()
    service.evaluate_daos()
    service.evaluate_readiness()
    paths = ApiPaths()
    write_snapshot(build_snapshot(paths.core.db_path), paths.snapshot)
    timings["evaluate_publish_s"] = time.perf_counter() - t
    (home / "bench-token").write_text(create_token(paths.tokens, "admin", "bench"))
    return timings


def flow_loop(home: Path, stop: Path) -> None:
    """The busy neighbour: the Prefect ``analyze`` flow over the whole history (its state and
    detections cleared first, so every round re-analyses all of it, like a first run), then the
    evaluate engines and a new serving snapshot, again and again until told to stop."""
    os.environ["ECOPERF_HOME"] = str(home)
    from ecoperf_core.api.settings import ApiPaths
    from ecoperf_core.api.snapshot import build_snapshot, write_snapshot
    from ecoperf_core.service import Ecoperf
    from ecoperf_core.warehouse import writer
    from flows.analyze import analyze_flow

    service = Ecoperf()
    paths = ApiPaths()
    analyze_flow()  # brings Prefect's local server up before the load starts
    (home / "flow-ready").touch()
    runs = 0
    while not stop.exists():
        with writer(service.db_path) as con:
            con.execute("DELETE FROM analysis_state")
            con.execute("DELETE FROM detections")
        analyze_flow()
        service.evaluate_nodes()
        service.evaluate_risk()
        service.evaluate_daos()
        write_snapshot(build_snapshot(paths.core.db_path), paths.snapshot)
        runs += 1
    (home / "flow-runs").write_text(str(runs))


async def _load(targets: list[tuple[str, str, str, Any]], rate: float, duration: float) -> dict:
    """Open loop: every tick (1/rate s) one request to ecoperf (routes alternating) and one to the
    floor, sent at its scheduled time whatever earlier requests are doing; latency counts from
    the scheduled time, so a slow server (or a late generator, reported as send lag) shows."""
    import aiohttp

    results: dict[str, list[float]] = {name: [] for name, *_ in targets}
    errors: dict[str, int] = {name: 0 for name, *_ in targets}
    lags: list[float] = []
    connector = aiohttp.TCPConnector(limit=400)
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def one(name: str, method: str, url: str, kwargs: Any, due: float) -> None:
            try:
                async with session.request(method, url, **kwargs) as response:
                    await response.read()
                    ok = response.status < 400
            except (aiohttp.ClientError, TimeoutError):
                ok = False
            if ok:
                results[name].append(time.perf_counter() - due)
            else:
                errors[name] += 1

        tasks = []
        start = time.perf_counter() + 0.5
        for i in range(int(rate * duration)):
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            lags.append(time.perf_counter() - due)
            for name, method, url, kwargs in (targets[i % 2], targets[2]):
                tasks.append(asyncio.create_task(one(name, method, url, kwargs, due)))
        await asyncio.gather(*tasks)
    return {"latencies": results, "errors": errors, "send_lag": lags}


def load_generator(
    api: str, floor: str, token: str, rate: float, duration: float, out: Path
) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    targets = [
        (
            "node_score",
            "POST",
            f"{api}/ecosystem-performance/qnet/node-score",
            {"json": NODE_SCORE, "headers": headers},
        ),
        (
            "weights",
            "GET",
            f"{api}/ecosystem-performance/qnet/weights?nodes=node-01,node-02",
            {"headers": headers},
        ),
        ("floor", "GET", f"{floor}/ping", {}),
    ]
    out.write_text(json.dumps(asyncio.run(_load(targets, rate, duration))))


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else float("nan")


def _wait(url: str, timeout: float = 30) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=10_000_000)
    parser.add_argument("--rate", type=float, default=300.0, help="requests/s to ecoperf")
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--home", type=Path, default=None, help="reuse/keep a bench home")
    args = parser.parse_args()

    home = args.home or Path(tempfile.mkdtemp(prefix="ecoperf-bench-api-"))
    if not (home / "bench-token").exists():
        for name, value in build(home, args.samples).items():
            print(f"{name}: {value:.1f}")
    token = (home / "bench-token").read_text()
    env = {
        **os.environ,
        "ECOPERF_HOME": str(home),
        "ECOPERF_API_RATE_LIMIT_RPS": "100000",
        "ECOPERF_API_RATE_LIMIT_BURST": "100000",
        "PYTHONPATH": str(ROOT),
        # The flow process's temporary Prefect server on an in-memory database: its default
        # file-backed SQLite answers "database is locked" on two cores (DESIGN.md).
        "PREFECT_HOME": str(home / "prefect"),
        "PREFECT_API_URL": "",
        "PREFECT_SERVER_EPHEMERAL_ENABLED": "true",
        "PREFECT_SERVER_DATABASE_CONNECTION_URL": (
            "sqlite+aiosqlite:///file::memory:?cache=shared&uri=true&check_same_thread=false"
        ),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": "WARNING",
        "DO_NOT_TRACK": "1",
    }
    api_port, floor_port = free_port(), free_port()
    (home / "bare_app.py").write_text(BARE_APP)
    uvicorn_args = ["--host", "127.0.0.1", "--log-level", "warning", "--no-access-log"]
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "ecoperf_core.api.app:create_app",
                "--factory",
                "--port",
                str(api_port),
                *uvicorn_args,
            ],
            env=env,
            cwd=ROOT,
        ),
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "bare_app:app",
                "--port",
                str(floor_port),
                *uvicorn_args,
            ],
            env=env,
            cwd=home,
        ),
    ]
    stop = home / "stop"
    stop.unlink(missing_ok=True)
    (home / "flow-ready").unlink(missing_ok=True)
    try:
        _wait(f"http://127.0.0.1:{api_port}/ecosystem-performance/health")
        _wait(f"http://127.0.0.1:{floor_port}/ping")
        code = (
            f"import sys; sys.path.insert(0, {str(ROOT)!r}); from bench.api import flow_loop; "
            f"from pathlib import Path; flow_loop(Path({str(home)!r}), Path({str(stop)!r}))"
        )
        procs.append(subprocess.Popen([sys.executable, "-c", code], env=env))
        ready = home / "flow-ready"
        deadline = time.monotonic() + 300
        while not ready.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1.0)  # into the first full analysis
        out = home / "load.json"
        code = (
            f"import sys; sys.path.insert(0, {str(ROOT)!r}); from bench.api import load_generator; "
            f"from pathlib import Path; load_generator('http://127.0.0.1:{api_port}', "
            f"'http://127.0.0.1:{floor_port}', {token!r}, {args.rate}, {args.duration}, "
            f"Path({str(out)!r}))"
        )
        subprocess.run([sys.executable, "-c", code], env=env, check=True)
    finally:
        stop.touch()
        if len(procs) > 2:
            procs[2].wait(600)
        for proc in procs[:2]:
            proc.terminate()
            proc.wait(10)
    data = json.loads(out.read_text())
    lat = data["latencies"]
    print(f"samples: {args.samples}")
    print(f"rate_rps: {args.rate}")
    print(f"duration_s: {args.duration}")
    print(f"flow_runs_during_load: {(home / 'flow-runs').read_text()}")
    for name in ("node_score", "weights", "floor"):
        print(f"{name}_requests: {len(lat[name])}")
        print(f"{name}_errors: {data['errors'][name]}")
        print(f"{name}_p50_ms: {_pct(lat[name], 0.50):.2f}")
        print(f"{name}_p99_ms: {_pct(lat[name], 0.99):.2f}")
    ecoperf = lat["node_score"] + lat["weights"]
    p99, floor99 = _pct(ecoperf, 0.99), _pct(lat["floor"], 0.99)
    print(f"generator_send_lag_p99_ms: {_pct(data['send_lag'], 0.99):.2f}")
    print(f"ecoperf_p50_ms: {_pct(ecoperf, 0.50):.2f}")
    print(f"ecoperf_p99_ms: {p99:.2f}")
    print(f"floor_p99_ms: {floor99:.2f}")
    print(f"ratio: {p99 / floor99:.2f}")
    if args.home is None:
        shutil.rmtree(home, ignore_errors=True)  # a 10M-sample home is ~370 MB


if __name__ == "__main__":
    main()
