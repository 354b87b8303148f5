"""Provisioning staff: `python -m db.staff_admin` creates a user and prints their key once (stored only as
its hash), lists users, and revokes keys or users so that the API refuses them at once; the migration
marks the development users an older database already has."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy import select

from core.config import PROJECT_ROOT, Settings
from db import staff_admin
from db.models import Case, StaffUser, UTCDateTime
from db.seed import development_access_exists
from db.session import MIGRATIONS, engine_for, session_factory
from tests.test_security import app_for, client_of, settings_for

SAM = ["--name", "Sam Jones", "--email", "sam.jones@blaby.gov.example"]


def run_command(settings: Settings, *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = staff_admin.main(list(argv), settings=settings, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_create_user_command_prints_a_key_the_api_accepts(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, "test")
    environment = {
        **{name: value for name, value in os.environ.items() if name in ("PATH", "HOME", "LANG")},
        "ENVIRONMENT": "test",
        "DATABASE_URL": settings.database_url,
        "LOCALITIES_DIR": str(settings.localities_dir),
    }

    created = subprocess.run(
        [
            sys.executable,
            "-m",
            "db.staff_admin",
            "create-user",
            *SAM,
            "--role",
            "spoc",
            "--locality",
            "blaby",
        ],
        cwd=PROJECT_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert created.returncode == 0, created.stderr
    key = created.stdout.strip().splitlines()[-1]
    assert len(key) >= 40
    with session_factory(settings.database_url)() as session:
        user = session.scalar(select(StaffUser).where(StaffUser.email == "sam.jones@blaby.gov.example"))
        assert user is not None and user.role == "spoc" and user.locality_keys == {"blaby"}
        assert user.api_key_hash == hashlib.sha256(key.encode()).hexdigest()
        assert not user.development_only
    async with client_of(app_for(settings)) as api:
        assert (await api.get("/api/cases", headers=bearer(key))).status_code == 200
        assert (await api.get("/api/cases", headers=bearer(key + "x"))).status_code == 401

    listed = subprocess.run(
        [sys.executable, "-m", "db.staff_admin", "list-users"],
        cwd=PROJECT_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert listed.returncode == 0
    assert "Sam Jones\tsam.jones@blaby.gov.example\tspoc\tblaby\tactive" in listed.stdout
    assert key not in listed.stdout


async def test_revoked_key_and_deactivated_user_are_refused_at_once(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, "test")
    email = "sam.jones@blaby.gov.example"
    _, out, _ = run_command(settings, "create-user", *SAM, "--role", "manager", "--locality", "blaby")
    first = out.strip().splitlines()[-1]

    async with client_of(app_for(settings)) as api:
        assert (await api.get("/api/cases", headers=bearer(first))).status_code == 200

        assert run_command(settings, "new-key", "--email", email)[0] == 0
        second = run_command(settings, "new-key", "--email", email)[1].strip().splitlines()[-1]
        assert second != first
        assert (await api.get("/api/cases", headers=bearer(first))).status_code == 401
        assert (await api.get("/api/cases", headers=bearer(second))).status_code == 200

        assert run_command(settings, "revoke-key", "--email", email)[0] == 0
        assert (await api.get("/api/cases", headers=bearer(second))).status_code == 401
        assert "no key" in run_command(settings, "list-users")[1]

        third = run_command(settings, "new-key", "--email", email)[1].strip().splitlines()[-1]
        assert (await api.get("/api/cases", headers=bearer(third))).status_code == 200
        assert run_command(settings, "deactivate", "--email", email)[0] == 0
        assert (await api.get("/api/cases", headers=bearer(third))).status_code == 401
        assert "deactivated" in run_command(settings, "list-users")[1]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([*SAM, "--role", "spoc", "--locality", "atlantis"], "unknown: atlantis"),
        ([*SAM, "--role", "spoc"], "--locality"),
        (
            [
                "--name",
                "Sam",
                "--email",
                "sam@x.example, b@evil.example",
                "--role",
                "spoc",
                "--locality",
                "blaby",
            ],
            "one",
        ),
        (["--name", " ", "--email", "sam@x.example", "--role", "spoc", "--locality", "blaby"], "name"),
    ],
)
def test_create_user_command_refuses_bad_input(tmp_path: Path, argv: list[str], message: str) -> None:
    settings = settings_for(tmp_path, "test")

    code, out, err = run_command(settings, "create-user", *argv)

    assert code == 1 and out == ""
    assert message in err
    with session_factory(settings.database_url)() as session:
        assert session.scalar(select(StaffUser.id)) is None


def test_create_user_command_refuses_a_second_user_with_the_same_email(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, "test")
    assert run_command(settings, "create-user", *SAM, "--role", "spoc", "--locality", "blaby")[0] == 0

    code, _, err = run_command(
        settings,
        "create-user",
        "--name",
        "Other",
        "--email",
        "SAM.JONES@blaby.gov.example",
        "--role",
        "spoc",
        "--locality",
        "blaby",
    )

    assert code == 1 and "exists already" in err


def test_migration_marks_existing_development_users_and_clears_bad_applicant_emails(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'older.db'}"
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url)
    command.upgrade(config, "0002")
    users = sa.table(
        "staff_users",
        *(
            sa.column(name)
            for name in ("id", "name", "email", "role", "api_key_hash", "active", "created_at")
        ),
    )
    links = sa.table("staff_localities", sa.column("user_id"), sa.column("locality"))
    now = dt.datetime.now(dt.UTC)
    development_hash = hashlib.sha256(b"dev-spoc-blaby").hexdigest()
    with engine_for(url).begin() as connection:
        connection.execute(
            users.insert(),
            [
                # As db/seed.py made them before they were marked.
                dict(
                    id=1,
                    name="Dev",
                    email="dev.spoc.derby@community-trigger.invalid",
                    role="spoc",
                    api_key_hash=hashlib.sha256(b"dev-spoc-derby").hexdigest(),
                    active=True,
                    created_at=now,
                ),
                # Someone given a development key by hand.
                dict(
                    id=2,
                    name="Copy",
                    email="copy@blaby.gov.example",
                    role="spoc",
                    api_key_hash=development_hash,
                    active=True,
                    created_at=now,
                ),
                dict(
                    id=3,
                    name="Real",
                    email="real@blaby.gov.example",
                    role="spoc",
                    api_key_hash="0" * 64,
                    active=True,
                    created_at=now,
                ),
            ],
        )
        connection.execute(
            links.insert(),
            [
                dict(user_id=1, locality="derby"),
                dict(user_id=2, locality="blaby"),
                dict(user_id=3, locality="blaby"),
            ],
        )
    # The cases as the 0002 schema has them (today's model has columns added since).
    cases = sa.table(
        "cases",
        *(
            sa.column(name, type_)
            for name, type_ in (
                ("reference", sa.String()),
                ("locality", sa.String()),
                ("stage", sa.String()),
                ("received_on", sa.Date()),
                ("application", sa.JSON()),
                ("assessment", sa.JSON()),
                ("created_at", UTCDateTime()),
                ("updated_at", UTCDateTime()),
            )
        ),
    )
    with engine_for(url).begin() as connection:
        connection.execute(
            cases.insert(),
            [
                dict(
                    reference=f"CT-BLA-2026-000{number}",
                    locality="blaby",
                    stage="threshold_check",
                    received_on=now.date(),
                    application={"applicant": {"name": "A", "email": email}},
                    assessment={},
                    created_at=now,
                    updated_at=now,
                )
                for number, email in enumerate(["a@x.test, b@evil.test", "alex@example.test"], start=1)
            ],
        )
    sessions = session_factory(url)

    command.upgrade(config, "head")

    with sessions() as session:
        marked = {user.id: user.development_only for user in session.scalars(select(StaffUser))}
        emails = [
            case.application["applicant"]["email"] for case in session.scalars(select(Case).order_by(Case.id))
        ]
    assert marked == {1: True, 2: True, 3: False}
    assert emails == [None, "alex@example.test"]
    assert development_access_exists(url)
    engine_for(url).dispose()
