"""Who receives published events: the subscribers file, and the publisher's settings.

The subscribers file (TOML, ``ECOPERF_SUBSCRIBERS``, default ``<home>/subscribers.toml``; none means
no subscribers) lists ``[[subscriber]]`` tables, each a discriminated union on ``kind``:

```toml
[[subscriber]]
name = "ops-webhook"
kind = "webhook"
url = "https://hooks.example.org/ecoperf"
secret_env = "OPS_WEBHOOK_SECRET"     # HMAC-SHA256 key, read from the environment
event_types = ["deployment_gate_update", "go_live_update"]   # empty: every event

[[subscriber]]
name = "alertmanager"
kind = "alertmanager"
url = "http://127.0.0.1:9093"

[[subscriber]]
name = "edge-lb"
kind = "haproxy"
socket = "/run/haproxy/admin.sock"    # or "127.0.0.1:9999"
backend = "qnet"

[[subscriber]]
name = "prefect"
kind = "prefect"
```

Retry thresholds and alert conditions are policy (``[publish]`` in the policy file), not here.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter
from pydantic import ValidationError as PydanticValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from ecoperf_core.errors import FieldProblem, ValidationError
from ecoperf_core.policy import problems_from

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class _Subscriber(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    name: str = Field(pattern=_NAME.pattern)
    event_types: list[str] = []
    # "beginning": the outbox's whole history is queued when the subscriber is first seen;
    # "now": only events written after that.
    start: Literal["beginning", "now"] = "beginning"

    def wants(self, event_type: str) -> bool:
        return not self.event_types or event_type in self.event_types

    # State subscribers act on the latest event per subject only (an older one still queued is
    # superseded): re-firing an alert or re-applying an old weight would undo a newer change.
    @property
    def latest_only(self) -> bool:
        return False


class WebhookSubscriber(_Subscriber):
    kind: Literal["webhook"]
    url: str = Field(pattern=r"^https?://")
    secret: str | None = None
    secret_env: str | None = None
    timeout_s: float | None = Field(default=None, gt=0)  # default: the policy's retry.timeout_s
    concurrency: int = Field(default=16, ge=1, le=256)

    def signing_key(self) -> bytes | None:
        if self.secret is not None:
            return self.secret.encode()
        if self.secret_env is not None:
            value = os.environ.get(self.secret_env)
            if value is None:
                raise ValidationError(
                    "subscribers",
                    [
                        FieldProblem(
                            f"{self.name}.secret_env",
                            f"environment variable {self.secret_env} is not set",
                        )
                    ],
                )
            return value.encode()
        return None


class AlertmanagerSubscriber(_Subscriber):
    kind: Literal["alertmanager"]
    url: str = Field(pattern=r"^https?://")  # base URL; alerts go to <url>/api/v2/alerts
    components: list[str] = ["qnet", "qflow", "qerberos", "cicd", "dao", "drill", "golive"]

    @property
    def latest_only(self) -> bool:
        return True


class HaproxySubscriber(_Subscriber):
    kind: Literal["haproxy"]
    socket: str  # a unix socket path, or host:port of a TCP stats socket at admin level
    backend: str
    server_template: str = "{subject}"  # HAProxy server name for a QNET node id
    weight_scale: float = Field(default=100.0, gt=0)  # routing weight 1.0 → HAProxy weight 100
    event_types: list[str] = ["node_performance_update"]

    @property
    def latest_only(self) -> bool:
        return True


class PrefectSubscriber(_Subscriber):
    kind: Literal["prefect"]


Subscriber = Annotated[
    WebhookSubscriber | AlertmanagerSubscriber | HaproxySubscriber | PrefectSubscriber,
    Field(discriminator="kind"),
]


class SubscribersFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    subscriber: list[Subscriber] = []


class PublishSettings(BaseSettings):
    """The publisher's knobs (``ECOPERF_*``): where subscribers are listed, batch sizes."""

    model_config = SettingsConfigDict(env_prefix="ECOPERF_", env_file=".env", extra="ignore")

    subscribers: Path | None = Field(default=None, description="The subscribers file.")
    publish_batch: int = Field(default=2000, ge=1, description="Deliveries claimed per round.")
    publish_max_seconds: float = Field(
        default=50.0, gt=0, description="How long one scheduled publish keeps delivering."
    )


def default_subscribers_path() -> Path:
    from ecoperf_core.settings import get_settings

    explicit = PublishSettings().subscribers
    return explicit if explicit is not None else get_settings().home / "subscribers.toml"


def parse_subscribers(text: str, source: str = "<subscribers>") -> list[Subscriber]:
    """Parse and validate a subscribers file; problems name the entry and key."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValidationError(source, [FieldProblem("", f"not valid TOML: {exc}")]) from None
    try:
        parsed = TypeAdapter(SubscribersFile).validate_python(data)
    except PydanticValidationError as exc:
        raise ValidationError(source, problems_from(exc)) from None
    names = [s.name for s in parsed.subscriber]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValidationError(source, [FieldProblem("subscriber.name", f"duplicate {dupes}")])
    return list(parsed.subscriber)


def load_subscribers(path: Path | None = None) -> list[Subscriber]:
    """The configured subscribers; an explicit path that does not exist is an error."""
    explicit = path is not None or PublishSettings().subscribers is not None
    resolved = path if path is not None else default_subscribers_path()
    if not resolved.exists():
        if explicit:
            raise ValidationError(str(resolved), [FieldProblem("", "subscribers file not found")])
        return []
    return parse_subscribers(resolved.read_text(encoding="utf-8"), str(resolved))
