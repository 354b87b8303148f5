"""outbox last attempt: when sending each message was last tried, so that the outbox sweep never takes a
message that a request may be sending at that moment

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import db.models


revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_attempt_at', db.models.UTCDateTime(timezone=True), nullable=True))
    # Messages tried before this: their first attempt is the latest one known. Never tried: left empty (the
    # sweep then goes by when the message was recorded).
    # Only those the sweep may look at: sent and failed messages keep no attempt time they would never use.
    op.execute(
        "UPDATE outbox SET last_attempt_at = first_attempt_at "
        "WHERE first_attempt_at IS NOT NULL AND status IN ('pending', 'sending')"
    )


def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_column('last_attempt_at')
