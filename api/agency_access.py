"""What lets an agency answer without an account: link-for-session exchange, session checks, CSRF tokens,
the answer form's checks, attachment checks, and the database work behind the agency reply pages.

Kept free of FastAPI: `api.routes.agency` calls these (database work in a thread) and turns what they
return into pages. Nothing here writes a token, a token's hash or personal data into the audit log.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import io
import re
import unicodedata
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from annotated_types import MaxLen
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from db.models import AccessToken, Attachment, AuditEntry, Case, InformationRequest
from domain.agencies import incidents_reported_to
from domain.application import Application, Incident
from domain.links import SESSION_LIFETIME, TOKEN_PATTERN, TokenPurpose, hash_token
from domain.policy import LocalityPolicy
from workflows.models import AgencyResponse

# The cookie that carries an agency's session (never the link's token).
SESSION_COOKIE = "agency_session"
UNKNOWN_LINK = "unknown link"
UNKNOWN_SESSION = "unknown session"

_TOKEN = re.compile(TOKEN_PATTERN)


# ---- refusals --------------------------------------------------------------------------------


class LinkRefusal(StrEnum):
    """Why a link was not accepted; the audit detail. The agency sees one page whatever the reason."""

    UNKNOWN = "unknown"
    WRONG_PURPOSE = "wrong_purpose"
    REVOKED = "revoked"
    EXPIRED = "expired"
    CLOSED = "closed"


class SessionRefusal(StrEnum):
    MISSING = "missing"
    UNKNOWN = "unknown"
    WRONG_PURPOSE = "wrong_purpose"
    REVOKED = "revoked"
    EXPIRED = "expired"
    CLOSED = "closed"


@dataclass(frozen=True)
class RequestView:
    """The request a token is bound to, as the pages and the audit log need it (no personal data)."""

    case_reference: str
    case_id: int
    locality: str
    request_id: int
    request_key: str
    purpose: str
    agency_key: str
    agency_name: str
    state: str
    requested_on: dt.date
    due_on: dt.date

    @property
    def actor(self) -> str:
        return f"agency: {self.agency_name}"


@dataclass(frozen=True)
class OpenedLink:
    session_token: str
    request: RequestView


@dataclass(frozen=True)
class LinkRefused:
    reason: LinkRefusal
    # Known when the token was recognised (for the audit log only; never shown).
    request: RequestView | None = None


@dataclass(frozen=True)
class AgencySession:
    token_hash: str
    request: RequestView


@dataclass(frozen=True)
class SessionRefused:
    reason: SessionRefusal
    # Only for a valid session of a closed case, so that its page can name whom to contact.
    request: RequestView | None = None


def _view(request: InformationRequest, case: Case) -> RequestView:
    return RequestView(
        case_reference=case.reference,
        case_id=case.id,
        locality=case.locality,
        request_id=request.id,
        request_key=request.request_key,
        purpose=request.purpose,
        agency_key=request.agency_key,
        agency_name=request.agency_name,
        state=request.state,
        requested_on=request.requested_on,
        due_on=request.due_on,
    )


def _is_closed(case: Case) -> bool:
    # A withdrawn application closes as soon as its letter has gone; it takes no answers meanwhile.
    return case.stage == "closed" or case.withdrawal is not None


def _token_row(session: Session, token: str | None) -> AccessToken | None:
    if not token or not _TOKEN.fullmatch(token):
        return None
    return session.scalar(select(AccessToken).where(AccessToken.token_hash == hash_token(token)))


def _request_and_case(session: Session, token: AccessToken) -> tuple[InformationRequest, Case]:
    request = session.get(InformationRequest, token.request_id)
    case = session.get(Case, token.case_id)
    assert request is not None and case is not None  # foreign keys, deleted with the token
    return request, case


def _session_expiry(link: AccessToken, now: dt.datetime) -> dt.datetime:
    # Idle time slides the session on, but never more than one idle period past the link's own expiry:
    # someone who opened the link in time can finish the form, and a session cannot live for ever.
    return min(now + SESSION_LIFETIME, link.expires_at + SESSION_LIFETIME)


def add_audit(
    session: Session,
    *,
    now: dt.datetime,
    actor: str,
    action: str,
    case_reference: str | None,
    detail: str | None = None,
) -> None:
    """An agency's use of the service, or a refusal, in the caller's transaction. No tokens, no names."""
    session.add(AuditEntry(at=now, actor=actor, action=action, case_reference=case_reference, detail=detail))


def record_audit(
    sessions: sessionmaker[Session],
    *,
    now: dt.datetime,
    actor: str,
    action: str,
    case_reference: str | None,
    detail: str | None = None,
) -> None:
    with sessions.begin() as session:
        add_audit(session, now=now, actor=actor, action=action, case_reference=case_reference, detail=detail)


# ---- links and sessions ----------------------------------------------------------------------


def open_link(sessions: sessionmaker[Session], *, token: str, now: dt.datetime) -> OpenedLink | LinkRefused:
    """Exchange a link's token for a new session, or say why not. Links stay usable until they expire or
    are revoked: mail scanners open links before the person does, so a single-use link would be spent."""
    with sessions.begin() as session:
        link = _token_row(session, token)
        if link is None:
            add_audit(
                session,
                now=now,
                actor=UNKNOWN_LINK,
                action="agency_link_refused",
                case_reference=None,
                detail=LinkRefusal.UNKNOWN.value,
            )
            return LinkRefused(LinkRefusal.UNKNOWN)
        request, case = _request_and_case(session, link)
        view = _view(request, case)
        reason: LinkRefusal | None = None
        if link.purpose != TokenPurpose.AGENCY_LINK.value:
            reason = LinkRefusal.WRONG_PURPOSE
        elif link.revoked_at is not None:
            reason = LinkRefusal.REVOKED
        elif link.expires_at <= now:
            reason = LinkRefusal.EXPIRED
        elif _is_closed(case):
            reason = LinkRefusal.CLOSED
        if reason is not None:
            add_audit(
                session,
                now=now,
                actor=view.actor,
                action="agency_link_refused",
                case_reference=case.reference,
                detail=f"{reason.value}; request {request.request_key}",
            )
            return LinkRefused(reason, view)
        session_token, opened = AccessToken.issue(
            TokenPurpose.AGENCY_SESSION.value,
            case_id=case.id,
            request_id=request.id,
            link_id=link.id,
            issued_at=now,
            expires_at=_session_expiry(link, now),
        )
        opened.first_used_at = opened.last_used_at = now
        session.add(opened)
        if link.first_used_at is None:
            link.first_used_at = now
        link.last_used_at = now
        # In SQL, so that two people opening the link at once both count.
        link.use_count = AccessToken.use_count + 1
        session.flush()
        add_audit(
            session,
            now=now,
            actor=view.actor,
            action="agency_link_opened",
            case_reference=case.reference,
            detail=f"request {request.request_key}; use {link.use_count}",
        )
        return OpenedLink(session_token=session_token, request=view)


def check_session(
    sessions: sessionmaker[Session], *, token: str | None, now: dt.datetime
) -> AgencySession | SessionRefused:
    """The session a cookie carries, extended by this use; or why it is refused (audited)."""
    with sessions.begin() as session:
        if not token:
            return _refuse_session(session, now, SessionRefusal.MISSING, None)
        row = _token_row(session, token)
        if row is None:
            return _refuse_session(session, now, SessionRefusal.UNKNOWN, None)
        request, case = _request_and_case(session, row)
        view = _view(request, case)
        link = session.get(AccessToken, row.link_id) if row.link_id is not None else None
        if row.purpose != TokenPurpose.AGENCY_SESSION.value or link is None:
            return _refuse_session(session, now, SessionRefusal.WRONG_PURPOSE, view)
        if row.revoked_at is not None or link.revoked_at is not None:
            return _refuse_session(session, now, SessionRefusal.REVOKED, view)
        if row.expires_at <= now:
            return _refuse_session(session, now, SessionRefusal.EXPIRED, view)
        if _is_closed(case):
            return _refuse_session(session, now, SessionRefusal.CLOSED, view)
        row.last_used_at = now
        row.use_count = AccessToken.use_count + 1
        row.expires_at = _session_expiry(link, now)
        return AgencySession(token_hash=row.token_hash, request=view)


def _refuse_session(
    session: Session, now: dt.datetime, reason: SessionRefusal, view: RequestView | None
) -> SessionRefused:
    add_audit(
        session,
        now=now,
        actor=view.actor if view else UNKNOWN_SESSION,
        action="agency_session_refused",
        case_reference=view.case_reference if view else None,
        detail=reason.value,
    )
    # Whoever holds a working session of a closed case may see whom to contact; nobody else sees anything.
    return SessionRefused(reason, view if reason == SessionRefusal.CLOSED else None)


def link_request(sessions: sessionmaker[Session], *, token: str) -> tuple[RequestView, bool] | None:
    """The request a link (in any state) belongs to, and whether its case is closed; None if unknown."""
    with sessions() as session:
        link = _token_row(session, token)
        if link is None or link.purpose != TokenPurpose.AGENCY_LINK.value:
            return None
        request, case = _request_and_case(session, link)
        return _view(request, case), _is_closed(case)


def request_status(sessions: sessionmaker[Session], *, request_id: int) -> tuple[str, bool]:
    """The request's state now (requested, answered, waived...) and whether its case is closed."""
    with sessions() as session:
        request = session.get(InformationRequest, request_id)
        assert request is not None
        return request.state, _is_closed(request.case)


