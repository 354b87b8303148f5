"""The FastAPI app: public pages and JSON API. Start it with `uvicorn api.main:app`."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError

from api.agency.sessions import redact_link_tokens_in_access_logs
from api.appeal.sessions import redact_appeal_link_tokens_in_access_logs
from api.applicant.sessions import redact_applicant_link_tokens_in_access_logs
from api.body_limit import RequestBodyLimit
from api.errors import request_validation_error_handler
from api.link_pages import ShowPage, show_page
from api.metrics import instrument
from api.pages import mount_assets
from api.routes import (
    agency,
    appeal_bundle,
    appeal_pages,
    appeals,
    apply_pages,
    case_actions,
    case_information,
    case_pages,
    cases,
    codec,
    dev_mail,
    eligibility,
    figures,
    health,
    mail,
    staff_actions,
    staff_appeal_actions,
    staff_applications,
    staff_failed_mail,
    staff_pages,
    staff_passwords,
    staff_print_queue,
    staff_sign_in,
    staff_users,
)
from api.security_headers import SecurityHeaders
from api.staff.links import redact_staff_link_tokens_in_access_logs
from core.config import get_settings
from core.localities import policies_from
from core.temporal import TemporalConnection
from db.seed import refuse_development_access_in_production
from db.session import engine_for

log = logging.getLogger(__name__)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings = get_settings()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    # A bad policy file stops start-up here, naming the file and the field.
    app.state.policies = policies_from(settings.localities_dir)
    app.state.engine = engine_for(settings.database_url)
    # Production does not start while development staff (published keys) could still sign in.
    refuse_development_access_in_production(settings)
    app.state.temporal = TemporalConnection(settings)
    app.state.temporal.start()
    yield
    await app.state.temporal.stop()


def create_app() -> FastAPI:
    # No API documentation in production: there it would only map the service for strangers.
    documented = get_settings().environment != "production"
    app = FastAPI(
        title="Community Trigger (ASB Case Review)",
        version="0.1.0",
        description=(
            "Runs the ASB Case Review, known as the Community Trigger: applications, working-day "
            "deadlines, agency information requests, the review panel, letters and appeals."
        ),
        docs_url="/docs" if documented else None,
        redoc_url="/redoc" if documented else None,
        openapi_url="/openapi.json" if documented else None,
        lifespan=lifespan,
    )
    app.include_router(eligibility.router)
    app.include_router(cases.router)
    app.include_router(case_actions.router)
    app.include_router(appeals.router)
    app.include_router(mail.router)
    app.include_router(dev_mail.router)
    app.include_router(agency.router)
    app.include_router(appeal_pages.router)
    app.include_router(apply_pages.router)
    app.include_router(case_pages.router)
    app.include_router(case_information.router)
    app.include_router(figures.router)
    app.include_router(health.router)
    app.include_router(codec.router)
    app.include_router(staff_actions.router)
    app.include_router(staff_appeal_actions.router)
    app.include_router(staff_applications.router)
    app.include_router(staff_failed_mail.router)
    app.include_router(staff_pages.router)
    app.include_router(staff_sign_in.router)
    app.include_router(staff_passwords.router)
    app.include_router(staff_users.router)
    app.include_router(staff_print_queue.router)
    app.include_router(appeal_bundle.router)
    mount_assets(app)
    redact_link_tokens_in_access_logs()
    redact_appeal_link_tokens_in_access_logs()
    redact_applicant_link_tokens_in_access_logs()
    redact_staff_link_tokens_in_access_logs()
    app.add_exception_handler(RequestValidationError, request_validation_error_handler)
    # An agency page whose session was refused: the dependency that refused it chose the page.
    app.add_exception_handler(ShowPage, show_page)
    app.add_middleware(RequestBodyLimit)
    # Outside the body limit, so that its 413s carry the headers too.
    app.add_middleware(SecurityHeaders)

    # Last, so that its middleware is the outermost and counts every answer, other middleware's too.
    instrument(app)
    return app


app = create_app()
