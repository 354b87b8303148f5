"""Temporal activities: every side effect of a case (database records, letters, email)."""

from collections.abc import Callable
from typing import Any

from activities.case import CaseActivities
from core.config import Settings
from db.session import session_factory
from domain.policy import LocalityPolicy


def build_activities(settings: Settings, policies: dict[str, LocalityPolicy]) -> list[Callable[..., Any]]:
    return CaseActivities(settings, policies, session_factory(settings.database_url)).all()
