"""Temporal activities: every side effect of a case (database records, letters, email)."""

from collections.abc import Callable
from typing import Any

from core.config import Settings
from domain.policy import LocalityPolicy


def build_activities(settings: Settings, policies: dict[str, LocalityPolicy]) -> list[Callable[..., Any]]:
    return []