# ---- what the reply page shows ---------------------------------------------------------------


@dataclass(frozen=True)
class ReplyDetails:
    """Only what the agency needs to find its records (data minimisation): never the applicant's phone
    or email, other agencies' incidents, hate-incident details, the assessment or any decision."""

    applicant_name: str
    address: str | None
    postcode: str | None
    # When someone applied for the victim, the agency searches for the victim too.
    victim_name: str | None
    incidents: list[Incident]


def reply_details(
    sessions: sessionmaker[Session], *, request: RequestView, policy: LocalityPolicy
) -> ReplyDetails:
    with sessions() as session:
        case = session.get(Case, request.case_id)
        assert case is not None
        application = Application.model_validate(case.application)
    return ReplyDetails(
        applicant_name=application.applicant.name,
        address=application.applicant.address,
        postcode=application.applicant.postcode,
        victim_name=application.on_behalf_of.victim_name if application.on_behalf_of else None,
        incidents=incidents_reported_to(application, policy, request.agency_key),
    )


# ---- CSRF ------------------------------------------------------------------------------------


def _sign(secret_key: str, message: str) -> str:
    return hmac.new(secret_key.encode("utf-8"), message.encode("utf-8"), hashlib.sha256).hexdigest()


def reply_csrf_token(secret_key: str, session_hash: str) -> str:
    """The reply form's CSRF token: bound to the session, so it is useless to anyone without the cookie."""
    return _sign(secret_key, f"agency-reply|{session_hash}")


