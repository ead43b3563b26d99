"""Benchmark: the cost curve of ingest, rollup, analyze and evaluate from 1M to 50M samples.

For each size, in a fresh process and a fresh ecoperf home: raw per-request samples of
``samples / 1000`` nodes over 6 hours (1,000 samples per node; 1% of the nodes step up their
latency by 40% half way) are generated straight into Parquet with DuckDB, in files of at most
5M samples, time-sliced. Then the flows run as the schedule runs them: for every file an
``ingest`` and a ``rollup`` flow run, then one ``analyze`` and one ``evaluate`` run, with
``ECOPERF_SCALE_SHARDS`` entity shards (``--shards``; default one per 2,500 nodes, at least 2)
on Prefect's default task runner. Every flow runs against one Prefect server this script
starts (the in-memory kind the tests use).

Per step it measures wall time, process CPU time and peak RSS (the kernel's VmHWM, reset
before each step through /proc/self/clear_refs). Per flow run it measures Prefect's
orchestration overhead: the flow's wall time minus the union of its task runs' own time
(start to end of each task run, read back from the Prefect API). The log-log growth slope of
each step between sizes is d log(time) / d log(samples) (least squares over the sizes; the
pairwise slopes are printed too).

    python bench/scale.py --samples 1M,10M,50M

Prints a table and ``name: value`` lines. The machine may be shared: wall times are noisy,
CPU times less so (both are printed).
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

STEPS = ("ingest", "rollup", "analyze", "evaluate")
SAMPLES_PER_NODE = 1000
FILE_ROWS = 5_000_000
SPAN_HOURS = 6

_CHILD = textwrap.dedent(
    r'''
    import json, math, os, sys, time
    from datetime import datetime, timedelta, timezone
    from pathlib import Path

    samples, home, shards = int(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
    os.environ["ECOPERF_HOME"] = str(home)
    os.environ["ECOPERF_SCALE_SHARDS"] = str(shards)
    import duckdb
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import TaskRunFilter, TaskRunFilterStartTime
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    from flows.analyze import analyze_flow
    from flows.evaluate import evaluate_flow
    from flows.ingest import ingest_flow
    from flows.rollup import rollup_flow

    nodes = max(1, samples // __PER_NODE__)
    files = max(1, math.ceil(samples / __FILE_ROWS__))
    data = home / "generated"
    data.mkdir(parents=True)
    gen = duckdb.connect()
    gen.execute("SELECT setseed(0.42)")
    span_us = __SPAN_HOURS__ * 3600 * 1_000_000
    paths = []
    t = time.perf_counter()
    for k in range(files):
        lo, hi = k * samples // files, (k + 1) * samples // files
        path = data / f"part-{k:03d}.parquet"
        # Time-major: sample i is node i % nodes at time (i // nodes) of the 6 h span.
        gen.execute(f"""
            COPY (
              SELECT TIMESTAMP '2026-11-01' + to_microseconds(
                         CAST((i // {nodes}) * ({span_us} // {__PER_NODE__}) AS BIGINT)
                         + CAST(i % 997 AS BIGINT)) AS time,
                     'node' AS entity_kind,
                     'node-' || lpad(CAST(i % {nodes} AS VARCHAR), 6, '0') AS entity_id,
                     'production' AS environment,
                     round((40 + 40 * random() + 10 * random() * random())
                           * CASE WHEN (i % {nodes}) % 100 = 7 AND i // {nodes} >= {__PER_NODE__ // 2}
                                  THEN 1.4 ELSE 1.0 END, 3) AS latency_ms,
                     random() > 0.002 AS ok,
                     round(0.0002 * random(), 7) AS cost
              FROM range({lo}, {hi}) t(i)
            ) TO '{path}' (FORMAT parquet, COMPRESSION zstd)""")
        paths.append(path)
    gen.close()
    generate_s = time.perf_counter() - t

    def peak_reset():
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")

    def peak_mb():
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def task_time(since, until):
        """Union of the task runs' [start, end] between ``since`` and ``until`` (sub-flows
        appear as task runs spanning their whole run: left out, their tasks count)."""
        with get_client(sync_client=True) as client:
            runs = client.read_task_runs(
                task_run_filter=TaskRunFilter(
                    start_time=TaskRunFilterStartTime(after_=since - timedelta(seconds=1))
                ),
                limit=200,
            )
        if os.environ.get("BENCH_DEBUG"):
            for r in sorted(runs, key=lambda r: r.start_time or since):
                if r.start_time and r.end_time:
                    print("SPAN", r.name, round(r.start_time.timestamp() - since.timestamp(), 3),
                          round(r.end_time.timestamp() - since.timestamp(), 3), file=sys.stderr)
            print("SPAN flow-end", round(until - since.timestamp(), 3), file=sys.stderr)
        spans = sorted(
            (r.start_time.timestamp(), r.end_time.timestamp())
            for r in runs
            if r.start_time and r.end_time and r.end_time.timestamp() <= until + 1
            and not r.name.startswith(("analyze-shards", "evaluate-shards"))
        )
        total, cur_lo, cur_hi = 0.0, None, None
        for lo, hi in spans:
            if cur_hi is None or lo > cur_hi:
                if cur_hi is not None:
                    total += cur_hi - cur_lo
                cur_lo, cur_hi = lo, hi
            else:
                cur_hi = max(cur_hi, hi)
        if cur_hi is not None:
            total += cur_hi - cur_lo
        return total, len(spans)

    steps = {s: {"wall_s": 0.0, "cpu_s": 0.0, "peak_rss_mb": 0.0, "overhead_s": [], "tasks": 0}
             for s in ("ingest", "rollup", "analyze", "evaluate")}
    results = {}

    def run(step, call):
        peak_reset()
        since = datetime.now(timezone.utc)
        wall0, cpu0 = time.time(), time.process_time()
        out = call()
        wall1, cpu1 = time.time(), time.process_time()
        busy, n_tasks = task_time(since, wall1)
        s = steps[step]
        s["wall_s"] += wall1 - wall0
        s["cpu_s"] += cpu1 - cpu0
        s["peak_rss_mb"] = max(s["peak_rss_mb"], peak_mb())
        s["overhead_s"].append(max(0.0, (wall1 - wall0) - busy))
        s["tasks"] += n_tasks
        return out

    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        rollup_flow()  # first flow run of the process: Prefect's client warm-up, not measured
        for path in paths:
            report = run("ingest", lambda: ingest_flow([str(path)]))
            run("rollup", lambda: rollup_flow())
        results["analyze"] = run("analyze", lambda: analyze_flow())
        results["evaluate"] = run("evaluate", lambda: evaluate_flow())
    con = duckdb.connect(str(home / "ecoperf.duckdb"), read_only=True)
    counts = {t: con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0]
              for t in ("requests", "rollups", "detections", "decisions")}
    con.close()
    print("RESULT " + json.dumps({
        "samples": samples, "nodes": nodes, "files": files, "shards": shards,
        "generate_s": generate_s, "steps": steps, "counts": counts,
        "analyze": {k: results["analyze"].get(k) for k in ("stored", "series", "points")},
        "qnet": results["evaluate"]["qnet"].get("outcomes"),
    }))
    '''
)


def parse_sizes(text: str) -> list[int]:
    sizes = []
    for part in text.split(","):
        part = part.strip().upper()
        scale = {"K": 1_000, "M": 1_000_000}.get(part[-1:], 1)
        number = part[:-1] if scale > 1 else part
        try:
            sizes.append(int(float(number) * scale))
        except ValueError:
            raise SystemExit(f"--samples: not a size: {part!r} (e.g. 1M,10M,50M)") from None
    return sizes


def slope(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of log(y) on log(x)."""
    lx, ly = [math.log(x) for x in xs], [math.log(max(y, 1e-9)) for y in ys]
    mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
    den = sum((a - mx) ** 2 for a in lx)
    return sum((a - mx) * (b - my) for a, b in zip(lx, ly, strict=True)) / den


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", default="1M,10M,50M", help="sizes, e.g. 1M,10M,50M")
    parser.add_argument("--shards", type=int, default=0, help="0: one per 2,500 nodes, min 2")
    args = parser.parse_args()
    sizes = parse_sizes(args.samples)
    root = Path(__file__).resolve().parents[1]
    from prefect.server.api.server import SubprocessASGIServer

    prefect_home = tempfile.mkdtemp(prefix="ecoperf-bench-prefect-")
    os.environ.update(
        {
            "PREFECT_HOME": prefect_home,
            "PREFECT_API_URL": "",
            "PREFECT_SERVER_DATABASE_CONNECTION_URL": (
                "sqlite+aiosqlite:///file::memory:?cache=shared&uri=true&check_same_thread=false"
            ),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_LOGGING_LEVEL": "WARNING",
            "DO_NOT_TRACK": "1",
        }
    )
    server = SubprocessASGIServer()
    server.start()
    env = {**os.environ, "PREFECT_API_URL": server.api_url}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")]))
    runs = []
    try:
        for samples in sizes:
            nodes = max(1, samples // SAMPLES_PER_NODE)
            shards = args.shards or max(2, math.ceil(nodes / 2500))
            with tempfile.TemporaryDirectory(prefix="ecoperf-bench-scale-") as home:
                child = _CHILD
                for name, value in (
                    ("__PER_NODE__", SAMPLES_PER_NODE),
                    ("__FILE_ROWS__", FILE_ROWS),
                    ("__SPAN_HOURS__", SPAN_HOURS),
                ):
                    child = child.replace(name, str(value))
                proc = subprocess.run(
                    [sys.executable, "-c", child, str(samples), home, str(shards)],
                    env=env,
                    capture_output=True,
                    text=True,
                    cwd=root,
                )
            if os.environ.get("BENCH_DEBUG"):
                sys.stderr.write(
                    "".join(f"{ln}\n" for ln in proc.stderr.splitlines() if ln.startswith("SPAN"))
                )
            lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
            if proc.returncode != 0 or not lines:
                sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-6000:])
                raise SystemExit(f"the {samples:,}-sample run failed (exit {proc.returncode})")
            runs.append(json.loads(lines[-1][len("RESULT ") :]))
            print(f"# {samples:,} samples done", file=sys.stderr, flush=True)
    finally:
        server.stop()
    report(runs)


