"""Case references run without gaps: an application whose case could not start (Temporal down) is not
kept, and its number goes to the next application."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from api.case_store import forget_case, store_case
from core.config import PROJECT_ROOT
from core.localities import load_policies
from db.session import migrate, session_factory
from domain.application import Application
from domain.threshold import assess
from tests import support

TODAY = dt.date(2026, 11, 27)


def store(database_url: str, key: str) -> str:
    policy = load_policies(PROJECT_ROOT / "localities")["blaby"]
    application = Application.model_validate(support.application(today=TODAY))
    reference, created = store_case(
        session_factory(database_url),
        application=application,
        policy=policy,
        received_on=TODAY,
        assessment=assess(application, policy.threshold, TODAY),
        idempotency_key=key,
    )
    assert created
    return reference


def test_a_case_that_could_not_start_gives_its_number_back(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cases.db'}"
    migrate(url)
    first = store(url, "first-application")
    refused = store(url, "refused-while-temporal-was-down")
    forget_case(session_factory(url), reference=refused)
    # The next application takes the number the refused one had: no gap.
    assert store(url, "next-application") == refused
    assert first.endswith("-0001") and refused.endswith("-0002")

    # Only when another application was numbered in between does a number stay unused.
    refused_again = store(url, "refused-again")
    numbered_meanwhile = store(url, "numbered-meanwhile")
    forget_case(session_factory(url), reference=refused_again)
    assert (refused_again[-4:], numbered_meanwhile[-4:]) == ("0003", "0004")
    assert store(url, "after-that").endswith("-0005")
