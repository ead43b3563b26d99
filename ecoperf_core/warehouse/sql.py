"""SQL literals and identifiers, for the statements that cannot take prepared parameters.

DuckDB's COPY takes no parameters, and a time bound spelled as a constant lets DuckDB skip row
groups by their min/max (a parameter or a scalar subquery there made rollups read the whole
table's ``ts`` column).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any


def literal(value: Any) -> str:
    """``value`` as a SQL literal: NULL, a TIMESTAMP, a number, else a quoted string."""
    if value is None:
        return "NULL"
    if isinstance(value, datetime):
        return f"TIMESTAMP '{value.isoformat(sep=' ')}'"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def identifier(name: str) -> str:
    """A quoted SQL identifier (a table or column name)."""
    return '"' + name.replace('"', '""') + '"'
