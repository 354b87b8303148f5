"""Abuse that must not fill the database or a case's history: refusals that anyone can cause by the
thousand are counted in one audit entry a day, and asking again and again for a new link tells the case
(and the SPOC) once a day."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import func, select
from temporalio.api.enums.v1 import EventType

from api.audit import record_tallied_audit
from db.models import AccessToken, AuditEntry, Case, InformationRequest
from db.session import engine_for, migrate, session_factory
from domain.links import TokenPurpose, link_expires_at, new_token
from tests.support import CaseService, application
from tests.test_postgres import PostgresServer, postgres  # noqa: F401 - the fixture: a server of our own
from tests.test_security import app_for, client_of, settings_for

POLICE = "threshold:leicestershire-police"


def audit_rows(database_url: str) -> list[AuditEntry]:
    with session_factory(database_url)() as session:
        return list(session.scalars(select(AuditEntry).order_by(AuditEntry.id)))


async def test_unknown_links_and_sessions_are_counted_not_written_one_by_one(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, "test", rate_limits_enabled=False)
    async with client_of(app_for(settings)) as browser:
        for _ in range(1000):
            assert (await browser.get(f"/agency/r/{new_token()[0]}")).status_code == 404
        for _ in range(20):
            assert (await browser.get("/agency/reply")).status_code == 401
            other = {"Cookie": f"agency_session={new_token()[0]}"}
            assert (await browser.get("/agency/reply", headers=other)).status_code == 401
        for _ in range(20):
            form = {"token": new_token()[0], "csrf_token": "0" * 64}
            assert (await browser.post("/agency/new-link", data=form)).status_code == 400

    rows = audit_rows(settings.database_url)
    counted = {(row.actor, row.action, row.detail): row.occurrences for row in rows}
    assert len(rows) == 4
    assert counted == {
        ("unknown link", "agency_link_refused", "unknown"): 1000,
        ("unknown session", "agency_session_refused", "missing"): 20,
        ("unknown session", "agency_session_refused", "unknown"): 20,
        ("unknown link", "agency_new_link_requested", "refused: csrf"): 20,
    }
    # The day's entry stands where the latest of its refusals happened.
    assert rows[-1].action == "agency_new_link_requested"


def revoked_link(service: CaseService, reference: str, request_key: str, now: dt.datetime) -> str:
    token, digest = new_token()
    with service.sessions.begin() as session:
        case = session.scalar(select(Case).where(Case.reference == reference))
        assert case is not None
        request = session.scalar(
            select(InformationRequest).where(
                InformationRequest.case_id == case.id, InformationRequest.request_key == request_key
            )
        )
        assert request is not None
        session.add(
            AccessToken(
                token_hash=digest,
                purpose=TokenPurpose.AGENCY_LINK.value,
                case_id=case.id,
                request_id=request.id,
                issued_at=now,
                expires_at=link_expires_at(request.due_on, 15, "england-and-wales"),
                revoked_at=now,
                revoked_reason="resent",
                use_count=0,
            )
        )
    return token


async def test_fifty_new_link_requests_signal_the_case_once(service: CaseService) -> None:
    reference = await service.open_case(application(today=await service.today()))
    token = revoked_link(service, reference, POLICE, await service.now())
    async with service.browser() as browser:
        refused = await browser.get(f"/agency/r/{token}")
        match = re.search(r'name="csrf_token" value="([^"]*)"', refused.text)
        assert match
        form = {"token": token, "csrf_token": match.group(1)}
        pages = [await browser.post("/agency/new-link", data=form) for _ in range(50)]

    assert {page.status_code for page in pages} == {200}
    assert (
        len({page.text.split('<main class="govuk-main-wrapper"')[1].split("</main>")[0] for page in pages})
        == 1
    )
    case = await service.wait_for(
        reference, lambda c: any("asked for a new link" in entry["event"] for entry in c["chronology"])
    )
    history = await service.env.client.get_workflow_handle(f"Case:{reference}").fetch_history()
    signals = [
        event
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
        and event.workflow_execution_signaled_event_attributes.signal_name == "new_link_requested"
    ]
    assert len(signals) == 1
    assert sum("asked for a new link" in entry["event"] for entry in case["chronology"]) == 1
    with service.sessions() as session:
        asked = {
            row.detail: row.occurrences
            for row in session.scalars(
                select(AuditEntry).where(
                    AuditEntry.case_reference == reference, AuditEntry.action == "agency_new_link_requested"
                )
            )
        }
        requested_on = session.scalar(
            select(InformationRequest.new_link_requested_on)
            .join(Case, Case.id == InformationRequest.case_id)
            .where(Case.reference == reference, InformationRequest.request_key == POLICE)
        )
    assert asked == {f"SPOC asked; request {POLICE}": 1, f"already asked today; request {POLICE}": 49}
    assert requested_on == await service.today()


async def test_new_link_request_on_another_day_signals_again(service: CaseService) -> None:
    reference = await service.open_case(application(today=await service.today()))
    token = revoked_link(service, reference, POLICE, await service.now())
    async with service.browser() as browser:
        refused = await browser.get(f"/agency/r/{token}")
        match = re.search(r'name="csrf_token" value="([^"]*)"', refused.text)
        assert match
        form = {"token": token, "csrf_token": match.group(1)}
        assert (await browser.post("/agency/new-link", data=form)).status_code == 200
        await service.travel_to(await service.today() + dt.timedelta(days=1))
        for _ in range(3):
            assert (await browser.post("/agency/new-link", data=form)).status_code == 200

    handle = service.env.client.get_workflow_handle(f"Case:{reference}")
    deadline = time.monotonic() + 20
    while True:
        history = await handle.fetch_history()
        signals = [
            event
            for event in history.events
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
            and event.workflow_execution_signaled_event_attributes.signal_name == "new_link_requested"
        ]
        if len(signals) >= 2 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    assert len(signals) == 2
    with service.sessions() as session:
        count = session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(
                AuditEntry.case_reference == reference, AuditEntry.detail == f"SPOC asked; request {POLICE}"
            )
        )
    assert count == 2


def test_tallied_refusals_at_one_moment_are_all_counted_on_postgres(request: pytest.FixtureRequest) -> None:
    server: PostgresServer = request.getfixturevalue("postgres")
    url = server.create_database()
    migrate(url)
    sessions = session_factory(url)
    at = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.UTC)

    def refuse(_: int) -> None:
        record_tallied_audit(
            sessions,
            actor="unknown link",
            action="agency_link_refused",
            case_reference=None,
            detail="unknown",
            at=at,
        )

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(refuse, range(200)))

    rows = audit_rows(url)
    engine_for(url).dispose()
    assert [(row.detail, row.occurrences) for row in rows] == [("unknown", 200)]
