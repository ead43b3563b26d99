"""Runtime settings, read from ``ECOPERF_*`` environment variables (and a ``.env`` file).

Paths default to the project's ``data/`` folder when running from a checkout, else ``./data``.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_CHECKOUT_DATA = Path(__file__).resolve().parent.parent / "data"


def _default_home() -> Path:
    # An editable install (the README's setup) keeps data next to the code; an installed wheel
    # has no such folder, so fall back to the working directory.
    if (_CHECKOUT_DATA / "policy.toml").exists() or (_CHECKOUT_DATA / "README.md").exists():
        return _CHECKOUT_DATA
    return Path.cwd() / "data"


class Settings(BaseSettings):
    """Where ecoperf keeps its files and how it schedules work."""

    model_config = SettingsConfigDict(env_prefix="ECOPERF_", env_file=".env", extra="ignore")

    home: Path = Field(default_factory=_default_home, description="Folder for ecoperf's own files.")
    db: Path | None = Field(default=None, description="The DuckDB warehouse file.")
    landing_dir: Path | None = Field(default=None, description="Folder watched by the ingest flow.")
    policy: Path | None = Field(
        default=None, description="The policy file; default <home>/policy.toml, else spec defaults."
    )
    rollup_windows: list[str] = Field(
        default=["1m", "5m", "1h"], description="Rollup window lengths, e.g. 1m, 5m, 1h, 1d."
    )
    writer_lock_timeout_s: float = Field(
        default=600.0, gt=0, description="How long a writer waits for the warehouse lock."
    )
    ingest_cron: str = Field(default="* * * * *", description="Cron of the scheduled ingest flow.")
    rollup_cron: str = Field(
        default="*/5 * * * *", description="Cron of the scheduled rollup flow."
    )
    evaluate_cron: str = Field(
        default="2-59/5 * * * *",
        description="Cron of the scheduled evaluate flow (two minutes after each 5-minute "
        "rollup, a minute after analyze, whose detections it reads).",
    )
    timezone: str = Field(default="UTC", description="Time zone of the cron schedules.")
    flow_nice: int = Field(
        default=10,
        ge=0,
        le=19,
        description="CPU nice value every flow run lowers its process to (0 = unchanged), so "
        "the API and shells on the same machine keep their latency while a flow computes.",
    )
    drill_cron: str = Field(
        default="0 3 * * 1", description="Cron of the weekly DR drill (Mondays 03:00)."
    )

    @field_validator("rollup_windows")
    @classmethod
    def _windows_parse(cls, windows: list[str]) -> list[str]:
        from ecoperf_core.timeutil import parse_window

        for window in windows:
            parse_window(window)
        if not windows:
            raise ValueError("ECOPERF_ROLLUP_WINDOWS needs at least one window")
        return windows

    @cached_property
    def db_path(self) -> Path:
        return self.db if self.db is not None else self.home / "ecoperf.duckdb"

    @cached_property
    def landing_path(self) -> Path:
        return self.landing_dir if self.landing_dir is not None else self.home / "landing"

    @property
    def archive_path(self) -> Path:
        return self.landing_path.parent / "archive"

    @property
    def quarantine_path(self) -> Path:
        return self.landing_path.parent / "quarantine"


def get_settings() -> Settings:
    """Settings as the environment says now (not cached: tests and the CLI change it)."""
    return Settings()
