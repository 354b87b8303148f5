"""The staff dashboard's query: the cases a member of staff may see, in the order their steps fall due, each
tagged (overdue, due within 5 working days, waiting on agencies, waiting on the applicant), with counts by
stage, filters (locality, stage, overdue), search by reference or name, and pages read from the indexes.

The order is the step's own due date (`Case.step_due_on`), earliest first, so a late step comes before
every step still to fall due; cases waiting on no deadline (closed, or just received) follow, newest first.
Pages are keyset pages: a cursor names the row a page starts after (or ends before), never an offset, so
page 400 costs what page 1 does. Each locality is read on its own from the index `(locality, step_due_on,
id)` and the pages merged: a SPOC of one locality reads one index range; a county team of ten reads ten.
"""

from __future__ import annotations

import datetime as dt
import heapq
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeAlias

from sqlalchemy import ColumnElement, Select, and_, false, func, or_, select, tuple_
from sqlalchemy.orm import Session, aliased

from api.auth import Scope, Staff, scope_of
from api.link_pages import FormError
from db.models import Appeal, Case, InformationRequest
from domain.calendar import add_working_days
from domain.case_index import name_search_key
from domain.policy import LocalityPolicy
from domain.staff import Role
from workflows.models import CaseStage

PAGE_SIZE = 25
DUE_SOON_WORKING_DAYS = 5
# How many late cases a manager sees listed as escalated to them (the rest are a filter away).
ESCALATIONS_SHOWN = 10
LONGEST_SEARCH = 100
# An information request still waiting for its agency (no_contact: the SPOC must find an address).
OPEN_REQUEST_STATES = ("requested", "no_contact")

STAGE_NAMES = {
    CaseStage.RECEIVED.value: "Received",
    CaseStage.THRESHOLD_CHECK.value: "Threshold check",
    CaseStage.REVIEW.value: "Case review",
    CaseStage.APPEAL_WINDOW.value: "Appeal window",
    CaseStage.APPEAL.value: "Appeal",
    CaseStage.CLOSED.value: "Closed",
}
# The step a case waits on (`next_deadline_step`), as staff call it.
STEP_NAMES = {
    "threshold_decision": "Threshold decision (Letter 2a or 2b)",
    "outcome": "Review outcome (Letter 3)",
    "appeal_by": "End of the appeal window",
    "appeal_consent": "Victim's consent to the appeal",
    "appeal_chair": "Name who hears the appeal",
    "appeal_acknowledge": "Chair acknowledges the appeal (Letter 4)",
    "appeal_decision": "Appeal decision (Letter 5 or 6)",
}
# The stage whose information requests a case waits on at each stage.
REQUEST_PURPOSE_AT = {CaseStage.THRESHOLD_CHECK.value: "threshold", CaseStage.REVIEW.value: "review"}


class Tag(StrEnum):
    OVERDUE = "overdue"
    DUE_SOON = "due_soon"
    WAITING_ON_AGENCIES = "waiting_on_agencies"
    WAITING_ON_APPLICANT = "waiting_on_applicant"


TAG_NAMES = {
    Tag.OVERDUE: "Overdue",
    Tag.DUE_SOON: f"Due within {DUE_SOON_WORKING_DAYS} working days",
    Tag.WAITING_ON_AGENCIES: "Waiting on agencies",
    Tag.WAITING_ON_APPLICANT: "Waiting on the applicant",
}


# ---- who sees which cases ------------------------------------------------------------------------


# ---- filters ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    """What the dashboard is narrowed to. `search` is a reference (or part of one) or a name."""

    locality: str = ""
    stage: str = ""
    overdue: bool = False
    search: str = ""

    @property
    def as_query(self) -> dict[str, str]:
        """The filters that may go in an address (never the search: it may be a name)."""
        query = {"locality": self.locality, "stage": self.stage, "overdue": "yes" if self.overdue else ""}
        return {name: value for name, value in query.items() if value}


def read_filters(fields: Mapping[str, str], scope: Scope) -> tuple[Filters, list[FormError]]:
    """The filters as given (from the address or the search form), and what is wrong with them: a
    value that cannot be used is dropped, with a message saying what to choose instead."""
    errors: list[FormError] = []
    locality = fields.get("locality", "").strip()
    if locality and locality not in scope.localities:
        errors.append(FormError("locality", "Choose one of your councils"))
        locality = ""
    stage = fields.get("stage", "").strip()
    if stage and stage not in STAGE_NAMES:
        errors.append(FormError("stage", "Choose a stage from the list"))
        stage = ""
    search = " ".join(fields.get("search", "").split())
    if len(search) > LONGEST_SEARCH:
        errors.append(FormError("search", f"Search must be {LONGEST_SEARCH} characters or fewer"))
        search = ""
    overdue = fields.get("overdue", "") == "yes"
    return Filters(locality=locality, stage=stage, overdue=overdue, search=search), errors


