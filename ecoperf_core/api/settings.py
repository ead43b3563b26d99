"""API settings, read from ``ECOPERF_API_*`` environment variables.

Kept apart from :mod:`ecoperf_core.settings` so the API's knobs (port, tokens, limits) live with
the API; the folders it shares with the flows derive from the core settings' home and warehouse.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from ecoperf_core.settings import Settings, get_settings


class ApiSettings(BaseSettings):
    """How the API listens, authenticates, limits, and where its read model and spool live."""

    model_config = SettingsConfigDict(env_prefix="ECOPERF_API_", env_file=".env", extra="ignore")

    host: str = Field(default="127.0.0.1", description="Address uvicorn binds.")
    port: int = Field(default=8080, ge=0, le=65535, description="Port uvicorn binds.")
    tokens_file: Path | None = Field(
        default=None,
        description="TOML file of bearer tokens (hashed); default <home>/api-tokens.toml.",
    )
    auth: bool = Field(
        default=True, description="Require bearer tokens (false only for local use)."
    )
    rate_limit_rps: float = Field(
        default=100.0, gt=0, description="Per-token sustained requests/s."
    )
    rate_limit_burst: float = Field(default=200.0, ge=1, description="Per-token bucket size.")
    max_body_bytes: int = Field(default=65_536, ge=64, description="Larger bodies get 413.")
    cors_origins: list[str] = Field(
        default=[], description="Allowed CORS origins; empty = CORS off."
    )
    snapshot_max_age_s: float = Field(
        default=900.0, gt=0, description="`ready` fails when the snapshot is older than this."
    )
    reload_interval_s: float = Field(
        default=0.2, gt=0, description="How often the snapshot file and the feed are checked."
    )
    # Decisions arriving while a spool flush runs always share the next one (group commit);
    # this extra wait gathers more of them per flush at the cost of that much latency. With the
    # flows at a lower CPU priority and one fdatasync per flush, 0 gave the lowest p99 under
    # bench/api.py's load (docs/api.md has the measurements).
    spool_batch_ms: float = Field(
        default=0.0,
        ge=0,
        description="Extra wait (ms) before a spool flush, to gather more decisions per fsync.",
    )
    ring_size: int = Field(default=10_000, ge=10, description="Events kept in memory for resume.")
    recent_decisions: int = Field(default=1000, ge=1, description="Decisions in the snapshot.")
    publish_cron: str = Field(
        default="* * * * *", description="Cron of the publish flow (spool, events, snapshot)."
    )


class ApiPaths:
    """The folders the API shares with the flows, from the core settings."""

    def __init__(self, core: Settings | None = None, api: ApiSettings | None = None) -> None:
        self.core = core or get_settings()
        self.api = api or ApiSettings()
        home = self.core.db_path.resolve().parent

        self.snapshot = home / "snapshot" / "serving.json"
        self.events = home / "events"
        self.spool = self.core.landing_path / "decisions"
        self.spool_archive = self.core.archive_path / "decisions"
        self.tokens = self.api.tokens_file or (self.core.home / "api-tokens.toml")
