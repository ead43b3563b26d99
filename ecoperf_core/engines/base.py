"""The envelope every engine returns, and small pure helpers the engines share.

A :class:`Decision` is what the storage layer persists in the ``decisions`` table (engine, subject,
outcome, inputs, output, evidence, thresholds, policy_version; ``decided_at`` is added on write).
Every field is plain JSON-able data. ``outcome`` is a short label (``"1.0"``, ``"cache_fallback"``,
``"high"``, ``"block_deployment"``, ``"ready"``, ``"traffic_throttling"``) compared with the
previous decision for the same subject to detect a change. When the policy section has
``shadow = true`` the decision says so in ``evidence["shadow"]`` (computed and logged, not acted on).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, is_dataclass
from typing import Any

ENGINES = ("qnet", "qflow", "qerberos", "cicd", "golive", "dao")


@dataclass(frozen=True)
class Decision:
    """One engine's decision about one subject, with everything needed to explain and replay it."""

    engine: str
    subject: str
    outcome: str
    output: dict[str, Any]  # the spec-shaped payload, camelCase
    inputs: dict[str, Any]
    thresholds: dict[str, Any]
    evidence: dict[str, Any] = field(default_factory=dict)
    policy_version: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "engine": self.engine,
            "subject": self.subject,
            "outcome": self.outcome,
            "output": self.output,
            "inputs": self.inputs,
            "thresholds": self.thresholds,
            "evidence": self.evidence,
            "policy_version": self.policy_version,
        }


def jsonable(value: Any) -> Any:
    """Plain JSON data: dataclasses and mappings to dicts, tuples to lists, NaN/inf to None."""
    if is_dataclass(value) and not isinstance(value, type):
        return jsonable(asdict(value))
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, str | bytes):
        return value
    if isinstance(value, Sequence | set | frozenset):
        return [jsonable(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else None
    if hasattr(value, "item"):  # numpy scalar
        return jsonable(value.item())
    return value


def clamp01(x: float) -> float:
    return 0.0 if x < 0.0 else 1.0 if x > 1.0 else x


def require_finite(name: str, value: float | None, *, minimum: float | None = 0.0) -> None:
    """Engines are called with validated data, but guard anyway: a NaN must not become a decision."""
    if value is None:
        return
    if not math.isfinite(value):
        raise ValueError(f"{name}: expected a finite number, got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name}: must be ≥ {minimum:g} (got {value!r})")


def require_rate(name: str, value: float | None) -> None:
    require_finite(name, value)
    if value is not None and value > 1.0:
        raise ValueError(f"{name}: must be ≤ 1 (got {value!r})")


def r4(x: float) -> float:
    """Round a reported number to 4 decimals (and the engines decide on the reported number)."""
    return round(float(x), 4)
