"""Window lengths such as ``1m``, ``5m``, ``1h``, ``1d``."""

from __future__ import annotations

import re
from datetime import timedelta

_WINDOW = re.compile(r"^(\d+)([smhd])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_window(text: str) -> timedelta:
    """``'5m'`` -> 5 minutes; raises ``ValueError`` naming the bad text."""
    match = _WINDOW.match(text.strip())
    if not match or int(match.group(1)) == 0:
        raise ValueError(f"window {text!r} is not a length like 30s, 1m, 5m, 1h or 1d")
    return timedelta(seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2)])


def window_seconds(text: str) -> int:
    return int(parse_window(text).total_seconds())
