"""The staff pages' tables: signed-in sessions (and, with them, what signing in needs).

Only hashes of session tokens are stored; a session ends when its user signs out, is deactivated, or leaves
it idle or open too long (api.staff.sessions decides).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String
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
