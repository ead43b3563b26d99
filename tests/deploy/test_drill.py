"""DR drills on a real copy of the warehouse: RTO and RPO measured, a flipped byte caught and
named, DR baselines and failover triggers judged on generated environments."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest

from ecoperf_core.deploy.drill import backup_warehouse
from tests.deploy.scenario import T0, _stream, load_frame, receiver, scenario_home


@pytest.fixture
def home(eco_home: Path) -> Path:
    return scenario_home(eco_home)


def _flip_byte_in_table(path: Path, table: str) -> int:
    """Flip one byte inside a storage block holding ``table``'s data; returns the offset.

    DuckDB's file: three 4 KiB headers, then fixed-size blocks (``block_size``) addressed by id.
    """
    con = duckdb.connect(str(path), read_only=True)
    try:
        block_size = con.execute("SELECT block_size FROM pragma_database_size()").fetchall()[0][0]
        block = con.execute(
            f"SELECT max(block_id) FROM pragma_storage_info('{table}') "
            "WHERE persistent AND block_id >= 0 AND column_name = 'latency_ms'"
        ).fetchall()[0][0]
    finally:
        con.close()
    offset = 3 * 4096 + int(block) * int(block_size) + 1000
    with path.open("r+b") as handle:
        handle.seek(offset)
        byte = handle.read(1)
        handle.seek(offset)
        handle.write(bytes([byte[0] ^ 0xFF]))
    return offset


def test_drill_restores_a_real_copy_and_reports_rto_and_rpo(
    prefect_runtime: None, home: Path
) -> None:
    from flows.drill import drill_flow

    drill = drill_flow(environment="dr")
    assert drill["verdict"] == "PolicyMet", drill["reasons"]
    assert 0 < drill["rtoSeconds"] < drill["rtoLimitSeconds"]
    assert drill["rpoSeconds"] == 0.0  # a fresh backup loses nothing
    tables = drill["checks"]["restore"]["tables"]
    assert tables["requests"]["restoredRows"] == tables["requests"]["manifestRows"] > 40_000
    assert all(t["match"] for t in tables.values())
    assert set(drill["checks"]["baseline"]["gates"]) == {"qindex", "qwallet"}
    assert drill["checks"]["failover"]["failover"] is False
    assert drill["checks"]["recovery"]["passed"] is True
    assert (home / "backups" / drill["backup"]).is_file()
    assert not list((home / "restores").iterdir())  # the restore folder is cleaned up

    con = duckdb.connect(str(home / "ecoperf.duckdb"), read_only=True)
    try:
        stored = con.execute(
            "SELECT verdict, rto_seconds, rpo_seconds, report FROM drill_runs"
        ).fetchall()
        event = con.execute(
            "SELECT json_extract_string(data, '$.outcome') FROM outbox "
            "WHERE event_type = 'drill_update'"
        ).fetchall()
    finally:
        con.close()
    assert stored[0][:3] == ("PolicyMet", drill["rtoSeconds"], 0.0)
    assert "| requests | " in stored[0][3] and "PolicyMet" in stored[0][3]
    assert event == [("PolicyMet",)]
    from tests.deploy.test_deploy_flow import _artifact

    artifact = _artifact("drill-dr")
    assert artifact is not None and "PolicyMet" in artifact and "RTO" in artifact


def test_backup_with_one_flipped_byte_fails_the_drill_naming_the_table(home: Path) -> None:
    from ecoperf_core.service import Ecoperf

    backup = backup_warehouse(home / "ecoperf.duckdb", home / "backups")
    _flip_byte_in_table(backup.path, "requests")
    drill = Ecoperf().drill("dr", backup=backup.path)
    assert drill.verdict == "PolicyBreached"
    named = [r for r in drill.reasons if r.startswith("table requests:")]
    assert named, drill.reasons
    assert "checksum" in named[0].lower()
    assert drill.checks["restore"]["tables"]["requests"]["match"] is False
    # The other tables restored fine and are reported as such.
    assert drill.checks["restore"]["tables"]["ingest_batches"]["match"] is True
    assert drill.exit_code == 1


def test_an_old_backup_breaches_the_rpo(home: Path) -> None:
    from ecoperf_core.service import Ecoperf

    backup = backup_warehouse(home / "ecoperf.duckdb", home / "backups")
    # Ten more minutes of primary data arrive after the backup.
    later = _stream(
        __import__("numpy").random.default_rng(1),
        "module",
        "qwallet",
        "production",
        1.0,
        seconds=600,
        start=T0 + timedelta(hours=1),
    )
    load_frame(home, later, "later")
    drill = Ecoperf().drill("dr", backup=backup.path)
    assert drill.verdict == "PolicyBreached"
    assert drill.rpo_seconds is not None and 590 <= drill.rpo_seconds <= 600
    assert any(r.startswith("RPO breached") for r in drill.reasons)


def test_slow_dr_environment_breaches_primary_baselines(home: Path) -> None:
    from ecoperf_core.service import Ecoperf

    rng = __import__("numpy").random.default_rng(2)
    slow = _stream(rng, "module", "qmail", "dr", 0.5, slow=1.5)
    load_frame(
        home,
        __import__("pandas").concat([slow, _stream(rng, "module", "qmail", "production", 1.0)]),
        "qmail",
    )
    drill = Ecoperf().drill("dr")
    assert drill.verdict == "PolicyBreached"
    assert any("qmail violates" in r and "p95_latency_degradation" in r for r in drill.reasons)
    assert drill.checks["restore"]["passed"] is True  # only the baselines failed


def test_failover_trigger_calls_its_hook_once_per_primary_state(home: Path) -> None:
    from ecoperf_core.policy import DEFAULT_POLICY
    from ecoperf_core.service import Ecoperf

    rng = __import__("numpy").random.default_rng(3)
    # Primary's last ten minutes: 20% errors (burn 200 at a 99.9% objective), both windows.
    failing = _stream(
        rng,
        "module",
        "qwallet",
        "production",
        2.0,
        seconds=600,
        errors=0.2,
        start=T0 + timedelta(minutes=60),
    )
    load_frame(home, failing, "failing")
    policy = DEFAULT_POLICY.normalised()
    policy["drill"]["failover_mode"] = "trigger"
    with receiver() as r:
        hook = f"{r.url}/failover"
        first = Ecoperf().drill("dr", failover_hook=hook, policy=policy)
        assert first.checks["failover"]["failover"] is True
        assert any("sustained burn" in x for x in first.checks["failover"]["reasons"])
        assert len(r.paths("/failover")) == 1
        second = Ecoperf().drill("dr", failover_hook=hook, policy=policy)
        assert second.checks["failover"]["hook"]["status"] == "already_delivered"
        assert len(r.paths("/failover")) == 1
    assert json.loads(json.dumps(r.paths("/failover")[0]))["to"] == "dr"
    # Returning to primary is not yet allowed: primary fails the gate against DR.
    assert first.checks["recovery"]["passed"] is False


def test_drill_refuses_primary_as_the_dr_environment(home: Path) -> None:
    from ecoperf_core.errors import ValidationError
    from ecoperf_core.service import Ecoperf

    with pytest.raises(ValidationError, match="--environment"):
        Ecoperf().drill("production")


def test_a_changed_row_is_caught_by_the_table_checksum(home: Path) -> None:
    """A backup whose storage is intact but whose contents differ from its manifest (one value
    rewritten) is caught by the row checksum, not only by DuckDB's block checksums."""
    from ecoperf_core.service import Ecoperf

    backup = backup_warehouse(home / "ecoperf.duckdb", home / "backups")
    con = duckdb.connect(str(backup.path))
    try:
        con.execute(
            "UPDATE rollups SET requests = requests + 1 WHERE rowid = (SELECT min(rowid) FROM rollups)"
        )
        con.execute("CHECKPOINT")
    finally:
        con.close()
    drill = Ecoperf().drill("dr", backup=backup.path)
    assert drill.verdict == "PolicyBreached"
    assert [r for r in drill.reasons if r.startswith("table")] == [
        next(r for r in drill.reasons if r.startswith("table rollups: checksum"))
    ]
