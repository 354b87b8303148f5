"""Loads what the yearly figures are counted from (domain/figures.py): each case's dates, outcomes and
deadlines, its appeal and its agencies' answer dates; and who gets a locality's figures by email.

Only columns are read, never whole cases with their chronology: a year of an area is a few hundred rows,
and nothing personal leaves this module but the managers' names and addresses for the email.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.models import Appeal, Case, InformationRequest, Letter, StaffLocality, StaffUser, Submission
from domain.calendar import london_date
from domain.figures import (
    AppealFacts,
    Area,
    CaseFacts,
    ReportingYear,
    ThresholdResult,
    YearlyFigures,
    compute_figures,
)
from domain.policy import LocalityPolicy
from domain.staff import Role

# The letters whose dates the figures count by (workflows.models.LetterCode's values).
THRESHOLD_LETTERS = {
    "letter-2a": ThresholdResult.MET,
    "letter-2b": ThresholdResult.NOT_MET,
    "rejection": ThresholdResult.REJECTED,
}
ACKNOWLEDGEMENT, OUTCOME, WITHDRAWAL = "letter-1", "letter-3", "withdrawal"
APPEAL_ACKNOWLEDGEMENT, APPEAL_WITHDRAWN = "letter-4", "appeal-withdrawn"
# Letter 5 (the appeal does not meet the grounds) or Letter 6 (its outcome).
APPEAL_LETTERS = ("letter-5", "letter-6")
COUNTED_LETTERS = (
    *THRESHOLD_LETTERS,
    ACKNOWLEDGEMENT,
    OUTCOME,
    WITHDRAWAL,
    APPEAL_ACKNOWLEDGEMENT,
    *APPEAL_LETTERS,
    APPEAL_WITHDRAWN,
)


def case_facts(session: Session, nations: Mapping[str, str], year: ReportingYear) -> list[CaseFacts]:
    """The facts of every case of these localities (locality -> its nation) that could count in `year`:
    those received by its last day (a case received earlier may be decided or appealed in it)."""
    in_scope = (Case.locality.in_(list(nations)), Case.received_on <= year.last_day)
    cases = session.execute(
        select(
            Case.id,
            Case.locality,
            Case.received_on,
            Case.acknowledge_by,
            Case.threshold_decision_by,
            Case.outcome_by,
            Case.panel_decision,
            Case.appeal_request,
            Case.appeal_outcome,
        ).where(*in_scope)
    ).all()
    letters: dict[int, dict[str, dt.date]] = {}
    for case_id, code, sent_on in session.execute(
        select(Letter.case_id, Letter.code, Letter.sent_on)
        .join(Case, Case.id == Letter.case_id)
        .where(*in_scope, Letter.code.in_(COUNTED_LETTERS))
        .order_by(Letter.sequence)
    ):
        # Each counted letter goes once; should one repeat, its first sending counts.
        letters.setdefault(case_id, {}).setdefault(code, sent_on)
    appeals = {
        row.case_id: row
        for row in session.execute(
            select(Appeal.case_id, Appeal.received_on, Appeal.result, Appeal.decision_by)
            .join(Case, Case.id == Appeal.case_id)
            .where(*in_scope)
        )
    }
    answers: dict[int, list[tuple[dt.date, dt.date]]] = {}
    for case_id, requested_on, answered_on in session.execute(
        select(InformationRequest.case_id, InformationRequest.requested_on, InformationRequest.answered_on)
        .join(Case, Case.id == InformationRequest.case_id)
        .where(*in_scope, InformationRequest.answered_on.between(year.first_day, year.last_day))
        .order_by(InformationRequest.id)
    ):
        if answered_on is not None:
            answers.setdefault(case_id, []).append((requested_on, answered_on))
    # Appeals the SPOC recorded the outcome of (before appeals ran as workflows): the day it was recorded.
    recorded_outcomes = {
        case_id: london_date(at)
        for case_id, at in session.execute(
            select(Submission.case_id, func.max(Submission.submitted_at))
            .join(Case, Case.id == Submission.case_id)
            .where(*in_scope, Submission.kind == "appeal_outcome")
            .group_by(Submission.case_id)
        )
    }
    facts = []
    for case in cases:
        sent = letters.get(case.id, {})
        threshold = next(((code, day) for code, day in sent.items() if code in THRESHOLD_LETTERS), None)
        facts.append(
            CaseFacts(
                nation=nations[case.locality],
                received_on=case.received_on,
                acknowledge_by=case.acknowledge_by,
                threshold_decision_by=case.threshold_decision_by,
                outcome_by=case.outcome_by,
                acknowledged_on=sent.get(ACKNOWLEDGEMENT),
                threshold_result=THRESHOLD_LETTERS[threshold[0]] if threshold else None,
                threshold_decided_on=threshold[1] if threshold else None,
                outcome_on=sent.get(OUTCOME),
                recommendations=_recommendations(case.panel_decision),
                withdrawn_on=sent.get(WITHDRAWAL),
                appeal=_appeal_facts(case, appeals.get(case.id), sent, recorded_outcomes.get(case.id)),
                agency_answers=tuple(answers.get(case.id, ())),
            )
        )
    return facts


def _recommendations(panel_decision: dict[str, Any] | None) -> int:
    recommendations = (panel_decision or {}).get("recommendations")
    return len(recommendations) if isinstance(recommendations, list) else 0


def _appeal_facts(
    case: Any, appeal: Any, sent: dict[str, dt.date], recorded_on: dt.date | None
) -> AppealFacts | None:
    """The case's appeal: its own row (appeals run as workflows), or the request and outcome recorded on
    the case (before they did, or when an appeal's workflow was ended by hand)."""
    request = case.appeal_request or {}
    if appeal is not None:
        received_on = appeal.received_on
    elif isinstance(request.get("received_on"), str):
        received_on = dt.date.fromisoformat(request["received_on"])
    else:
        return None
    outcome = case.appeal_outcome or {}
    decided_on = next((sent[code] for code in APPEAL_LETTERS if code in sent), None)
    upheld = appeal is not None and appeal.result == "upheld"
    if outcome:
        decided_on = decided_on or recorded_on
        upheld = upheld or outcome.get("upheld") is True
    return AppealFacts(
        received_on=received_on,
        acknowledged_on=sent.get(APPEAL_ACKNOWLEDGEMENT),
        decision_by=appeal.decision_by if appeal is not None else None,
        decided_on=decided_on,
        upheld=upheld,
        withdrawn_on=sent.get(APPEAL_WITHDRAWN),
    )


def first_received_on(session: Session, localities: list[str]) -> dt.date | None:
    """The day the earliest application of these localities was received (None: none yet)."""
    first: dt.date | None = session.scalar(
        select(func.min(Case.received_on)).where(Case.locality.in_(localities))
    )
    return first


@dataclass(frozen=True)
class Manager:
    name: str
    email: str


def managers_of(session: Session, locality: str) -> list[Manager]:
    """The locality's active managers (staff with the manager role for it), by address."""
    return [
        Manager(name, email)
        for name, email in session.execute(
            select(StaffUser.name, StaffUser.email)
            .join(StaffLocality, StaffLocality.user_id == StaffUser.id)
            .where(
                StaffLocality.locality == locality,
                StaffUser.role == Role.MANAGER.value,
                StaffUser.active.is_(True),
            )
            .order_by(StaffUser.email)
        )
    ]


def figures_for(
    session: Session, area: Area, policies: Mapping[str, LocalityPolicy], year: ReportingYear, as_of: dt.date
) -> YearlyFigures:
    """The area's figures for the year, as they stood on `as_of`."""
    nations = {key: policies[key].nation for key in area.localities}
    return compute_figures(case_facts(session, nations, year), year, as_of)
