"""The staff dashboard and case page (issue 11, section 2), page by page as a signed-in member of staff sees
them: the real API with its staff sessions, the case workflow on the time-skipping server, SQLite. Cases are
driven through the JSON API as the other tests drive them; a page of cases is put straight into the database
where only the dashboard's order and paging are under test."""

from __future__ import annotations

import datetime as dt
import html
import re
import uuid
from collections.abc import Sequence

import httpx
import pytest
from playwright.async_api import Browser
from sqlalchemy import delete, select

from api.staff.dashboard import Position
from api.staff.sessions import SESSION_COOKIE, open_session
from db.models import Attachment, AuditEntry, Case, StaffLocality, StaffUser
from domain.calendar import add_working_days
from domain.case_index import name_search_key
from tests.browser import assert_accessible, assert_no_horizontal_scrolling, new_page
from tests.support import CaseService, application
from tests.test_appeals import REQUEST, appeal_stage, to_not_met
from tests.test_case_workflow import next_working_morning

pytestmark = pytest.mark.asyncio(loop_scope="session")

NATION = "england-and-wales"
ROW = re.compile(
    r'<th scope="row" class="govuk-table__header"><a class="govuk-link" href="/staff/cases/([A-Z0-9-]+)">'
)


async def staff_session(service: CaseService, role: str, localities: Sequence[str]) -> str:
    """A new member of staff, signed in (as the sign-in page leaves them): their session cookie's token."""
    now = await service.now()
    with service.sessions.begin() as session:
        user = StaffUser(
            name=f"Sam {role.title()}",
            email=f"{uuid.uuid4().hex[:12]}@staff.example.test",
            role=role,
            api_key_hash=None,
            active=True,
            created_at=now,
            localities=[StaffLocality(locality=locality) for locality in localities],
        )
        session.add(user)
        session.flush()
        return open_session(session, user, now)


async def sign_in(
    service: CaseService, role: str = "spoc", localities: Sequence[str] = ("blaby",)
) -> httpx.AsyncClient:
    """A browser of its own, signed in as a new member of staff."""
    browser = service.browser()
    token = await staff_session(service, role, localities)
    browser.cookies.set(SESSION_COOKIE, token, domain="testserver.local", path="/staff")
    return browser


async def open_elsewhere(service: CaseService, today: dt.date, **overrides: object) -> str:
    """A case of another locality than Blaby's (service.open_case reads cases as Blaby's SPOC)."""
    body = application(today=today, locality="harborough", **overrides)
    response = await service.apply(body, key=uuid.uuid4().hex)
    assert response.status_code == 201, response.text
    reference: str = response.json()["reference"]
    await service.wait_for(reference, lambda c: c["stage"] == "threshold_check", locality="harborough")
    return reference


def listed(page: str, table: str = "Cases") -> list[str]:
    """The references in one of the dashboard's tables (by its region's label), in order."""
    start = page.index(f'aria-label="{table} (scrolls')
    end = page.index("</table>", start)
    return ROW.findall(page[start:end])


def stage_count(page: str, stage: str) -> int:
    found = re.search(rf'data-stage="{stage}">[^<:]+: (\d+)<', page)
    assert found, stage
    return int(found.group(1))


def row_of(page: str, reference: str) -> str:
    start = page.index(f'href="/staff/cases/{reference}"')
    return page[start : page.index("</tr>", start)]


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, page
    return found.group(1)


def audit_entries(service: CaseService, reference: str | None, action: str) -> list[AuditEntry]:
    with service.sessions() as session:
        return list(
            session.scalars(
                select(AuditEntry).where(AuditEntry.case_reference == reference, AuditEntry.action == action)
            )
        )


def due_on(service: CaseService, reference: str) -> dt.date:
    due = service.case_row(reference).step_due_on
    assert due is not None
    return due


