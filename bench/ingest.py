"""Benchmark: loading raw samples through ecoperf against a bare DuckDB insert.

Writes N raw per-request samples to one Parquet file, then, each in a fresh process and a fresh
database, (a) loads it through ecoperf (land the file, validate it, load it as one batch, archive
it: what `ecosystem-perf ingest` does, without Prefect's flow overhead) and (b) runs
`INSERT INTO t SELECT * FROM read_parquet(...)` into a bare table of the same columns. The
warehouse schema is created before the clock starts, as the bare table is. Each side runs
`--repeat` times, alternating; the best time of each counts. Peak RSS is the child's. CPU seconds
(all threads) are printed too: on a shared machine they move less than wall time.

    python bench/ingest.py --samples 10000000

Prints `name: value` lines; the last is `ratio: X` (ecoperf time / bare time).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

_MAKE_FILE = """
COPY (
    SELECT TIMESTAMP '2026-11-01' + to_microseconds(i * 25) AS time,
           (['node', 'dao', 'module', 'deployment', 'operation', 'user'])[1 + (i % 6)] AS entity_kind,
           'entity-' || (hash(i) % 1000) AS entity_id,
           'production' AS environment,
           CASE WHEN i % 3 = 0 THEN 'write' ELSE 'read' END AS op_type,
           round(20 + 80 * random(), 3) AS latency_ms,
           random() > 0.002 AS ok,
           CAST(CASE WHEN random() > 0.002 THEN 200 ELSE 503 END AS INTEGER) AS status,
           random() < 0.9 AS cache_hit,
           round(0.0002 * random(), 7) AS cost
    FROM range({n}) t(i)
) TO '{path}' (FORMAT parquet, COMPRESSION zstd)
"""

_ECOPERF = textwrap.dedent(
    """
    import json, resource, sys, time
    from pathlib import Path
    from ecoperf_core.service import Ecoperf
    from ecoperf_core.settings import Settings
    service = Ecoperf(Settings(home=Path(sys.argv[2])))
    # The warehouse exists before the load (as the bare side's table does): not timed.
    from ecoperf_core.warehouse.connection import writer
    with writer(service.db_path):
        pass
    cpu0 = time.process_time()
    started = time.perf_counter()
    report = service.ingest_landed(service.land([Path(sys.argv[1])]))
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu0
    assert [r.status for r in report.results] == ["loaded"], report.to_dict()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": elapsed, "cpu": cpu, "rows": report.results[0].rows, "rss_mb": rss}))
    """
)

_BARE = textwrap.dedent(
    """
    import json, resource, sys, time
    import duckdb
    con = duckdb.connect(sys.argv[2] + "/bare.duckdb")
    source = f"read_parquet('{sys.argv[1]}')"
    con.execute(f"CREATE TABLE t AS SELECT * FROM {source} LIMIT 0")
    cpu0 = time.process_time()
    started = time.perf_counter()
    con.execute(f"INSERT INTO t SELECT * FROM {source}")
    con.close()
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu0
    rows = duckdb.connect(sys.argv[2] + "/bare.duckdb").execute("SELECT count(*) FROM t").fetchall()[0][0]
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": elapsed, "cpu": cpu, "rows": rows, "rss_mb": rss}))
    """
)


def _run(script: str, parquet: Path, workdir: Path) -> dict[str, float]:
    workdir.mkdir(parents=True)
    output = subprocess.run(
        [sys.executable, "-c", script, str(parquet), str(workdir)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=10_000_000, help="raw samples to load")
    parser.add_argument("--repeat", type=int, default=2, help="runs per side (best counts)")
    args = parser.parse_args()

    import duckdb

    with tempfile.TemporaryDirectory(prefix="ecoperf-bench-ingest-") as tmp:
        root = Path(tmp)
        parquet = root / "samples.parquet"
        duckdb.execute(_MAKE_FILE.format(n=args.samples, path=parquet))
        bare: list[dict[str, float]] = []
        ecoperf: list[dict[str, float]] = []
        for attempt in range(args.repeat):
            bare.append(_run(_BARE, parquet, root / f"bare-{attempt}"))
            ecoperf.append(_run(_ECOPERF, parquet, root / f"ecoperf-{attempt}"))
        best_bare = min(bare, key=lambda r: r["seconds"])
        best_eco = min(ecoperf, key=lambda r: r["seconds"])
        assert best_bare["rows"] == best_eco["rows"] == args.samples
        print(f"samples: {args.samples}")
        print(f"file_mb: {parquet.stat().st_size / 1e6:.1f}")
        print(f"bare_seconds: {best_bare['seconds']:.3f}")
        print(f"bare_samples_per_s: {args.samples / best_bare['seconds']:.0f}")
        print(f"bare_peak_rss_mb: {max(r['rss_mb'] for r in bare):.0f}")
        print(f"ecoperf_seconds: {best_eco['seconds']:.3f}")
        print(f"ecoperf_samples_per_s: {args.samples / best_eco['seconds']:.0f}")
        print(f"ecoperf_peak_rss_mb: {max(r['rss_mb'] for r in ecoperf):.0f}")
        # CPU seconds (all threads) of the best runs: steadier than wall time on a shared machine.
        print(f"bare_cpu_seconds: {best_bare['cpu']:.3f}")
        print(f"ecoperf_cpu_seconds: {best_eco['cpu']:.3f}")
        print(f"cpu_ratio: {best_eco['cpu'] / best_bare['cpu']:.3f}")
        print(f"ratio: {best_eco['seconds'] / best_bare['seconds']:.3f}")


if __name__ == "__main__":
    main()
