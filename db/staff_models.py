"""The staff pages' tables: signed-in sessions, sign-ins waiting for their security code, and the one-time
links that invite a user or reset a password.

Only hashes of tokens and codes are stored; a session ends when its user signs out, is deactivated, or
leaves it idle or open too long (api.staff.sessions decides); a sign-in waiting for its code ends when the
code is used, has been got wrong too often or has run out (api.staff.codes); a link ends when it has set a
password, is replaced by a newer one or runs out (api.staff.links).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from db.models import Base


class StaffSession(Base):
    """A member of staff signed in to the staff pages: the cookie holds the token, this row its SHA-256."""

    __tablename__ = "staff_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id", ondelete="CASCADE"), index=True)
    started_at: Mapped[dt.datetime]
    last_seen_at: Mapped[dt.datetime]
    # Set when the session ends (signed out, timed out, user deactivated); an ended session never works again.
    ended_at: Mapped[dt.datetime | None]
    ended_reason: Mapped[str | None] = mapped_column(String(30))


class StaffSignIn(Base):
    """A sign-in whose password was right, waiting for the security code emailed to the user. The browser's
    cookie holds the token (this row its SHA-256); the code itself is kept only as a keyed hash."""

    __tablename__ = "staff_sign_ins"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id", ondelete="CASCADE"), index=True)
    started_at: Mapped[dt.datetime]
    # HMAC-SHA256 (the service's secret key) of the latest code: a six-digit code's plain hash could be
    # reversed by trying every code.
    code_hash: Mapped[str] = mapped_column(String(64))
    code_expires_at: Mapped[dt.datetime]
    codes_sent: Mapped[int] = mapped_column(Integer, default=1)
    # Wrong codes so far, whichever code they were meant for: asking for a new code gives no new tries.
    wrong_codes: Mapped[int] = mapped_column(Integer, default=0)
    # The staff page to go to once signed in (a path under /staff, checked when it was given).
    next_path: Mapped[str | None] = mapped_column(String(500))
    ended_at: Mapped[dt.datetime | None]
    ended_reason: Mapped[str | None] = mapped_column(String(30))


class StaffLink(Base):
    """A one-time link emailed to a member of staff: an invitation to set their first password, or a
    password reset. Opening it swaps the token for a form cookie (`form_token_hash`), so that the token
    leaves the address bar; setting the password ends the link."""

    __tablename__ = "staff_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The hash of the cookie the link was last exchanged for (each opening replaces it).
    form_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id", ondelete="CASCADE"), index=True)
    # "invitation" or "password_reset" (api.staff.links.LinkPurpose).
    purpose: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]
    # Set when the link ends: it set a password ("used"), a newer link replaced it, its user was
    # deactivated. An ended link never works again.
    ended_at: Mapped[dt.datetime | None]
    ended_reason: Mapped[str | None] = mapped_column(String(30))
