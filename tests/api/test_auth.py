"""Auth matrix: every route by no token / wrong token / read / write / admin / other DAO's token;
DAO-scoped tokens see and evaluate only their DAO; the rate limit answers 429 with Retry-After."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.api.conftest import Server, UvicornThread, free_port
from tests.api.payloads import DAO, ROUTES, P


def expected(path: str, role: str, who: str | None) -> int:
    """The status a credential should get; "dao07"/"dao03" are write tokens scoped to dao-07
    (the DAO in the DAO route's body) and dao-03 (another DAO)."""
    if who in (None, "wrong"):
        return 401
    if who == "read":
        return 200 if role == "read" else 403
    if who in ("write", "admin"):
        return 200
    if "/dao/" in path:
        return 200 if who == "dao07" else 403
    if "/decisions" in path:
        return 200
    return 403


WHO = [None, "wrong", "read", "write", "admin", "dao07", "dao03"]


@pytest.mark.parametrize("who", WHO, ids=[str(w) for w in WHO])
def test_auth_matrix(api_server: Server, who: str | None) -> None:
    token = "eco_not-a-token" if who == "wrong" else who
    seen = {}
    with api_server.client(token) as c:
        for method, path, body, role in ROUTES:
            response = c.request(method, path, json=body)
            seen[(method, path)] = (response.status_code, expected(path, role, who))
            if response.status_code == 401:
                assert response.headers.get("www-authenticate") == "Bearer"
            if response.status_code >= 400:
                assert response.json()["detail"]
    wrong = {k: v for k, v in seen.items() if v[0] != v[1]}
    assert not wrong, wrong


def test_health_and_ready_stay_open(api_server: Server) -> None:
    with api_server.client(None) as c:
        assert c.get(f"{P}/health").status_code == 200
        assert c.get(f"{P}/ready").status_code == 200


def test_dao_token_sees_only_its_dao(api_server: Server) -> None:
    with api_server.client("dao07") as c:
        ok = c.post(f"{P}/dao/subnet-evaluation", json={**DAO, "daoId": "dao-07"})
        assert ok.status_code == 200
        other = c.post(f"{P}/dao/subnet-evaluation", json={**DAO, "daoId": "dao-03"})
        assert other.status_code == 403 and "dao-07" in other.json()["detail"]
        rows = c.get(f"{P}/decisions", params={"limit": 100}).json()
        assert rows and all(r["engine"] == "dao" and r["subject"] == "dao-07" for r in rows)
        assert c.get(f"{P}/decisions", params={"subject": "dao-03"}).status_code == 403
        assert c.get(f"{P}/decisions", params={"engine": "qnet"}).status_code == 403


def test_token_file_holds_hashes_only(api_server: Server) -> None:
    text = (api_server.home / "api-tokens.toml").read_text()
    for token in api_server.tokens.values():
        assert token not in text
    assert text.count("sha256 = ") == len(api_server.tokens)


def test_rate_limit_is_429_with_retry_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ecoperf_core.api.app import create_app
    from ecoperf_core.api.auth import create_token
    from ecoperf_core.api.settings import ApiPaths, ApiSettings
    from ecoperf_core.settings import Settings

    monkeypatch.setenv("ECOPERF_HOME", str(tmp_path))
    api = ApiSettings(rate_limit_rps=1, rate_limit_burst=3)
    token = create_token(ApiPaths(Settings(), api).tokens, "read", "slow")
    port = free_port()
    base = f"http://127.0.0.1:{port}{P}"
    with UvicornThread(create_app(Settings(), api), port):
        headers = {"Authorization": f"Bearer {token}"}
        codes = [httpx.get(f"{base}/decisions", headers=headers).status_code for _ in range(5)]
        assert codes[:3] == [200, 200, 200] and codes[3] == 429
        limited = httpx.get(f"{base}/decisions", headers=headers)
        assert int(limited.headers["retry-after"]) >= 1
        # CORS is off by default: a preflight gets no CORS headers.
        preflight = httpx.options(
            f"{base}/decisions",
            headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "GET"},
        )
        assert "access-control-allow-origin" not in preflight.headers