async def test_staff_pages_send_a_browser_without_a_session_to_sign_in(service: CaseService) -> None:
    async with service.browser() as stranger:
        for path in ("/staff", "/staff/cases/CT-BLA-2026-0001", "/staff/cases/CT-BLA-2026-0001/letters/1"):
            response = await stranger.get(path)
            assert response.status_code == 303, path
            assert response.headers["location"].startswith("/staff/sign-in?next=/staff"), path
        assert (await stranger.post("/staff", data={"search": "Alex"})).status_code == 303


async def test_dashboard_orders_my_cases_by_due_date_and_tags_them(fresh_clock: CaseService) -> None:
    # A database and clock of its own: the first page of the dashboard must not fill with other tests' cases.
    service = fresh_clock
    start = await next_working_morning(service)
    late = await service.open_case(application(today=start))
    other = await open_elsewhere(service, start)
    due = due_on(service, late)
    assert due == service.case_row(late).threshold_decision_by

    # Three working days before the threshold decision is due: due soon, and waiting on the agencies.
    await service.travel_to(add_working_days(start, 7, NATION))
    async with await sign_in(service) as spoc:
        page = (await spoc.get("/staff")).text
        assert late in listed(page) and other not in page
        assert "Due within 5 working days" in row_of(page, late)
        assert "Waiting on agencies" in row_of(page, late)
        assert "Overdue" not in row_of(page, late)

    # Past it: the update letter has gone and the next deadline moved on, but the step is still late.
    await service.travel_to(add_working_days(due, 1, NATION))
    await service.wait_for(late, lambda c: bool(service.letters(c, "update-threshold")))
    assert service.case_row(late).next_deadline > due  # type: ignore[operator]
    fresh = await service.open_case(application(today=await service.today()))
    waiting = await to_not_met(service)
    async with await sign_in(service) as spoc:
        response = await spoc.get("/staff")
        assert response.status_code == 200
        page = response.text
        references = listed(page)
        assert other not in page
        assert references.index(late) < references.index(fresh)
        assert "Overdue" in row_of(page, late) and "Overdue" not in row_of(page, fresh)
        assert "Waiting on the applicant" in row_of(page, waiting)
        # Every dated row in deadline order: the order the page shows is the order of the due dates.
        with service.sessions() as session:
            shown = {
                case.reference: case.step_due_on
                for case in session.scalars(select(Case).where(Case.reference.in_(references)))
            }
        dated = [shown[reference] for reference in references if shown[reference] is not None]
        assert dated == sorted(dated)
        assert all(shown[r] is None for r in references[len(dated) :])
        # Counts by stage are the locality's, and the overdue filter keeps only the late.
        with service.sessions() as session:
            at_threshold = len(
                list(
                    session.scalars(
                        select(Case.id).where(Case.locality == "blaby", Case.stage == "threshold_check")
                    )
                )
            )
        assert stage_count(page, "threshold_check") == at_threshold
        overdue = (await spoc.get("/staff?overdue=yes")).text
        assert late in listed(overdue) and fresh not in listed(overdue)
        assert all("Overdue" in row_of(overdue, reference) for reference in listed(overdue))
        at_window = (await spoc.get("/staff?stage=appeal_window")).text
        assert waiting in listed(at_window) and late not in listed(at_window)
    # A list is not audited case by case (opening a case is, below).
    assert not [e for e in audit_entries(service, late, "view_case") if e.actor.startswith("Sam Spoc")]


async def test_dashboard_filters_refuse_what_cannot_be_used(service: CaseService) -> None:
    async with await sign_in(service) as spoc:
        for query, message in (
            ("locality=harborough", "Choose one of your councils"),
            ("stage=nonsense", "Choose a stage from the list"),
        ):
            response = await spoc.get(f"/staff?{query}")
            assert response.status_code == 400 and message in response.text, query
            assert "govuk-error-summary" in response.text
        # A cursor that is not one is the first page, not an error.
        assert (await spoc.get("/staff?after=not-a-cursor")).status_code == 200


