"""A write-heavy process for the concurrency test: ingest + rollup + evaluate + publish, looping.

Runs the same service functions the scheduled flows' tasks call (without Prefect's own server,
which the test does not exercise), in its own process, so the warehouse's writer lock is really
contended across processes while the API serves. Stops when ``<home>/stop`` exists.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def main(home: Path) -> None:
    from ecoperf_core.api.settings import ApiPaths
    from ecoperf_core.api.snapshot import build_snapshot, write_snapshot
    from ecoperf_core.api.spool import load_spool
    from ecoperf_core.demo import generate_demo
    from ecoperf_core.service import Ecoperf

    service = Ecoperf()
    paths = ApiPaths()
    stats = {"iterations": 0, "ingested": 0, "spoolLoaded": 0, "snapshots": 0, "errors": []}
    seed = 1000
    while not (home / "stop").exists():
        seed += 1
        started = time.monotonic()
        steps: dict[str, float] = {}

        def timed(name: str, call: Callable[[], Any], steps: dict[str, float] = steps) -> Any:
            t0 = time.monotonic()
            out = call()
            steps[name] = round(time.monotonic() - t0, 2)
            return out

        with tempfile.TemporaryDirectory() as tmp:
            files = timed(
                "generate",
                lambda tmp=tmp, seed=seed: generate_demo(Path(tmp), size=5_000, seed=seed),
            )
            report = timed(
                "ingest", lambda files=files: service.ingest_landed(service.land(files.files))
            )
        stats["ingested"] += len(report.loaded)
        timed("rollup", service.rollup)
        timed("qnet", service.evaluate_nodes)
        if stats["iterations"] % 3 == 0:
            timed("qerberos", service.evaluate_risk)
            timed("dao", service.evaluate_daos)
        loaded = timed(
            "spool", lambda: load_spool(paths.spool, paths.spool_archive, paths.core.db_path)
        )
        stats["spoolLoaded"] += loaded.loaded
        timed(
            "snapshot", lambda: write_snapshot(build_snapshot(paths.core.db_path), paths.snapshot)
        )
        stats["snapshots"] += 1
        stats.setdefault("steps", []).append(steps)
        stats["iterations"] += 1
        stats.setdefault("iterationS", []).append(round(time.monotonic() - started, 2))
        time.sleep(0.05)
    (home / "writer-stats.json").write_text(json.dumps(stats))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
