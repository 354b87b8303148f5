"""applicant information: a file the applicant sends from their case page, kept with its submission

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29 08:15:01.901882
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # An attachment now belongs to an agency's answer (request_id) or to the applicant's added information
    # (submission_id): exactly one of them. Every existing row is an agency's, so the check holds.
    with op.batch_alter_table('attachments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('submission_id', sa.Integer(), nullable=True))
        batch_op.alter_column('request_id', existing_type=sa.INTEGER(), nullable=True)
        batch_op.create_index(batch_op.f('ix_attachments_submission_id'), ['submission_id'], unique=False)
        batch_op.create_foreign_key(
            'fk_attachments_submission_id_submissions', 'submissions', ['submission_id'], ['id'],
            ondelete='CASCADE',
        )
        batch_op.create_check_constraint(
            'ck_attachments_request_or_submission', '(request_id IS NULL) <> (submission_id IS NULL)'
        )


def downgrade() -> None:
    # The applicant's files have no request to belong to: they go, with nothing else.
    op.execute('DELETE FROM attachments WHERE request_id IS NULL')
    with op.batch_alter_table('attachments', schema=None) as batch_op:
        batch_op.drop_constraint('ck_attachments_request_or_submission', type_='check')
        batch_op.drop_constraint('fk_attachments_submission_id_submissions', type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_attachments_submission_id'))
        batch_op.alter_column('request_id', existing_type=sa.INTEGER(), nullable=False)
        batch_op.drop_column('submission_id')