async def test_search_finds_by_name_or_reference_without_the_name_in_an_address(service: CaseService) -> None:
    today = await next_working_morning(service)
    body = application(today=today)
    body["applicant"]["name"] = "Zoë Quennell-Smythe"
    mine = await service.open_case(body)
    theirs = await open_elsewhere(
        service, today, applicant={**body["applicant"], "name": "Zoe Quennell-Smythe"}
    )
    async with await sign_in(service) as spoc:
        csrf = csrf_of((await spoc.get("/staff")).text)
        found = await spoc.post("/staff", data={"csrf": csrf, "search": "zoe QUENNELL"})
        assert found.status_code == 200
        assert listed(found.text) == [mine] and theirs not in found.text
        assert "Zoë Quennell-Smythe" in html.unescape(found.text)
        by_reference = await spoc.post("/staff", data={"csrf": csrf, "search": mine.lower()})
        assert listed(by_reference.text) == [mine]
        nothing = await spoc.post("/staff", data={"csrf": csrf, "search": "no such person at all"})
        assert nothing.status_code == 200 and "No cases match" in nothing.text
        # Without a search the form goes to the filtered list's address; a name never goes in one.
        filtered = await spoc.post("/staff", data={"csrf": csrf, "search": "", "stage": "review"})
        assert filtered.status_code == 303 and filtered.headers["location"] == "/staff?stage=review"
        from_address = (await spoc.get("/staff?search=Quennell")).text
        assert (
            'value="Quennell"' not in from_address
            and "found" not in from_address.split('id="results"')[1][:80]
        )
        forged = await spoc.post("/staff", data={"csrf": "forged", "search": "zoe"})
        assert forged.status_code == 400 and mine not in forged.text
    searches = audit_entries(service, None, "search_cases")
    assert searches and all("zo" not in (entry.detail or "").lower() for entry in searches)
    assert any(entry.detail == "1 cases found" for entry in searches)


async def test_dashboard_pages_through_every_case_once_in_order(service: CaseService) -> None:
    # 60 cases of one locality put straight into the database: 40 waiting on a dated step, 20 closed.
    today = await service.today()
    now = await service.now()
    stamp = uuid.uuid4().hex[:6].upper()
    made = []
    with service.sessions.begin() as session:
        for number in range(60):
            dated = number < 40
            case = Case(
                reference=f"CT-OAD-{stamp}-{number:03d}",
                locality="oadby-and-wigston",
                stage="threshold_check" if dated else "closed",
                received_on=today,
                application=application(today=today, locality="oadby-and-wigston"),
                assessment={"met": True, "reasons": []},
                next_deadline_step="threshold_decision" if dated else None,
                threshold_decision_by=today + dt.timedelta(days=number % 7 - 3) if dated else None,
                next_deadline=today + dt.timedelta(days=number % 7 - 3) if dated else None,
                created_at=now,
                updated_at=now,
            )
            session.add(case)
            made.append(case.reference)
    try:
        async with await sign_in(service, localities=("oadby-and-wigston",)) as spoc:
            seen: list[str] = []
            pages = []
            response = await spoc.get("/staff")
            while True:
                pages.append(response.text)
                seen += listed(response.text)
                following = re.search(r'href="(/staff\?after=[^"]+)"', response.text)
                if following is None:
                    break
                response = await spoc.get(html.unescape(following.group(1)))
            assert len(pages) >= 3 and all(len(listed(page)) <= 25 for page in pages)
            assert len(seen) == len(set(seen)) and set(made) <= set(seen)
            with service.sessions() as session:
                rows = {c.reference: c for c in session.scalars(select(Case).where(Case.reference.in_(seen)))}
            positions = [Position.of(rows[r].id, rows[r].step_due_on) for r in seen]
            assert positions == sorted(positions)
            # Back from the second page is the first page again.
            second = await spoc.get(
                html.unescape(re.search(r'href="(/staff\?after=[^"]+)"', pages[0]).group(1))
            )  # type: ignore[union-attr]
            back = re.search(r'href="(/staff\?before=[^"]+)"', second.text)
            assert back is not None
            assert listed((await spoc.get(html.unescape(back.group(1)))).text) == listed(pages[0])
            # The counts by stage are this locality's.
            assert stage_count(pages[0], "closed") == 20
    finally:
        with service.sessions.begin() as session:
            session.execute(delete(Case).where(Case.reference.in_(made)))


