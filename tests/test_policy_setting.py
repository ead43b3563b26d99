"""ECOPERF_POLICY chooses the policy file every door and flow uses."""

from __future__ import annotations

from pathlib import Path

import pytest

from ecoperf_core.errors import ValidationError
from ecoperf_core.policy import DEFAULT_POLICY, load_policy


def test_policy_setting_is_used_and_a_missing_file_is_an_error(
    eco_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert load_policy().version == DEFAULT_POLICY.version  # no file anywhere: spec defaults

    custom = tmp_path / "candidate.toml"
    custom.write_text("[cicd]\np95_ratio_max = 1.2\n")
    monkeypatch.setenv("ECOPERF_POLICY", str(custom))
    loaded = load_policy()
    assert loaded.cicd.p95_ratio_max == 1.2
    assert loaded.version != DEFAULT_POLICY.version

    monkeypatch.setenv("ECOPERF_POLICY", str(tmp_path / "typo.toml"))
    with pytest.raises(ValidationError, match="not found"):
        load_policy()