# ---- where a case sits in the order -------------------------------------------------------------

_CURSOR = re.compile(r"^(?:(\d{4}-\d{2}-\d{2})|u)\.(\d{1,12})$")


@dataclass(frozen=True, order=True)
class Position:
    """A case's place in the dashboard's order: dated cases by due date then id, then undated cases,
    newest first. As a cursor: `2026-12-01.123`, or `u.123` for an undated case."""

    undated: bool
    due_on: dt.date
    rank: int

    @classmethod
    def of(cls, case_id: int, due_on: dt.date | None) -> Position:
        if due_on is None:
            return cls(True, dt.date.min, -case_id)
        return cls(False, due_on, case_id)

    @property
    def case_id(self) -> int:
        return -self.rank if self.undated else self.rank

    @property
    def cursor(self) -> str:
        return f"u.{self.case_id}" if self.undated else f"{self.due_on.isoformat()}.{self.case_id}"

    @classmethod
    def from_cursor(cls, cursor: str | None) -> Position | None:
        """The position a cursor names; None for anything else (the first page is shown instead)."""
        match = _CURSOR.match(cursor or "")
        if match is None:
            return None
        day, case_id = match.groups()
        if day is None:
            return cls.of(int(case_id), None)
        try:
            return cls.of(int(case_id), dt.date.fromisoformat(day))
        except ValueError:
            return None


# ---- the query -----------------------------------------------------------------------------------

# A query of the row's columns, narrowed to one locality and the filters.
RowQuery: TypeAlias = Select[*tuple[Any, ...]]

# Only the columns a row needs: a case's application, letters and chronology stay unread.
_ROW = (
    Case.id,
    Case.reference,
    Case.locality,
    Case.stage,
    Case.closed_reason,
    Case.received_on,
    Case.step_due_on,
    Case.next_deadline_step,
)


def _like(text: str) -> str:
    """`text` anywhere in a column, with LIKE's own characters taken literally."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _conditions(scope: Scope, filters: Filters, today: dt.date) -> list[ColumnElement[bool]]:
    """What every case of the page matches, besides its locality (each locality is read on its own)."""
    conditions: list[ColumnElement[bool]] = []
    if scope.appeals_only:
        conditions.append(Case.id.in_(select(Appeal.case_id)))
    if filters.stage:
        conditions.append(Case.stage == filters.stage)
    if filters.overdue:
        conditions.append(Case.step_due_on < today)
    if filters.search:
        conditions.append(Case.id.in_(_found(_localities(scope, filters), filters.search)))
    return conditions


def _found(localities: Sequence[str], search: str) -> Select[int]:
    """The ids of the cases whose reference holds `search`, or whose names hold each of its words. Read
    from the narrow index `(locality, applicant_name_search, reference, id)` alone, so that a search looks at
    no case's row but those it finds (a name matches anywhere in it, which no index can seek)."""
    searched = aliased(Case)
    words = name_search_key(search).split()
    by_name = and_(*(searched.applicant_name_search.like(_like(word), escape="\\") for word in words))
    by_reference = searched.reference.like(_like(search.upper()), escape="\\")
    return select(searched.id).where(
        searched.locality.in_(localities), or_(by_reference, by_name) if words else by_reference
    )


def _localities(scope: Scope, filters: Filters) -> tuple[str, ...]:
    return (filters.locality,) if filters.locality else scope.localities


def _read_ahead(
    session: Session, base: RowQuery, after: Position | None, limit: int
) -> list[tuple[Position, Any]]:
    """Up to `limit` rows of one locality after `after`, in the dashboard's order."""
    rows: list[Any] = []
    if after is None or not after.undated:
        dated = base.where(Case.step_due_on.is_not(None))
        if after is not None:
            dated = dated.where(tuple_(Case.step_due_on, Case.id) > tuple_(after.due_on, after.case_id))
        rows += session.execute(dated.order_by(Case.step_due_on, Case.id).limit(limit)).all()
    if len(rows) < limit:
        undated = base.where(Case.step_due_on.is_(None))
        if after is not None and after.undated:
            undated = undated.where(Case.id < after.case_id)
        rows += session.execute(undated.order_by(Case.id.desc()).limit(limit - len(rows))).all()
    return [(Position.of(row.id, row.step_due_on), row) for row in rows]


