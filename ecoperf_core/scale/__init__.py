"""Scale-out: the analyze and evaluate work split into entity shards.

Shards read hive-partitioned Parquet exported from the warehouse (never pickled DataFrames), run
the same detectors and readers as the single-machine path on their entities, write their results
as Parquet, and one writer step lands every shard's results in the warehouse in one transaction.
Nothing here imports Prefect: ``tasks/scale.py`` and ``flows/`` wrap these functions, on Prefect's
default task runner or a Dask cluster (``ECOPERF_SCALE_DASK_ADDRESS``).
"""
