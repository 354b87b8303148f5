"""Appeals end to end: the real API, the case and appeal workflows on the time-skipping server, a real SMTP
sink and a real SQLite database. Each path of section 6 of the LLR policy, with the dates it sets."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any

import pytest
from sqlalchemy import select

from db.models import Appeal, AppealToken, AuditEntry, Case, OutboxMessage, Submission
from domain.calendar import LONDON, add_working_days
from domain.deadlines import working_days_before
from tests.support import CaseService, application
from tests.test_case_workflow import PANEL, decide, next_working_morning, to_outcome
from workflows.models import ActionResult, BankHolidays, CalendarChange

pytestmark = pytest.mark.asyncio(loop_scope="session")

NATION = "england-and-wales"
PANEL_FINDINGS = PANEL["findings"]
REQUEST = {
    "grounds": [2],
    "explanation": "The panel did not look at the police log of the incidents in March.",
}
CRITERIA_MET = {"met": True, "reasons": "The police log was not in the bundle the panel had."}
DECISION = {
    "upheld": True,
    "reasons": "The review should have considered the police log; it changes the findings.",
    "recommendations": [
        {
            "agency": "Leicestershire Police",
            "action": "Share incident logs with the council within five working days.",
            "due_on": "2031-01-15",
        }
    ],
    "lessons": "Check every agency's log is in the review bundle before the meeting.",
}


async def panel_held(service: CaseService) -> dict[str, Any]:
    held_at = await service.now() - dt.timedelta(hours=1)
    return {
        "meeting_at": held_at.isoformat(),
        "location": "County Hall, Glenfield",
        "members": [
            {"name": "Pat Chair", "role": "Independent chair"},
            {"name": "Sam SPOC", "role": "SPOC who ran the review"},
        ],
        "victim_attends_minutes": 15,
    }


async def appeal_stage(service: CaseService, reference: str, stage: str) -> dict[str, Any]:
    return await service.wait_for(reference, lambda c: bool(c["appeal"]) and c["appeal"]["stage"] == stage)


async def chair_asked_for(service: CaseService, reference: str) -> dict[str, Any]:
    """The case once the policy's contact has been emailed to name a chair."""
    return await service.wait_for(
        reference,
        lambda c: (
            bool(c["appeal"])
            and c["appeal"]["stage"] == "appeal_chair_requested"
            and any("asked to name who hears" in e["event"] for e in c["appeal"]["chronology"])
        ),
    )


async def request_appeal(service: CaseService, reference: str, body: dict[str, Any] | None = None) -> None:
    response = await service.act(reference, "appeal-request", body or REQUEST)
    assert response.status_code == 200, response.text


