"""What goes into and out of the case workflow: its input, the decisions it takes, what it records.

One model in, one model out, so fields can be added later without breaking running cases. Payloads ignore
fields they do not know, so that during a deploy a newer API and an older worker (or the reverse) can run
side by side; the API keeps its request bodies strict. No personal data of the victim travels through
workflow history: activities read the application from the database.
Decisions carry the staff member's words (reasons, findings), which the Temporal Web UI shows to
operations, so pages ask staff to keep personal details out of them.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from domain.calendar import WorkingCalendar, installed_calendar
from domain.decisions import ImpactStatementMethod, RejectionGround, ThresholdOutcome

CASE_WORKFLOW_ID_PREFIX = "Case:"


def case_workflow_id(reference: str) -> str:
    return f"{CASE_WORKFLOW_ID_PREFIX}{reference}"


class CaseStage(StrEnum):
    RECEIVED = "received"
    THRESHOLD_CHECK = "threshold_check"
    REVIEW = "review"
    APPEAL_WINDOW = "appeal_window"
    APPEAL = "appeal"
    CLOSED = "closed"


class ClosedReason(StrEnum):
    WITHDRAWN = "withdrawn"
    THRESHOLD_NOT_MET = "threshold_not_met"
    REJECTED = "rejected"
    REVIEW_COMPLETED = "review_completed"
    APPEAL_DECIDED = "appeal_decided"
    APPEAL_WITHDRAWN = "appeal_withdrawn"


class LetterCode(StrEnum):
    ACKNOWLEDGEMENT = "letter-1"
    THRESHOLD_MET = "letter-2a"
    THRESHOLD_NOT_MET = "letter-2b"
    REJECTION = "rejection"
    THRESHOLD_UPDATE = "update-threshold"
    OUTCOME = "letter-3"
    OUTCOME_UPDATE = "update-outcome"
    WITHDRAWAL = "withdrawal"
    APPEAL_RECEIVED = "appeal-received"
    # The appeal (workflows/appeal.py), LLR numbering: 4 acknowledgement, 5 criteria not met, 6 outcome.
    APPEAL_ACKNOWLEDGEMENT = "letter-4"
    APPEAL_CRITERIA_NOT_MET = "letter-5"
    APPEAL_OUTCOME = "letter-6"
    APPEAL_UPDATE = "update-appeal"
    APPEAL_WITHDRAWN = "appeal-withdrawn"


class _Model(BaseModel):
    # "ignore", never "forbid": a payload written by a newer version must still load in an older one.
    model_config = ConfigDict(extra="ignore", frozen=True)


class CaseRules(_Model):
    """The numbers a case runs by, copied from the locality's policy when it starts.

    A running case keeps the rules it started under, even if the policy file changes later.
    """

    nation: str
    acknowledge: int
    threshold_information: int
    threshold_decision: int
    threshold_update_interval: int
    review_information: int
    outcome: int
    outcome_update_interval: int
    appeal_window: int
    spoc_reminder_before: int
    # Added with agency links; cases that started before them take the policy defaults.
    agency_reminder_before: int = 2
    agency_link_valid_after_due: int = 15


# The years of bank holidays a new case is given: from the year before it was received (a paper
# application dated in late December) to three years on, longer than any case runs. The weekly calendar
# check extends them for a case that is still open.
YEARS_BEFORE = 1
YEARS_AHEAD = 3


class BankHolidays(_Model):
    """One nation's bank holidays for a span of years, as a case runs by them (see domain/calendar.py)."""

    nation: str
    first_year: int
    last_year: int
    days: list[dt.date]

    @classmethod
    def of(cls, calendar: WorkingCalendar) -> BankHolidays:
        return cls(
            nation=calendar.nation,
            first_year=calendar.first_year,
            last_year=calendar.last_year,
            days=sorted(calendar.holidays),
        )

    @classmethod
    def installed(cls, nation: str, around: dt.date) -> BankHolidays:
        """The installed bank holidays of `nation` for a case (or check) around the date given."""
        return cls.of(installed_calendar(nation, around.year - YEARS_BEFORE, around.year + YEARS_AHEAD))

    def calendar(self) -> WorkingCalendar:
        return WorkingCalendar(
            nation=self.nation,
            first_year=self.first_year,
            last_year=self.last_year,
            holidays=frozenset(self.days),
        )


class CaseInput(_Model):
    reference: str
    locality: str
    received_on: dt.date
    rules: CaseRules
    # Added with holidays in the input; cases started before it run by domain/legacy_bank_holidays.py.
    bank_holidays: BankHolidays | None = None


