"""Evaluations over the warehouse: engine inputs read as of the latest data, decisions stored.

The engines (``ecoperf_core.engines``) are pure; this package is their I/O:

- ``config``: the windows and minimums the readers use (what "current p95" means);
- ``readers``: columnar queries that build each engine's inputs for all subjects at once;
- ``series``: batched change-point and trend analysis of whole fleets (peer-relative series);
- ``store``: the decision log, its outbox events and its head, written in one transaction;
- ``runner``: read → decide → store, one function per evaluation, called by the service facade.

docs/evaluation.md describes every input, its table and window.
"""

from ecoperf_core.evaluation.config import DEFAULT_WINDOWS, EvaluationWindows
from ecoperf_core.evaluation.runner import Context, EvaluationResult
from ecoperf_core.evaluation.store import EVENT_TYPES, StoreResult

__all__ = [
    "DEFAULT_WINDOWS",
    "EVENT_TYPES",
    "Context",
    "EvaluationResult",
    "EvaluationWindows",
    "StoreResult",
]
