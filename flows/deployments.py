"""Deployments and their schedules, served by ``ecosystem-perf serve``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ecoperf_core.settings import Settings, get_settings

if TYPE_CHECKING:
    from prefect.deployments.runner import RunnerDeployment


def build_deployments(settings: Settings | None = None) -> list[RunnerDeployment]:
    """Every scheduled ecoperf flow, with its cron from the settings."""
    from prefect.schedules import Cron

    from ecoperf_core.analysis.config import AnalysisSettings
    from ecoperf_core.api.settings import ApiSettings
    from flows.analyze import analyze_flow
    from flows.drill import drill_flow
    from flows.evaluate import evaluate_flow
    from flows.ingest import ingest_flow
    from flows.publish import publish_flow
    from flows.rollup import rollup_flow

    settings = settings or get_settings()
    return [
        ingest_flow.to_deployment(
            name="ingest-landing",
            schedules=[Cron(settings.ingest_cron, timezone=settings.timezone)],
            description="Load files that arrived in the landing folder.",
            tags=["ecoperf", "ingest"],
        ),
        rollup_flow.to_deployment(
            name="rollup",
            schedules=[Cron(settings.rollup_cron, timezone=settings.timezone)],
            description="Fold new batches into the 1m/5m/1h rollups.",
            tags=["ecoperf", "rollup"],
        ),
        analyze_flow.to_deployment(
            name="analyze",
            schedules=[Cron(AnalysisSettings().cron, timezone=settings.timezone)],
            description="Detect change points and anomalies on new rollup windows; store them.",
            tags=["ecoperf", "analyze"],
        ),
        evaluate_flow.to_deployment(
            name="evaluate",
            schedules=[Cron(settings.evaluate_cron, timezone=settings.timezone)],
            description="Run QNET, Qerberos, DAO and go-live readiness on the latest data.",
            tags=["ecoperf", "evaluate"],
        ),
        publish_flow.to_deployment(
            name="publish",
            schedules=[Cron(ApiSettings().publish_cron, timezone=settings.timezone)],
            description="Load the API's spooled decisions, export events, publish the snapshot.",
            tags=["ecoperf", "publish"],
        ),
        drill_flow.to_deployment(
            name="drill-dr",
            schedules=[Cron(settings.drill_cron, timezone=settings.timezone)],
            parameters={"environment": "dr"},
            description="Weekly DR drill: baselines, restore (RTO/RPO), failover, recovery.",
            tags=["ecoperf", "drill"],
        ),
        *_prometheus_deployments(settings),
    ]


def _prometheus_deployments(settings: Settings) -> list[RunnerDeployment]:
    """The Prometheus pull, when ``ECOPERF_PROMETHEUS_URL`` names one."""
    from prefect.schedules import Cron

    from ecoperf_core.ingest.prometheus import PrometheusSettings
    from flows.prometheus import prometheus_flow

    prometheus = PrometheusSettings()
    if not prometheus.url:
        return []
    return [
        prometheus_flow.to_deployment(
            name="ingest-prometheus",
            schedules=[Cron(prometheus.cron, timezone=settings.timezone)],
            description="Pull Prometheus query_range results through the mapping file.",
            tags=["ecoperf", "ingest", "prometheus"],
        )
    ]


def on_demand_deployments() -> list[RunnerDeployment]:
    """Deployments run when asked (no schedule): ``deploy`` is triggered from a pipeline with
    ``prefect deployment run deploy/deploy -p deployment=v2.1.0 -p baseline=v2.0.9``."""
    from flows.deploy import deploy_flow

    return [
        deploy_flow.to_deployment(
            name="deploy",
            description="Canary / blue-green deployment judged on warehouse data.",
            tags=["ecoperf", "deploy"],
        )
    ]