# ---- Decisions and arrangements from staff (Temporal updates) ----------------------------------


class Actor(_Model):
    """Who did it: a member of staff by id, or an agency (role "agency"); the chronology names them from
    their submission."""

    user_id: int | None = None
    name: str = Field(default="", max_length=200)
    role: str = Field(min_length=1, max_length=30)

    @property
    def label(self) -> str:
        if self.name:  # staff of cases from before, and agencies of cases from before
            return f"{self.name} ({self.role})"
        if self.user_id is not None:
            return f"staff #{self.user_id} ({self.role})"
        return self.role


# What the case workflow is told of each submission (domain/decisions.py): the enums, dates and counts it
# decides by, and the id of the submission that holds the texts. Cases started before submissions were
# kept in the database replay with the texts these models now ignore.


class ThresholdDecisionRecord(_Model):
    outcome: ThresholdOutcome
    below_threshold: bool = False
    rejection_ground: RejectionGround | None = None
    submission_id: int | None = None


class AgencyAnswerRecord(_Model):
    request_key: str = Field(min_length=1, max_length=120)
    received_by: Literal["api", "email_link", "phone", "email"] = "api"
    attachment_ids: list[int] = Field(default_factory=list, max_length=10)
    submission_id: int | None = None


class ResendRecord(_Model):
    request_key: str = Field(min_length=1, max_length=120)
    # True when the SPOC gave another address (kept in the submission).
    to_another_address: bool = False
    submission_id: int | None = None


class ExtendRecord(_Model):
    request_key: str = Field(min_length=1, max_length=120)
    due_on: dt.date
    submission_id: int | None = None


class WaiveRecord(_Model):
    request_key: str = Field(min_length=1, max_length=120)
    submission_id: int | None = None


class ReviewMeetingRecord(_Model):
    meeting_at: dt.datetime
    youth_offending_service_invited: bool = False
    submission_id: int | None = None


class ImpactStatementRecord(_Model):
    method: ImpactStatementMethod
    minutes: int | None = None
    submission_id: int | None = None


class PanelDecisionRecord(_Model):
    recommendation_count: int = 0
    submission_id: int | None = None


class WithdrawalRecord(_Model):
    requested_by: Literal["applicant", "spoc"] = "applicant"
    submission_id: int | None = None


class AppealRules(_Model):
    """The numbers and route an appeal runs by, copied from the locality's policy when it is requested."""

    route: str
    name_chair: int
    consent_chase_interval: int
    send_bundle: int
    acknowledge: int
    outcome: int
    update_interval: int
    spoc_reminder_before: int
    # The chair's link keeps working this many working days after the appeal's decision is due.
    link_valid_after_due: int


class AppealRequestRecord(_Model):
    received_on: dt.date
    submission_id: int | None = None
    # Added with the appeal workflow (cases from before leave them out): the policy's ground numbers
    # named, whether a representative's appeal still waits for the victim's consent, and the rules.
    # Not `grounds`: requests from before carried the applicant's grounds as text under that name.
    ground_numbers: list[int] = Field(default_factory=list)
    needs_consent: bool = False
    rules: AppealRules | None = None


class AppealOutcomeRecord(_Model):
    upheld: bool
    submission_id: int | None = None


class CalendarChange(_Model):
    """Bank holidays as the installed data now has them, sent to running cases by the calendar check."""

    bank_holidays: BankHolidays
    # Why, for the chronology: for example "holidays 0.110 adds 2027-06-04".
    reason: str = Field(default="The published bank holidays changed.", max_length=500)


class ActionResult(_Model):
    stage: CaseStage
    message: str


class CaseStatus(_Model):
    """What the workflow answers to the `status` query (no personal data)."""

    reference: str
    stage: CaseStage
    closed_reason: ClosedReason | None
    deadlines: dict[str, dt.date]
    open_requests: list[str]


# ---- What activities record -------------------------------------------------------------------


class ChronologyEvent(_Model):
    key: str
    at: dt.datetime
    actor: str
    event: str
    # The submission whose texts and author complete the entry (reasons, findings, who), added by the
    # activity: the history names staff only by id.
    submission_id: int | None = None


