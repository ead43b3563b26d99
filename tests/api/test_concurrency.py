"""The API and a write-heavy process at the same time (default 30 s): no 5xx, no lock error
reaches a client, and every accepted write (a spooled decision) is in the warehouse afterwards."""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import UvicornThread, evaluate_and_publish, free_port
from tests.api.payloads import DAO, GATE, NODE_SCORE, POLICY_CHECK, RISK, P
from tests.evaluation.demo_warehouse import demo_home

LOCK_ERROR = re.compile(r"could not set lock|conflicting lock|warehouse .* is busy", re.I)
DURATION_S = float(os.environ.get("ECOPERF_TEST_CONCURRENCY_S", "30"))
POSTS = [
    ("qnet/node-score", NODE_SCORE, "nodeId"),
    ("qflow/policy-check", POLICY_CHECK, None),
    ("qerberos/risk-assessment", RISK, "entityId"),
    ("cicd/gate-check", GATE, None),
    ("dao/subnet-evaluation", DAO, "daoId"),
]
GETS = [
    "qnet/weights?nodes=node-01,node-17",
    "decisions?limit=50",
    "go-live/readiness/qwallet?environment=production",
    "ready",
]


def test_api_under_write_heavy_flows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ecoperf_core.api.app import create_app
    from ecoperf_core.api.auth import create_token
    from ecoperf_core.api.settings import ApiPaths, ApiSettings
    from ecoperf_core.api.spool import load_spool
    from ecoperf_core.service import Ecoperf
    from ecoperf_core.settings import Settings

    home = demo_home(tmp_path / "home")
    monkeypatch.setenv("ECOPERF_HOME", str(home))
    evaluate_and_publish(home)
    api = ApiSettings(rate_limit_rps=100_000, rate_limit_burst=100_000)
    paths = ApiPaths(Settings(), api)
    token = create_token(paths.tokens, "admin", "load")
    first_snapshot = json.loads(paths.snapshot.read_text())["builtAt"]

    writer = subprocess.Popen(
        [sys.executable, "-m", "tests.api.writer_loop", str(home)],
        cwd=Path(__file__).resolve().parents[2],
        env={**os.environ, "ECOPERF_HOME": str(home)},
        stderr=subprocess.PIPE,
        text=True,
    )
    port = free_port()
    app = create_app(Settings(), api)
    statuses: Counter[int] = Counter()
    accepted: list[str] = []
    problems: list[str] = []
    lock = threading.Lock()
    stop = time.monotonic() + DURATION_S

    def client(worker: int) -> None:
        rng = random.Random(worker)
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}{P}/",
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        ) as c:
            n = 0
            while time.monotonic() < stop:
                n += 1
                if rng.random() < 0.7:
                    route, body, key = rng.choice(POSTS)
                    if key:
                        body = {**body, key: f"{body[key]}-{worker}-{n % 7}"}
                    response = c.post(route, json=body)
                else:
                    response = c.get(rng.choice(GETS))
                with lock:
                    statuses[response.status_code] += 1
                    if response.status_code >= 500 or LOCK_ERROR.search(response.text):
                        problems.append(f"{response.status_code} {response.text[:200]}")
                    if response.request.method == "POST" and response.status_code == 200:
                        accepted.append(response.headers["x-decision-id"])

    try:
        with UvicornThread(app, port):
            threads = [threading.Thread(target=client, args=(w,)) for w in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            (home / "stop").touch()
            _out, err = writer.communicate(timeout=300)
            time.sleep(0.3)
            reloaded = app.state.eco.snapshots.get().data["builtAt"]
    finally:
        (home / "stop").touch()
        if writer.poll() is None:
            writer.wait(300)
    assert writer.returncode == 0, err[-3000:]
    stats = json.loads((home / "writer-stats.json").read_text())
    assert stats["iterations"] >= 1 and stats["ingested"] >= 1, stats
    assert reloaded != first_snapshot  # the API picked up snapshots the writer published
    assert not problems, problems[:5]
    assert statuses[200] > 100 and all(code < 500 for code in statuses), statuses

    load_spool(paths.spool, paths.spool_archive, paths.core.db_path)  # what the next publish does
    stored = {
        row[0]
        for row in Ecoperf()
        .query("SELECT evidence->>'spoolId' FROM decisions WHERE evidence->>'spoolId' IS NOT NULL")
        .rows
    }
    missing = [i for i in accepted if i not in stored]
    assert not missing, f"{len(missing)} of {len(accepted)} accepted decisions missing"
    print(f"concurrency: {dict(statuses)}; accepted {len(accepted)}; writer {stats}")
