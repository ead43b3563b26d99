"""Outbox delivery to a local webhook receiver: throughput and decision-to-receipt delay.

    python bench/publish.py [--events 100000] [--rate 0] [--steady-seconds 20]

1. a receiver (aiohttp, its own process, 127.0.0.1) acknowledges every POST and notes, per event,
   the time it arrived minus the event's ``decidedAt`` (when the decision was stored);
2. burst: ``--events`` decisions are stored (each changes its subject's outcome, so each writes one
   outbox event, in the same transaction), then one publisher process delivers them all: events/s
   is events over the wall time of the delivery, and the delay is mostly time spent queued;
3. steady: decisions are stored in batches of 100 at ``--rate`` events/s (default 250) for
   ``--steady-seconds`` while a following publisher (``outbox deliver --follow``) delivers them: the
   p50/p99 delay from decision to receipt at that load, on a warehouse that already holds the
   burst's history. Keep the rate below what the storing side sustains (``steady_stored_events_per_s``
   shows it): a producer that is always behind takes the polled writer lock back-to-back and
   starves the publisher, which measures lock starvation, not delivery.

Prints ``name: value`` lines.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RECEIVER = """
import sys, time, datetime
from aiohttp import web

delays, keys = [], set()
duplicates = 0

async def hook(request):
    global duplicates
    body = await request.json()
    now = time.time()
    decided = datetime.datetime.fromisoformat(body["data"]["decidedAt"]).replace(
        tzinfo=datetime.timezone.utc).timestamp()
    key = request.headers["Idempotency-Key"]
    if key in keys:
        duplicates += 1
    else:
        keys.add(key)
        delays.append(now - decided)
    return web.Response(text="ok")

async def stats(request):
    return web.json_response({"unique": len(keys), "duplicates": duplicates, "delays": delays})

async def reset(request):
    global duplicates
    delays.clear(); keys.clear(); duplicates = 0
    return web.Response(text="ok")

app = web.Application()
app.add_routes([web.post("/hook", hook), web.get("/stats", stats), web.post("/reset", reset)])
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def store(db: Path, count: int, prefix: str) -> None:
    from ecoperf_core.engines.base import Decision
    from ecoperf_core.evaluation.store import store_decisions
    from ecoperf_core.warehouse import writer

    decisions = [
        Decision("qerberos", f"{prefix}-{i}", "high", {"riskLevel": "high"}, {}, {}, {}, "bench")
        for i in range(count)
    ]
    with writer(db) as con:
        store_decisions(con, decisions)


def stats(url: str) -> dict:
    return httpx.get(url.replace("/hook", "/stats"), timeout=30).json()


def wait_for(url: str, expected: int, timeout_s: float) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        got = stats(url)
        if got["unique"] >= expected:
            return got
        time.sleep(0.2)
    return stats(url)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=250.0, help="steady events/s")
    parser.add_argument("--steady-seconds", type=float, default=20.0)
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="ecoperf-bench-publish-"))
    db = home / "ecoperf.duckdb"
    port = free_port()
    url = f"http://127.0.0.1:{port}/hook"
    (home / "subscribers.toml").write_text(
        f'[[subscriber]]\nname = "bench"\nkind = "webhook"\nurl = "{url}"\n'
        'secret = "bench-secret"\nconcurrency = 32\n'
    )
    env = {**os.environ, "ECOPERF_HOME": str(home), "PYTHONPATH": str(ROOT)}
    env.setdefault("ECOPERF_PUBLISH_BATCH", "5000")
    receiver = subprocess.Popen([sys.executable, "-c", RECEIVER, str(port)])
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                stats(url)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        deliver = [sys.executable, "-m", "ecoperf_core.cli.app", "outbox", "deliver", "--json"]

        # -- burst
        started = time.perf_counter()
        for first in range(0, args.events, 10_000):
            store(db, min(10_000, args.events - first), f"burst{first}")
        stored_s = time.perf_counter() - started
        started = time.perf_counter()
        run = subprocess.run(
            [*deliver, "--max-seconds", "3600"], env=env, capture_output=True, text=True
        )
        burst_s = time.perf_counter() - started
        if run.returncode != 0:
            raise SystemExit(run.stderr)
        report = json.loads(run.stdout)
        got = wait_for(url, args.events, 30)
        burst_rate = got["unique"] / burst_s
        delays = np.array(got["delays"])
        print(f"events: {args.events}")
        print(f"store_events_per_s: {args.events / stored_s:.0f}")
        print(f"burst_delivered: {report['delivered']}")
        print(f"burst_received_unique: {got['unique']}")
        print(f"burst_duplicates: {got['duplicates']}")
        print(f"burst_seconds: {burst_s:.1f}")
        print(f"events_per_s: {burst_rate:.0f}")
        print(f"burst_p99_delay_ms: {np.percentile(delays, 99) * 1000:.0f}")

        # -- steady load with a following publisher
        httpx.post(url.replace("/hook", "/reset"), timeout=10)
        rate = args.rate
        batch = 100
        follower = subprocess.Popen(
            [*deliver, "--follow", "0.05", "--max-seconds", str(args.steady_seconds + 30)],
            env=env, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        sent = 0
        started = time.perf_counter()
        while time.perf_counter() - started < args.steady_seconds:
            due = (time.perf_counter() - started) * rate
            if sent + batch <= due:
                store(db, batch, f"steady{sent}")
                sent += batch
            else:
                time.sleep(0.005)
        achieved = sent / (time.perf_counter() - started)
        got = wait_for(url, sent, 60)
        follower.terminate()
        follower.wait(timeout=30)
        delays = np.array(got["delays"]) * 1000
        print(f"steady_offered_events_per_s: {rate:.0f}")
        print(f"steady_stored_events_per_s: {achieved:.0f}")
        print(f"steady_received_unique: {got['unique']} of {sent}")
        print(f"p50_delay_ms: {np.percentile(delays, 50):.0f}")
        print(f"p99_delay_ms: {np.percentile(delays, 99):.0f}")
    finally:
        receiver.terminate()
        receiver.wait(timeout=10)


if __name__ == "__main__":
    main()
