"""The ``ecosystem-perf`` command line: a thin door onto ``ecoperf_core.service``."""
