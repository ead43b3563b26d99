"""Shadow policy: the policy file names a candidate; the evaluate flow decides with both, stores
both, publishes only the enforced decisions."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from ecoperf_core.evaluation.demo_policy import policy_to_toml
from ecoperf_core.evaluation.shadow import as_shadow
from ecoperf_core.policy import PolicyError, load_policy, policy_from_mapping
from ecoperf_core.service import Ecoperf
from tests.evaluation.demo_warehouse import demo_home, policy

pytestmark = pytest.mark.usefixtures("prefect_runtime")


def _candidate() -> Any:
    """Stricter QNET latency targets: more nodes would be down-weighted."""
    current = policy()
    qnet = {**current.section("qnet"), "latency_p95_target_ms": 60.0, "latency_p99_target_ms": 90.0}
    return policy_from_mapping({**current.normalised(), "qnet": qnet})


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    target = demo_home(tmp_path_factory.mktemp("shadow-home"))
    (target / "candidate.toml").write_text(policy_to_toml(_candidate(), "stricter candidate"))
    enforced = (target / "policy.toml").read_text()
    (target / "policy.toml").write_text(enforced + '\n[shadow]\npolicy = "candidate.toml"\n')
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ECOPERF_HOME", str(target))
        yield target


def _rows(home: Path, sql: str) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(home / "ecoperf.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_shadow_decisions_are_stored_beside_and_never_published(home: Path) -> None:
    from flows.evaluate import evaluate_flow

    enforced = load_policy(home / "policy.toml")
    assert enforced.shadow is not None and enforced.version == policy().version  # not in version
    shadow_version = as_shadow(_candidate()).version
    run = evaluate_flow()
    assert run["shadow"]["policyVersion"] == shadow_version
    assert {e: run["shadow"][e]["events"] for e in ("qnet", "qerberos", "dao", "golive")} == {
        "qnet": 0, "qerberos": 0, "dao": 0, "golive": 0,
    }  # fmt: skip
    counts = dict(_rows(home, "SELECT shadow, count(*) FROM decisions GROUP BY 1"))
    assert counts == {False: 50 + 70 + 10 + 5, True: 50 + 70 + 10 + 5}
    versions = _rows(home, "SELECT DISTINCT policy_version FROM decisions WHERE shadow")
    assert versions == [(shadow_version,)]
    # Never published: no event and no head points at a shadow decision.
    assert _rows(
        home,
        "SELECT count(*) FROM outbox JOIN decisions USING (decision_id) WHERE decisions.shadow",
    ) == [(0,)]
    assert _rows(
        home,
        "SELECT count(*) FROM latest_decisions JOIN decisions USING (decision_id) WHERE shadow",
    ) == [(0,)]
    # The stricter candidate would down-weight more nodes than the enforced policy does.
    down = dict(
        _rows(
            home,
            """SELECT shadow, count(*) FILTER (WHERE CAST(output->>'routingWeight' AS DOUBLE) < 1)
               FROM decisions WHERE engine = 'qnet' GROUP BY 1""",
        )
    )
    assert down[True] > down[False] >= 1
    # A second run on the same data stores nothing again, in shadow either.
    again = evaluate_flow()
    assert all("skipped" in again["shadow"][e] for e in ("qnet", "qerberos", "dao", "golive"))
    assert dict(_rows(home, "SELECT shadow, count(*) FROM decisions GROUP BY 1")) == counts
    # Replay leaves shadow decisions out (they were never acted on).
    report = Ecoperf().replay(enforced, since="3650d")
    assert report["different"] == 0 and report["skipped"]["qnet (shadow)"] == 50


def test_shadow_policy_errors_name_the_key(home: Path, tmp_path: Path) -> None:
    broken = tmp_path / "policy.toml"
    broken.write_text('[shadow]\npolicy = "missing.toml"\n')
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ECOPERF_POLICY", str(broken))
        with pytest.raises(PolicyError, match=r"shadow\.policy: policy file not found"):
            Ecoperf().evaluate_shadow()
    broken.write_text('[shadow]\npolicy = "x.toml"\nenforce = true\n')
    with pytest.raises(PolicyError, match=r"shadow\.enforce: unknown key"):
        load_policy(broken)
