"""Metrics for Prometheus: the API's /metrics (requests, and figures from the database, for the scraper
only) and the worker's Temporal SDK metrics served by the runtime of `WORKER_METRICS_ADDRESS`."""

from __future__ import annotations

import datetime as dt
import socket
import uuid
from types import SimpleNamespace

import httpx
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select
from temporalio import workflow
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from api.deps import today_in_london
from api.main import create_app
from core.config import Settings, get_settings
from core.telemetry import runtime_for
from core.temporal import connect
from db.models import Case, OutboxMessage
from tests.support import CaseService, application

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def scrape(api: httpx.AsyncClient) -> Samples:
    response = await api.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    return parse(response.text)


def second_app(service: CaseService, **settings: object) -> FastAPI:
    """Another app on the session's database and Temporal, with some settings changed."""
    app = create_app()
    app.state.policies = service.app.state.policies
    app.state.engine = service.app.state.engine
    app.state.temporal = SimpleNamespace(client=service.env.client, last_error=None)
    changed = service.settings.model_copy(update=settings)
    app.dependency_overrides = {**service.app.dependency_overrides, get_settings: lambda: changed}
    return app


def client_of(app: FastAPI, address: str = "127.0.0.1") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 40123))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# ---- the API's figures ------------------------------------------------------------------------------


async def test_metrics_new_case_counted_under_its_stage(service: CaseService) -> None:
    reference = await service.open_case(application(today=await service.today()))
    stage = service.case_row(reference).stage

    samples = await scrape(service.api)

    with service.sessions() as session:
        in_stage = session.scalar(
            select(func.count()).select_from(Case).where(Case.locality == "blaby", Case.stage == stage)
        )
        failed = session.scalar(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == "failed")
        )
    assert stage == "threshold_check"
    assert value(samples, "community_trigger_cases", locality="blaby", stage=stage) == in_stage >= 1
    assert value(samples, "community_trigger_outbox_messages", status="failed") == failed
    # Every locality, stage and status is there, at zero when there is nothing, so that a first failure
    # shows as a change and dashboards have no gaps.
    assert ("community_trigger_cases", frozenset({("locality", "charnwood"), ("stage", "appeal")})) in samples
    assert ("community_trigger_outbox_messages", frozenset({("status", "failed")})) in samples


async def test_metrics_deadline_passed_counted_as_overdue(service: CaseService) -> None:
    await service.open_case(application(today=await service.today()))
    app = second_app(service)
    # A year on, every deadline the open cases wait on has passed.
    a_year_on = await service.today() + dt.timedelta(days=365)
    app.dependency_overrides[today_in_london] = lambda: a_year_on

    async with client_of(app) as api:
        samples = await scrape(api)

    with service.sessions() as session:
        waiting = session.scalar(
            select(func.count())
            .select_from(Case)
            .where(Case.locality == "blaby", Case.next_deadline.is_not(None))
        )
    assert value(samples, "community_trigger_overdue_steps", locality="blaby") == waiting >= 1


# ---- the API's requests -----------------------------------------------------------------------------


async def test_metrics_request_counted_by_route_template_and_status(service: CaseService) -> None:
    reference = f"CT-BLA-2099-{uuid.uuid4().int % 10_000:04d}"
    before = await scrape(service.api)

    assert (await service.api.get("/health")).status_code == 200
    assert (await service.api.get(f"/api/cases/{reference}", headers=service.spoc())).status_code == 404
    assert (await service.api.get(f"/no-such-page/{uuid.uuid4().hex}")).status_code == 404
    after = await scrape(service.api)

    def increase(route: str, status: str) -> float:
        labels = {"method": "GET", "route": route, "status": status}
        return value(after, "http_requests_total", **labels) - value(before, "http_requests_total", **labels)

    assert increase("/health", "200") == 1
    assert increase("/api/cases/{reference}", "404") == 1
    assert increase("<unmatched>", "404") == 1
    assert not any(reference in str(labels) for _, labels in after), "a path became a label"
    count = value(after, "http_request_duration_seconds_count", method="GET", route="/health", status="200")
    assert count == value(after, "http_requests_total", method="GET", route="/health", status="200")


# ---- who may scrape ----------------------------------------------------------------------------------


async def test_metrics_without_token_refused_to_other_machines_and_proxied_requests(
    service: CaseService,
) -> None:
    async with client_of(service.app, address="203.0.113.7") as outsider:
        assert (await outsider.get("/metrics")).status_code == 403
    proxied = await service.api.get("/metrics", headers={"X-Forwarded-For": "203.0.113.7"})
    assert proxied.status_code == 403
    assert (await service.api.get("/metrics")).status_code == 200


async def test_metrics_with_token_requires_it_from_everywhere(service: CaseService) -> None:
    token = "a-long-random-metrics-token"
    app = second_app(service, metrics_token=token)

    async with (
        client_of(app, address="127.0.0.1") as local,
        client_of(app, address="203.0.113.7") as outsider,
    ):
        missing = await local.get("/metrics")
        wrong = await local.get("/metrics", headers={"Authorization": "Bearer not-the-token"})
        right = await outsider.get("/metrics", headers={"Authorization": f"Bearer {token}"})

    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"] == "Bearer"
    assert wrong.status_code == 401
    assert right.status_code == 200
    assert "community_trigger_cases" in right.text


# ---- the worker's Temporal SDK metrics -------------------------------------------------------------


@workflow.defn(sandboxed=False)
class MetricsProbeWorkflow:
    @workflow.run
    async def run(self) -> str:
        return "done"


def test_runtime_for_no_address_uses_sdk_default() -> None:
    assert runtime_for(Settings(environment="test", _env_file=None)) is None  # type: ignore[call-arg]


async def test_worker_runtime_serves_temporal_metrics(temporal_env: WorkflowEnvironment) -> None:
    address = f"127.0.0.1:{free_port()}"
    settings = Settings(
        environment="test",
        temporal_address=temporal_env.client.service_client.config.target_host,
        worker_metrics_address=address,
        _env_file=None,  # type: ignore[call-arg]
    )
    runtime = runtime_for(settings)
    assert runtime is not None
    client = await connect(settings, runtime=runtime)
    task_queue = f"metrics-{uuid.uuid4().hex[:8]}"

    async with Worker(
        client,
        task_queue=task_queue,
        workflows=[MetricsProbeWorkflow],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        result = await client.execute_workflow(
            MetricsProbeWorkflow.run, id=f"metrics-probe-{uuid.uuid4().hex}", task_queue=task_queue
        )
        async with httpx.AsyncClient() as http:
            response = await http.get(f"http://{address}/metrics")

    assert result == "done"
    assert response.status_code == 200
    families = {family.name: family for family in text_string_to_metric_families(response.text)}
    completed = [
        sample.value
        for sample in families["temporal_workflow_completed"].samples
        if sample.labels["task_queue"] == task_queue
    ]
    assert completed == [1]
    # What the README's alerts are written on: latencies in seconds, under the names Temporal documents.
    latency = families["temporal_workflow_task_schedule_to_start_latency"]
    assert latency.type == "histogram"
    assert "0.1" in {sample.labels.get("le") for sample in latency.samples}
