"""Staff accounts from the command line: the way to give real staff their API keys, and to take them away.

    python -m db.staff_admin create-user --name "Sam Jones" --email sam.jones@blaby.gov.uk \\
        --role spoc --locality blaby [--locality harborough]
    python -m db.staff_admin list-users
    python -m db.staff_admin new-key --email sam.jones@blaby.gov.uk      # the old key stops working
    python -m db.staff_admin revoke-key --email sam.jones@blaby.gov.uk   # no key works until new-key
    python -m db.staff_admin deactivate --email sam.jones@blaby.gov.uk
    python -m db.staff_admin revoke-development-access                   # before ENVIRONMENT=production

It uses the service's settings (DATABASE_URL, LOCALITIES_DIR). A new key is printed once, on a line of its
own, and only its SHA-256 is stored; a revoked key or a deactivated user is refused at the next request.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Sequence
from typing import TextIO

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from core.config import Settings, get_settings
from core.localities import policies_from
from db.models import StaffLocality, StaffUser
from db.seed import development_users
from db.session import session_factory
from domain.application import one_mailbox
from domain.staff import Role, new_api_key


class StaffAdminError(Exception):
    """A command that cannot be carried out as asked; the message says why."""


# ---- what each command does ------------------------------------------------------------------------


def _user(session: Session, email: str) -> StaffUser:
    user = session.scalar(select(StaffUser).where(func.lower(StaffUser.email) == email.lower()))
    if user is None:
        raise StaffAdminError(f"No staff user has the email address {email}.")
    return user


def create_user(
    sessions: sessionmaker[Session],
    *,
    name: str,
    email: str,
    role: str,
    localities: Sequence[str],
    known_localities: Sequence[str],
    now: dt.datetime,
) -> tuple[int, str]:
    """A new active user; returns their id and their API key (to show once)."""
    name = name.strip()
    if not 1 <= len(name) <= 200:
        raise StaffAdminError("Enter a name of 1 to 200 characters.")
    try:
        one_mailbox(email)
    except ValueError as error:
        raise StaffAdminError(f"Email address: {error}.") from error
    if role not in {member.value for member in Role}:
        raise StaffAdminError(f"Role must be one of: {', '.join(member.value for member in Role)}.")
    unknown = sorted(set(localities) - set(known_localities))
    if not localities or unknown:
        raise StaffAdminError(
            f"Give each locality with --locality, one of: {', '.join(sorted(known_localities))}"
            + (f" (unknown: {', '.join(unknown)})." if unknown else ".")
        )
    key, key_hash = new_api_key()
    with sessions.begin() as session:
        if session.scalar(select(StaffUser.id).where(func.lower(StaffUser.email) == email.lower())):
            raise StaffAdminError(f"A staff user with the email address {email} exists already.")
        user = StaffUser(
            name=name,
            email=email,
            role=role,
            api_key_hash=key_hash,
            active=True,
            development_only=False,
            created_at=now,
            localities=[StaffLocality(locality=locality) for locality in sorted(set(localities))],
        )
        session.add(user)
        session.flush()
        return user.id, key


def issue_new_key(sessions: sessionmaker[Session], *, email: str) -> str:
    """A new API key for the user (shown once); their earlier key stops working at once."""
    key, key_hash = new_api_key()
    with sessions.begin() as session:
        user = _user(session, email)
        if user.development_only:
            raise StaffAdminError("Development users cannot be given keys; create a real user instead.")
        user.api_key_hash = key_hash
    return key


def revoke_key(sessions: sessionmaker[Session], *, email: str) -> None:
    with sessions.begin() as session:
        _user(session, email).api_key_hash = None


def deactivate(sessions: sessionmaker[Session], *, email: str) -> None:
    with sessions.begin() as session:
        _user(session, email).active = False


def revoke_development_access(sessions: sessionmaker[Session]) -> int:
    """Deactivate every development user and remove their keys and passwords; returns how many there were."""
    with sessions.begin() as session:
        users = development_users(session)
        for user in users:
            user.development_only = True
            user.active = False
            user.api_key_hash = None
            # Their password is published too (db.seed): it must not work again if someone reactivates them.
            user.password_hash = None
        return len(users)


def staff_list(sessions: sessionmaker[Session]) -> list[str]:
    """One line per user: id, name, email, role, localities and whether a key of theirs works."""
    with sessions() as session:
        users = list(session.scalars(select(StaffUser).order_by(StaffUser.id)))
        lines = []
        for user in users:
            if not user.active:
                state = "deactivated"
            elif user.api_key_hash is None:
                state = "no key"
            else:
                state = "active"
            if user.development_only:
                state += ", development only"
            localities = ",".join(sorted(user.locality_keys)) or "-"
            lines.append(f"#{user.id}\t{user.name}\t{user.email}\t{user.role}\t{localities}\t{state}")
        return lines


# ---- the command line --------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m db.staff_admin", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create-user", help="create a user and print their API key once")
    create.add_argument("--name", required=True)
    create.add_argument("--email", required=True)
    create.add_argument("--role", required=True, choices=[member.value for member in Role])
    create.add_argument("--locality", action="append", default=[], help="repeat for each locality")
    commands.add_parser("list-users", help="list every user (never their keys)")
    for name, text in (
        ("new-key", "give a user a new API key (printed once); the old one stops working"),
        ("revoke-key", "stop a user's API key working (until new-key)"),
        ("deactivate", "stop a user signing in at all"),
    ):
        command = commands.add_parser(name, help=text)
        command.add_argument("--email", required=True)
    commands.add_parser(
        "revoke-development-access",
        help="deactivate the development users of `make run` and drop their keys and passwords",
    )
    return parser


def main(
    argv: Sequence[str] | None = None,
    *,
    settings: Settings | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    arguments = _parser().parse_args(argv)
    settings = settings or get_settings()
    sessions = session_factory(settings.database_url)
    try:
        if arguments.command == "create-user":
            user_id, key = create_user(
                sessions,
                name=arguments.name,
                email=arguments.email,
                role=arguments.role,
                localities=arguments.locality,
                known_localities=sorted(policies_from(settings.localities_dir)),
                now=dt.datetime.now(dt.UTC),
            )
            print(f"Created staff #{user_id} ({arguments.role}).", file=out)
            print("Their API key, shown this once (only its hash is kept):", file=out)
            print(key, file=out)
        elif arguments.command == "list-users":
            for line in staff_list(sessions):
                print(line, file=out)
        elif arguments.command == "new-key":
            key = issue_new_key(sessions, email=arguments.email)
            print("The earlier key no longer works. The new API key, shown this once:", file=out)
            print(key, file=out)
        elif arguments.command == "revoke-key":
            revoke_key(sessions, email=arguments.email)
            print("Revoked: no key of this user works until `new-key`.", file=out)
        elif arguments.command == "deactivate":
            deactivate(sessions, email=arguments.email)
            print("Deactivated.", file=out)
        elif arguments.command == "revoke-development-access":
            count = revoke_development_access(sessions)
            print(f"Development users deactivated and their keys removed: {count}.", file=out)
    except StaffAdminError as error:
        print(f"error: {error}", file=err)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
