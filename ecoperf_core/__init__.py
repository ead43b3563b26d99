"""ecoperf: a performance-aware control plane.

``ecoperf_core`` holds the domain (pure decision logic in ``stats`` and ``engines``), storage
(``warehouse``), ingestion (``ingest``), publishing (``publish``) and the two doors onto them
(``cli`` and, later, ``api``). It never imports Prefect: orchestration lives in ``flows`` and ``tasks``.
"""

__version__ = "0.1.0"