def _read_back(session: Session, base: RowQuery, before: Position, limit: int) -> list[tuple[Position, Any]]:
    """Up to `limit` rows of one locality before `before`, nearest first."""
    rows: list[Any] = []
    if before.undated:
        undated = base.where(Case.step_due_on.is_(None), Case.id > before.case_id)
        rows += session.execute(undated.order_by(Case.id).limit(limit)).all()
    if len(rows) < limit:
        dated = base.where(Case.step_due_on.is_not(None))
        if not before.undated:
            dated = dated.where(tuple_(Case.step_due_on, Case.id) < tuple_(before.due_on, before.case_id))
        order = (Case.step_due_on.desc(), Case.id.desc())
        rows += session.execute(dated.order_by(*order).limit(limit - len(rows))).all()
    return [(Position.of(row.id, row.step_due_on), row) for row in rows]


@dataclass(frozen=True)
class Page:
    rows: list[Any]
    next_cursor: str | None
    previous_cursor: str | None


def read_page(
    session: Session,
    *,
    scope: Scope,
    filters: Filters,
    today: dt.date,
    after: Position | None = None,
    before: Position | None = None,
    size: int = PAGE_SIZE,
) -> Page:
    """One page of the cases `scope` may see that match `filters`: after `after`, before `before`, or the
    first page."""
    conditions = _conditions(scope, filters, today)
    backwards = before is not None and after is None
    found: list[list[tuple[Position, Any]]] = []
    for locality in _localities(scope, filters):
        base = select(*_ROW).where(Case.locality == locality, *conditions)
        if backwards:
            assert before is not None
            found.append(_read_back(session, base, before, size + 1))
        else:
            found.append(_read_ahead(session, base, after, size + 1))
    if backwards:
        merged = list(heapq.merge(*found, key=lambda item: item[0], reverse=True))[: size + 1]
        more_before = len(merged) > size
        page = list(reversed(merged[:size]))
        if not page:  # nothing before it any more (cases moved on): the first page
            return read_page(session, scope=scope, filters=filters, today=today, size=size)
        return Page(
            rows=[row for _, row in page],
            next_cursor=page[-1][0].cursor if page else None,
            previous_cursor=page[0][0].cursor if page and more_before else None,
        )
    merged = list(heapq.merge(*found, key=lambda item: item[0]))[: size + 1]
    page = merged[:size]
    return Page(
        rows=[row for _, row in page],
        next_cursor=page[-1][0].cursor if len(merged) > size else None,
        previous_cursor=page[0][0].cursor if page and after is not None else None,
    )


# ---- the dashboard --------------------------------------------------------------------------------


@dataclass(frozen=True)
class DashboardCase:
    """One case as the dashboard lists it."""

    reference: str
    locality: str
    council: str
    applicant: str
    stage: str
    stage_name: str
    closed_reason: str | None
    received_on: dt.date
    step_name: str
    due_on: dt.date | None
    tags: tuple[Tag, ...]


@dataclass(frozen=True)
class StageCount:
    stage: str
    name: str
    count: int


@dataclass(frozen=True)
class Dashboard:
    cases: list[DashboardCase]
    # Cases matching every filter (the search too).
    matching: int
    # The localities shown (all of the member's, or the one chosen), stage by stage, and what is late.
    stage_counts: list[StageCount]
    total: int
    overdue: int
    due_soon: int
    next_cursor: str | None
    previous_cursor: str | None
    # For a manager: the late cases, whose SPOC and manager have been sent an escalation.
    escalations: list[DashboardCase] = field(default_factory=list)


def due_soon_by(
    policies: Mapping[str, LocalityPolicy], localities: Iterable[str], today: dt.date
) -> dict[str, dt.date]:
    """The last day that counts as due soon in each locality: 5 working days on, in its nation's calendar."""
    return {
        locality: add_working_days(today, DUE_SOON_WORKING_DAYS, policies[locality].nation)
        for locality in localities
        if locality in policies
    }


def _count(session: Session, *conditions: ColumnElement[bool]) -> int:
    return int(session.scalar(select(func.count()).select_from(Case).where(*conditions)) or 0)


