"""Staff sign-in on PostgreSQL: guesses sent at once are each counted, so the lock-out and the security
code's tries hold however many arrive together (the server of tests/test_postgres.py)."""

from __future__ import annotations

import datetime as dt
import threading
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import select

from api.staff import codes
from api.staff.lockout import LOCK_AFTER_FAILURES
from api.staff.passwords import hash_password
from api.staff.sign_in import SignInRefused, sign_in_with_password
from db.models import StaffLocality, StaffUser
from db.session import session_factory
from db.staff_models import StaffSignIn
from tests.test_postgres import database_url, postgres, settings_for  # noqa: F401 - the fixtures

GUESSES = 20
PASSWORD = "a-right-password-for-tests"
EMAIL = "sam@blaby.gov.example"


def _at_once(guess: object, count: int) -> list[object]:
    """Run `guess(i)` for each i in as many threads, released together."""
    barrier = threading.Barrier(count)

    def released(i: int) -> object:
        barrier.wait()
        return guess(i)  # type: ignore[operator]

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(released, range(count)))


def test_guesses_at_once_each_count_towards_the_lock_out_and_the_code_tries(database_url: str) -> None:  # noqa: F811
    settings = settings_for(database_url)
    sessions = session_factory(database_url)
    now = dt.datetime.now(dt.UTC)
    with sessions.begin() as session:
        session.add(
            StaffUser(
                name="Sam",
                email=EMAIL,
                role="spoc",
                active=True,
                created_at=now,
                password_hash=hash_password(PASSWORD),
                localities=[StaffLocality(locality="blaby")],
            )
        )

    refused = _at_once(
        lambda i: sign_in_with_password(
            sessions,
            settings,
            email=EMAIL,
            password=f"wrong-guess-{i}",
            next_path=None,
            now=now,
        ),
        GUESSES,
    )
    assert all(isinstance(answer, SignInRefused) for answer in refused)
    with sessions() as session:
        user = session.scalar(select(StaffUser))
        assert user is not None
        # The first ten failures locked the account (the count starts again); the other guesses met the lock.
        assert GUESSES > LOCK_AFTER_FAILURES
        assert user.locked_until is not None and user.locked_until > now
        assert user.failed_sign_ins == 0

    later = now + dt.timedelta(minutes=20)
    started = sign_in_with_password(
        sessions, settings, email=EMAIL, password=PASSWORD, next_path=None, now=later
    )
    assert isinstance(started, codes.CodeToSend)
    answers = _at_once(
        lambda i: codes.check_code(
            sessions,
            settings,
            token=started.token,
            code=f"{(int(started.code) + 1 + i) % 10**6:06d}",
            now=later,
            earlier_session=None,
        ),
        GUESSES,
    )
    # Only the sign-in's tries were checked; every other guess found it over.
    assert sum(isinstance(answer, codes.CodeRefused) for answer in answers) == codes.CODE_TRIES - 1
    with sessions() as session:
        row = session.scalar(select(StaffSignIn))
        assert (
            row is not None and row.wrong_codes == codes.CODE_TRIES and row.ended_reason == "too_many_tries"
        )
