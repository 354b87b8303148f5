"""The staff case page's view of a case: the JSON API's case view (api.views.case_view, the same code) laid
out for staff, with the timeline of stages and every deadline tagged done, due or overdue, the information
requests and the actions each allows, the agencies' answers, what the applicant added, the letters, the
appeal, the chronology by kind, and links to the action pages that fit the case's stage and the member of
staff's role."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import quote

from activities.letter_pdf import short_name
from api.appeal.views import paragraphs
from api.auth import Staff
from api.letter_resend import failed_letters
from api.staff import case_details
from api.staff.case_details import PURPOSES, attachments_url, day, when
from api.staff.dashboard import OPEN_REQUEST_STATES, STAGE_NAMES
from api.views import CaseView
from db.models import Case
from domain.staff import Permission, may
from workflows.models import CaseStage

CLOSED_REASONS = {
    "withdrawn": "The application was withdrawn",
    "threshold_not_met": "The threshold was not met, and no appeal was made",
    "rejected": "The application was rejected, and no appeal was made",
    "review_completed": "The review was completed, and no appeal was made",
    "appeal_decided": "The appeal was decided",
    "appeal_withdrawn": "The appeal was withdrawn",
}
REQUEST_STATES = {
    "requested": "Waiting for an answer",
    "no_contact": "No address: ask by hand",
    "answered": "Answered",
    "waived": "Going ahead without it",
}
ENDED_APPEAL_STAGES = ("appeal_decided", "appeal_withdrawn")


class DeadlineState(StrEnum):
    DONE = "done"
    DUE = "due"
    OVERDUE = "overdue"
    # The case closed before the step was needed.
    NOT_NEEDED = "not_needed"


def deadline_state(due_on: dt.date, *, done: bool, closed: bool, today: dt.date) -> DeadlineState:
    """A deadline on the timeline: done; not needed once the case has closed without it; overdue once its
    date has passed (the step was due by the end of it); otherwise due."""
    if done:
        return DeadlineState.DONE
    if closed:
        return DeadlineState.NOT_NEEDED
    return DeadlineState.OVERDUE if due_on < today else DeadlineState.DUE


@dataclass(frozen=True)
class Deadline:
    what: str
    due_on: dt.date
    state: DeadlineState
    # The day the step was done, when a letter or record says so.
    done_on: dt.date | None = None


@dataclass(frozen=True)
class TimelineStage:
    stage: str
    name: str
    # reached: the case is at this stage or went through it; current: the case is at it now.
    reached: bool
    current: bool
    deadlines: list[Deadline]


@dataclass(frozen=True)
class Action:
    text: str
    href: str


class ChronologyKind(StrEnum):
    STAGES = "stages"
    DECISIONS = "decisions"
    INFORMATION = "information"
    LETTERS = "letters"
    DEADLINES = "deadlines"
    APPEAL = "appeal"
    APPLICANT = "applicant"
    FAILED_MAIL = "failed-mail"
    OTHER = "other"


CHRONOLOGY_KINDS = {
    ChronologyKind.STAGES: "The case opening, moving on and closing",
    ChronologyKind.DECISIONS: "Decisions and arrangements",
    ChronologyKind.INFORMATION: "Information requests and answers",
    ChronologyKind.LETTERS: "Letters",
    ChronologyKind.DEADLINES: "Deadlines, reminders and escalations",
    ChronologyKind.APPEAL: "The appeal",
    ChronologyKind.APPLICANT: "From the applicant",
    ChronologyKind.FAILED_MAIL: "Emails that could not be delivered",
    ChronologyKind.OTHER: "Everything else",
}
# How an entry's words begin, by kind (the workflows write them: workflows/case.py and friends).
_BEGINNINGS = {
    ChronologyKind.STAGES: (
        "Application received",
        "Case moved to appeal",
        "Case closed",
        "The applicant may ask for an appeal until",
        "The appeal window ended",
    ),
    # "The applicant's Letter 1 ... was sent again": a failed letter sent again by staff (api.letter_resend).
    ChronologyKind.LETTERS: ("Letter ", "Sending letter", "The applicant's "),
    ChronologyKind.DEADLINES: (
        "Deadline ",
        "Waiting to ",
        "Reminder ",
        "Escalation ",
        "Bank holidays changed",
    ),
    ChronologyKind.DECISIONS: (
        "Threshold decision",
        "Review meeting",
        "Personal impact statement",
        "Panel decision",
        "Application withdrawn",
        "Request for appeal",
        "Appeal outcome recorded",
    ),
}


def chronology_kind(event_key: str, actor: str, event: str) -> ChronologyKind:
    """The kind of a chronology entry, from its key (appeal, failed mail, the applicant's information),
    who wrote it, and how its words begin: the chronology keeps no kind of its own."""
    if event_key.startswith("mail-failed:") or "could not be delivered" in event:
        return ChronologyKind.FAILED_MAIL
    if event_key.startswith("applicant-information:") or actor.endswith("(applicant)"):
        return ChronologyKind.APPLICANT
    if event_key.startswith("appeal-"):
        return ChronologyKind.APPEAL
    for kind, beginnings in _BEGINNINGS.items():
        if event.startswith(beginnings):
            return kind
    if "information request" in event.lower() or event.startswith(("Information requested", "Answer to")):
        return ChronologyKind.INFORMATION
    return ChronologyKind.OTHER


@dataclass(frozen=True)
class ChronologyRow:
    at: str
    actor: str
    event: str
    kind: ChronologyKind


@dataclass(frozen=True)
class CasePage:
    """Everything the case page shows; the texts as recorded (the template escapes them)."""

    view: CaseView
    council: str
    stage_name: str
    closed_reason: str | None
    applicant: dict[str, Any]
    incidents: list[dict[str, Any]]
    assessment: dict[str, Any]
    timeline: list[TimelineStage]
    requests: list[dict[str, Any]]
    answers: list[dict[str, Any]]
    # What the applicant added from their case page, each with its files.
    added_information: list[dict[str, Any]]
    decisions: dict[str, Any]
    letters: list[dict[str, Any]]
    appeal: dict[str, Any] | None
    chronology: list[ChronologyRow]
    chronology_kinds: list[tuple[str, str, int]]
    kind: str
    actions: list[Action]


def _letter_sent(case: Case, *codes: str) -> dt.date | None:
    sent = [letter.sent_on for letter in case.letters if letter.code in codes]
    return min(sent) if sent else None


def timeline(case: Case, today: dt.date) -> list[TimelineStage]:
    """The stages in order, each with its deadlines: the statutory steps of the case and of its appeal."""
    order = [stage.value for stage in CaseStage]
    at = order.index(case.stage) if case.stage in order else 0
    closed = case.stage == CaseStage.CLOSED.value
    appeal = case.appeal
    deadlines: dict[str, list[Deadline]] = {stage: [] for stage in order}

    def add(
        stage: str,
        what: str,
        due_on: dt.date | None,
        done_on: dt.date | None,
        done: bool,
        over: bool = closed,
    ) -> None:
        if due_on is not None:
            state = deadline_state(due_on, done=done, closed=over, today=today)
            deadlines[stage].append(Deadline(what, due_on, state, done_on if done else None))

    letter_1 = _letter_sent(case, "letter-1")
    add(
        "received",
        "Acknowledge the application (Letter 1)",
        case.acknowledge_by,
        letter_1,
        letter_1 is not None,
    )
    add(
        "threshold_check",
        "Tell the applicant whether the threshold is met (Letter 2a or 2b)",
        case.threshold_decision_by,
        _letter_sent(case, "letter-2a", "letter-2b", "rejection"),
        case.threshold_decision is not None,
    )
    add(
        "review",
        "Tell the applicant the outcome of the review (Letter 3)",
        case.outcome_by,
        _letter_sent(case, "letter-3"),
        case.panel_decision is not None,
    )
    # The applicant's window, not a step anyone owes: done once used or over.
    add(
        "appeal_window",
        "The applicant may ask for an appeal until",
        case.appeal_by,
        day((case.appeal_request or {}).get("received_on")),
        case.appeal_request is not None
        or at > order.index(CaseStage.APPEAL_WINDOW.value)
        or (case.appeal_by is not None and case.appeal_by < today),
    )
    if appeal is not None:
        # An appeal withdrawn, or decided on its grounds, needs none of its later steps.
        ended = closed or appeal.result is not None or appeal.stage in ENDED_APPEAL_STAGES
        add(
            "appeal",
            "Name who hears the appeal",
            appeal.name_chair_by,
            None,
            appeal.chair_key is not None,
            ended,
        )
        add(
            "appeal",
            "Send the chair the bundle",
            appeal.bundle_by,
            appeal.bundle_sent_on,
            appeal.bundle_sent_on is not None,
            ended,
        )
        add(
            "appeal",
            "The chair acknowledges the appeal (Letter 4)",
            appeal.acknowledge_by,
            _letter_sent(case, "letter-4"),
            appeal.acknowledgement is not None,
            ended,
        )
        add(
            "appeal",
            "The chair decides the appeal (Letter 5 or 6)",
            appeal.decision_by,
            _letter_sent(case, "letter-5", "letter-6"),
            appeal.result is not None and appeal.result != "withdrawn",
            ended,
        )
    return [
        TimelineStage(
            stage=stage,
            name=STAGE_NAMES[stage],
            reached=index <= at,
            current=index == at,
            deadlines=deadlines[stage],
        )
        for index, stage in enumerate(order)
    ]


def available_actions(case: Case, staff: Staff) -> list[Action]:
    """Links to the action pages that fit the case now, for what this member of staff may do (the page
    itself refuses an action that no longer fits)."""
    base = f"/staff/cases/{quote(case.reference)}"
    offered: list[tuple[Permission, str, str]] = []
    stage = case.stage
    appeal = case.appeal
    appeal_running = appeal is not None and appeal.stage not in ENDED_APPEAL_STAGES
    if stage == CaseStage.THRESHOLD_CHECK.value:
        offered.append((Permission.DECIDE_THRESHOLD, "Record the threshold decision", "threshold-decision"))
    if stage == CaseStage.REVIEW.value:
        offered += [
            (Permission.ARRANGE_REVIEW, "Record the review meeting", "review-meeting"),
            (Permission.ARRANGE_REVIEW, "Record the impact statement arrangement", "impact-statement"),
            (Permission.RECORD_PANEL_DECISION, "Record the panel's decision", "panel-decision"),
        ]
    if stage == CaseStage.APPEAL_WINDOW.value:
        offered.append((Permission.RECORD_APPEAL, "Record a request for appeal", "appeal-request"))
    if appeal_running and appeal is not None:
        offered += _appeal_actions(appeal.stage)
        offered.append((Permission.RECORD_APPEAL, "Withdraw the appeal", "appeal-withdraw"))
    elif stage == CaseStage.APPEAL.value:
        # An appeal that does not run as a workflow (from before it did, or ended by hand).
        offered.append((Permission.RECORD_APPEAL, "Record the appeal's outcome", "appeal-outcome"))
    if stage != CaseStage.CLOSED.value and not appeal_running:
        offered.append((Permission.WITHDRAW, "Withdraw the application", "withdraw"))
    # Open or closed: the applicant should have every letter.
    for letter in failed_letters(case):
        name = short_name(letter.code, letter.sequence)
        offered.append((Permission.RESEND_LETTERS, f"Send {name} again", f"resend-letter?letter={letter.id}"))
    return [
        Action(text, f"{base}/{slug}") for permission, text, slug in offered if may(staff.role, permission)
    ]


def _appeal_actions(appeal_stage: str) -> list[tuple[Permission, str, str]]:
    chair_link = [
        (Permission.RECORD_APPEAL, "Send the chair a new link", "appeal-chair-link-resend"),
        (Permission.RECORD_APPEAL, "Extend the chair's link", "appeal-chair-link-extend"),
    ]
    on_behalf = "on the chair's behalf"
    return {
        "appeal_consent_requested": [
            (Permission.RECORD_APPEAL, "Record the victim's consent", "appeal-consent"),
        ],
        "appeal_chair_requested": [
            (Permission.NAME_APPEAL_CHAIR, "Name who hears the appeal", "appeal-chair")
        ],
        "appeal_chair_named": [
            (Permission.RECORD_APPEAL, f"Record the acknowledgement {on_behalf}", "appeal-acknowledge"),
            (Permission.NAME_APPEAL_CHAIR, "Name another chair", "appeal-chair"),
            *chair_link,
        ],
        "appeal_acknowledged": [
            (Permission.RECORD_APPEAL, f"Record the decision on the grounds {on_behalf}", "appeal-criteria"),
            *chair_link,
        ],
        "appeal_panel": [
            (Permission.RECORD_APPEAL, f"Record the appeal panel {on_behalf}", "appeal-panel"),
            (Permission.RECORD_APPEAL, f"Record the appeal's outcome {on_behalf}", "appeal-decision"),
            *chair_link,
        ],
    }.get(appeal_stage, [])


def _requests(case: Case, view: CaseView, staff: Staff, today: dt.date) -> list[dict[str, Any]]:
    base = f"/staff/cases/{quote(case.reference)}"
    open_stage = case.stage in (CaseStage.THRESHOLD_CHECK.value, CaseStage.REVIEW.value)
    rows = []
    for request in view.information_requests:
        is_open = request.state in OPEN_REQUEST_STATES
        actions = []
        if is_open and open_stage:
            key = quote(request.request_key, safe="")
            for permission, text, slug in (
                (Permission.RECORD_AGENCY_RESPONSE, "Record answer", "agency-response"),
                (Permission.MANAGE_INFORMATION_REQUESTS, "Resend", "resend"),
                (Permission.MANAGE_INFORMATION_REQUESTS, "Extend", "extend"),
                (Permission.MANAGE_INFORMATION_REQUESTS, "Waive", "waive"),
            ):
                if may(staff.role, permission):
                    actions.append(Action(text, f"{base}/{slug}?request={key}"))
        rows.append(
            {
                "key": request.request_key,
                "agency": request.agency,
                "purpose": PURPOSES.get(request.purpose, request.purpose),
                "requested_on": request.requested_on,
                "due_on": request.due_on,
                "state": request.state,
                "state_name": REQUEST_STATES.get(request.state, request.state),
                "overdue": is_open and request.due_on < today,
                "delivery": request.delivery,
                "resent_count": request.resent_count,
                "actions": actions,
            }
        )
    return rows


def case_page(
    case: Case, view: CaseView, *, staff: Staff, council: str, today: dt.date, kind: str
) -> CasePage:
    """The page for `case`, whose JSON view is `view`; the chronology narrowed to `kind` (all when it is not
    one of the kinds)."""
    entries = [
        ChronologyRow(
            when(entry.at),
            entry.actor,
            entry.event,
            chronology_kind(entry.event_key, entry.actor, entry.event),
        )
        for entry in case.chronology
    ]
    counts = {k: sum(1 for entry in entries if entry.kind == k) for k in ChronologyKind}
    resendable = failed_letters(case) if may(staff.role, Permission.RESEND_LETTERS) else []
    chosen = kind if kind in CHRONOLOGY_KINDS else ""
    return CasePage(
        view=view,
        council=council,
        stage_name=STAGE_NAMES.get(case.stage, case.stage),
        closed_reason=CLOSED_REASONS.get(case.closed_reason or "", case.closed_reason),
        applicant=case_details.applicant(case.application),
        incidents=case_details.incidents(case.application, case.assessment),
        assessment=case_details.assessment(case.assessment),
        timeline=timeline(case, today),
        requests=_requests(case, view, staff, today),
        answers=case_details.answers(case, view),
        added_information=[
            {
                "submitted_at": when(added.submitted_at),
                "text": paragraphs(added.text),
                "attachments": [
                    {"filename": a.filename, "size": a.size, "href": f"{attachments_url(case)}/{a.id}"}
                    for a in added.attachments
                ],
            }
            for added in view.applicant_information
        ],
        decisions=case_details.decisions(case),
        letters=[
            {
                "id": letter.id,
                "subject": letter.subject,
                "code": letter.code,
                "sent_on": letter.sent_on,
                "channel": letter.channel,
                "status": letter.status,
                "has_pdf": letter.pdf_sha256 is not None,
                "posted_on": letter.posted_on,
                "resend_href": f"/staff/cases/{quote(case.reference)}/resend-letter?letter={letter.id}"
                if letter in resendable
                else None,
            }
            for letter in case.letters
        ],
        appeal=case_details.appeal(view),
        chronology=[entry for entry in entries if not chosen or entry.kind == chosen],
        chronology_kinds=[(k.value, CHRONOLOGY_KINDS[k], counts[k]) for k in ChronologyKind if counts[k]],
        kind=chosen,
        actions=available_actions(case, staff),
    )
