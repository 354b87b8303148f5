"""FastAPI dependencies shared by the routes: settings, locality policies, database session, Temporal."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import Depends

from core.config import Settings, get_settings
from core.localities import policies_from
from domain.calendar import LONDON
from domain.policy import LocalityPolicy


def get_policies(settings: Annotated[Settings, Depends(get_settings)]) -> dict[str, LocalityPolicy]:
    return policies_from(settings.localities_dir)


def today_in_london() -> dt.date:
    """Today's date in Europe/London; tests override it with `app.dependency_overrides`."""
    return dt.datetime.now(LONDON).date()


def now_utc() -> dt.datetime:
    """The current instant (UTC, aware); tests override it with `app.dependency_overrides`."""
    return dt.datetime.now(dt.UTC)


SettingsDep = Annotated[Settings, Depends(get_settings)]
PoliciesDep = Annotated[dict[str, LocalityPolicy], Depends(get_policies)]
TodayDep = Annotated[dt.date, Depends(today_in_london)]
NowDep = Annotated[dt.datetime, Depends(now_utc)]
