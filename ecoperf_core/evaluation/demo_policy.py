"""The demo's policy: the policy in force plus what the demo data needs to be judged.

The shipped ``data/policy.toml`` is the spec's defaults, which configure no monthly budgets (so the
go-live cost gate can only say ``insufficient_data``) and want 7 days of cost history (the demo has
3). ``ecosystem-perf demo`` therefore evaluates with this overlay and writes it next to the demo
data (``<home>/demo/policy.toml``) so any command can reproduce its decisions with
``--policy data/demo/policy.toml``; the decisions record its version.

Budgets are derived from the demo at its default size (2,000,000 samples): each module's budget is
1.5 x its first-day cost x 30 days, rounded up to 10, i.e. planned with 50% headroom over its
launch cost. First-day costs at the default size: qdrive 9.75, qindex 5.99, qmail 8.03, qmarket
7.04, qwallet 7.80 a day. qdrive's cost then ramps to 14.6 and 19.2 a day, so the 30-day trend
forecast (~2,770) is ~630% of its 440 budget; the flat modules forecast ~65% of theirs (< 80%).
Demo costs are proportional to ``--size``, so the budgets are scaled by size / 2,000,000. A budget
the user's policy already sets for a module is kept.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from ecoperf_core.policy import Policy, policy_from_mapping

DEMO_DEFAULT_SIZE = 2_000_000
DEMO_MODULE_BUDGETS: dict[str, float] = {
    "qdrive": 440.0,
    "qindex": 270.0,
    "qmail": 370.0,
    "qmarket": 320.0,
    "qwallet": 360.0,
}
DEMO_MIN_COST_DAYS = 3


def demo_policy(base: Policy, size: int = DEMO_DEFAULT_SIZE) -> Policy:
    """``base`` with the demo's module budgets (scaled to ``size``) and 3 days of cost history."""
    data = base.normalised()
    golive = data["golive"]
    golive["min_cost_days"] = min(golive["min_cost_days"], DEMO_MIN_COST_DAYS)
    scale = size / DEMO_DEFAULT_SIZE
    modules = golive.setdefault("modules", {})
    for module, budget in DEMO_MODULE_BUDGETS.items():
        entry = modules.setdefault(module, {})
        if entry.get("monthly_budget") is None:
            entry["monthly_budget"] = round(budget * scale, 6)
    return policy_from_mapping(data, "demo policy")


_BARE = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(name: str) -> str:
    return name if _BARE.match(name) else json.dumps(name)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")


def policy_to_toml(policy: Policy, header: str = "") -> str:
    """A complete TOML policy file (every key spelled out; ``None`` keys left out)."""
    lines = [f"# {line}" if line else "#" for line in header.splitlines()]

    def table(path: list[str], mapping: Mapping[str, Any]) -> None:
        scalars = [(k, v) for k, v in mapping.items() if not isinstance(v, Mapping)]
        tables = [(k, v) for k, v in mapping.items() if isinstance(v, Mapping)]
        if path:
            lines.append("")
            lines.append("[" + ".".join(_key(p) for p in path) + "]")
        for key, value in scalars:
            if value is not None:
                lines.append(f"{_key(key)} = {_value(value)}")
        for key, value in tables:
            table([*path, key], value)

    table([], policy.normalised())
    return "\n".join(lines).strip() + "\n"
