"""The API's metrics for Prometheus at /metrics: requests by route and status, and figures read from the
database at each scrape (cases by locality and stage, overdue steps, emails by outbox status).

/metrics answers only a scraper this service trusts: with `METRICS_TOKEN` set, a request bearing it as
"Authorization: Bearer <token>"; without it, a client on this machine's loopback address whose request
carries no proxy forwarding header (a proxy on the same machine would make every visitor look local).
"""

from __future__ import annotations

import datetime as dt
import hmac
import ipaddress
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, Response, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.deps import SessionDep, SettingsDep, TodayDep
from db.models import Case, OutboxMessage
from workflows.models import CaseStage

# Outbox statuses (activities/mail.py), each reported even at zero so a first failure shows as a change.
OUTBOX_STATUSES = ("pending", "sending", "sent", "failed", "resent")
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Requests no route matched: one label, so that probing random paths cannot create new series.
UNMATCHED = "<unmatched>"


class RequestMetrics:
    """Request counts and latencies, by method, route template and status; one set per app."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        labels = ("method", "route", "status")
        self.requests = Counter("http_requests", "HTTP requests answered.", labels, registry=self.registry)
        self.duration = Histogram(
            "http_request_duration_seconds",
            "Time from a request's arrival to the end of its response.",
            labels,
            registry=self.registry,
        )

    def observe(self, scope: Scope, status_code: int, seconds: float) -> None:
        route = getattr(scope.get("route"), "path", None) or UNMATCHED
        method = scope["method"] if scope["method"] in METHODS else "OTHER"
        labels = (method, route, str(status_code))
        self.requests.labels(*labels).inc()
        self.duration.labels(*labels).observe(seconds)


class RequestMetricsMiddleware:
    """Times each HTTP request and counts it under the route template that answered it."""

    def __init__(self, app: ASGIApp, metrics: RequestMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        # An exception escaping the app becomes a 500 in the error middleware outside this one.
        status_code = 500

        async def send_noting_status(message: Message) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            self.metrics.observe(scope, status_code, time.perf_counter() - started)


# ---- figures from the database -------------------------------------------------------------------


@dataclass(frozen=True)
class CaseFigures:
    cases: dict[tuple[str, str], int]
    overdue: dict[str, int]
    outbox: dict[str, int]


def case_figures(session: Session, *, localities: Iterable[str], today: dt.date) -> CaseFigures:
    """Counts for the gauges, with a zero for every known locality, stage and outbox status."""
    known = set(localities)
    cases = {(locality, stage.value): 0 for locality in known for stage in CaseStage}
    for locality, stage, count in session.execute(
        select(Case.locality, Case.stage, func.count()).group_by(Case.locality, Case.stage)
    ):
        cases[(locality, stage)] = count
    # The same rule as the case list's `overdue=true` and the staff dashboard: the step the case waits on is
    # past its due date (its next deadline moves on to the next update letter; `step_due_on` stays).
    overdue = dict.fromkeys(known, 0)
    for locality, count in session.execute(
        select(Case.locality, func.count()).where(Case.step_due_on < today).group_by(Case.locality)
    ):
        overdue[locality] = count
    outbox = dict.fromkeys(OUTBOX_STATUSES, 0)
    for message_status, count in session.execute(
        select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
    ):
        outbox[message_status] = count
    return CaseFigures(cases=cases, overdue=overdue, outbox=outbox)


class CaseFiguresCollector(Collector):
    """The figures of one scrape as Prometheus gauges."""

    def __init__(self, figures: CaseFigures) -> None:
        self.figures = figures

    def collect(self) -> Iterable[GaugeMetricFamily]:
        cases = GaugeMetricFamily(
            "community_trigger_cases", "Cases by locality and stage.", labels=("locality", "stage")
        )
        for (locality, stage), count in sorted(self.figures.cases.items()):
            cases.add_metric((locality, stage), count)
        overdue = GaugeMetricFamily(
            "community_trigger_overdue_steps",
            "Cases whose next deadline (acknowledgement, threshold decision, outcome...) has passed.",
            labels=("locality",),
        )
        for locality, count in sorted(self.figures.overdue.items()):
            overdue.add_metric((locality,), count)
        outbox = GaugeMetricFamily(
            "community_trigger_outbox_messages",
            "Emails in the outbox by status; failed ones were given up on and wait for a SPOC.",
            labels=("status",),
        )
        for message_status, count in sorted(self.figures.outbox.items()):
            outbox.add_metric((message_status,), count)
        return [cases, overdue, outbox]


# ---- /metrics ---------------------------------------------------------------------------------------

_bearer = HTTPBearer(auto_error=False)


def _from_loopback_directly(request: Request) -> bool:
    if "x-forwarded-for" in request.headers or "forwarded" in request.headers:
        return False
    try:
        return request.client is not None and ipaddress.ip_address(request.client.host).is_loopback
    except ValueError:  # not an address (a test client's name): not known to be local
        return False


def metrics_reader(
    request: Request,
    settings: SettingsDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """Lets the scraper through: the bearer token when one is configured, else loopback only."""
    if settings.metrics_token:
        given = bearer.credentials if bearer else ""
        if not hmac.compare_digest(given.encode(), settings.metrics_token.encode()):
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "Send the metrics token as 'Authorization: Bearer <token>'.",
                headers={"WWW-Authenticate": "Bearer"},
            )
    elif not _from_loopback_directly(request):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, "Metrics are served only to this machine unless METRICS_TOKEN is set."
        )


router = APIRouter(tags=["operations"])


@router.get(
    "/metrics",
    summary="Metrics for Prometheus",
    description="Prometheus text format. Only with the metrics token, or from this machine when none is set.",
    dependencies=[Depends(metrics_reader)],
    response_class=Response,
)
def metrics(request: Request, session: SessionDep, today: TodayDep) -> Response:
    figures = case_figures(session, localities=request.app.state.policies.keys(), today=today)
    scrape = CollectorRegistry()
    scrape.register(CaseFiguresCollector(figures))
    request_metrics: RequestMetrics = request.app.state.request_metrics
    body = generate_latest(request_metrics.registry) + generate_latest(scrape)
    return Response(body, media_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"})


def instrument(app: FastAPI) -> None:
    """Counts the app's requests and serves /metrics. Call it last in `create_app`, so that the middleware
    is the outermost and counts the answers other middleware gives (413, 429) too."""
    app.state.request_metrics = RequestMetrics()
    app.add_middleware(RequestMetricsMiddleware, metrics=app.state.request_metrics)
    app.include_router(router)
