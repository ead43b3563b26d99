"""How the analyze and evaluate flows split their work (``ECOPERF_SCALE_*``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ScaleSettings(BaseSettings):
    """Shard count, where shards exchange Parquet, and which task runner runs them."""

    model_config = SettingsConfigDict(env_prefix="ECOPERF_SCALE_", env_file=".env", extra="ignore")

    shards: int = Field(
        default=1,
        ge=1,
        le=256,
        description="Entity hash partitions of the analyze and evaluate work; 1 keeps the "
        "single-task path. Coarse: tens, never one per entity.",
    )
    dask_address: str | None = Field(
        default=None,
        description="Scheduler address of a Dask cluster (tcp://host:8786) the shard tasks run "
        "on through prefect-dask; unset: Prefect's default (thread pool) task runner.",
    )
    local_workers: int = Field(
        default=2,
        ge=1,
        description="Shards run at once on the default task runner (threads of the flow's "
        "process); bounds the memory of a run to this many shards.",
    )
    exchange_dir: Path | None = Field(
        default=None,
        description="Folder the shards exchange Parquet through; default <home>/exchange. "
        "Must be storage every Dask worker sees at the same path.",
    )


def exchange_root(settings: ScaleSettings, home: Path) -> Path:
    return settings.exchange_dir if settings.exchange_dir is not None else home / "exchange"
