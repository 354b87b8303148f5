"""The database schema: cases and what happens to them, kept current by activities; staff; the outbox.

Lists and case pages read these tables, not Temporal: search attributes are eventually consistent,
while these rows are written by the activity that made the change.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, validates
from sqlalchemy.types import TypeDecorator

from domain.case_index import (
    APPEAL_STEP_DEADLINES,
    CASE_STEP_DEADLINES,
    LONGEST_NAMES,
    names_to_search,
    step_due_on,
)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC datetimes on SQLite (which drops the zone) as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("datetimes must be timezone-aware")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dt.datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
        list[Any]: JSON(),
    }


class StaffUser(Base):
    """A member of staff: a SPOC, a panel member, a manager. Acts only on cases of their localities."""

    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320), unique=True)
    role: Mapped[str] = mapped_column(String(30))
    # SHA-256 of the personal API key; the key itself is shown once and never stored. None: no key works
    # (revoked) until a new one is issued.
    api_key_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    active: Mapped[bool] = mapped_column(default=True)
    # Seeded for `make run` with a published key: refused unless ENVIRONMENT=development, and the API
    # will not start in production while one is active.
    development_only: Mapped[bool] = mapped_column(default=False, server_default=false())
    created_at: Mapped[dt.datetime]
    # Signing in to the staff pages (api.staff): an argon2id hash, None until the user sets a password from
    # their invitation; failed attempts since the last success, and the lock they led to.
    password_hash: Mapped[str | None] = mapped_column(String(200))
    failed_sign_ins: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    locked_until: Mapped[dt.datetime | None]
    localities: Mapped[list[StaffLocality]] = relationship(cascade="all, delete-orphan", lazy="selectin")

    @property
    def locality_keys(self) -> set[str]:
        return {link.locality for link in self.localities}


class StaffLocality(Base):
    __tablename__ = "staff_localities"

    user_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id", ondelete="CASCADE"), primary_key=True)
    locality: Mapped[str] = mapped_column(String(60), primary_key=True)


class ReferenceCounter(Base):
    """The last sequence number of case references per locality and year (CT-BLA-2026-0007)."""

    __tablename__ = "reference_counters"

    locality: Mapped[str] = mapped_column(String(60), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_number: Mapped[int] = mapped_column(Integer, default=0)


class Case(Base):
    __tablename__ = "cases"
    # The staff dashboard: a locality's cases in the order their steps fall due (optionally of one stage),
    # read a page at a time from the index.
    __table_args__ = (
        Index("ix_cases_locality_step_due_on", "locality", "step_due_on", "id"),
        Index("ix_cases_locality_stage_step_due_on", "locality", "stage", "step_due_on", "id"),
        # Its search: a name or reference is matched anywhere in it, so no index can seek it, but this narrow
        # one is read instead of the cases' rows.
        Index("ix_cases_locality_search", "locality", "applicant_name_search", "reference", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(30), unique=True)
    locality: Mapped[str] = mapped_column(String(60), index=True)
    stage: Mapped[str] = mapped_column(String(30), index=True)
    closed_reason: Mapped[str | None] = mapped_column(String(60))
    # The number of the workflow's latest record written here (CaseProgress.version): a record that lands
    # after a later one (two written at once) adds its chronology, not its stale stage or deadlines.
    record_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    received_on: Mapped[dt.date] = mapped_column(Date)
    # The application as submitted (personal data: read only through the audited case routes).
    application: Mapped[dict[str, Any]]
    # The automatic threshold assessment, beside which the SPOC sees the agencies' answers.
    assessment: Mapped[dict[str, Any]]
    # Decisions and arrangements as recorded (JSON documents, shapes in domain.decisions).
    threshold_decision: Mapped[dict[str, Any] | None]
    review_meeting: Mapped[dict[str, Any] | None]
    impact_statement: Mapped[dict[str, Any] | None]
    panel_decision: Mapped[dict[str, Any] | None]
    appeal_request: Mapped[dict[str, Any] | None]
    appeal_outcome: Mapped[dict[str, Any] | None]
    withdrawal: Mapped[dict[str, Any] | None]
    acknowledge_by: Mapped[dt.date | None] = mapped_column(Date)
    threshold_decision_by: Mapped[dt.date | None] = mapped_column(Date)
    outcome_by: Mapped[dt.date | None] = mapped_column(Date)
    appeal_by: Mapped[dt.date | None] = mapped_column(Date)
    # The deadline the case is waiting on now, for lists and "overdue" filters.
    next_deadline: Mapped[dt.date | None] = mapped_column(Date, index=True)
    next_deadline_step: Mapped[str | None] = mapped_column(String(40))
    # The date the step the case waits on is due by its policy (domain.case_index.step_due_on): once it has
    # passed, `next_deadline` moves on to each update letter's date while this stays, so the dashboard orders
    # by it and calls the case overdue after it. Kept by `_keep_step_due_on`.
    step_due_on: Mapped[dt.date | None] = mapped_column(Date)
    # The applicant's name (and the victim's), folded for searching (domain.case_index.names_to_search): a
    # name inside the application's JSON cannot be searched alike on SQLite and PostgreSQL. Kept by
    # `_keep_name_search`.
    applicant_name_search: Mapped[str | None] = mapped_column(String(LONGEST_NAMES))
    idempotency_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]

    letters: Mapped[list[Letter]] = relationship(back_populates="case", order_by="Letter.id", lazy="selectin")
    information_requests: Mapped[list[InformationRequest]] = relationship(
        back_populates="case", order_by="InformationRequest.id", lazy="selectin"
    )
    chronology: Mapped[list[ChronologyEntry]] = relationship(
        back_populates="case", order_by="(ChronologyEntry.at, ChronologyEntry.id)", lazy="selectin"
    )
    appeal: Mapped[Appeal | None] = relationship(back_populates="case", lazy="selectin")

    # Derived columns are kept here, where every writer of the row passes (the API storing an application,
    # the activities recording progress and the appeal), rather than by each writer.

    @validates("application")
    def _keep_name_search(self, _key: str, application: dict[str, Any]) -> dict[str, Any]:
        self.applicant_name_search = names_to_search(application)
        return application

    @validates("next_deadline", "next_deadline_step", *CASE_STEP_DEADLINES.values())
    def _keep_step_due_on(self, key: str, value: Any) -> Any:
        current = {name: getattr(self, name) for name in ("next_deadline", "next_deadline_step")}
        deadlines = {column: getattr(self, column) for column in CASE_STEP_DEADLINES.values()}
        (current if key in current else deadlines)[key] = value
        # The appeal's activity writes the appeal's deadlines before the case's next deadline.
        appeal = (
            {column: getattr(self.appeal, column) for column in APPEAL_STEP_DEADLINES.values()}
            if self.appeal
            else {}
        )
        self.step_due_on = step_due_on(
            current["next_deadline_step"], current["next_deadline"], deadlines, appeal
        )
        return value


class Appeal(Base):
    """A case's appeal, kept current by the appeal workflow's activities (one per case).

    The request, the chair's decisions and the SPOC's actions are copied here from their submissions; the
    applicant's own words stay in the database, never in workflow history."""

    __tablename__ = "appeals"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), unique=True)
    # appeal_chair_requested, appeal_chair_named, ... (workflows.appeal_models.AppealStage).
    stage: Mapped[str] = mapped_column(String(40), index=True)
    # criteria_not_met, upheld, not_upheld or withdrawn, once it has ended.
    result: Mapped[str | None] = mapped_column(String(30))
    route: Mapped[str] = mapped_column(String(30))
    received_on: Mapped[dt.date] = mapped_column(Date)
    # The numbers of the policy's grounds the request names.
    grounds: Mapped[list[Any]]
    needs_consent: Mapped[bool] = mapped_column(default=False)
    chair_key: Mapped[str | None] = mapped_column(String(80))
    chair_name: Mapped[str | None] = mapped_column(String(300))
    chair_email: Mapped[str | None] = mapped_column(String(320))
    chair_partnership: Mapped[str | None] = mapped_column(String(300))
    # Deadlines as they become known (working days, the case's calendar).
    name_chair_by: Mapped[dt.date | None] = mapped_column(Date)
    bundle_by: Mapped[dt.date | None] = mapped_column(Date)
    acknowledge_by: Mapped[dt.date | None] = mapped_column(Date)
    decision_by: Mapped[dt.date | None] = mapped_column(Date)
    next_deadline: Mapped[dt.date | None] = mapped_column(Date)
    next_deadline_step: Mapped[str | None] = mapped_column(String(40))
    bundle_sent_on: Mapped[dt.date | None] = mapped_column(Date)
    # Copied from their submissions (shapes in domain.decisions).
    consent: Mapped[dict[str, Any] | None]
    chair: Mapped[dict[str, Any] | None]
    acknowledgement: Mapped[dict[str, Any] | None]
    criteria: Mapped[dict[str, Any] | None]
    panel: Mapped[dict[str, Any] | None]
    decision: Mapped[dict[str, Any] | None]
    withdrawal: Mapped[dict[str, Any] | None]
    # The chair's link works until the end of this day (London); the SPOC can extend it.
    chair_link_valid_until: Mapped[dt.date | None] = mapped_column(Date)
    # The appeal workflow's count of records when this row was last written: an older write (a retried
    # activity finishing late) does not overwrite a newer one.
    record_version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]

    case: Mapped[Case] = relationship(back_populates="appeal")