def new_link_csrf_token(secret_key: str, link_token: str) -> str:
    """The new-link form's CSRF token, bound to the link it asks about.

    That form carries no ambient authority (no cookie is involved; the link's token in the body is what
    counts), so a value signed with the secret key is enough to show that the form came from our page.
    """
    return _sign(secret_key, f"agency-new-link|{hash_token(link_token)}")


def csrf_matches(expected: str, given: str | None) -> bool:
    return given is not None and hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8"))


# ---- the answer form -------------------------------------------------------------------------


def _max_length(name: str) -> int:
    for item in AgencyResponse.model_fields[name].metadata:
        if isinstance(item, MaxLen):
            return int(item.max_length)
    raise LookupError(f"AgencyResponse.{name} has no max_length")


TEXT_FIELDS: dict[str, str] = {
    # field -> how error messages name it
    "responder_name": "Your name",
    "responder_role": "Your job title or role",
    "records_found": "The records you hold",
    "actions_taken": "The action you have taken",
    "risk_to_victim": "What you know about risk to the victim",
    "notes": "Anything else",
}
MAX_LENGTHS = {name: _max_length(name) for name in TEXT_FIELDS}
CHOICES: dict[str, dict[str, bool | None]] = {
    "behaviour_continues": {"yes": True, "no": False, "unknown": None},
    "supports_threshold": {"yes": True, "no": False, "cannot_say": None},
}
REQUIRED: dict[str, str] = {
    "responder_name": "Enter your name",
    "records_found": "Enter the records you hold, or say that you hold none",
    "behaviour_continues": "Select whether the behaviour is still going on",
    "supports_threshold": "Select whether your records support the application",
}
# Where each field's error links to: the first radio of a group has the group's name as its id.
ERROR_ORDER = (
    "responder_name",
    "responder_role",
    "records_found",
    "actions_taken",
    "behaviour_continues",
    "risk_to_victim",
    "supports_threshold",
    "notes",
    "attachments",
)


