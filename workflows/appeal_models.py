"""What goes into and out of the appeal workflow: its input, the decisions of the chair and the SPOC, and
what its activities record and send.

As for the case (workflows/models.py): payloads ignore fields they do not know, and no personal data or
staff's words travel through workflow history. Each decision carries the enums and dates the workflow
decides by and the id of the submission (table `submissions`) that holds its texts.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from workflows.models import AppealRules, BankHolidays, ChronologyEvent

APPEAL_WORKFLOW_ID_PREFIX = "Appeal:"


def appeal_workflow_id(reference: str) -> str:
    return f"{APPEAL_WORKFLOW_ID_PREFIX}{reference}"


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class AppealStage(StrEnum):
    """Where an appeal is; also its workflow's `CaseStage` search attribute."""

    # A representative's appeal, waiting for the victim's signed consent.
    CONSENT_REQUESTED = "appeal_consent_requested"
    # Waiting for the policy's contact (LLR: the county team) or the SPOC to name who hears it.
    CHAIR_REQUESTED = "appeal_chair_requested"
    # The chair is named and has the bundle (or it is on its way): waiting for Letter 4.
    CHAIR_NAMED = "appeal_chair_named"
    # Letter 4 sent: waiting for the chair to decide whether the appeal meets the grounds.
    ACKNOWLEDGED = "appeal_acknowledged"
    # The grounds are met: the appeal panel meets, and the chair gives the outcome (Letter 6).
    PANEL = "appeal_panel"
    DECIDED = "appeal_decided"
    WITHDRAWN = "appeal_withdrawn"


OPEN_STAGES = tuple(
    stage for stage in AppealStage if stage not in (AppealStage.DECIDED, AppealStage.WITHDRAWN)
)


class AppealResult(StrEnum):
    CRITERIA_NOT_MET = "criteria_not_met"
    UPHELD = "upheld"
    NOT_UPHELD = "not_upheld"
    WITHDRAWN = "withdrawn"


class AppealInput(_Model):
    reference: str
    locality: str
    # The day the written request arrived.
    received_on: dt.date
    rules: AppealRules
    # The request itself is in the database (the case's `appeal_request`); this is its submission.
    request_submission_id: int | None = None
    grounds: list[int] = Field(default_factory=list)
    needs_consent: bool = False
    # The case's bank holidays when the appeal began; a calendar change reaches the appeal too.
    bank_holidays: BankHolidays


class AppealStatus(_Model):
    """What the appeal workflow answers to `status`, and returns when it ends."""

    reference: str
    stage: AppealStage
    result: AppealResult | None = None
    chair_key: str | None = None
    deadlines: dict[str, dt.date] = Field(default_factory=dict)


class AppealActionResult(_Model):
    stage: AppealStage
    message: str


# ---- decisions (updates) -----------------------------------------------------------------------


class AppealConsentRecord(_Model):
    received_on: dt.date
    submission_id: int | None = None


class ChairRecord(_Model):
    chair_key: str = Field(min_length=1, max_length=80)
    submission_id: int | None = None


class AppealWithdrawalRecord(_Model):
    requested_by: Literal["applicant", "spoc"] = "applicant"
    submission_id: int | None = None


class ChairLinkRecord(_Model):
    """Resend the chair's link (a new one; earlier ones stop working), or keep it working longer."""

    kind: Literal["resend", "extend"]
    valid_until: dt.date | None = None
    submission_id: int | None = None


class AcknowledgementRecord(_Model):
    submission_id: int | None = None


class CriteriaRecord(_Model):
    met: bool
    has_lessons: bool = False
    submission_id: int | None = None


class AppealPanelRecord(_Model):
    meeting_at: dt.datetime
    submission_id: int | None = None


class AppealDecisionRecord(_Model):
    upheld: bool
    recommendation_count: int = 0
    has_lessons: bool = False
    submission_id: int | None = None


# ---- what activities record and send -----------------------------------------------------------


class AppealProgress(_Model):
    """One change to an appeal's record (table `appeals`), written with its chronology entries, which go
    into the case's chronology."""

    reference: str
    # The workflow's count of records so far: a write older than the one stored is not applied over it.
    version: int = 0
    stage: AppealStage
    result: AppealResult | None = None
    received_on: dt.date
    route: str
    grounds: list[int] = Field(default_factory=list)
    needs_consent: bool = False
    request_submission_id: int | None = None
    chair_key: str | None = None
    deadlines: dict[str, dt.date] = Field(default_factory=dict)
    next_deadline: dt.date | None = None
    next_deadline_step: str | None = None
    # Column (consent, chair, acknowledgement, criteria, panel, decision, withdrawal) -> submission id:
    # the activity copies the submission's body into the column.
    submissions: dict[str, int] = Field(default_factory=dict)
    events: list[ChronologyEvent] = Field(default_factory=list)


class ChairNamingEmail(_Model):
    """Ask the policy's contact to name who hears the appeal (with a link to do it), or chase them."""

    reference: str
    kind: Literal["request", "reminder", "overdue"]
    sequence: int
    due_on: dt.date
    dated: dt.date
    # The contact's link works until the end of this day (after a chair is named it shows who was named).
    valid_until: dt.date


class BundleEmail(_Model):
    """Send the chair the bundle: an email with a link to the chair's page (a new link each generation)."""

    reference: str
    chair_key: str
    # 0 for the first bundle, 1 for the first resend...: part of the email's outbox key.
    generation: int
    dated: dt.date
    valid_until: dt.date


class BundleSent(_Model):
    sent_on: dt.date
    delivered: bool


class ChairLinkValidity(_Model):
    reference: str
    valid_until: dt.date
    # True when the workflow keeps the link going (it never shortens it); False for the SPOC's own date.
    only_later: bool = False


class LessonsEmail(_Model):
    reference: str
    dated: dt.date
