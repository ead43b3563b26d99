"""Errors ecoperf raises on purpose.

``TerminalError`` means retrying cannot help (bad input, bad policy); ``TransientError`` means it may
(a lock held by another process, a receiver that is down). Flows use the split to decide retries.
"""

from __future__ import annotations

from dataclasses import dataclass, field


class EcoperfError(Exception):
    """Base of every error ecoperf raises on purpose."""


class TerminalError(EcoperfError):
    """Retrying will not help."""


class TransientError(EcoperfError):
    """Retrying later may help."""


@dataclass(frozen=True)
class FieldProblem:
    """One thing wrong with one value of an input: where it is and what is wrong."""

    field: str
    message: str
    row: int | None = None  # 1-based data row (header excluded); None for whole-file problems
    value: str | None = None

    def __str__(self) -> str:
        where = f"row {self.row}, " if self.row is not None else ""
        shown = f" (got {self.value!r})" if self.value is not None else ""
        return f"{where}field {self.field!r}: {self.message}{shown}"


@dataclass
class ValidationError(TerminalError):
    """An input was rejected; ``problems`` names each row and field that is wrong."""

    source: str
    problems: list[FieldProblem] = field(default_factory=list)
    total_problems: int | None = None

    def __post_init__(self) -> None:
        super().__init__(str(self))

    def __str__(self) -> str:
        total = self.total_problems if self.total_problems is not None else len(self.problems)
        head = f"{self.source}: {total} problem{'s' if total != 1 else ''}"
        lines = [head, *(f"  {problem}" for problem in self.problems)]
        if total > len(self.problems):
            lines.append(f"  ... and {total - len(self.problems)} more")
        return "\n".join(lines)


class WarehouseBusyError(TransientError):
    """Another process holds the warehouse for longer than we were willing to wait."""


class WarehouseUnusableError(TerminalError):
    """The warehouse file cannot be opened at all (not a DuckDB file, damaged, too new)."""


class QueryRefusedError(TerminalError):
    """A query given to the read-only ``query`` command tried to change something."""


class NotFoundError(TerminalError):
    """An id (node, DAO, module, deployment, batch) that the warehouse does not know."""
