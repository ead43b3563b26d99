"""The DuckDB warehouse: schema, migrations, the one-writer connection and queries."""

from ecoperf_core.warehouse.connection import reader, writer

__all__ = ["reader", "writer"]