async def act_ok(service: CaseService, reference: str, action: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await service.act(reference, f"appeal/{action}", body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def test_appeal_from_letter_3_met_with_panel_and_letter_6(service: CaseService) -> None:
    reference, _ = await to_outcome(service)
    await request_appeal(service, reference)
    case = await chair_asked_for(service, reference)
    today = await service.today()
    assert case["stage"] == "appeal"
    assert case["appeal"]["grounds"] == [
        {"number": 2, "text": "The review failed to consider relevant factual information."}
    ]
    assert case["appeal"]["deadlines"]["name_chair_by"] == add_working_days(today, 2, NATION).isoformat()
    # The county team is asked to name a chair, with a link.
    asked = service.outbox(reference, "appeal-chair-request")
    assert [m.recipient for m in asked] == ["communitysafety@leics.council.example"]
    # The link is in the email that went, never in the copy the service keeps.
    assert "/appeal/r/[link removed from the stored copy]" in asked[0].body_text
    assert link_in(service, reference, "communitysafety@leics.council.example")

    # The chair of Blaby's own partnership is refused; another area's chair is named.
    refused = await service.act(reference, "appeal/chair", {"chair": "blaby-csp-chair"})
    assert refused.status_code == 409 and "own partnership" in refused.json()["detail"]
    named = await act_ok(service, reference, "chair", {"chair": "melton-csp-chair"})
    assert named["stage"] == "appeal_chair_named"
    case = await service.wait_for(reference, lambda c: c["appeal"]["deadlines"]["acknowledge_by"] is not None)
    assert case["appeal"]["chair"] == "Chair, Melton Community Safety Partnership"
    assert case["appeal"]["deadlines"]["bundle_by"] == add_working_days(today, 1, NATION).isoformat()
    assert case["appeal"]["deadlines"]["acknowledge_by"] == add_working_days(today, 5, NATION).isoformat()
    bundle = service.outbox(reference, "appeal-bundle")
    assert [m.recipient for m in bundle] == ["csp.chair@melton.council.example"]

    await act_ok(service, reference, "acknowledge", {})
    case = await service.wait_for(reference, lambda c: service.letters(c, "letter-4"))
    assert case["appeal"]["deadlines"]["decision_by"] == add_working_days(today, 20, NATION).isoformat()
    # The SPOC's copy is sent after the letter itself: wait for it too.
    await service.wait_for(reference, lambda _: bool(service.outbox(reference, "letter-copy")))
    assert [m.recipient for m in service.outbox(reference, "letter-copy")] == [
        "community.trigger@blaby.council.example"
    ]
    await act_ok(service, reference, "criteria", CRITERIA_MET)
    await appeal_stage(service, reference, "appeal_panel")
    early = await service.act(reference, "appeal/outcome", DECISION)
    assert early.status_code == 409 and "panel" in early.json()["detail"]
    await act_ok(service, reference, "panel", await panel_held(service))
    await act_ok(service, reference, "outcome", DECISION)
    status = await service.result(reference)
    assert status.closed_reason.value == "appeal_decided"
    case = await service.case(reference)
    assert case["appeal"]["stage"] == "appeal_decided" and case["appeal"]["result"] == "upheld"
    assert [letter["code"] for letter in case["appeal"]["letters"]] == [
        "appeal-received",
        "letter-4",
        "letter-6",
    ]
    assert case["appeal"]["decisions"]["decision"]["upheld"] is True
    lessons = service.outbox(reference, "appeal-lessons")
    assert [m.recipient for m in lessons] == ["communitysafety@leics.council.example"]
    assert "Check every agency's log" in lessons[0].body_text
    events = [e["event"] for e in case["chronology"]]
    assert any("on behalf of the appeal chair" in e["actor"] for e in case["appeal"]["chronology"])
    assert any("Appeal decided: upheld" in e for e in events)
    with service.sessions() as session:
        letter_6 = session.scalar(
            select(OutboxMessage).where(
                OutboxMessage.case_reference == reference, OutboxMessage.purpose == "letter-6"
            )
        )
        assert letter_6 is not None and "Share incident logs" in letter_6.body_text


async def to_not_met(service: CaseService, locality: str = "blaby", **overrides: Any) -> str:
    """A case whose threshold was not met (Letter 2b sent, the appeal window open)."""
    today = await next_working_morning(service)
    body = application(today=today, locality=locality, **overrides)
    response = await service.apply(body, key=uuid.uuid4().hex)
    assert response.status_code == 201, response.text
    reference: str = response.json()["reference"]
    await service.wait_for(
        reference, lambda c: c["stage"] == "threshold_check" and c["information_requests"], locality=locality
    )
    await service.answer_requests(reference, "threshold", locality)
    response = await service.act(
        reference, "threshold-decision", {"outcome": "not_met", "reasons": "Two incidents only."}, locality
    )
    assert response.status_code == 200, response.text
    await service.wait_for(reference, lambda c: c["deadlines"]["appeal_by"] is not None, locality=locality)
    return reference


async def named_and_acknowledged(
    service: CaseService, reference: str, chair: str = "melton-csp-chair"
) -> None:
    await chair_asked_for(service, reference)
    await act_ok(service, reference, "chair", {"chair": chair})
    await service.wait_for(reference, lambda c: c["appeal"]["deadlines"]["acknowledge_by"] is not None)
    await act_ok(service, reference, "acknowledge", {"note": "Papers received."})
    await service.wait_for(reference, lambda c: service.letters(c, "letter-4"))


async def test_appeal_from_letter_2b_criteria_not_met_ends_with_letter_5(service: CaseService) -> None:
    reference = await to_not_met(service)
    await request_appeal(
        service, reference, {"grounds": [1, 2], "explanation": "The ASB policy was ignored."}
    )
    await named_and_acknowledged(service, reference)
    # The panel cannot be recorded before the grounds are decided.
    early = await service.act(reference, "appeal/panel", await panel_held(service))
    assert early.status_code == 409 and "grounds" in early.json()["detail"]
    not_met = {"met": False, "reasons": "The review considered the policy and the facts.", "lessons": ""}
    result = await act_ok(service, reference, "criteria", not_met)
    assert result["stage"] == "appeal_decided"
    status = await service.result(
        reference, history="appeal-criteria-not-met-v4", appeal_history="appeal-criteria-not-met-a1"
    )
    assert status.closed_reason.value == "appeal_decided"
    case = await service.case(reference)
    assert case["appeal"]["result"] == "criteria_not_met"
    assert [letter["code"] for letter in case["appeal"]["letters"]] == [
        "appeal-received",
        "letter-4",
        "letter-5",
    ]
    assert not service.outbox(reference, "appeal-lessons")  # no lessons recorded, none sent
    letter_5 = service.outbox(reference, "letter-5")
    assert len(letter_5) == 1 and "The review considered the policy" in letter_5[0].body_text
    # The decision is final: nothing more is taken.
    again = await service.act(reference, "appeal/criteria", CRITERIA_MET)
    assert again.status_code == 409


async def test_appeal_without_grounds_is_refused_with_422_and_nothing_written(service: CaseService) -> None:
    reference = await to_not_met(service)
    for body, field in (
        ({"grounds": [], "explanation": "I disagree."}, "Name at least one of the grounds"),
        ({"grounds": [3], "explanation": "I disagree."}, "There is no ground 3"),
        ({"grounds": [1]}, "explanation"),
    ):
        response = await service.act(reference, "appeal-request", body)
        assert response.status_code == 422, response.text
        assert field in response.text
    row = service.case_row(reference)
    assert row.appeal_request is None and row.appeal is None
    with service.sessions() as session:
        kinds = set(
            session.scalars(
                select(Submission.kind)
                .join(Case, Case.id == Submission.case_id)
                .where(Case.reference == reference)
            )
        )
        assert not any(kind.startswith("appeal") for kind in kinds), kinds
    # Appeal actions before any appeal: 409, nothing written.
    response = await service.act(reference, "appeal/chair", {"chair": "melton-csp-chair"})
    assert response.status_code == 409 and "no appeal" in response.json()["detail"]
    await service.result(reference)


async def test_letter_6_45_working_days_after_letter_4_follows_two_updates_and_escalations(
    service: CaseService,
) -> None:
    reference, _ = await to_outcome(service)
    await request_appeal(service, reference)
    await named_and_acknowledged(service, reference)
    case = await service.case(reference)
    letter_4 = dt.date.fromisoformat(service.letters(case, "letter-4")[0]["sent_on"])
    decision_by = dt.date.fromisoformat(case["appeal"]["deadlines"]["decision_by"])
    assert decision_by == add_working_days(letter_4, 20, NATION)
    await act_ok(service, reference, "criteria", CRITERIA_MET)
    # Letter 6 goes 45 working days after Letter 4: 25 working days late.
    await service.travel_to(add_working_days(letter_4, 45, NATION))
    case = await service.wait_for(reference, lambda c: len(service.letters(c, "update-appeal")) == 2)
    assert [letter["sent_on"] for letter in service.letters(case, "update-appeal")] == [
        decision_by.isoformat(),
        add_working_days(decision_by, 20, NATION).isoformat(),
    ]
    # The chair and the SPOC were reminded before it was due, and escalated to (with the manager) after.
    reminders = {m.recipient for m in service.outbox(reference, "reminder")}
    assert {"csp.chair@melton.council.example", "community.trigger@blaby.council.example"} <= reminders
    escalations = [
        m for m in service.outbox(reference, "escalation") if "appeal_decision" in m.idempotency_key
    ]
    assert {m.recipient for m in escalations} == {
        "csp.chair@melton.council.example",
        "community.trigger@blaby.council.example",
        "community.safety.manager@blaby.council.example",
    }
    assert len(escalations) == 6  # two escalations, three people each
    assert case["appeal"]["next_deadline"] == add_working_days(decision_by, 40, NATION).isoformat()
    # The chair's link still works, long after the decision was due.
    with service.sessions() as session:
        appeal = session.scalar(select(Appeal).where(Appeal.case_id == service.case_row(reference).id))
        assert appeal is not None and appeal.chair_link_valid_until is not None
        assert appeal.chair_link_valid_until > add_working_days(decision_by, 40, NATION)
    async with service.browser() as chair:
        opened = await chair.get(link_in(service, reference, "csp.chair@melton.council.example"))
        assert opened.status_code == 303 and opened.headers["location"] == "/appeal/chair"
    await act_ok(service, reference, "panel", await panel_held(service))
    await act_ok(service, reference, "outcome", {**DECISION, "upheld": False, "lessons": ""})
    await service.result(reference, appeal_history="appeal-late-a1")
    case = await service.case(reference)
    assert case["appeal"]["result"] == "not_upheld"
    assert len(service.letters(case, "update-appeal")) == 2
    assert (
        service.letters(case, "letter-6")[0]["sent_on"] == add_working_days(letter_4, 45, NATION).isoformat()
    )


async def test_chair_of_own_partnership_and_unknown_chairs_are_refused(service: CaseService) -> None:
    reference = await to_not_met(service)
    await request_appeal(service, reference)
    await chair_asked_for(service, reference)
    own = await service.act(reference, "appeal/chair", {"chair": "blaby-csp-chair"})
    assert own.status_code == 409
    assert "Blaby Community Safety Partnership" in own.json()["detail"]
    # Another locality's SPOC does not see the case at all.
    elsewhere = await service.act(reference, "appeal/chair", {"chair": "melton-csp-chair"}, "charnwood")
    assert elsewhere.status_code == 404
    early = await service.act(reference, "appeal/acknowledge", {})
    assert early.status_code == 409 and "appeal_chair_requested" in early.json()["detail"]
    unknown = await service.act(reference, "appeal/chair", {"chair": "nobody"})
    assert unknown.status_code == 422 and "melton-csp-chair" in unknown.text
    case = await service.case(reference)
    assert case["appeal"]["chair"] is None and case["appeal"]["stage"] == "appeal_chair_requested"
    await act_ok(service, reference, "withdraw", {"reason": "Dropped it."})
    await service.result(reference)


async def test_representative_without_consent_waits_and_is_chased_until_consent(service: CaseService) -> None:
    victim = {"victim_name": "Robin Victim", "relationship": "Neighbour", "victim_consent": True}
    reference = await to_not_met(service, on_behalf_of=victim)
    await request_appeal(service, reference)
    case = await service.wait_for(
        reference,
        lambda c: (
            bool(c["appeal"]) and any("the SPOC was asked for it" in e["event"] for e in c["chronology"])
        ),
    )
    assert case["appeal"]["stage"] == "appeal_consent_requested" and case["appeal"]["needs_consent"] is True
    assert not service.outbox(reference, "appeal-chair-request")  # nobody is asked for a chair yet
    asked = service.outbox(reference, "appeal-consent-needed")
    assert [m.recipient for m in asked] == ["community.trigger@blaby.council.example"]
    refused = await service.act(reference, "appeal/chair", {"chair": "melton-csp-chair"})
    assert refused.status_code == 409 and "consent" in refused.json()["detail"]
    # Chased every five working days while it waits.
    today = await service.today()
    await service.travel_to(add_working_days(today, 11, NATION))
    await service.wait_for(reference, lambda c: len(service.outbox(reference, "appeal-consent-needed")) >= 3)
    chased = service.outbox(reference, "appeal-consent-needed")
    assert [m.idempotency_key.split(":")[-2] for m in chased] == ["1", "2", "3"], [
        m.idempotency_key for m in chased
    ]
    await act_ok(service, reference, "consent", {"received_on": (await service.today()).isoformat()})
    await chair_asked_for(service, reference)
    assert service.outbox(reference, "appeal-chair-request")
    await act_ok(service, reference, "withdraw", {"reason": "No longer needed.", "requested_by": "applicant"})
    await service.result(reference, appeal_history="appeal-consent-a1")


@pytest.mark.parametrize(
    "stage", ["appeal_chair_requested", "appeal_chair_named", "appeal_acknowledged", "appeal_panel"]
)
async def test_withdrawal_at_each_appeal_stage_closes_the_case_with_a_letter(
    service: CaseService, stage: str
) -> None:
    reference, _ = await to_outcome(service)
    await request_appeal(service, reference)
    await chair_asked_for(service, reference)
    if stage != "appeal_chair_requested":
        await act_ok(service, reference, "chair", {"chair": "rutland-csp-chair"})
        await service.wait_for(reference, lambda c: c["appeal"]["deadlines"]["acknowledge_by"] is not None)
    if stage in ("appeal_acknowledged", "appeal_panel"):
        await act_ok(service, reference, "acknowledge", {})
        await appeal_stage(service, reference, "appeal_acknowledged")
    if stage == "appeal_panel":
        await act_ok(service, reference, "criteria", CRITERIA_MET)
    await appeal_stage(service, reference, stage)
    # The case itself is not withdrawn while its appeal runs: the appeal is.
    case_withdrawal = await service.act(reference, "withdraw", {"reason": "x"})
    assert case_withdrawal.status_code == 409 and "withdraw the appeal" in case_withdrawal.json()["detail"]
    result = await act_ok(
        service, reference, "withdraw", {"reason": "Things are better.", "requested_by": "applicant"}
    )
    assert result["stage"] == "appeal_withdrawn"
    history = "appeal-withdrawn" if stage == "appeal_panel" else None
    status = await service.result(
        reference,
        history=f"{history}-v4" if history else None,
        appeal_history=f"{history}-a1" if history else None,
    )
    assert status.closed_reason.value == "appeal_withdrawn"
    case = await service.case(reference)
    assert case["appeal"]["stage"] == "appeal_withdrawn" and case["appeal"]["result"] == "withdrawn"
    assert service.letters(case, "appeal-withdrawn")
    assert any(f"Appeal withdrawn at the {stage} stage" in e["event"] for e in case["chronology"])


async def test_appeal_from_a_rejection_and_the_chairs_link_resent_and_extended(service: CaseService) -> None:
    today = await next_working_morning(service)
    reference = await service.open_case(application(today=today))
    await decide(service, reference, "rejected", rejection_ground="frivolous")
    await service.wait_for(
        reference, lambda c: service.letters(c, "rejection") and c["deadlines"]["appeal_by"]
    )
    await request_appeal(service, reference)
    await chair_asked_for(service, reference)
    await act_ok(service, reference, "chair", {"chair": "oadby-and-wigston-csp-chair"})
    await service.wait_for(reference, lambda c: c["appeal"]["deadlines"]["acknowledge_by"] is not None)
    first_link = link_in(service, reference, "csp.chair@oadby-wigston.council.example")
    await act_ok(service, reference, "chair-link/resend", {"reason": "The chair deleted the email."})
    await service.wait_for(
        reference, lambda c: any("A new link to the bundle" in e["event"] for e in c["appeal"]["chronology"])
    )
    second_link = link_in(service, reference, "csp.chair@oadby-wigston.council.example")
    assert second_link != first_link
    async with service.browser() as chair:
        assert (await chair.get(first_link)).status_code == 404  # the earlier link no longer works
        assert (await chair.get(second_link)).status_code == 303
    later = add_working_days(await service.today(), 60, NATION)
    await act_ok(
        service, reference, "chair-link/extend", {"valid_until": later.isoformat(), "reason": "Long panel."}
    )
    with service.sessions() as session:
        row = session.scalar(select(Appeal).where(Appeal.case.has(reference=reference)))
        assert row is not None and row.chair_link_valid_until == later
        tokens = list(
            session.scalars(
                select(AppealToken).where(
                    AppealToken.appeal_id == row.id, AppealToken.purpose == "chair_link"
                )
            )
        )
        assert len(tokens) == 2
        assert sum(token.revoked_at is None for token in tokens) == 1
    await act_ok(service, reference, "acknowledge", {})
    await act_ok(service, reference, "criteria", CRITERIA_MET)
    await act_ok(service, reference, "panel", await panel_held(service))
    await act_ok(service, reference, "outcome", DECISION)
    status = await service.result(reference, appeal_history="appeal-link-resent-a1")
    assert status.closed_reason.value == "appeal_decided"


async def test_upheld_appeal_recorded_as_history(service: CaseService) -> None:
    reference, _ = await to_outcome(service)
    await request_appeal(service, reference)
    await named_and_acknowledged(service, reference)
    await act_ok(service, reference, "criteria", CRITERIA_MET)
    await act_ok(service, reference, "panel", await panel_held(service))
    await act_ok(service, reference, "outcome", DECISION)
    status = await service.result(reference, history="appeal-upheld-v4", appeal_history="appeal-upheld-a1")
    assert status.closed_reason.value == "appeal_decided"


def link_in(service: CaseService, reference: str, recipient: str) -> str:
    """The path of the link (/appeal/r/<token>) in the latest appeal email to `recipient`, as it arrived
    (the outbox keeps no link)."""
    for message in reversed(service.mail_about(reference)):
        if str(message["To"]) == recipient:
            body = message.get_body(("plain",))
            assert body is not None
            found = re.search(r"/appeal/r/[A-Za-z0-9_-]{43}", body.get_content())
            if found:
                return found.group(0)
    raise AssertionError(f"no appeal link to {recipient}")


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, page
    return found.group(1)


async def test_the_contact_names_and_the_chair_decides_through_their_links(service: CaseService) -> None:
    reference, _ = await to_outcome(service)
    await request_appeal(service, reference)
    await chair_asked_for(service, reference)
    async with service.browser() as contact:
        opened = await contact.get(link_in(service, reference, "communitysafety@leics.council.example"))
        assert opened.status_code == 303 and opened.headers["location"] == "/appeal/name-chair"
        page = await contact.get("/appeal/name-chair")
        assert page.status_code == 200 and "Melton" in page.text
        assert "Alex Example" not in page.text  # no applicant's details for the contact
        named = await contact.post(
            "/appeal/name-chair", data={"chair": "melton-csp-chair", "csrf_token": csrf_of(page.text)}
        )
        assert named.status_code == 303, named.text
    case = await service.wait_for(reference, lambda c: c["appeal"]["deadlines"]["acknowledge_by"] is not None)
    assert case["appeal"]["chair"] == "Chair, Melton Community Safety Partnership"
    assert any("(appeal contact)" in e["actor"] for e in case["appeal"]["chronology"])

    async with service.browser() as chair:
        opened = await chair.get(link_in(service, reference, "csp.chair@melton.council.example"))
        assert opened.status_code == 303 and opened.headers["location"] == "/appeal/chair"
        page = await chair.get("/appeal/chair")
        assert page.status_code == 200
        # The bundle: the application, the panel's findings, the letters and the request's grounds.
        for part in ("Alex Example", PANEL_FINDINGS, "letter-3", REQUEST["explanation"]):
            assert part in page.text, part
        done = await chair.post(
            "/appeal/chair/acknowledge", data={"csrf_token": csrf_of(page.text), "note": ""}
        )
        assert done.status_code == 303, done.text
        await service.wait_for(reference, lambda c: service.letters(c, "letter-4"))
        page = await chair.get("/appeal/chair")
        done = await chair.post(
            "/appeal/chair/criteria",
            data={"csrf_token": csrf_of(page.text), "met": "yes", "reasons": CRITERIA_MET["reasons"]},
        )
        assert done.status_code == 303, done.text
        await appeal_stage(service, reference, "appeal_panel")
        page = await chair.get("/appeal/chair")
        held = (await service.now()).astimezone(LONDON) - dt.timedelta(hours=1)
        done = await chair.post(
            "/appeal/chair/panel",
            data={
                "csrf_token": csrf_of(page.text),
                "meeting-day": str(held.day),
                "meeting-month": str(held.month),
                "meeting-year": str(held.year),
                "meeting-time": f"{held:%H:%M}",
                "location": "County Hall",
                "member-1-name": "Pat Chair",
                "member-1-role": "Independent chair",
            },
        )
        assert done.status_code == 303, done.text
        await service.wait_for(reference, lambda c: c["appeal"]["decisions"]["panel"] is not None)
        page = await chair.get("/appeal/chair")
        done = await chair.post(
            "/appeal/chair/outcome",
            data={"csrf_token": csrf_of(page.text), "upheld": "no", "reasons": "The review was sound."},
        )
        assert done.status_code == 303, done.text
    status = await service.result(reference)
    assert status.closed_reason.value == "appeal_decided"
    case = await service.case(reference)
    assert case["appeal"]["result"] == "not_upheld"
    assert any("(appeal chair)" in e["actor"] for e in case["appeal"]["chronology"])
    with service.sessions() as session:
        actions = set(
            session.scalars(select(AuditEntry.action).where(AuditEntry.case_reference == reference))
        )
    assert "appeal_bundle_viewed" in actions


@pytest.mark.parametrize(
    ("locality", "chair", "refused"),
    [
        # Their own partnership's chair hears it; another's is refused; no grounds are needed.
        ("harborough", "harborough-csp-chair", "blaby-csp-chair"),
        ("derby", "derbyshire-pcc-office", None),
        ("tunbridge-wells", "tw-head-of-community-safety", None),
    ],
)
async def test_each_route_names_its_own_people_from_the_policy(
    service: CaseService, locality: str, chair: str, refused: str | None
) -> None:
    reference = await to_not_met(service, locality)
    response = await service.act(
        reference, "appeal-request", {"grounds": [], "explanation": "I am not satisfied."}, locality
    )
    assert response.status_code == 200, response.text
    policy = service.app.state.policies[locality]
    await service.wait_for(
        reference, lambda c: bool(service.outbox(reference, "appeal-chair-request")), locality=locality
    )
    assert [m.recipient for m in service.outbox(reference, "appeal-chair-request")] == [
        str(policy.appeal.contact.email)
    ]
    if refused:
        response = await service.act(reference, "appeal/chair", {"chair": refused}, locality)
        assert response.status_code == 409 and policy.partnership in response.json()["detail"]
    response = await service.act(reference, "appeal/chair", {"chair": chair}, locality)
    assert response.status_code == 200, response.text
    await service.wait_for(
        reference, lambda c: bool(service.outbox(reference, "appeal-bundle")), locality=locality
    )
    assert [m.recipient for m in service.outbox(reference, "appeal-bundle")] == [
        str(policy.appeal.chair(chair).email)
    ]
    response = await service.act(reference, "appeal/withdraw", {"reason": "Settled."}, locality)
    assert response.status_code == 200, response.text
    status = await service.result(reference)
    assert status.closed_reason.value == "appeal_withdrawn"


async def test_appeal_deadlines_over_christmas_skip_the_bank_holidays(fresh_clock: CaseService) -> None:
    service = fresh_clock
    now = await service.today()
    christmas = dt.date(now.year if (now.month, now.day) < (12, 15) else now.year + 1, 12, 25)
    reference = await to_not_met(service)
    await request_appeal(service, reference)
    await chair_asked_for(service, reference)
    # The chair is named three working days before Christmas: the acknowledgement's five working days
    # and the decision's twenty run over Christmas Day, Boxing Day and New Year's Day.
    named_on = working_days_before(christmas, 3, NATION)
    await service.travel_to(named_on)
    await act_ok(service, reference, "chair", {"chair": "melton-csp-chair"})
    case = await service.wait_for(reference, lambda c: c["appeal"]["deadlines"]["acknowledge_by"] is not None)
    acknowledge_by = dt.date.fromisoformat(case["appeal"]["deadlines"]["acknowledge_by"])
    assert acknowledge_by == add_working_days(named_on, 5, NATION)
    assert (acknowledge_by - named_on).days >= 9  # the weekend, Christmas Day and Boxing Day are skipped
    await act_ok(service, reference, "acknowledge", {})
    case = await service.wait_for(reference, lambda c: c["appeal"]["deadlines"]["decision_by"] is not None)
    decision_by = dt.date.fromisoformat(case["appeal"]["deadlines"]["decision_by"])
    assert decision_by == add_working_days(named_on, 20, NATION)
    assert dt.date(christmas.year + 1, 1, 1) < decision_by
    await act_ok(service, reference, "withdraw", {"reason": "Resolved over the holidays."})
    await service.result(reference)


async def test_a_chair_who_cannot_hear_it_is_replaced_before_acknowledging(service: CaseService) -> None:
    reference = await to_not_met(service)
    await request_appeal(service, reference)
    await chair_asked_for(service, reference)
    await act_ok(service, reference, "chair", {"chair": "melton-csp-chair"})
    await service.wait_for(reference, lambda c: c["appeal"]["deadlines"]["acknowledge_by"] is not None)
    first_link = link_in(service, reference, "csp.chair@melton.council.example")
    same = await service.act(reference, "appeal/chair", {"chair": "melton-csp-chair"})
    assert same.status_code == 409 and "already named" in same.json()["detail"]
    await act_ok(service, reference, "chair", {"chair": "rutland-csp-chair"})
    case = await service.wait_for(
        reference, lambda c: any("link 2" in e["event"] for e in c["appeal"]["chronology"])
    )
    assert case["appeal"]["chair"] == "Chair, Safer Rutland Partnership"
    async with service.browser() as first_chair:
        assert (await first_chair.get(first_link)).status_code == 404
    async with service.browser() as new_chair:
        opened = await new_chair.get(link_in(service, reference, "csp.chair@rutland.council.example"))
        assert opened.status_code == 303
    await act_ok(service, reference, "acknowledge", {})
    late = await service.act(reference, "appeal/chair", {"chair": "melton-csp-chair"})
    assert late.status_code == 409  # once acknowledged, the chair stays
    await act_ok(service, reference, "withdraw", {"reason": "Settled."})
    await service.result(reference)


async def test_a_new_bank_holiday_reaches_the_appeal_through_its_case(service: CaseService) -> None:
    reference = await to_not_met(service)
    await request_appeal(service, reference)
    await chair_asked_for(service, reference)
    await act_ok(service, reference, "chair", {"chair": "melton-csp-chair"})
    case = await service.wait_for(reference, lambda c: c["appeal"]["deadlines"]["acknowledge_by"] is not None)
    acknowledge_by = dt.date.fromisoformat(case["appeal"]["deadlines"]["acknowledge_by"])
    # A one-off bank holiday the day before the acknowledgement is due moves it a working day on.
    holiday = working_days_before(acknowledge_by, 1, NATION)
    installed = BankHolidays.installed(NATION, holiday)
    change = CalendarChange(
        bank_holidays=installed.model_copy(update={"days": sorted({*installed.days, holiday})}),
        reason="A one-off bank holiday.",
    )
    handle = service.env.client.get_workflow_handle(f"Case:{reference}")
    await handle.execute_update("calendar_changed", change, result_type=ActionResult)
    case = await service.wait_for(
        reference, lambda c: any("Bank holidays changed" in e["event"] for e in c["appeal"]["chronology"])
    )
    assert (
        case["appeal"]["deadlines"]["acknowledge_by"]
        == add_working_days(acknowledge_by, 1, NATION).isoformat()
    )
    await act_ok(service, reference, "withdraw", {"reason": "Settled."})
    await service.result(reference)
