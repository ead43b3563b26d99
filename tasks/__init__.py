"""Prefect tasks: thin wrappers over ``ecoperf_core.service``, one module per stage.

Tasks are coarse (one per file or per stage, never per node or metric): Prefect's per-task
overhead is a few milliseconds, which matters at thousands of entities.
"""
