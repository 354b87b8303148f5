"""The applicant's case page as it needs the case (read in a thread): the stage and what happens next in
plain words, the deadlines, the letters, the action plan, the appeal, and which actions are open now."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from activities.case_files import appeal_summary
from db.models import Case, Letter
from domain.policy import LocalityPolicy

STAGES = {
    "received": "We have received your application",
    "threshold_check": "We are checking whether your case meets the threshold for a case review",
    "review": "Your case is being reviewed",
    "appeal_window": "A decision has been made: you can appeal against it",
    "appeal": "Your appeal is being heard",
    "closed": "Your case is closed",
}
APPEAL_ENDED = frozenset({"appeal_decided", "appeal_withdrawn"})
METHODS = {
    "written": "In writing",
    "in_person": "In person at the review meeting",
    "representative": "Through someone you name",
    "declined": "You chose not to give one",
}


@dataclass(frozen=True)
class CaseDetails:
    reference: str
    stage: str
    stage_text: str
    closed_reason: str | None
    received_on: dt.date
    deadlines: list[tuple[str, dt.date]]
    letters: list[dict[str, Any]]
    recommendations: list[dict[str, Any]]
    appeal: dict[str, Any] | None
    on_behalf_of: dict[str, Any] | None
    impact_statement: dict[str, Any] | None
    can_withdraw: bool
    can_appeal: bool
    can_choose_impact: bool
    # Information or a document about the ASB can be added at any stage until the case closes.
    can_add_information: bool
    appeal_running: bool
    appeal_by: dt.date | None
    notes: list[str] = field(default_factory=list)


def _recommendation(stored: dict[str, Any]) -> dict[str, Any]:
    """A row of the action plan as the page shows it: the decision's JSON keeps its date as ISO text."""
    due_on = stored.get("due_on")
    if isinstance(due_on, str):
        try:
            due_on = dt.date.fromisoformat(due_on)
        except ValueError:
            due_on = None
    return {**stored, "due_on": due_on}


def _deadlines(case: Case, appeal: dict[str, Any] | None) -> list[tuple[str, dt.date]]:
    rows: list[tuple[str, dt.date | None]] = []
    if case.stage in ("received", "threshold_check"):
        rows.append(("We will tell you whether your case meets the threshold by", case.threshold_decision_by))
    elif case.stage == "review":
        rows.append(("We will tell you the outcome of the review by", case.outcome_by))
    elif case.stage == "appeal_window":
        rows.append(("You can ask for an appeal until", case.appeal_by))
    if appeal is not None and case.stage == "appeal":
        rows.append(("Someone to hear your appeal will be named by", appeal["name_chair_by"]))
        rows.append(("The person hearing your appeal will write to you by", appeal["acknowledge_by"]))
        rows.append(("You will hear the appeal's decision by", appeal["decision_by"]))
    return [(label, day) for label, day in rows if day is not None]


def load_case(
    sessions: sessionmaker[Session], *, case_id: int, policy: LocalityPolicy, today: dt.date
) -> CaseDetails:
    with sessions() as session:
        case = session.get(Case, case_id)
        assert case is not None
        appeal = appeal_summary(case, policy)
        panel = case.panel_decision or {}
        appeal_running = appeal is not None and appeal["stage"] not in APPEAL_ENDED
        return CaseDetails(
            reference=case.reference,
            stage=case.stage,
            stage_text=STAGES.get(case.stage, case.stage),
            closed_reason=case.closed_reason,
            received_on=case.received_on,
            deadlines=_deadlines(case, appeal),
            letters=[
                {
                    "id": letter.id,
                    "subject": letter.subject,
                    "sent_on": letter.sent_on,
                    "channel": letter.channel,
                }
                for letter in case.letters
            ],
            recommendations=[
                _recommendation(r) for r in panel.get("recommendations") or [] if isinstance(r, dict)
            ],
            appeal=appeal,
            on_behalf_of=case.application.get("on_behalf_of"),
            impact_statement=case.impact_statement,
            can_withdraw=case.stage != "closed" and (case.stage != "appeal" or appeal_running),
            can_appeal=case.stage == "appeal_window"
            and case.appeal_by is not None
            and today <= case.appeal_by,
            can_choose_impact=case.stage == "review" and case.panel_decision is None,
            can_add_information=case.stage != "closed",
            appeal_running=appeal_running,
            appeal_by=case.appeal_by,
        )


def load_letter(sessions: sessionmaker[Session], *, case_id: int, letter_id: int) -> Letter | None:
    """A letter of this case only (None for any other's)."""
    with sessions() as session:
        letter = session.scalar(select(Letter).where(Letter.id == letter_id, Letter.case_id == case_id))
        if letter is not None:
            session.expunge(letter)
        return letter
