"""Opening the warehouse: one writer at a time, readers alongside each other.

DuckDB lets one process hold a file read-write, or any number hold it read-only, never both
(``Could not set lock on file``). Prefect runs each scheduled flow in its own process, so writers
and readers are coordinated with an advisory lock file beside the database: writers take it
exclusively, readers shared. Whoever waits, waits on that lock with a timeout, and a lock error
from DuckDB never reaches a user. Connections are opened per unit of work and closed after it.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from ecoperf_core.errors import NotFoundError, WarehouseBusyError, WarehouseUnusableError
from ecoperf_core.warehouse.migrations import LATEST_VERSION, current_version, migrate

_POLL_S = 0.05


def lock_path(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".lock")


@contextmanager
def _file_lock(db_path: Path, *, exclusive: bool, timeout_s: float) -> Iterator[None]:
    db_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path(db_path), os.O_RDWR | os.O_CREAT, 0o644)
    mode = (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            try:
                fcntl.flock(fd, mode)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    kind = "write" if exclusive else "read"
                    raise WarehouseBusyError(
                        f"the warehouse {db_path} is busy: waited {timeout_s:.0f} s for {kind} access "
                        "while another ecoperf process was writing; try again later or raise "
                        "ECOPERF_WRITER_LOCK_TIMEOUT_S"
                    ) from None
                time.sleep(_POLL_S)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _connect(db_path: Path, *, read_only: bool, timeout_s: float) -> duckdb.DuckDBPyConnection:
    config = {"home_directory": str(db_path.parent.resolve())}
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            con = duckdb.connect(str(db_path), read_only=read_only, config=config)
            # Sample times are stored as UTC; text with an offset is converted on the way in.
            con.execute("SET TimeZone = 'UTC'")
            return con
        except duckdb.Error as exc:
            if "lock" not in str(exc).lower():
                # Not a DuckDB file, a newer storage version, a disk error: retrying cannot help.
                raise WarehouseUnusableError(
                    f"cannot open the warehouse {db_path}: {str(exc).strip().splitlines()[0]}"
                ) from exc
            # A process that does not use our lock file (a user's own duckdb shell) holds it.
            if time.monotonic() >= deadline:
                raise WarehouseBusyError(f"cannot open the warehouse {db_path}: {exc}") from exc
            time.sleep(_POLL_S * 4)


@contextmanager
def writer(db_path: Path, *, timeout_s: float = 600.0) -> Iterator[duckdb.DuckDBPyConnection]:
    """The one read-write connection, for one unit of work; migrates the schema on open."""
    with _file_lock(db_path, exclusive=True, timeout_s=timeout_s):
        con = _connect(db_path, read_only=False, timeout_s=timeout_s)
        try:
            migrate(con)
            yield con
        finally:
            con.close()


@contextmanager
def reader(db_path: Path, *, timeout_s: float = 600.0) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection; several may be open at once, in any processes."""
    if not db_path.exists():
        raise NotFoundError(
            f"no warehouse at {db_path}: run `ecosystem-perf demo` or `ecosystem-perf ingest` first"
        )
    for _attempt in range(2):
        with _file_lock(db_path, exclusive=False, timeout_s=timeout_s):
            con = _connect(db_path, read_only=True, timeout_s=timeout_s)
            try:
                if current_version(con) >= LATEST_VERSION:
                    yield con
                    return
            finally:
                con.close()
        # An older warehouse: migrate once under the write lock, then read.
        with writer(db_path, timeout_s=timeout_s):
            pass
    raise NotFoundError(f"the warehouse {db_path} could not be brought to the current schema")
