"""Staff passwords: argon2id hashes (argon2-cffi, RFC 9106's recommended parameters) and the rules a new
password must meet (at least 12 characters, not the user's email address, not a very common password).

Checking a password always costs one argon2 verification, whether or not there is a hash to check it
against (an unknown email, an invited user without a password): how long signing in takes must not tell
anyone which email addresses have accounts.
"""

from __future__ import annotations

from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 12
# Long enough for any passphrase; a limit keeps a megabyte of "password" from costing a hash.
MAX_LENGTH = 256

# Seeded by `make run` for every development user and printed there: published, so never a real password.
DEVELOPMENT_PASSWORD = "community-trigger-dev"  # noqa: S105 - published on purpose, development only

# The most common passwords of 12 characters or more in published breach lists (shorter ones fail the
# length rule anyway), compared without case. Not a breach-corpus check: a short list that catches the
# passwords an attacker tries first.
COMMON_PASSWORDS = frozenset(
    {
        "123456789012",
        "1234567890123",
        "12345678901234",
        "123456789123",
        "123123123123",
        "111111111111",
        "000000000000",
        "abcdefghijkl",
        "abc123abc123",
        "qwertyuiopas",
        "qwertyuiop12",
        "qwertyuiop123",
        "qwerty123456",
        "1qaz2wsx3edc",
        "1q2w3e4r5t6y",
        "zaq12wsxcde3",
        "asdfghjkl123",
        "password1234",
        "password12345",
        "password123!",
        "password@123",
        "passwordpassword",
        "password123456",
        "passw0rd1234",
        "p@ssw0rd1234",
        "iloveyou1234",
        "iloveyouiloveyou",
        "letmein12345",
        "welcome12345",
        "welcome@1234",
        "welcome123456",
        "changeme1234",
        "changemenow!",
        "administrator",
        "administrator1",
        "admin1234567",
        "adminadminadmin",
        "football1234",
        "baseball1234",
        "monkey123456",
        "sunshine1234",
        "princess1234",
        "superman1234",
        "starwars1234",
        "trustno1trustno1",
        "liverpool123",
        "chelsea12345",
        "arsenal12345",
        "manchesterunited",
        "summer2024!!",
        "summer2025!!",
        "summer2026!!",
        "winter2025!!",
        "winter2026!!",
        "spring2026!!",
        "autumn2026!!",
        "january2026!",
        "november2026",
        "december2026",
        "community123",
        "communitysafety",
        "communitytrigger",
        "community-trigger",
        "asbcasereview",
        "correcthorsebatterystaple",
        DEVELOPMENT_PASSWORD,
    }
)

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    # A hash of nothing anyone can type (a NUL byte): checking it costs what a real check costs.
    return _hasher.hash("\x00not a password")


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether `password` is the one `password_hash` was made from; one argon2 verification either way
    (against a dummy hash when there is none), and False for anything that is not a hash of ours."""
    # Never a password of ours when too long; still one verification, of the part that fits.
    real = password_hash is not None and len(password) <= MAX_LENGTH
    try:
        matched = _hasher.verify(
            password_hash if real and password_hash else _dummy_hash(), password[:MAX_LENGTH]
        )
    except (VerificationError, InvalidHashError):
        return False
    return matched and real


def needs_new_hash(password_hash: str) -> bool:
    """Whether a hash was made with weaker parameters than today's (re-hashed at the next sign-in)."""
    try:
        return _hasher.check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


def password_problem(password: str, email: str) -> str | None:
    """What is wrong with a new password, as the error message to show; None when it will do."""
    if not password:
        return "Enter a password"
    if len(password) < MIN_LENGTH:
        return f"Your password must be at least {MIN_LENGTH} characters long"
    if len(password) > MAX_LENGTH:
        return f"Your password must be {MAX_LENGTH} characters or fewer"
    folded = password.strip().casefold()
    address = email.strip().casefold()
    if folded in {address, address.split("@", 1)[0]}:
        return "Your password must not be your email address"
    if folded in COMMON_PASSWORDS or len(set(folded)) <= 2:
        return "Your password is too easy to guess: choose a less common one, like three random words"
    return None
