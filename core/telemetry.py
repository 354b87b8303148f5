"""The worker's metrics for Prometheus: the Temporal SDK's own (polls, task latencies, failures), served by
the SDK's runtime on `WORKER_METRICS_ADDRESS` when that is set."""

from __future__ import annotations

from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from core.config import Settings


def runtime_for(settings: Settings) -> Runtime | None:
    """A Temporal runtime that serves `/metrics` on `WORKER_METRICS_ADDRESS`; None (the SDK's default
    runtime, no metrics) when it is unset.

    Create it once per process, before the first client: it binds the address at once (an address already
    taken raises here, at start-up) and every client connected with it reports through it.
    """
    if not settings.worker_metrics_address:
        return None
    metrics = PrometheusConfig(
        bind_address=settings.worker_metrics_address,
        # Latencies in seconds, as Prometheus expects; metric names stay as Temporal's documentation gives
        # them (temporal_workflow_task_execution_failed, ..._schedule_to_start_latency_bucket).
        durations_as_seconds=True,
    )
    return Runtime(telemetry=TelemetryConfig(metrics=metrics))
