"""staff dashboard: the step due date and the applicant name search on cases, with the dashboard indexes

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29 08:23:23.683104
"""

import json
import unicodedata
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('step_due_on', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('applicant_name_search', sa.String(length=410), nullable=True))
        batch_op.create_index('ix_cases_locality_stage_step_due_on', ['locality', 'stage', 'step_due_on', 'id'], unique=False)
        batch_op.create_index('ix_cases_locality_step_due_on', ['locality', 'step_due_on', 'id'], unique=False)
        batch_op.create_index('ix_cases_locality_search', ['locality', 'applicant_name_search', 'reference', 'id'], unique=False)

    # Existing cases get what the model keeps from now on (db.models.Case._keep_step_due_on): the due date
    # of the step each waits on, from the case's deadlines or its appeal's.
    op.execute(
        """
        UPDATE cases SET step_due_on = CASE next_deadline_step
            WHEN 'threshold_decision' THEN COALESCE(threshold_decision_by, next_deadline)
            WHEN 'outcome' THEN COALESCE(outcome_by, next_deadline)
            WHEN 'appeal_by' THEN COALESCE(appeal_by, next_deadline)
            WHEN 'appeal_chair' THEN COALESCE(
                (SELECT name_chair_by FROM appeals WHERE appeals.case_id = cases.id), next_deadline)
            WHEN 'appeal_acknowledge' THEN COALESCE(
                (SELECT acknowledge_by FROM appeals WHERE appeals.case_id = cases.id), next_deadline)
            WHEN 'appeal_decision' THEN COALESCE(
                (SELECT decision_by FROM appeals WHERE appeals.case_id = cases.id), next_deadline)
            ELSE next_deadline
        END
        WHERE next_deadline IS NOT NULL
        """
    )
    # And the names they are searched by (domain.case_index.names_to_search, as it was written here).
    connection = op.get_bind()
    cases = sa.table('cases', sa.column('id', sa.Integer), sa.column('application', sa.JSON),
                     sa.column('applicant_name_search', sa.String))
    rows = connection.execute(sa.select(cases.c.id, cases.c.application)).all()
    for case_id, application in rows:
        names = _names(application if isinstance(application, dict) else json.loads(application or 'null'))
        if names:
            connection.execute(
                sa.update(cases).where(cases.c.id == case_id).values(applicant_name_search=names)
            )


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize('NFKD', text)
    plain = ''.join(character for character in decomposed if not unicodedata.combining(character))
    return ' '.join(plain.casefold().split())


def _names(application: object) -> str | None:
    if not isinstance(application, dict):
        return None
    names = []
    for key, field in (('applicant', 'name'), ('on_behalf_of', 'victim_name')):
        part = application.get(key)
        if isinstance(part, dict) and isinstance(part.get(field), str) and part[field].strip():
            names.append(_fold(part[field]))
    return ' / '.join(names)[:410] or None


def downgrade() -> None:
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index('ix_cases_locality_search')
        batch_op.drop_index('ix_cases_locality_step_due_on')
        batch_op.drop_index('ix_cases_locality_stage_step_due_on')
        batch_op.drop_column('applicant_name_search')
        batch_op.drop_column('step_due_on')
