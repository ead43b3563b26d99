"""Small helpers shared by the statistical detectors (pure, no I/O)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np


def jsonable(value: Any) -> Any:
    """Convert numpy scalars/arrays, dataclasses, NaN/inf into plain JSON-able Python values.

    Evidence rows end up in the warehouse and in HTTP payloads, where NaN is not valid JSON, so
    non-finite floats become ``None``.
    """
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return [jsonable(v) for v in value.tolist()]
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        f = float(value)
        return f if math.isfinite(f) else None
    if isinstance(value, np.datetime64):
        return str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def as_float_array(values: Sequence[float] | np.ndarray) -> np.ndarray:
    """A 1-D float64 copy of ``values`` (lists, tuples, pandas Series all accepted)."""
    arr = np.asarray(values, dtype=np.float64).reshape(-1)
    return arr


class Jsonable:
    """Mixin giving frozen dataclasses a ``to_dict()`` with JSON-able evidence."""

    def to_dict(self) -> dict[str, Any]:
        out = jsonable(self)
        assert isinstance(out, dict)
        return out
