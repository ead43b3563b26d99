"""The facade's publishing operations (mixed into :class:`ecoperf_core.service.Ecoperf`).

Kept in their own module so the service file only gains one base class: outbox status, delivery,
replay of dead letters, routing documents and HAProxy weights, Prometheus ingestion.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ecoperf_core.ingest.prometheus import PrometheusReport
    from ecoperf_core.publish.publisher import PublishReport, SenderFactory
    from ecoperf_core.settings import Settings


class PublishOperations:
    settings: Settings

    @property
    def db_path(self) -> Path:  # overridden by Ecoperf; here for type checkers
        return self.settings.db_path

    # -- outbox ----------------------------------------------------------------------------
    def outbox_status(self, status: str | None = None, limit: int = 50) -> dict[str, Any]:
        """Delivery counts per subscriber and status, and the undelivered rows with reasons."""
        from ecoperf_core.publish import delivery
        from ecoperf_core.warehouse import reader

        with reader(self.db_path, timeout_s=self.settings.writer_lock_timeout_s) as con:
            events = int(con.execute("SELECT count(*) FROM outbox").fetchall()[0][0])
            return {
                "events": events,
                "subscribers": delivery.summary(con),
                "undelivered": delivery.problems(con, status, limit),
            }

    def deliver_outbox(
        self,
        *,
        subscribers_file: Path | None = None,
        max_seconds: float | None = None,
        wait_for_retries: bool = False,
        idle_poll_s: float = 0.0,
        extra_senders: dict[str, SenderFactory] | None = None,
    ) -> PublishReport:
        """Deliver due outbox events to the configured subscribers."""
        from ecoperf_core.policy import load_policy
        from ecoperf_core.publish.config import PublishSettings, load_subscribers
        from ecoperf_core.publish.publisher import deliver

        knobs = PublishSettings()
        return deliver(
            self.db_path,
            load_subscribers(subscribers_file),
            load_policy(),
            extra_senders=extra_senders,
            batch=knobs.publish_batch,
            max_seconds=max_seconds if max_seconds is not None else knobs.publish_max_seconds,
            wait_for_retries=wait_for_retries,
            lock_timeout_s=self.settings.writer_lock_timeout_s,
            idle_poll_s=idle_poll_s,
        )

    def replay_dead(self, *, subscriber: str | None = None, event_id: str | None = None) -> int:
        """Dead deliveries back to pending (fresh attempts); the next delivery sends them."""
        from ecoperf_core.publish.delivery import replay_dead
        from ecoperf_core.warehouse import writer

        with writer(self.db_path, timeout_s=self.settings.writer_lock_timeout_s) as con:
            return replay_dead(con, subscriber=subscriber, event_id=event_id)

    # -- routing ---------------------------------------------------------------------------
    def routing_document(self, fmt: str = "json", cluster: str = "qnet") -> dict[str, Any]:
        """QNET's weights in force as a versioned JSON document or an Envoy EDS assignment."""
        from ecoperf_core.publish.routing import envoy_cluster_load_assignment, weights_document
        from ecoperf_core.warehouse import reader

        with reader(self.db_path, timeout_s=self.settings.writer_lock_timeout_s) as con:
            document = weights_document(con)
        if fmt == "envoy":
            return envoy_cluster_load_assignment(document, cluster)
        return document

    def apply_haproxy_weights(
        self, socket: str, backend: str, server_template: str = "{subject}", scale: float = 100.0
    ) -> dict[str, Any]:
        """Set every node's weight in force on an HAProxy backend (a full sync)."""
        from ecoperf_core.publish.haproxy import haproxy_weight, set_weights

        document = self.routing_document()
        weights = {
            server_template.format(subject=w["nodeId"]): haproxy_weight(w["weight"], scale)
            for w in document["weights"]
        }
        answers = set_weights(socket, backend, weights)
        return {
            "version": document["version"],
            "backend": backend,
            "set": {server: weight for server, weight in weights.items()},
            "errors": {a.command: a.answer for a in answers if a.answer},
        }

    # -- Prometheus ------------------------------------------------------------------------
    def ingest_prometheus(
        self, url: str, mapping_file: Path | None, start: Any, end: Any, step_s: float | None
    ) -> PrometheusReport:
        """Pull query_range results through the mapping into the warehouse (idempotent)."""
        from ecoperf_core.ingest.prometheus import ingest_prometheus, load_mapping

        return ingest_prometheus(
            self.db_path,
            url,
            load_mapping(mapping_file),
            start=start,
            end=end,
            step_s=step_s,
            lock_timeout_s=self.settings.writer_lock_timeout_s,
        )
