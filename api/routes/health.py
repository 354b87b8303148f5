"""/health: whether the database and Temporal answer now, each asked with a time limit so that a server
that has gone quiet makes health say so instead of hanging."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Engine, text
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.service import RPCError

# Each check answers within this; a load balancer's health timeout is usually a few seconds more.
CHECK_TIMEOUT_SECONDS = 2.0

router = APIRouter(tags=["operations"])


@router.get(
    "/health",
    summary="Whether the database and Temporal answer",
    description=(
        "200 when both answered within 2 s; 503 naming each that did not. `checks` has `database` and "
        '`temporal`, each "ok" or "unavailable: <why>".'
    ),
)
async def health(request: Request) -> JSONResponse:
    database, temporal = await asyncio.gather(database_check(request.app), temporal_check(request.app))
    checks = {"database": database, "temporal": temporal}
    healthy = all(value == "ok" for value in checks.values())
    return JSONResponse(
        {"status": "ok" if healthy else "unhealthy", "checks": checks},
        status_code=200 if healthy else 503,
        headers={"Cache-Control": "no-store"},
    )


def _select_one(engine: Engine) -> None:
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))


async def database_check(app: FastAPI) -> str:
    """ "ok" once `SELECT 1` answers within the time limit.

    SQLAlchemy blocks, so the query runs in a thread, which a time limit cannot stop: while a probe is
    still stuck, later health calls wait on that same probe rather than each leaving another thread behind.
    """
    probe: asyncio.Future[None] | None = getattr(app.state, "database_probe", None)
    if probe is None or probe.done():
        probe = asyncio.ensure_future(asyncio.to_thread(_select_one, app.state.engine))
        # A probe that fails after its callers gave up: its error is read here, not logged as unretrieved.
        probe.add_done_callback(lambda done: done.cancelled() or done.exception())
        app.state.database_probe = probe
    try:
        await asyncio.wait_for(asyncio.shield(probe), CHECK_TIMEOUT_SECONDS)
    except TimeoutError:
        return f"unavailable: no answer within {CHECK_TIMEOUT_SECONDS:.0f} s"
    except Exception as error:  # any failure is the answer; the type says which without leaking details
        return f"unavailable: {type(error).__name__}"
    return "ok"


async def temporal_check(app: FastAPI) -> str:
    """ "ok" once the Temporal frontend answers GetSystemInfo within the time limit."""
    connection: Any = app.state.temporal
    if connection.client is None:
        return f"unavailable: {connection.last_error}"
    try:
        # The RPC's own deadline, and a slightly later one around it in case the connection itself stalls.
        await asyncio.wait_for(
            connection.client.workflow_service.get_system_info(
                GetSystemInfoRequest(), timeout=timedelta(seconds=CHECK_TIMEOUT_SECONDS)
            ),
            CHECK_TIMEOUT_SECONDS + 0.5,
        )
    except TimeoutError:
        return f"unavailable: no answer within {CHECK_TIMEOUT_SECONDS:.0f} s"
    except RPCError as error:
        return f"unavailable: {error.status.name}"
    except Exception as error:
        return f"unavailable: {type(error).__name__}"
    return "ok"
