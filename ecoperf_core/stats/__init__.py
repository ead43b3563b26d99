"""Pure statistical detectors (no warehouse I/O, no prefect/duckdb/fastapi imports).

Public entry points (see docs/detectors.md):

- changepoint: ``detect_change_points(values, timestamps=None, *, p_threshold=0.001,
  min_relative_change=0.05, min_size=5, ...) -> list[ChangePoint]`` and the incremental
  ``ChangePointDetector().append(value, timestamp) -> list[ChangePoint]``.
- anomaly: ``AnomalyDetector().update(value, timestamp) -> AnomalyScore`` (score in [0, 1]) and
  ``score_series(values, timestamps) -> np.ndarray``.
- nab: ``load_corpus``, ``prepare_file``, ``score_corpus(files, profile) -> NabResult``
  (NAB v1.1 scoring rules, profiles in ``PROFILES``).
- canary: ``judge_canary(metrics: list[MetricSpec], baseline, canary, config: CanaryConfig)
  -> CanaryVerdict``, ``judge_canary_intervals`` (multi-interval, fail fast), ``judge_metric``,
  ``kayenta_judge`` / ``kayenta_classify`` (Kayenta's plain method), ``mann_whitney``,
  ``hodges_lehmann``, ``weighted_holm``; ``BinomialCounts`` for failures/trials.
- slo: ``burn_rate``, ``burn_rate_for_budget``, ``budget_status``, ``evaluate_burn_alerts``
  with ``DEFAULT_BURN_RULES``, ``load_openslo`` / ``dump_openslo`` (``SLODefinition``).

Every result is a frozen dataclass with ``to_dict()`` returning JSON-able evidence.
"""
