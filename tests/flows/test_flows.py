"""The ingest and rollup flows run for real in Prefect, and the deployments carry their cron."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from ecoperf_core.service import Ecoperf
from ecoperf_core.settings import Settings
from tests.helpers import REQUEST_HEADER, request_rows, table_counts, write_csv

pytestmark = pytest.mark.usefixtures("prefect_runtime")


def test_ingest_and_rollup_flows_load_land_and_roll_up(eco_home: Path, tmp_path: Path) -> None:
    from flows.ingest import ingest_flow
    from flows.rollup import rollup_flow

    good = write_csv(tmp_path / "good.csv", REQUEST_HEADER, request_rows(120))
    bad = write_csv(
        tmp_path / "bad.csv", REQUEST_HEADER, [*request_rows(3), "x,node,n,1,true,true,0"]
    )

    report = ingest_flow(paths=[str(good), str(bad)])
    assert (report["loaded"], report["rejected"], report["rows"]) == (1, 1, 120)
    rolled = rollup_flow()
    assert rolled["batches"] == 1 and rolled["windows"]["1m"] == 2

    # A file dropped into the landing folder is picked up by the scheduled (parameterless) run.
    settings = Settings()
    later = write_csv(tmp_path / "later.csv", REQUEST_HEADER, request_rows(60, start_minute=10))
    Ecoperf(settings).land([later])
    assert ingest_flow()["loaded"] == 1
    assert table_counts(settings.db_path)["requests"] == 180
    assert ingest_flow(paths=[str(good)])["duplicates"] == 1


def test_a_broken_warehouse_fails_the_run_at_once_without_retries(
    eco_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.rollup import rollup_flow

    broken = tmp_path / "not-a-db.duckdb"
    broken.write_bytes(b"this is not a duckdb file" * 100)
    monkeypatch.setenv("ECOPERF_DB", str(broken))
    started = time.monotonic()
    state = rollup_flow(return_state=True)
    assert state.is_failed()
    assert "not a valid DuckDB" in str(
        state.result(raise_on_failure=False)
    ) or "cannot open" in str(state.result(raise_on_failure=False))
    assert time.monotonic() - started < 5  # terminal: no retry back-off


def test_deployments_exist_with_their_cron(eco_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from prefect.client.orchestration import get_client

    from flows.deployments import build_deployments

    monkeypatch.setenv("ECOPERF_ROLLUP_CRON", "*/10 * * * *")
    deployments = build_deployments()
    by_name = {d.name: d for d in deployments}
    assert {"ingest-landing", "rollup"} <= set(by_name)

    async def applied() -> dict[str, list[str]]:
        crons: dict[str, list[str]] = {}
        async with get_client() as client:
            for deployment in deployments:
                deployment_id = await deployment.aapply()
                stored = await client.read_deployment(deployment_id)
                crons[stored.name] = [s.schedule.cron for s in stored.schedules]
        return crons

    crons = asyncio.run(applied())
    assert crons["ingest-landing"] == ["* * * * *"]
    assert crons["rollup"] == ["*/10 * * * *"]