async def test_case_page_shows_the_case_and_is_audited(service: CaseService) -> None:
    today = await next_working_morning(service)
    body = application(today=today)
    body["contact_preference"] = "post"
    body["on_behalf_of"] = {
        "victim_name": "Robin Victim",
        "relationship": "Neighbour",
        "victim_consent": True,
    }
    body["applicant"]["name"] = "Alex <b>Example</b>"
    reference = await service.open_case(body)
    case = await service.wait_for(reference, lambda c: bool(service.letters(c, "letter-1")))
    async with await sign_in(service) as spoc:
        response = await spoc.get(f"/staff/cases/{reference}")
        assert response.status_code == 200
        page = response.text
        assert "Alex &lt;b&gt;Example&lt;/b&gt;" in page and "<b>Example" not in page
        assert (
            "By post" in page and "Robin Victim" in page and "The victim agreed to this application." in page
        )
        # The automatic assessment, each part with its rule; the incidents that count.
        for reason in case["assessment"]["reasons"]:
            assert html.escape(reason, quote=False) in page or html.escape(reason) in page
        # The timeline: Letter 1 done; the threshold decision due; later stages not reached.
        assert re.search(
            r'data-deadline-state="done">\s*<strong[^>]*>Done</strong>\s*Acknowledge the application', page
        )
        assert re.search(
            r'data-deadline-state="due">\s*<strong[^>]*>Due</strong>\s*Tell the applicant whether', page
        )
        assert 'data-stage="threshold_check"' in page and "Current stage" in page
        # Each open request with its actions, by its key.
        request = case["information_requests"][0]
        key = request["request_key"]
        assert f'data-request="{key}"' in page
        quoted = key.replace(":", "%3A")
        for slug in ("agency-response", "resend", "extend", "waive"):
            assert f'href="/staff/cases/{reference}/{slug}?request={quoted}"' in page
        assert f'href="/staff/cases/{reference}/threshold-decision"' in page
        assert f'href="/staff/cases/{reference}/review-meeting"' not in page
        # Letters, each viewable as sent (and audited).
        letter_id = re.search(rf'href="/staff/cases/{reference}/letters/(\d+)"', page)
        assert letter_id is not None
        letter = await spoc.get(f"/staff/cases/{reference}/letters/{letter_id.group(1)}")
        assert letter.status_code == 200 and "we have received your application" in letter.text.lower()
        assert (await spoc.get(f"/staff/cases/{reference}/letters/999999999")).status_code == 404
        assert (await spoc.get(f"/staff/cases/{reference}/letters/nonsense")).status_code == 404
        # The chronology, by kind.
        letters_only = (await spoc.get(f"/staff/cases/{reference}?kind=letters")).text
        kinds = re.findall(r'data-kind="([a-z-]+)"', letters_only)
        assert kinds and set(kinds) == {"letters"}
        everything = re.findall(r'data-kind="([a-z-]+)"', page)
        assert {"letters", "information"} <= set(everything)
        assert set(
            re.findall(r'data-kind="([a-z-]+)"', (await spoc.get(f"/staff/cases/{reference}?kind=x")).text)
        ) == set(everything)
        # A file an agency attached to its answer: downloaded, never shown; one of another case is not.
        with service.sessions.begin() as session:
            row = session.scalar(select(Case).where(Case.reference == reference))
            assert row is not None
            files = [
                Attachment(
                    case_id=row.id,
                    request_id=row.information_requests[0].id,
                    filename="police log.pdf",
                    content_type="application/pdf",
                    size=9,
                    sha256="0" * 64,
                    content=b"%PDF-1.4\n",
                    accepted=accepted,
                    uploaded_at=await service.now(),
                )
                for accepted in (True, False)
            ]
            session.add_all(files)
            session.flush()
            accepted_id, staged_id = files[0].id, files[1].id
        download = await spoc.get(f"/staff/cases/{reference}/attachments/{accepted_id}")
        assert download.status_code == 200 and download.content == b"%PDF-1.4\n"
        assert download.headers["content-disposition"].startswith("attachment;")
        assert "police%20log.pdf" in download.headers["content-disposition"]
        assert (await spoc.get(f"/staff/cases/{reference}/attachments/{staged_id}")).status_code == 404
        # After an action page: its banner.
        done = await spoc.get(f"/staff/cases/{reference}?done=resend")
        assert "govuk-notification-banner--success" in done.text and "sent again with a new link" in done.text
    views = audit_entries(service, reference, "view_case")
    assert len([v for v in views if v.detail == "case page"]) == 4
    assert all("Alex" not in (v.actor + (v.detail or "")) for v in views)
    assert audit_entries(service, reference, "view_letter")
    assert [e.detail for e in audit_entries(service, reference, "download_attachment")] == [
        f"attachment #{accepted_id}"
    ]


