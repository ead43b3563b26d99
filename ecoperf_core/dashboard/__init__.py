"""Dashboards: the read model the flows publish, pure views and charts over it, and two doors
(the terminal view of ``ecosystem-perf dashboard`` and the web pages the API serves)."""
