"""The shadow evaluation task: the policy file's ``[shadow]`` candidate beside the enforced one."""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.logging import get_run_logger

from ecoperf_core.service import Ecoperf
from tasks.common import TRANSIENT_RETRIES


@task(name="evaluate-shadow", **TRANSIENT_RETRIES)
def evaluate_shadow(as_of: str, policy: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every scheduled engine again with the shadow policy: stored (shadow), never published."""
    summary = Ecoperf().evaluate_shadow(as_of, policy)
    get_run_logger().info("shadow: %s", summary)
    return summary
