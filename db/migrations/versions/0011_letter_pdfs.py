"""letter pdfs: each letter as sent kept as a PDF with its SHA-256, and the day a posted letter was posted

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29 08:48:56.589949
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Letters sent before this have no PDF (their text is kept, as before); a posted one still waiting in
    # the print queue is printed from its kept text (activities.letter_pdf.kept_text_pdf).
    with op.batch_alter_table('letters', schema=None) as batch_op:
        batch_op.add_column(sa.Column('pdf', sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column('pdf_sha256', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('posted_on', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('posted_by', sa.String(length=300), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('letters', schema=None) as batch_op:
        batch_op.drop_column('posted_by')
        batch_op.drop_column('posted_on')
        batch_op.drop_column('pdf_sha256')
        batch_op.drop_column('pdf')
