"""Traces: span trees, critical paths, breakdowns (``analysis``, pure) and their queries (``store``)."""
