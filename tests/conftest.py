"""Test setup shared by every test.

Prefect is pointed at a throw-away home and an in-memory server database *before* it is imported
anywhere (the file-backed SQLite of Prefect's temporary server answers "database is locked" on two
cores). Each test gets its own ecoperf home, so nothing touches the checkout's data/ folder.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

_PREFECT_HOME = tempfile.mkdtemp(prefix="ecoperf-test-prefect-")
os.environ.update(
    {
        "PREFECT_HOME": _PREFECT_HOME,
        "PREFECT_API_URL": "",
        "PREFECT_SERVER_EPHEMERAL_ENABLED": "true",
        "PREFECT_SERVER_DATABASE_CONNECTION_URL": (
            "sqlite+aiosqlite:///file::memory:?cache=shared&uri=true&check_same_thread=false"
        ),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        # The temporary server's 20 s default start-up timeout is missed on a loaded 2-core box.
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
        "PREFECT_LOGGING_LEVEL": "WARNING",
        "DO_NOT_TRACK": "1",
    }
)
for _inherited in [name for name in os.environ if name.startswith("ECOPERF_")]:
    del os.environ[_inherited]

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def prefect_runtime() -> Iterator[None]:
    """Prefect with the flow heartbeat off (it otherwise holds every sync flow ~1 s on exit)."""
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        yield


@pytest.fixture
def eco_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh ecoperf home (warehouse, landing, quarantine) in a temporary folder."""
    home = tmp_path / "ecohome"
    home.mkdir()
    monkeypatch.setenv("ECOPERF_HOME", str(home))
    return home
