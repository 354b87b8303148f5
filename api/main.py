"""The FastAPI app: public pages and JSON API. Start it with `uvicorn api.main:app`."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import text

from api.agency.sessions import redact_link_tokens_in_access_logs
from api.agency.views import ShowPage, show_page
from api.errors import request_validation_error_handler
from api.pages import mount_assets
from api.routes import agency, case_actions, cases, dev_mail, eligibility, mail
from core.config import get_settings
from core.localities import policies_from
from core.temporal import TemporalConnection
from db.session import engine_for

log = logging.getLogger(__name__)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings = get_settings()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    # A bad policy file stops start-up here, naming the file and the field.
    app.state.policies = policies_from(settings.localities_dir)
    app.state.engine = engine_for(settings.database_url)
    app.state.temporal = TemporalConnection(settings)
    app.state.temporal.start()
    yield
    await app.state.temporal.stop()


def create_app() -> FastAPI:
    app = FastAPI(
        title="Community Trigger (ASB Case Review)",
        version="0.1.0",
        description=(
            "Runs the ASB Case Review, known as the Community Trigger: applications, working-day "
            "deadlines, agency information requests, the review panel, letters and appeals."
        ),
        lifespan=lifespan,
    )
    app.include_router(eligibility.router)
    app.include_router(cases.router)
    app.include_router(case_actions.router)
    app.include_router(mail.router)
    app.include_router(dev_mail.router)
    app.include_router(agency.router)
    mount_assets(app)
    redact_link_tokens_in_access_logs()
    app.add_exception_handler(RequestValidationError, request_validation_error_handler)
    # An agency page whose session was refused: the dependency that refused it chose the page.
    app.add_exception_handler(ShowPage, show_page)

    @app.get("/health", tags=["operations"])
    async def health(request: Request) -> JSONResponse:
        """200 when the database and Temporal both answer; 503 naming what does not."""
        checks: dict[str, str] = {}
        try:
            with request.app.state.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            checks["database"] = "ok"
        except Exception as error:
            checks["database"] = f"unavailable: {type(error).__name__}"
        temporal: TemporalConnection = request.app.state.temporal
        checks["temporal"] = "ok" if temporal.client is not None else f"unavailable: {temporal.last_error}"
        healthy = all(value == "ok" for value in checks.values())
        return JSONResponse(
            {"status": "ok" if healthy else "unhealthy", "checks": checks},
            status_code=200 if healthy else 503,
        )

    return app


app = create_app()