def _describe(
    session: Session,
    rows: Sequence[Any],
    policies: Mapping[str, LocalityPolicy],
    soon_by: Mapping[str, dt.date],
    today: dt.date,
) -> list[DashboardCase]:
    """The page's rows with their applicant's name and tags (three small queries for the whole page)."""
    ids = [row.id for row in rows]
    if not ids:
        return []
    applications: dict[int, Any] = dict(
        session.execute(select(Case.id, Case.application).where(Case.id.in_(ids))).all()
    )
    awaited: set[tuple[int, str]] = set(
        session.execute(
            select(InformationRequest.case_id, InformationRequest.purpose).where(
                InformationRequest.case_id.in_(ids), InformationRequest.state.in_(OPEN_REQUEST_STATES)
            )
        ).all()
    )
    appeal_stages = dict(
        session.execute(select(Appeal.case_id, Appeal.stage).where(Appeal.case_id.in_(ids))).all()
    )
    described = []
    for row in rows:
        tags: list[Tag] = []
        if row.step_due_on is not None and row.step_due_on < today:
            tags.append(Tag.OVERDUE)
        elif row.step_due_on is not None and row.step_due_on <= soon_by.get(row.locality, today):
            tags.append(Tag.DUE_SOON)
        purpose = REQUEST_PURPOSE_AT.get(row.stage)
        if purpose and (row.id, purpose) in awaited:
            tags.append(Tag.WAITING_ON_AGENCIES)
        if (
            row.stage == CaseStage.APPEAL_WINDOW.value
            or appeal_stages.get(row.id) == "appeal_consent_requested"
        ):
            tags.append(Tag.WAITING_ON_APPLICANT)
        applicant = (applications.get(row.id) or {}).get("applicant") or {}
        policy = policies.get(row.locality)
        described.append(
            DashboardCase(
                reference=row.reference,
                locality=row.locality,
                council=policy.council if policy else row.locality,
                applicant=str(applicant.get("name") or ""),
                stage=row.stage,
                stage_name=STAGE_NAMES.get(row.stage, row.stage),
                closed_reason=row.closed_reason,
                received_on=row.received_on,
                step_name=STEP_NAMES.get(row.next_deadline_step or "", ""),
                due_on=row.step_due_on,
                tags=tuple(tags),
            )
        )
    return described


def load_dashboard(
    session: Session,
    *,
    staff: Staff,
    policies: Mapping[str, LocalityPolicy],
    today: dt.date,
    filters: Filters,
    after: Position | None = None,
    before: Position | None = None,
) -> Dashboard:
    scope = scope_of(staff)
    localities = _localities(scope, filters)
    soon_by = due_soon_by(policies, localities, today)
    page = read_page(session, scope=scope, filters=filters, today=today, after=after, before=before)

    # The counts are of the localities shown, whatever the other filters: they say where the work is.
    shown: list[ColumnElement[bool]] = [Case.locality.in_(localities) if localities else false()]
    if scope.appeals_only:
        shown.append(Case.id.in_(select(Appeal.case_id)))
    by_stage: dict[str, int] = {
        stage: count
        for stage, count in session.execute(
            select(Case.stage, func.count()).where(*shown).group_by(Case.stage)
        )
    }
    due_soon = sum(
        _count(
            session, *shown, Case.locality == locality, Case.step_due_on >= today, Case.step_due_on <= last
        )
        for locality, last in soon_by.items()
    )
    overdue = _count(session, *shown, Case.step_due_on < today)
    # How many match: known already, unless the filters combine or search.
    if filters.search or (filters.stage and filters.overdue):
        matching = _count(session, *shown, *_conditions(scope, filters, today))
    elif filters.stage:
        matching = by_stage.get(filters.stage, 0)
    else:
        matching = overdue if filters.overdue else sum(by_stage.values())
    escalations: list[DashboardCase] = []
    if staff.role == Role.MANAGER:
        late = read_page(
            session,
            scope=scope,
            filters=Filters(locality=filters.locality, overdue=True),
            today=today,
            size=ESCALATIONS_SHOWN,
        )
        escalations = _describe(session, late.rows, policies, soon_by, today)
    return Dashboard(
        cases=_describe(session, page.rows, policies, soon_by, today),
        matching=matching,
        stage_counts=[StageCount(stage, name, by_stage.get(stage, 0)) for stage, name in STAGE_NAMES.items()],
        total=sum(by_stage.values()),
        overdue=overdue,
        due_soon=due_soon,
        next_cursor=page.next_cursor,
        previous_cursor=page.previous_cursor,
        escalations=escalations,
    )
