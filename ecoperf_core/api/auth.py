"""Bearer tokens (stored hashed), roles, DAO scopes and the per-token rate limit.

The tokens file (TOML) holds only sha256 digests, so reading it leaks no usable token::

    [[tokens]]
    name = "ci"
    sha256 = "9f86d0..."
    role = "write"          # read | write | admin
    dao = "dao-07"          # optional: the token sees and evaluates only this DAO

``read`` may call GET routes, ``write`` the POST evaluations (and GETs), ``admin`` everything.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Role = Literal["read", "write", "admin"]
ROLES: tuple[Role, ...] = ("read", "write", "admin")
_RANK = {"read": 0, "write": 1, "admin": 2}


@dataclass(frozen=True)
class Principal:
    """Who is calling: the token's name, role and optional DAO scope."""

    name: str
    role: Role
    dao: str | None = None

    def allows(self, needed: Role) -> bool:
        return _RANK[self.role] >= _RANK[needed]


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _toml_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def create_token(path: Path, role: Role, name: str, dao: str | None = None) -> str:
    """Append a new token to the tokens file and return it (shown once; only its hash is kept)."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)} (got {role!r})")
    existing = load_tokens(path)
    if any(p.name == name for p in existing.values()):
        raise ValueError(f"a token named {name!r} already exists in {path}")
    token = "eco_" + secrets.token_urlsafe(32)
    lines = [
        "",
        "[[tokens]]",
        f"name = {_toml_string(name)}",
        f"sha256 = {_toml_string(digest(token))}",
        f"role = {_toml_string(role)}",
    ]
    if dao:
        lines.append(f"dao = {_toml_string(dao)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    path.chmod(0o600)
    return token


def load_tokens(path: Path) -> dict[str, Principal]:
    """sha256 → principal; a missing file means no tokens (every protected route is 401)."""
    if not path.exists():
        return {}
    data = tomllib.loads(path.read_text("utf-8"))
    out: dict[str, Principal] = {}
    for i, entry in enumerate(data.get("tokens", [])):
        role = entry.get("role")
        sha = str(entry.get("sha256", "")).lower()
        if role not in ROLES or len(sha) != 64:
            raise ValueError(f"{path}: tokens[{i}] needs a 64-hex sha256 and a role in {ROLES}")
        out[sha] = Principal(
            name=str(entry.get("name", f"token-{i}")), role=role, dao=entry.get("dao")
        )
    return out


class TokenStore:
    """Tokens from the file, reloaded when it changes (checked at most once a second)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._tokens: dict[str, Principal] = {}
        self._key: tuple[int, int] | None = None
        self._checked = 0.0

    def lookup(self, token: str) -> Principal | None:
        now = time.monotonic()
        if now - self._checked > 1.0:
            self._checked = now
            try:
                st = self.path.stat()
                key = (st.st_ino, st.st_mtime_ns)
            except FileNotFoundError:
                key = None
            if key != self._key:
                self._tokens = load_tokens(self.path) if key else {}
                self._key = key
        return self._tokens.get(digest(token))


class RateLimiter:
    """A token bucket per principal: ``rate`` requests/s sustained, ``burst`` at once."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = burst
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """0 when allowed; else the seconds until a request would be allowed."""
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self.rate
