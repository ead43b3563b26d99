"""Pure retry decisions, and the subscribers and mapping files refusing bad input by name."""

from __future__ import annotations

import pytest

from ecoperf_core.errors import ValidationError
from ecoperf_core.ingest.prometheus import aligned_range, parse_mapping
from ecoperf_core.policy import DeliveryRetryPolicy, PolicyError, parse_policy
from ecoperf_core.publish.config import parse_subscribers
from ecoperf_core.publish.retry import backoff_s, classify_http, next_step

POLICY = DeliveryRetryPolicy(max_attempts=5, base_delay_s=1.0, max_delay_s=8.0)


def test_backoff_doubles_with_jitter_inside_half_to_full_ceiling() -> None:
    for attempts, ceiling in ((1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (9, 8.0)):
        assert backoff_s(attempts, POLICY, lambda: 0.0) == ceiling / 2
        assert backoff_s(attempts, POLICY, lambda: 0.999999) == pytest.approx(ceiling, rel=1e-5)


def test_next_step_terminal_dies_at_once_transient_retries_then_dies() -> None:
    def step(attempts: int, kind: str, retry_after: float | None = None):  # type: ignore[no-untyped-def]
        return next_step(attempts=attempts, kind=kind, error="boom", policy=POLICY,  # type: ignore[arg-type]
                         uniform=lambda: 0.5, retry_after_s=retry_after)  # fmt: skip

    assert step(1, "ok").status == "delivered"
    assert step(1, "terminal") == step(1, "terminal").__class__("dead", 0.0, "terminal error: boom")
    assert step(4, "transient").status == "retrying"
    assert step(5, "transient").reason == "gave up after 5 attempts: boom"
    assert step(1, "transient", retry_after=30).delay_s == 8.0  # Retry-After capped at the max
    assert step(1, "transient", retry_after=0.1).delay_s == 0.75  # never below the back-off


def test_http_statuses_split_into_ok_transient_terminal() -> None:
    assert [classify_http(s) for s in (200, 204, 500, 503, 429, 408, 400, 401, 404, 301)] == [
        "ok", "ok", "transient", "transient", "transient", "transient",
        "terminal", "terminal", "terminal", "terminal",
    ]  # fmt: skip


def test_bad_files_name_the_key() -> None:
    with pytest.raises(ValidationError, match=r"subscriber\.0\.webhook\.url"):
        parse_subscribers('[[subscriber]]\nname = "a"\nkind = "webhook"\nurl = "ftp://x"\n')
    with pytest.raises(ValidationError, match="duplicate"):
        parse_subscribers('[[subscriber]]\nname = "a"\nkind = "prefect"\n' * 2)
    with pytest.raises(ValidationError, match="unknown key"):
        parse_subscribers('[[subscriber]]\nname = "a"\nkind = "prefect"\nurl = "http://x"\n')
    with pytest.raises(
        ValidationError, match=r"field 'metrics': unknown ecoperf metrics \['p95'\]"
    ):
        parse_mapping('[metrics]\np95 = "up"\n')
    with pytest.raises(PolicyError, match=r"publish\.alerts\.qnet: .*critical outcomes"):
        parse_policy('[publish.alerts.qnet]\nfiring = ["0.1"]\ncritical = ["0.5"]\n')
    with pytest.raises(PolicyError, match=r"publish\.retry: .*base_delay_s"):
        parse_policy("[publish.retry]\nbase_delay_s = 10.0\nmax_delay_s = 1.0\n")


def test_pull_ranges_align_to_the_step_grid() -> None:
    from datetime import datetime

    start, end = aligned_range(datetime(2026, 1, 1, 0, 0, 7), datetime(2026, 1, 1, 0, 1), 15.0)
    assert start % 15 == 0 and end - start == 60
