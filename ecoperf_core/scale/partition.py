"""Which shard an entity belongs to: a stable hash of its id, the same in SQL and in Python.

md5 (not DuckDB's ``hash()``, whose values may change between versions) so an entity stays in
its shard across DuckDB upgrades and machines.
"""

from __future__ import annotations

import hashlib


def shard_sql(column: str, shards: int) -> str:
    """A DuckDB expression giving the shard (0..shards-1) of the text ``column``."""
    return f"CAST(CAST(('0x' || left(md5({column}), 8)) AS UBIGINT) % {int(shards)} AS INTEGER)"


def shard_of(entity_id: str, shards: int) -> int:
    """The shard of one entity id (what :func:`shard_sql` computes)."""
    return int(hashlib.md5(entity_id.encode()).hexdigest()[:8], 16) % shards
