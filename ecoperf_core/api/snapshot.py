"""The serving snapshot: the small read model the API answers from instead of the warehouse.

Flows build it (:func:`publish_snapshot`, under a shared reader, after the evaluate step) and publish
it by atomic rename, so the API sees the whole old snapshot or the whole new one and never takes a
warehouse lock: API latency does not depend on a running flow. It holds what the routes need:

* ``latest``: the decision in force per engine and subject (output, outcome, id, time);
* ``qnetStates``: QNET hysteresis state per node (a node-score what-if starts from it);
* ``operations``: Qflow conditions per operation and type (the policy-check request lacks them);
* ``isolatedDaos``: DAOs isolated now (the DAO isolation cap);
* ``known``: node, DAO, module, operation ids (unknown ids are 404s naming them);
* ``recent``: the latest decisions (capped) for GET /decisions, published beside the snapshot in
  ``<name>-decisions.json`` and loaded only when that route asks: it is ~30x the rest (each
  decision with its evidence), and parsing it on every reload would stall every other request.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from ecoperf_core.publish.events_feed import atomic_write

SNAPSHOT_VERSION = 1


def build_snapshot(
    db_path: Path, timeout_s: float = 600.0, recent: int = 1000, environment: str = "production"
) -> dict[str, Any]:
    """Read the serving snapshot out of the warehouse (one shared reader, a few queries)."""
    from ecoperf_core.errors import NotFoundError
    from ecoperf_core.evaluation import readers
    from ecoperf_core.evaluation.store import list_decisions, qnet_states, subjects_with_outcome
    from ecoperf_core.policy import load_policy
    from ecoperf_core.warehouse import reader

    policy = load_policy()
    with reader(db_path, timeout_s=timeout_s) as con:
        try:
            as_of: datetime | None = readers.latest_data_time(con)
        except NotFoundError:
            as_of = None
        latest: dict[str, dict[str, Any]] = {}
        for engine, subject, decision_id, outcome, decided_at, output in con.execute(
            """SELECT h.engine, h.subject, h.decision_id, h.outcome, h.decided_at, d.output
               FROM latest_decisions AS h JOIN decisions AS d USING (decision_id)
               ORDER BY h.engine, h.subject"""
        ).fetchall():
            latest.setdefault(engine, {})[subject] = {
                "decisionId": decision_id,
                "outcome": outcome,
                "decidedAt": decided_at.isoformat(),
                "output": json.loads(output) if isinstance(output, str) else output,
            }
        states = {
            node: {
                "weight": s.weight,
                "pendingWeight": s.pending_weight,
                "pendingCount": s.pending_count,
            }
            for node, s in qnet_states(con).items()
        }
        isolated = subjects_with_outcome(con, "dao", "immediate_isolation")
        known = {
            kind: readers.entity_ids(con, kind)
            for kind in ("node", "dao", "module", "operation", "user")
        }
        operations: dict[str, dict[str, Any]] = {}
        if as_of is not None:
            for op in readers.entity_ids(con, "operation", environment):
                per_type = {}
                for op_type in ("read", "write"):
                    conditions, _source = readers.operation_conditions(
                        con, op, op_type, as_of, policy, environment
                    )
                    per_type[op_type] = {"conditions": conditions, "source": _source}
                operations[op] = per_type
        decisions = list_decisions(con, limit=recent)
    return {
        "version": SNAPSHOT_VERSION,
        "builtAt": datetime.now(UTC).isoformat(),
        "asOf": None if as_of is None else as_of.isoformat(),
        "environment": environment,
        "policyVersion": policy.version,
        "latest": latest,
        "qnetStates": states,
        "isolatedDaos": isolated,
        "known": known,
        "operations": operations,
        "recent": decisions,
    }


def decisions_path(path: Path) -> Path:
    """Where the snapshot's recent decisions are published beside ``path``."""
    return path.with_name(f"{path.stem}-decisions{path.suffix}")


def write_snapshot(snapshot: dict[str, Any], path: Path) -> Path:
    """Publish a snapshot by atomic renames (the API never sees half a file): the recent
    decisions first, then the rest (small: what every request reads)."""
    core = {k: v for k, v in snapshot.items() if k != "recent"}
    recent = snapshot.get("recent", [])
    atomic_write(
        decisions_path(path), json.dumps(recent, separators=(",", ":"), default=str).encode()
    )
    atomic_write(path, json.dumps(core, separators=(",", ":"), default=str).encode())
    return path


@dataclass
class Snapshot:
    """The loaded snapshot with fast lookups."""

    data: dict[str, Any] = field(default_factory=dict)
    loaded_at: float = 0.0
    mtime: float = 0.0

    @property
    def present(self) -> bool:
        return bool(self.data)

    def latest(self, engine: str) -> dict[str, dict[str, Any]]:
        return self.data.get("latest", {}).get(engine, {})

    def known(self, kind: str) -> set[str]:
        return set(self.data.get("known", {}).get(kind, []))

    def built_at(self) -> datetime | None:
        text = self.data.get("builtAt")
        return datetime.fromisoformat(text) if text else None


class SnapshotStore:
    """The API's view of the snapshot file: reloaded when its inode/mtime change, checked at most
    every ``interval_s`` (a stat per check; a reload is a JSON parse of a small file)."""

    def __init__(self, path: Path, interval_s: float = 0.2) -> None:
        self.path = path
        self.interval_s = interval_s
        self._current = Snapshot()
        self._key: tuple[int, int, int] | None = None
        self._checked = 0.0
        self._lock = threading.Lock()
        # Sets of known ids, rebuilt once per load (lookups on every request).
        self._known: dict[str, set[str]] = {}
        self._recent: list[dict[str, Any]] = []
        self._recent_key: tuple[int, int, int] | None = None

    def get(self) -> Snapshot:
        now = time.monotonic()
        if now - self._checked >= self.interval_s:
            self._checked = now
            self.refresh()
        return self._current

    def known(self, kind: str) -> set[str]:
        self.get()
        return self._known.get(kind, set())

    def recent(self) -> list[dict[str, Any]]:
        """The recent decisions (newest first), reloaded when their file changed."""
        path = decisions_path(self.path)
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return self._recent
        key = (st.st_ino, st.st_mtime_ns, st.st_size)
        if key != self._recent_key:
            with self._lock:
                try:
                    self._recent = orjson.loads(path.read_bytes())
                    self._recent_key = key
                except (OSError, ValueError):
                    pass  # replaced meanwhile: the next request loads the new one
        return self._recent

    def refresh(self) -> bool:
        """Load the file if it changed; True when a new snapshot was loaded."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return False
        key = (st.st_ino, st.st_mtime_ns, st.st_size)
        if key == self._key:
            return False
        with self._lock:
            if key == self._key:
                return False
            try:
                data = orjson.loads(self.path.read_bytes())
            except (OSError, ValueError):
                return False  # replaced meanwhile: the next check loads the new one
            self._current = Snapshot(data, time.time(), st.st_mtime)
            self._known = {k: set(v) for k, v in data.get("known", {}).items()}
            self._key = key
        return True
