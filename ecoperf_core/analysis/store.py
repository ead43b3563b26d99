"""Detections and the incremental analysis state in the warehouse.

Everything one analyze run found is written in ONE writer transaction (detections inserted in bulk
from a DataFrame, ``INSERT OR IGNORE`` on the stable ``detection_id``; the state rows replaced),
so a crash leaves the previous state and the next run repeats the work, storing nothing twice.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import duckdb
import pandas as pd

State = dict[str, tuple[datetime, datetime | None]]  # entity -> (last window, segment start)


def detection_id(
    kind: str, entity: str, env: str, metric: str, window: str, detector: str, at: datetime
) -> str:
    """The stable key: the same finding on the same data always gets the same id."""
    text = "|".join((kind, entity, env, metric, window, detector, at.isoformat()))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def read_state(
    con: duckdb.DuckDBPyConnection, kind: str, env: str, metric: str, window: str, detector: str
) -> State:
    rows = con.execute(
        """SELECT entity_id, last_window_start, segment_start FROM analysis_state
           WHERE entity_kind = $k AND environment = $e AND metric = $m AND "window" = $w
             AND detector = $d""",
        {"k": kind, "e": env, "m": metric, "w": window, "d": detector},
    ).fetchall()
    return {str(e): (last, seg) for e, last, seg in rows}


def series_bounds(
    con: duckdb.DuckDBPyConnection, kind: str, env: str, metric: str, window: str
) -> tuple[datetime | None, datetime | None]:
    """First and last window holding a value of ``metric`` for the kind."""
    lo, hi = con.execute(
        f"""SELECT min(window_start), max(window_start) FROM rollups
            WHERE "window" = $w AND entity_kind = $k AND environment = $e
              AND {metric} IS NOT NULL""",
        {"w": window, "k": kind, "e": env},
    ).fetchall()[0]
    return lo, hi


def write(
    con: duckdb.DuckDBPyConnection,
    rows: Sequence[dict[str, Any]],
    state_rows: Sequence[dict[str, Any]],
    now: datetime,
    version: str,
    state_relation: str | None = None,
) -> int:
    """Store detections (ignoring ones already stored) and state, in one transaction; returns
    the number of detections that were new. ``state_relation`` (SQL, e.g. a ``read_parquet``)
    replaces ``state_rows``: a sharded run's state rows go from Parquet to the table without
    becoming Python objects."""
    det = pd.DataFrame(
        [
            {
                "detection_id": detection_id(
                    r["entity_kind"],
                    r["entity_id"],
                    r["environment"],
                    r["metric"],
                    r["window"],
                    r["detector"],
                    r["detected_at"],
                ),
                **{k: v for k, v in r.items() if k != "evidence"},
                "evidence": json.dumps(r["evidence"], default=str, allow_nan=False),
            }
            for r in rows
        ],
        columns=[
            "detection_id",
            "entity_kind",
            "entity_id",
            "environment",
            "metric",
            "window",
            "detector",
            "detected_at",
            "before_level",
            "after_level",
            "relative_change",
            "p_value",
            "score",
            "evidence",
        ],
    )
    state = pd.DataFrame(
        list(state_rows),
        columns=[
            "entity_kind",
            "entity_id",
            "environment",
            "metric",
            "window",
            "detector",
            "last_window_start",
            "segment_start",
        ],
    )
    for frame in (det, state):
        for column in ("detected_at", "last_window_start", "segment_start"):
            if column in frame:
                frame[column] = pd.to_datetime(frame[column])
    con.register("new_detections", det)
    con.register("new_state", state)
    con.execute("BEGIN TRANSACTION")
    try:
        before = con.execute("SELECT count(*) FROM detections").fetchall()[0][0]
        con.execute(
            """INSERT OR IGNORE INTO detections
               SELECT detection_id, entity_kind, entity_id, environment, metric, "window",
                      detector, detected_at, before_level, after_level, relative_change,
                      p_value, score, CAST(evidence AS JSON), $version, $now
               FROM new_detections""",
            {"version": version, "now": now},
        )
        after = con.execute("SELECT count(*) FROM detections").fetchall()[0][0]
        con.execute(
            f"""INSERT OR REPLACE INTO analysis_state
               SELECT entity_kind, entity_id, environment, metric, "window", detector,
                      last_window_start, segment_start, $now FROM {state_relation or "new_state"}""",
            {"now": now},
        )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        con.unregister("new_detections")
        con.unregister("new_state")
    return int(after - before)


def recent(
    con: duckdb.DuckDBPyConnection,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    kind: str | None = None,
    entity: str | None = None,
    detector: str | None = None,
    metric: str | None = None,
    environment: str | None = None,
    limit: int | None = None,
) -> pd.DataFrame:
    """Stored detections, newest first, optionally filtered."""
    where, params = ["TRUE"], {}
    for name, value, sql in (
        ("since", since, "detected_at > $since"),
        ("until", until, "detected_at <= $until"),
        ("kind", kind, "entity_kind = $kind"),
        ("entity", entity, "entity_id = $entity"),
        ("detector", detector, "detector = $detector"),
        ("metric", metric, "metric = $metric"),
        ("env", environment, "environment = $env"),
    ):
        if value is not None:
            where.append(sql)
            params[name] = value
    tail = f" LIMIT {int(limit)}" if limit else ""
    return con.execute(
        f"""SELECT * FROM detections WHERE {" AND ".join(where)}
            ORDER BY detected_at DESC, entity_kind, entity_id, metric{tail}""",
        params,
    ).df()


def lookback(as_of: datetime, span: timedelta) -> tuple[datetime, datetime]:
    return as_of - span, as_of