@dataclass(frozen=True)
class FormError:
    field: str
    message: str


@dataclass(frozen=True)
class AnswerForm:
    """The answer as typed, kept to fill the form in again when something needs correcting."""

    values: dict[str, str]

    @classmethod
    def from_fields(cls, fields: Mapping[str, str]) -> AnswerForm:
        values: dict[str, str] = {}
        for name in TEXT_FIELDS:
            # Browsers send a textarea's line breaks as CRLF; count them as one character, as we store them.
            values[name] = fields.get(name, "").replace("\r\n", "\n").replace("\r", "\n").strip()
        for name, choices in CHOICES.items():
            value = fields.get(name, "")
            values[name] = value if value in choices else ""
        return cls(values)

    def problems(self) -> list[FormError]:
        found: list[FormError] = []
        for name, label in TEXT_FIELDS.items():
            limit = MAX_LENGTHS[name]
            if len(self.values[name]) > limit:
                found.append(FormError(name, f"{label} must be {limit:,} characters or fewer"))
        for name, message in REQUIRED.items():
            if not self.values[name]:
                found.append(FormError(name, message))
        return found

    def to_response(self, request_key: str, attachment_ids: Sequence[int]) -> AgencyResponse:
        v = self.values
        return AgencyResponse(
            request_key=request_key,
            records_found=v["records_found"],
            actions_taken=v["actions_taken"],
            behaviour_continues=CHOICES["behaviour_continues"][v["behaviour_continues"]],
            risk_to_victim=v["risk_to_victim"],
            supports_threshold=CHOICES["supports_threshold"][v["supports_threshold"]],
            notes=v["notes"],
            received_by="email_link",
            responder_name=v["responder_name"],
            responder_role=v["responder_role"],
            attachment_ids=list(attachment_ids),
        )


def ordered(errors: Sequence[FormError]) -> list[FormError]:
    """Errors in the order of the fields on the page, as the error summary lists them."""
    return sorted(errors, key=lambda error: ERROR_ORDER.index(error.field))


# ---- attachments -----------------------------------------------------------------------------

MAX_FILES = 5
MAX_FILE_BYTES = 10 * 1024 * 1024
MAX_TOTAL_BYTES = 20 * 1024 * 1024
ALLOWED_TYPES_TEXT = "a PDF, Word (.docx), Excel (.xlsx), PNG, JPEG, text (.txt) or CSV file"


def _is_pdf(content: bytes) -> bool:
    return content.startswith(b"%PDF-")


def _is_png(content: bytes) -> bool:
    return content.startswith(b"\x89PNG\r\n\x1a\n")


def _is_jpeg(content: bytes) -> bool:
    return content.startswith(b"\xff\xd8\xff")


def _is_office(folder: str) -> Callable[[bytes], bool]:
    """A .docx or .xlsx: a zip holding the Office content-types file and the document's own folder."""

    def sniff(content: bytes) -> bool:
        if not content.startswith(b"PK\x03\x04"):
            return False
        try:
            # Only the zip's directory is read; nothing is extracted.
            with zipfile.ZipFile(io.BytesIO(content)) as archive:
                names = archive.namelist()
        except (zipfile.BadZipFile, ValueError, OSError):
            return False
        return "[Content_Types].xml" in names and any(name.startswith(folder) for name in names)

    return sniff


def _is_utf8_text(content: bytes) -> bool:
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return "\x00" not in text


@dataclass(frozen=True)
class FileType:
    content_type: str
    sniff: Callable[[bytes], bool]


