"""A demo home with everything the dashboards show, published as the flows publish it.

The small demo warehouse (tests/evaluation/demo_warehouse.py) is evaluated as a schedule would:
QNET every four hours over the last day (so routing weights have a history), then every engine,
the canary judge and the deployment gate on the candidate, then the publish flow (a real Prefect
flow run) writes the serving snapshot and the dashboard model.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from tests.api.conftest import evaluate_and_publish
from tests.evaluation.demo_warehouse import demo_home


def build_dashboard_home(target: Path) -> Path:
    from ecoperf_core.demo import BASELINE_VERSION, CANDIDATE_VERSION
    from ecoperf_core.service import Ecoperf
    from flows.publish import publish_flow

    home = demo_home(target)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ECOPERF_HOME", str(home))
        service = Ecoperf()
        end = service.latest_data_time()
        for hours_before in (24, 20, 16, 12, 8, 4):
            service.evaluate_nodes(as_of=end - timedelta(hours=hours_before))
        evaluate_and_publish(home)
        service.canary(CANDIDATE_VERSION, BASELINE_VERSION)
        service.deployment_gate(CANDIDATE_VERSION, BASELINE_VERSION)
        publish_flow(load_spool=False)
    return home


@pytest.fixture(scope="module")
def dashboard_home(tmp_path_factory: pytest.TempPathFactory, prefect_runtime: None) -> Path:
    return build_dashboard_home(tmp_path_factory.mktemp("dashboard") / "home")
