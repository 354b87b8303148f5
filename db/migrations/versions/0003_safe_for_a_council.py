"""development staff marked, revocable API keys, new-link requests once a day, tallied audit refusals,
applicant emails that are not one address cleared

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 09:00:00.000000
"""

import hashlib
import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from email_validator import EmailNotValidError, validate_email

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The development seed's addresses (a reserved domain) and keys, as db/seed.py made them.
DEVELOPMENT_EMAIL_DOMAIN = "@community-trigger.invalid"


def _development_key_hash(locality: str) -> str:
    return hashlib.sha256(f"dev-spoc-{locality}".encode()).hexdigest()


def _is_one_mailbox(value: str) -> bool:
    # The rule of domain.application.one_mailbox as it stood for this migration.
    if any(c in value for c in ',;<>()"') or any(c.isspace() or not c.isprintable() for c in value):
        return False
    try:
        validate_email(value, check_deliverability=False, test_environment=True)
    except EmailNotValidError:
        return False
    return True


def upgrade() -> None:
    with op.batch_alter_table('staff_users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('development_only', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.alter_column('api_key_hash', existing_type=sa.String(length=64), nullable=True)

    with op.batch_alter_table('information_requests', schema=None) as batch_op:
        batch_op.add_column(sa.Column('new_link_requested_on', sa.Date(), nullable=True))

    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.add_column(sa.Column('occurrences', sa.Integer(), server_default=sa.text('1'), nullable=False))
        batch_op.add_column(sa.Column('tally_key', sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_audit_log_tally_key'), ['tally_key'])

    connection = op.get_bind()
    users = sa.table(
        'staff_users',
        sa.column('id', sa.Integer()),
        sa.column('email', sa.String()),
        sa.column('api_key_hash', sa.String()),
        sa.column('development_only', sa.Boolean()),
    )
    links = sa.table('staff_localities', sa.column('user_id', sa.Integer()), sa.column('locality', sa.String()))
    # Staff the development seed made before they were marked: its addresses, or one of its known keys.
    development = set(
        connection.scalars(sa.select(users.c.id).where(users.c.email.like(f"%{DEVELOPMENT_EMAIL_DOMAIN}")))
    )
    for user_id, key_hash, locality in connection.execute(
        sa.select(users.c.id, users.c.api_key_hash, links.c.locality).join(links, links.c.user_id == users.c.id)
    ):
        if key_hash == _development_key_hash(locality):
            development.add(user_id)
    if development:
        connection.execute(
            sa.update(users).where(users.c.id.in_(sorted(development))).values(development_only=True)
        )

    # Applications are read again by every letter. One stored with an email that is not one address
    # (accepted before this version) would stop its case; such an address is cleared, so letters go by post.
    cases = sa.table('cases', sa.column('id', sa.Integer()), sa.column('application', sa.JSON()))
    for case_id, application in connection.execute(sa.select(cases.c.id, cases.c.application)):
        if isinstance(application, str):
            application = json.loads(application)
        applicant = (application or {}).get('applicant') or {}
        email = applicant.get('email')
        if isinstance(email, str) and email and not _is_one_mailbox(email):
            applicant['email'] = None
            connection.execute(sa.update(cases).where(cases.c.id == case_id).values(application=application))


def downgrade() -> None:
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_audit_log_tally_key'), type_='unique')
        batch_op.drop_column('tally_key')
        batch_op.drop_column('occurrences')

    with op.batch_alter_table('information_requests', schema=None) as batch_op:
        batch_op.drop_column('new_link_requested_on')

    with op.batch_alter_table('staff_users', schema=None) as batch_op:
        batch_op.alter_column('api_key_hash', existing_type=sa.String(length=64), nullable=False)
        batch_op.drop_column('development_only')
