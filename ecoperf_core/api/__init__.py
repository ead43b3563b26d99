"""The HTTP API and real-time feed (FastAPI): a door over the same engines as the CLI.

It never opens the warehouse: reads come from the serving snapshot the flows publish, writes go to
the decision spool a flow loads, events come from the feed files the writers export.
"""
