"""Temporal activities: every side effect of a case (database records, letters, email), the weekly
bank-holiday check's, the yearly figures' email and the outbox sweep's. `build_activities` is the one list
the worker registers."""

from collections.abc import Callable
from typing import Any

from activities.calendar import CalendarActivities
from activities.case import CaseActivities
from activities.figures import YearlyFiguresActivities
from activities.outbox_sweep import OutboxSweepActivities
from core.config import Settings
from db.session import session_factory
from domain.policy import LocalityPolicy


def build_activities(settings: Settings, policies: dict[str, LocalityPolicy]) -> list[Callable[..., Any]]:
    sessions = session_factory(settings.database_url)
    return [
        *CaseActivities(settings, policies, sessions).all(),
        CalendarActivities(policies, sessions).send_bank_holidays_to_open_cases,
        *YearlyFiguresActivities(settings, policies, sessions).all(),
        OutboxSweepActivities(settings, sessions).deliver_stalled_api_mail,
    ]
