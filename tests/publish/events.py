"""Outbox events for publish tests, written the way engines write them (store_decisions)."""

from __future__ import annotations

from pathlib import Path

from ecoperf_core.engines.base import Decision
from ecoperf_core.evaluation.store import store_decisions
from ecoperf_core.warehouse import writer


def write_events(
    db: Path, count: int, *, engine: str = "qerberos", outcome: str = "high", prefix: str = "e"
) -> list[str]:
    """``count`` decisions that each change their subject's outcome → ``count`` outbox events;
    returns the new event ids."""
    decisions = [
        Decision(
            engine=engine,
            subject=f"{prefix}-{i}",
            outcome=outcome,
            output={"entityId": f"{prefix}-{i}", "riskLevel": outcome},
            inputs={"i": i},
            thresholds={},
            policy_version="test",
        )
        for i in range(count)
    ]
    with writer(db) as con:
        before = con.execute("SELECT coalesce(max(seq), 0) FROM outbox").fetchall()[0][0]
        store_decisions(con, decisions)
        rows = con.execute(
            "SELECT event_id FROM outbox WHERE seq > ? ORDER BY seq", [before]
        ).fetchall()
    return [r[0] for r in rows]
