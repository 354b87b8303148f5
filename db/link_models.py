"""The link tokens' tables: the agency's, the appeal chair's and the applicant's links and the sessions they
are exchanged for. Only each token's SHA-256 is stored (api.links and each package's sessions module)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, Session, mapped_column

from db.models import Base
from domain.links import APPLICANT_LINK_LIFETIME, ApplicantTokenPurpose, new_token


class AppealToken(Base):
    """A secret that lets the appeal's chair (or the policy's contact, to name the chair) act on one appeal
    without an account. As for agencies (`AccessToken`): only the SHA-256 is stored, a link is exchanged
    for a session on use, and a token of one purpose is never accepted for another."""

    __tablename__ = "appeal_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # chair_link, chair_session, contact_link, contact_session (domain.links.AppealTokenPurpose).
    purpose: Mapped[str] = mapped_column(String(30))
    appeal_id: Mapped[int] = mapped_column(ForeignKey("appeals.id", ondelete="CASCADE"), index=True)
    # The chair a chair's token is bound to: naming another chair leaves it working for nothing.
    chair_key: Mapped[str | None] = mapped_column(String(80))
    # Which bundle email a chair's link came in (0, then 1, 2... for resends): a new one, once delivered,
    # revokes the earlier ones.
    generation: Mapped[int | None] = mapped_column(Integer)
    link_id: Mapped[int | None] = mapped_column(ForeignKey("appeal_tokens.id", ondelete="CASCADE"))
    issued_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]
    revoked_at: Mapped[dt.datetime | None]
    revoked_reason: Mapped[str | None] = mapped_column(String(60))
    first_used_at: Mapped[dt.datetime | None]
    last_used_at: Mapped[dt.datetime | None]
    use_count: Mapped[int] = mapped_column(Integer, default=0)

    @classmethod
    def issue(
        cls,
        purpose: str,
        *,
        appeal_id: int,
        chair_key: str | None,
        issued_at: dt.datetime,
        expires_at: dt.datetime,
        link_id: int | None = None,
        generation: int | None = None,
    ) -> tuple[str, AppealToken]:
        """A new random token and the row to add for it (which keeps only the token's hash)."""
        token, digest = new_token()
        row = cls(
            token_hash=digest,
            purpose=purpose,
            appeal_id=appeal_id,
            chair_key=chair_key,
            link_id=link_id,
            generation=generation,
            issued_at=issued_at,
            expires_at=expires_at,
            use_count=0,
        )
        return token, row


class ApplicantToken(Base):
    """A secret that lets the applicant (or whoever applied for the victim) follow their own case without an
    account: the link in each emailed letter, and the session it is exchanged for. As for agencies and
    appeals: only the SHA-256 is stored, a link is exchanged for a session on use, and a token of one
    purpose is never accepted for another."""

    __tablename__ = "applicant_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # applicant_link, applicant_session (domain.links.ApplicantTokenPurpose).
    purpose: Mapped[str] = mapped_column(String(30))
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    link_id: Mapped[int | None] = mapped_column(ForeignKey("applicant_tokens.id", ondelete="CASCADE"))
    issued_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]
    revoked_at: Mapped[dt.datetime | None]
    revoked_reason: Mapped[str | None] = mapped_column(String(60))
    first_used_at: Mapped[dt.datetime | None]
    last_used_at: Mapped[dt.datetime | None]
    use_count: Mapped[int] = mapped_column(Integer, default=0)

    @classmethod
    def issue(
        cls,
        purpose: str,
        *,
        case_id: int,
        issued_at: dt.datetime,
        expires_at: dt.datetime,
        link_id: int | None = None,
    ) -> tuple[str, ApplicantToken]:
        """A new random token and the row to add for it (which keeps only the token's hash)."""
        token, digest = new_token()
        row = cls(
            token_hash=digest,
            purpose=purpose,
            case_id=case_id,
            link_id=link_id,
            issued_at=issued_at,
            expires_at=expires_at,
            use_count=0,
        )
        return token, row

    @classmethod
    def add_case_page_link(cls, session: Session, *, case_id: int, now: dt.datetime) -> str:
        """A new link to the applicant's case page, valid for APPLICANT_LINK_LIFETIME: its row added to the
        session (only the hash is kept), its token returned for the email (`applicant_link_path`)."""
        token, row = cls.issue(
            ApplicantTokenPurpose.APPLICANT_LINK.value,
            case_id=case_id,
            issued_at=now,
            expires_at=now + APPLICANT_LINK_LIFETIME,
        )
        session.add(row)
        return token


class AccessToken(Base):
    """A secret that lets an agency answer one information request without an account.

    Only the SHA-256 of the token is stored. An `agency_link` token travels in the request email; on use it
    is exchanged for an `agency_session` token in a cookie, so the link's token does not stay in the
    address bar, in history or in referrers. A token of one purpose is never accepted for another.
    """

    __tablename__ = "access_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    purpose: Mapped[str] = mapped_column(String(30))
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    request_id: Mapped[int] = mapped_column(
        ForeignKey("information_requests.id", ondelete="CASCADE"), index=True
    )
    # The link a session was opened from (sessions only).
    link_id: Mapped[int | None] = mapped_column(ForeignKey("access_tokens.id", ondelete="CASCADE"))
    issued_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]
    revoked_at: Mapped[dt.datetime | None]
    revoked_reason: Mapped[str | None] = mapped_column(String(60))
    first_used_at: Mapped[dt.datetime | None]
    last_used_at: Mapped[dt.datetime | None]
    use_count: Mapped[int] = mapped_column(Integer, default=0)

    @classmethod
    def issue(
        cls,
        purpose: str,
        *,
        case_id: int,
        request_id: int,
        issued_at: dt.datetime,
        expires_at: dt.datetime,
        link_id: int | None = None,
    ) -> tuple[str, AccessToken]:
        """A new random token and the row to add for it (which keeps only the token's hash)."""
        token, digest = new_token()
        row = cls(
            token_hash=digest,
            purpose=purpose,
            case_id=case_id,
            request_id=request_id,
            link_id=link_id,
            issued_at=issued_at,
            expires_at=expires_at,
            use_count=0,
        )
        return token, row
