"""One small demo warehouse per test session, copied into each test module's home.

Built through the service (generate, land, ingest, roll up, analyze: what the demo's flows call)
once, at
the smallest size where every injected incident still shows: at 500,000 samples node-17 scores
0.52 (next worst node 0.67), dao-07's availability violates, v2.1.0's p99 is 127% of v2.0.9's
and qdrive's cost forecast is 630% of its budget; at 200,000 the candidate's tail regression is
lost in the noise of ~2,000 requests and its gate passes.
"""

from __future__ import annotations

import functools
import shutil
import tempfile
from pathlib import Path

import pytest

from ecoperf_core.evaluation.demo_policy import demo_policy, policy_to_toml
from ecoperf_core.policy import DEFAULT_POLICY, Policy

SIZE = 500_000


@functools.lru_cache(maxsize=1)
def _built() -> Path:
    from ecoperf_core.demo import generate_demo
    from ecoperf_core.service import Ecoperf
    from ecoperf_core.settings import Settings

    home = Path(tempfile.mkdtemp(prefix="ecoperf-test-demo-"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ECOPERF_HOME", str(home))
        service = Ecoperf(Settings())
        files = generate_demo(home / "demo", size=SIZE)
        report = service.ingest_landed(service.land(files.files))
        assert not report.rejected, report.to_dict()
        service.rollup()
        service.analyze()  # the detections QNET's regressionScore and Qerberos read
    return service.db_path


def policy() -> Policy:
    """The demo's policy for this size (budgets scaled, three days of cost history)."""
    return demo_policy(DEFAULT_POLICY, SIZE)


def demo_home(target: Path) -> Path:
    """``target`` as an ecoperf home holding a fresh copy of the demo warehouse and the demo's
    policy as its ``policy.toml`` (so CLI and service calls use it by default)."""
    target.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_built(), target / "ecoperf.duckdb")
    (target / "policy.toml").write_text(policy_to_toml(policy(), "test demo policy"))
    return target