FILE_TYPES: dict[str, FileType] = {
    "pdf": FileType("application/pdf", _is_pdf),
    "png": FileType("image/png", _is_png),
    "jpg": FileType("image/jpeg", _is_jpeg),
    "jpeg": FileType("image/jpeg", _is_jpeg),
    "docx": FileType(
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document", _is_office("word/")
    ),
    "xlsx": FileType("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", _is_office("xl/")),
    "txt": FileType("text/plain; charset=utf-8", _is_utf8_text),
    "csv": FileType("text/csv; charset=utf-8", _is_utf8_text),
}


def safe_filename(name: str) -> tuple[str, str]:
    """(a file name safe to store and offer for download, its extension in lower case).

    Only the last part of a path is kept (some browsers send the whole path), and only letters, digits,
    spaces, dots, hyphens and underscores survive, so the name cannot break out of a header or a folder.
    """
    base = re.split(r"[\\/]", unicodedata.normalize("NFKC", name))[-1]
    stem, dot, extension = base.rpartition(".")
    if not dot:
        stem, extension = base, ""
    extension = re.sub(r"[^a-z0-9]", "", extension.lower())[:10]
    stem = re.sub(r"[^A-Za-z0-9 ._-]+", "_", stem)
    # No leading dot (a hidden file) and no trailing dot or space (which some systems drop).
    stem = re.sub(r"_{2,}", "_", stem).strip(" .")[:120].strip(" .") or "attachment"
    return (f"{stem}.{extension}" if extension else stem), extension


@dataclass(frozen=True)
class Upload:
    """A file as received: its name, its size, and its content (None when too big to read)."""

    filename: str
    size: int
    content: bytes | None


@dataclass(frozen=True)
class CheckedFile:
    filename: str
    content_type: str
    content: bytes
    sha256: str


def check_attachments(uploads: Sequence[Upload]) -> tuple[list[CheckedFile], list[str]]:
    """The files that may be stored, and a message for each problem (any problem: store none)."""
    problems: list[str] = []
    checked: list[CheckedFile] = []
    if len(uploads) > MAX_FILES:
        return [], [f"Select up to {MAX_FILES} files"]
    for upload in uploads:
        filename, extension = safe_filename(upload.filename)
        file_type = FILE_TYPES.get(extension)
        if upload.size > MAX_FILE_BYTES or upload.content is None:
            problems.append(f"{filename} must be smaller than {MAX_FILE_BYTES // (1024 * 1024)}MB")
            continue
        if upload.size == 0 or not upload.content:
            problems.append(f"{filename} is empty")
            continue
        if file_type is None or not file_type.sniff(upload.content):
            problems.append(f"{filename} must be {ALLOWED_TYPES_TEXT}")
            continue
        checked.append(
            CheckedFile(
                filename=filename,
                content_type=file_type.content_type,
                content=upload.content,
                sha256=hashlib.sha256(upload.content).hexdigest(),
            )
        )
    if not problems and sum(upload.size for upload in uploads) > MAX_TOTAL_BYTES:
        problems.append(
            f"The selected files must be smaller than {MAX_TOTAL_BYTES // (1024 * 1024)}MB in total"
        )
    return ([] if problems else checked), problems


def stage_attachments(
    sessions: sessionmaker[Session], *, request: RequestView, files: Sequence[CheckedFile], now: dt.datetime
) -> list[int]:
    """Store the files with the case, not yet accepted: the answer they came with is still on its way."""
    if not files:
        return []
    with sessions.begin() as session:
        rows = [
            Attachment(
                case_id=request.case_id,
                request_id=request.request_id,
                filename=item.filename,
                content_type=item.content_type,
                size=len(item.content),
                sha256=item.sha256,
                content=item.content,
                accepted=False,
                uploaded_at=now,
            )
            for item in files
        ]
        session.add_all(rows)
        session.flush()
        return [row.id for row in rows]


def discard_attachments(sessions: sessionmaker[Session], *, ids: Sequence[int]) -> None:
    """Remove files staged for an answer that was not recorded (never those an answer was recorded with)."""
    if not ids:
        return
    with sessions.begin() as session:
        session.execute(delete(Attachment).where(Attachment.id.in_(ids), Attachment.accepted.is_(False)))