class Letter(Base):
    """A letter to the applicant. One row per case, letter code and sequence (update letters repeat)."""

    __tablename__ = "letters"
    __table_args__ = (UniqueConstraint("case_id", "code", "sequence"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(40))
    sequence: Mapped[int] = mapped_column(Integer, default=1)
    sent_on: Mapped[dt.date] = mapped_column(Date)
    # email, or post (queued for printing); phone applicants get a posted copy as well.
    channel: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(30))
    subject: Mapped[str] = mapped_column(String(300))
    body_text: Mapped[str] = mapped_column(Text)
    outbox_key: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime]
    # The letter as sent, as a PDF (activities/letter_pdf.py), and its SHA-256 (also in the chronology);
    # none on letters sent before PDFs. Deferred: a case's letters are read far more often than printed.
    pdf: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    pdf_sha256: Mapped[str | None] = mapped_column(String(64))
    # A posted letter (channel "post"): the day staff posted it, and who said so (the print queue).
    posted_on: Mapped[dt.date | None] = mapped_column(Date)
    posted_by: Mapped[str | None] = mapped_column(String(300))

    case: Mapped[Case] = relationship(back_populates="letters")


class InformationRequest(Base):
    """A request to one agency for its records: to check the threshold, or full reports for the review."""

    __tablename__ = "information_requests"
    __table_args__ = (UniqueConstraint("case_id", "request_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    # "<purpose>:<agency key>", unique per case; the workflow's business key for the request.
    request_key: Mapped[str] = mapped_column(String(120))
    purpose: Mapped[str] = mapped_column(String(20))
    agency_key: Mapped[str] = mapped_column(String(60))
    agency_name: Mapped[str] = mapped_column(String(200))
    agency_email: Mapped[str | None] = mapped_column(String(320))
    requested_on: Mapped[dt.date] = mapped_column(Date)
    due_on: Mapped[dt.date] = mapped_column(Date)
    # requested -> answered, or waived (the SPOC proceeds without it; a late answer is still taken);
    # no_contact when the organisation has no address in the policy (the SPOC asks by hand).
    state: Mapped[str] = mapped_column(String(20))
    answered_on: Mapped[dt.date | None] = mapped_column(Date)
    response: Mapped[dict[str, Any] | None]
    waived_reason: Mapped[str | None] = mapped_column(Text)
    # The latest request email: pending, sent, or failed (permanently; the SPOC resends to another address).
    delivery: Mapped[str] = mapped_column(String(20), default="pending")
    # How many times the SPOC has resent it with a new link (each resend revokes the earlier links).
    resent_count: Mapped[int] = mapped_column(Integer, default=0)
    # The day (London) the agency last asked for a new link: the SPOC is told once a day at most, and
    # asking again the same day sends the case nothing.
    new_link_requested_on: Mapped[dt.date | None] = mapped_column(Date)

    case: Mapped[Case] = relationship(back_populates="information_requests")
    attachments: Mapped[list[Attachment]] = relationship(
        back_populates="request", order_by="Attachment.id", lazy="selectin"
    )


class Attachment(Base):
    """A file stored with the case (size and type limited): one an agency attached to its answer, or one the
    applicant sent with information they added from their case page."""

    __tablename__ = "attachments"
    # Each file came with exactly one thing: an agency's answer to a request, or the applicant's submission.
    __table_args__ = (
        CheckConstraint(
            "(request_id IS NULL) <> (submission_id IS NULL)", name="ck_attachments_request_or_submission"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    request_id: Mapped[int | None] = mapped_column(
        ForeignKey("information_requests.id", ondelete="CASCADE"), index=True
    )
    submission_id: Mapped[int | None] = mapped_column(
        ForeignKey("submissions.id", ondelete="CASCADE"), index=True
    )
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    # False while the answer it came with is on its way to the case; true once the answer is recorded. The
    # applicant's files are written with their submission, in one transaction: true from the start.
    accepted: Mapped[bool] = mapped_column(default=False)
    uploaded_at: Mapped[dt.datetime]

    request: Mapped[InformationRequest | None] = relationship(back_populates="attachments")


class ChronologyEntry(Base):
    """What happened to a case, when, and who did it: what an appeal chair reads."""

    __tablename__ = "chronology"
    __table_args__ = (UniqueConstraint("case_id", "event_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    # Business key of the event so that a retried activity records it once.
    event_key: Mapped[str] = mapped_column(String(200))
    at: Mapped[dt.datetime]
    actor: Mapped[str] = mapped_column(String(200))
    event: Mapped[str] = mapped_column(Text)

    case: Mapped[Case] = relationship(back_populates="chronology")


class Submission(Base):
    """What a member of staff or an agency submitted about a case, in full (domain/decisions.py): the
    texts stay here, and the case workflow is told only this row's id, with the enums it decides by."""

    __tablename__ = "submissions"
    __table_args__ = (UniqueConstraint("case_id", "submission_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    # threshold_decision, review_meeting, ..., agency_response, resend, extension, waiver.
    kind: Mapped[str] = mapped_column(String(40))
    # The update's id (from the Idempotency-Key): a retried action finds its submission again.
    submission_key: Mapped[str] = mapped_column(String(200))
    body: Mapped[dict[str, Any]]
    submitted_by: Mapped[str] = mapped_column(String(300))
    submitted_at: Mapped[dt.datetime]


class OutboxMessage(Base):
    """Every email, recorded before it is sent, so that a retry never sends what already went."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    # case + step + recipient: the business key of the message.
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    # Fixed when the message is recorded, so a copy sent again carries the same Message-ID.
    message_id: Mapped[str] = mapped_column(String(200), unique=True)
    case_reference: Mapped[str | None] = mapped_column(String(30), index=True)
    purpose: Mapped[str] = mapped_column(String(40))
    sender: Mapped[str] = mapped_column(String(320))
    reply_to: Mapped[str | None] = mapped_column(String(320))
    recipient: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(300))
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text)
    # pending -> sending -> sent, or failed (permanent).
    status: Mapped[str] = mapped_column(String(20), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Times a send began after an earlier attempt may already have reached the server.
    possible_duplicates: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime]
    # When sending was first tried: temporary failures are retried for a while from then, not from
    # `created_at` (a message may wait behind others in the same activity).
    first_attempt_at: Mapped[dt.datetime | None]
    # When sending was last tried (every attempt sets it): the outbox sweep (activities.outbox_sweep) leaves
    # a message alone while the request that recorded it may still be sending it, and `first_attempt_at`
    # cannot tell a message tried again a moment ago from one tried once, long ago.
    last_attempt_at: Mapped[dt.datetime | None]
    sent_at: Mapped[dt.datetime | None]


class AuditEntry(Base):
    """Who saw or changed what, when. Never holds the personal data itself."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(60))
    case_reference: Mapped[str | None] = mapped_column(String(30), index=True)
    detail: Mapped[str | None] = mapped_column(Text)
    # Refusals that anyone can cause in bulk (an unknown link, a repeated request) are counted, not written
    # one by one: one row a day for each kind stands for all of them, `at` the latest. `tally_key` names
    # that row (a hash of the day and the kind); None for every other entry.
    occurrences: Mapped[int] = mapped_column(Integer, default=1, server_default=text("1"))
    tally_key: Mapped[str | None] = mapped_column(String(64), unique=True)


class ApplicationDraft(Base):
    """An online application being filled in (`/apply`): the answers so far, kept between pages for a
    browser whose cookie holds the session id. Only the id's SHA-256 is stored. A draft expires when left
    idle; once sent it keeps the case's reference (so a second send shows the same confirmation) and no
    answers but how letters will go."""

    __tablename__ = "application_drafts"

    id: Mapped[int] = mapped_column(primary_key=True)
    draft_hash: Mapped[str] = mapped_column(String(64), unique=True)
    locality: Mapped[str] = mapped_column(String(60))
    answers: Mapped[dict[str, Any]]
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)
    submitted_reference: Mapped[str | None] = mapped_column(String(30))
    submitted_at: Mapped[dt.datetime | None]


# The staff accounts' own tables (sessions, sign-in codes, invitations) are in their own module; importing
# it here keeps one complete schema for Alembic and the tests whichever module is imported first.
# The link tokens' tables are in their own module (db/link_models.py). Imported here as a module (which works
# whichever of the two is imported first) so that the schema is complete; `from db.models import AccessToken`
# keeps working through `__getattr__`.
import db.link_models  # noqa: E402
import db.staff_models  # noqa: E402

if TYPE_CHECKING:
    pass

_LINK_TABLES = frozenset({"AccessToken", "AppealToken", "ApplicantToken"})


def __getattr__(name: str) -> Any:
    if name in _LINK_TABLES:
        return getattr(db.link_models, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
