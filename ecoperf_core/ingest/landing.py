"""The landing zone: immutable files waiting to be loaded, and where they go afterwards.

Files arrive by atomic copy (temporary name, fsync, rename), so the ingest flow never sees half a
file. A landed file's name starts with its content hash, so landing the same bytes twice leaves one
file. After a load the file moves to ``archive/<day>/``; a rejected file moves to ``quarantine/``
beside a ``<name>.errors.json`` report. The user's own files are never moved or changed.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from ecoperf_core.errors import FieldProblem, ValidationError
from ecoperf_core.ingest.load import SUFFIX_FORMATS, file_checksum

# Checksums of files this process landed, by (device, inode, size, mtime): a landed file is never
# written again, so the load that follows need not hash the same bytes a second time.
_LANDED_CHECKSUMS: dict[tuple[int, int, int, int], str] = {}


def _stat_key(path: Path) -> tuple[int, int, int, int]:
    st = path.stat()
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def landed_checksum(path: Path) -> str | None:
    """The content hash computed when this process landed ``path``, if it did (else None)."""
    try:
        return _LANDED_CHECKSUMS.get(_stat_key(path))
    except OSError:
        return None


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(target: Path, data: bytes) -> None:
    """Write ``data`` to ``target`` so readers see the old file or the new one, never a mix."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
        _fsync_dir(target.parent)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def land(path: Path, landing_dir: Path) -> Path:
    """Copy ``path`` into the landing zone atomically; returns the landed file."""
    if not path.is_file():
        raise ValidationError(str(path), [FieldProblem("file", "does not exist or is not a file")])
    if path.suffix.lower() not in SUFFIX_FORMATS:
        raise ValidationError(
            str(path),
            [
                FieldProblem(
                    "file",
                    f"unsupported file type {path.suffix!r}; expected one of "
                    + ", ".join(sorted(SUFFIX_FORMATS)),
                )
            ],
        )
    landing_dir.mkdir(parents=True, exist_ok=True)
    source_key = _stat_key(path)
    checksum = file_checksum(path)
    target = landing_dir / f"{checksum[:12]}_{path.name}"
    if target.exists():
        return target
    fd, tmp = tempfile.mkstemp(dir=landing_dir, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        shutil.copyfile(path, tmp)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        # Reusable only if the source did not change between hashing and copying it.
        if _stat_key(path) == source_key:
            _LANDED_CHECKSUMS[_stat_key(Path(tmp))] = checksum
        os.replace(tmp, target)
        _fsync_dir(landing_dir)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def pending_files(landing_dir: Path) -> list[Path]:
    """Landed files not yet processed, oldest first (hidden and temporary files excluded)."""
    if not landing_dir.is_dir():
        return []
    files = [
        entry
        for entry in landing_dir.iterdir()
        if entry.is_file()
        and not entry.name.startswith(".")
        and entry.suffix.lower() in SUFFIX_FORMATS
    ]
    return sorted(files, key=lambda entry: (entry.stat().st_mtime, entry.name))


def _move(path: Path, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / path.name
    os.replace(path, target)
    return target


def archive(path: Path, archive_dir: Path) -> Path:
    return _move(path, archive_dir / datetime.now(UTC).strftime("%Y-%m-%d"))


def quarantine(path: Path, quarantine_dir: Path, error: ValidationError) -> Path:
    """Move a rejected file aside with a JSON report of what is wrong with it."""
    report = {
        "file": path.name,
        "source": error.source,
        "rejected_at": datetime.now(UTC).isoformat(),
        "total_problems": error.total_problems
        if error.total_problems is not None
        else len(error.problems),
        "problems": [
            {"row": p.row, "field": p.field, "message": p.message, "value": p.value}
            for p in error.problems
        ],
        "message": str(error),
    }
    quarantine_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(
        quarantine_dir / f"{path.name}.errors.json", json.dumps(report, indent=2).encode()
    )
    return _move(path, quarantine_dir)