async def test_another_localitys_case_is_not_found(service: CaseService) -> None:
    today = await next_working_morning(service)
    theirs = await open_elsewhere(service, today)
    async with await sign_in(service) as spoc:
        refused = await spoc.get(f"/staff/cases/{theirs}")
        absent = await spoc.get("/staff/cases/CT-BLA-1999-9999")
        assert refused.status_code == absent.status_code == 404
        assert "Alex Example" not in refused.text
        assert (await spoc.get(f"/staff/cases/{theirs}/letters/1")).status_code == 404
        assert (await spoc.get(f"/staff/cases/{theirs}/attachments/1")).status_code == 404
        assert (await spoc.get("/staff/cases/not a reference")).status_code == 404
    assert not [e for e in audit_entries(service, theirs, "view_case") if e.actor.startswith("Sam Spoc")]


async def test_a_manager_sees_the_escalations_and_the_county_team_the_appeals(
    fresh_clock: CaseService,
) -> None:
    # A database and clock of its own: the first page of the dashboard must not fill with other tests' cases.
    service = fresh_clock
    start = await next_working_morning(service)
    late = await service.open_case(application(today=start))
    await service.travel_to(add_working_days(due_on(service, late), 1, NATION))
    await service.wait_for(late, lambda c: bool(service.letters(c, "update-threshold")))
    appealed = await to_not_met(service)
    received_on = (await service.today()).isoformat()
    response = await service.act(appealed, "appeal-request", {**REQUEST, "received_on": received_on})
    assert response.status_code == 200, response.text
    await appeal_stage(service, appealed, "appeal_chair_requested")
    not_appealed = await to_not_met(service, locality="harborough")

    async with await sign_in(service, role="manager") as manager:
        page = (await manager.get("/staff")).text
        assert "Escalated to you" in page and late in listed(page, "Cases escalated to you")
        assert appealed not in listed(page, "Cases escalated to you")
        assert (await manager.get(f"/staff/cases/{late}")).status_code == 200
    async with await sign_in(service) as spoc:
        assert "Escalated to you" not in (await spoc.get("/staff")).text

    async with await sign_in(service, role="county_team", localities=("blaby", "harborough")) as county:
        page = (await county.get("/staff")).text
        shown = listed(page)
        assert appealed in shown and late not in shown and not_appealed not in shown
        assert 'id="locality"' in page  # several councils: a filter by council
        appeal_page = await county.get(f"/staff/cases/{appealed}")
        assert appeal_page.status_code == 200 and 'id="appeal"' in appeal_page.text
        assert f"/staff/cases/{appealed}/appeal-chair" in appeal_page.text
        assert f"/staff/cases/{appealed}/appeal-withdraw" not in appeal_page.text
        assert (await county.get(f"/staff/cases/{late}")).status_code == 404
        one_council = await county.get("/staff?locality=harborough")
        assert one_council.status_code == 200 and "Cases by stage in Harborough" in one_council.text
        assert appealed not in one_council.text
        assert (await county.get(f"/staff/cases/{late}/letters/1")).status_code == 404