def report(runs: list[dict]) -> None:
    xs = [float(r["samples"]) for r in runs]
    header = f"{'samples':>11} {'nodes':>7} {'shards':>6} {'step':<9} {'wall s':>8} {'cpu s':>8} {'peak RSS MB':>12} {'overhead s/run':>15}"
    print(header)
    print("-" * len(header))
    for r in runs:
        for step in STEPS:
            s = r["steps"][step]
            over = max(s["overhead_s"]) if s["overhead_s"] else 0.0
            print(
                f"{r['samples']:>11,} {r['nodes']:>7,} {r['shards']:>6} {step:<9} "
                f"{s['wall_s']:>8.2f} {s['cpu_s']:>8.2f} {s['peak_rss_mb']:>12.0f} {over:>15.3f}"
            )
    print()
    for r in runs:
        n = r["samples"]
        print(f"samples_{n}_nodes: {r['nodes']}")
        print(f"samples_{n}_shards: {r['shards']}")
        print(f"samples_{n}_detections: {r['counts']['detections']}")
        print(f"samples_{n}_decisions: {r['counts']['decisions']}")
        cycle = 0.0
        for step in STEPS:
            s = r["steps"][step]
            print(f"samples_{n}_{step}_wall_s: {s['wall_s']:.3f}")
            print(f"samples_{n}_{step}_cpu_s: {s['cpu_s']:.3f}")
            print(f"samples_{n}_{step}_peak_rss_mb: {s['peak_rss_mb']:.0f}")
            print(f"samples_{n}_{step}_overhead_s_max_per_run: {max(s['overhead_s']):.3f}")
            cycle += s["overhead_s"][-1]
        # One cycle as the schedule runs it: the last file's ingest and rollup, then analyze
        # and evaluate.
        print(f"samples_{n}_orchestration_overhead_s_per_cycle: {cycle:.3f}")
    if len(runs) >= 2:
        for step in STEPS:
            walls = [r["steps"][step]["wall_s"] for r in runs]
            cpus = [r["steps"][step]["cpu_s"] for r in runs]
            print(f"slope_{step}_wall: {slope(xs, walls):.3f}")
            print(f"slope_{step}_cpu: {slope(xs, cpus):.3f}")
            for a, b in itertools.pairwise(runs):
                pair = slope(
                    [a["samples"], b["samples"]],
                    [a["steps"][step]["wall_s"], b["steps"][step]["wall_s"]],
                )
                print(f"slope_{step}_wall_{a['samples']}_to_{b['samples']}: {pair:.3f}")
        last, prev = runs[-1], runs[-2]
        for step in STEPS:
            ratio = last["steps"][step]["peak_rss_mb"] / prev["steps"][step]["peak_rss_mb"]
            print(f"peak_rss_ratio_{step}_{last['samples']}_vs_{prev['samples']}: {ratio:.3f}")


if __name__ == "__main__":
    main()