class CaseProgress(_Model):
    """One change to a case's record, written in one transaction with its chronology entries."""

    reference: str
    stage: CaseStage
    deadlines: dict[str, dt.date] = Field(default_factory=dict)
    next_deadline: dt.date | None = None
    next_deadline_step: str | None = None
    closed_reason: ClosedReason | None = None
    # Column name (threshold_decision, review_meeting, ...) -> the decision as JSON (cases from before
    # submissions), or {"submission_id": id}: the activity copies the submission into the column.
    decisions: dict[str, dict[str, object]] = Field(default_factory=dict)
    events: list[ChronologyEvent] = Field(default_factory=list)
    # Counts the workflow's records, 1, 2, ...: records scheduled in one workflow task run at once, and the
    # stage and deadlines of the latest must win whichever commits last. None from workers before it.
    version: int | None = None


class LetterRequest(_Model):
    reference: str
    code: LetterCode
    sequence: int = 1
    dated: dt.date
    # For update letters: when the next update or the decision is now expected.
    next_update_by: dt.date | None = None
    # Appeal letters go to the SPOC as well as the applicant.
    copy_to_spoc: bool = False


class LetterSent(_Model):
    code: LetterCode
    sequence: int
    channel: str
    status: str
    sent_on: dt.date


class InformationPurpose(StrEnum):
    THRESHOLD = "threshold"
    REVIEW = "review"


class OpenRequests(_Model):
    reference: str
    purpose: InformationPurpose
    requested_on: dt.date
    due_on: dt.date
    # For the links in the emails: they last this many working days after the due date.
    nation: str = "england-and-wales"
    link_valid_after_due: int = 15


class AgencyChase(_Model):
    """Chase one agency: a reminder before its answer is due, or on the due date (and tell the SPOC)."""

    reference: str
    request_key: str
    kind: Literal["reminder", "due"]
    due_on: dt.date
    dated: dt.date
    nation: str
    link_valid_after_due: int


class ChaseSent(_Model):
    agency_emailed: bool
    spoc_told: bool
    # Nothing was sent: the request was answered, or the case closed, while the chase was on its way.
    skipped: bool = False


class ResendInformationRequest(_Model):
    reference: str
    request_key: str
    # 1 for the first resend, 2 for the next: part of the email's outbox key.
    generation: int
    # Another address, from cases before submissions; now the submission (`submission_id`) holds it.
    to: str | None = None
    submission_id: int | None = None
    due_on: dt.date
    dated: dt.date
    nation: str
    link_valid_after_due: int


class CloseRequests(_Model):
    """The case closed: close its open information requests and tell their agencies."""

    reference: str


class RequestChange(_Model):
    """Record a new due date or a waiver of an information request."""

    reference: str
    request_key: str
    due_on: dt.date | None = None
    # A waiver: its reasons (cases before submissions) or the submission holding them.
    waived_reason: str | None = None
    waived: bool = False
    submission_id: int | None = None
    nation: str
    link_valid_after_due: int


class StaffNoticeKind(StrEnum):
    REMINDER = "reminder"
    ESCALATION = "escalation"
    # Every information request of a stage is answered or waived: the SPOC can decide.
    INFORMATION_COMPLETE = "information-complete"
    # An agency whose link no longer works asked for a new one.
    NEW_LINK_REQUESTED = "new-link-requested"
    # A representative's appeal waits for the victim's signed consent, which the SPOC is to obtain.
    APPEAL_CONSENT_NEEDED = "appeal-consent-needed"


class StaffNotice(_Model):
    """A reminder to the SPOC before a deadline, or an escalation to the SPOC and manager after it."""

    reference: str
    kind: StaffNoticeKind
    step: str
    due_on: dt.date
    sequence: int = 1
    dated: dt.date
    # Appeal steps the chair owns: the chair is reminded (and escalated to) as well.
    to_chair: bool = False


class CalendarCheckResult(_Model):
    """What the weekly bank-holiday check did."""

    open_cases: int
    updated: int
    unchanged: int
    # Cases the update could not reach (closed meanwhile, or not answering): tried again next week.
    not_reached: int


class OutboxSweepResult(_Model):
    """What one outbox sweep did with the API's emails that their requests could not send: counts only
    (whom they were to, and what they said, stay in the outbox)."""

    # Stalled when the sweep looked (at most a sweep's limit of them, oldest first).
    stalled: int = 0
    sent: int = 0
    # A temporary failure again: left for the next sweep.
    not_yet: int = 0
    # Failed for good (refused, or tried for too long): in the failed-mail list.
    failed: int = 0
    # Sent, or being sent, by someone else by the time the sweep came to it: not touched.
    left_alone: int = 0
    # Anything else (the database away, say): tried again by the next sweep.
    errors: int = 0