async def test_dashboard_and_case_page_are_accessible_and_reflow(
    service: CaseService, live_server: str, chromium: Browser
) -> None:
    body = application(today=await next_working_morning(service))
    # Long words must wrap, not widen the page.
    body["applicant"]["email"] = "alexandra.montgomery-fotheringham@neighbourhood-association.example.test"
    reference = await service.open_case(body)
    await service.wait_for(reference, lambda c: bool(service.letters(c, "letter-1")))
    token = await staff_session(service, "manager", ("blaby", "harborough"))
    host = live_server.split("://", 1)[1].split(":")[0]
    for width in (1280, 320):
        async with new_page(chromium, live_server, viewport={"width": width, "height": 800}) as page:
            await page.context.add_cookies(
                [{"name": SESSION_COOKIE, "value": token, "domain": host, "path": "/staff"}]
            )
            for path in ("/staff", f"/staff/cases/{reference}"):
                await page.goto(path)
                assert await page.locator("h1").first.inner_text() in ("Cases", f"Case {reference}")
                await assert_accessible(page)
                await assert_no_horizontal_scrolling(page)
            await page.get_by_role("link", name=re.compile("we have received your application")).click()
            await assert_accessible(page)
            await assert_no_horizontal_scrolling(page)


async def test_cursor_names_a_position_and_anything_else_is_the_first_page() -> None:
    dated = Position.of(12, dt.date(2026, 12, 1))
    undated = Position.of(7, None)
    assert Position.from_cursor(dated.cursor) == dated and dated.cursor == "2026-12-01.12"
    assert Position.from_cursor(undated.cursor) == undated and undated.cursor == "u.7"
    # Dated cases first, by date then id; then undated, newest first.
    assert sorted([undated, Position.of(9, None), dated, Position.of(3, dt.date(2026, 12, 2))]) == [
        dated,
        Position.of(3, dt.date(2026, 12, 2)),
        Position.of(9, None),
        undated,
    ]
    for bad in (
        None,
        "",
        "2026-13-01.1",
        "u.",
        "2026-12-01",
        "x.1",
        "u.1 OR 1=1",
        "2026-12-01.12345678901234",
    ):
        assert Position.from_cursor(bad) is None, bad


async def test_names_are_searched_folded_and_the_step_keeps_its_due_date() -> None:
    assert name_search_key("  Zoë   O'BRIEN ") == "zoe o'brien"
    case = Case(
        application={
            "applicant": {"name": "Zoë Example"},
            "on_behalf_of": {"victim_name": "Robin  Victim"},
        }
    )
    assert case.applicant_name_search == "zoe example / robin victim"
    # The threshold decision is due on the 9th; once late, the next deadline moves to the update's date but
    # the step stays due on the 9th. Closed: no step.
    case.threshold_decision_by = dt.date(2026, 12, 9)
    case.next_deadline = dt.date(2026, 12, 9)
    case.next_deadline_step = "threshold_decision"
    assert case.step_due_on == dt.date(2026, 12, 9)
    case.next_deadline = dt.date(2026, 12, 23)
    assert case.step_due_on == dt.date(2026, 12, 9)
    case.next_deadline_step, case.next_deadline = None, None
    assert case.step_due_on is None
