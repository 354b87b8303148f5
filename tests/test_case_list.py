"""The JSON list of cases (`GET /api/cases`) comes a page at a time: in the order steps fall due, then cases
waiting on no deadline, newest first; `limit` a page, the next page's cursor in `X-Next-Cursor` and `Link`,
the filters (locality, stage, overdue) on every page, and only the member's localities.

The app is the real one on a migrated SQLite database of the test's own, its cases written as rows (the
list reads rows only; no workflow is needed).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import httpx
import pytest

from db.models import Case
from db.session import session_factory
from tests.support import application
from tests.test_security import app_for, client_of, seeded_in_development, settings_for

pytestmark = pytest.mark.asyncio(loop_scope="session")

TODAY = dt.date.today()
SPOC = {"Authorization": "Bearer dev-spoc-rutland"}


def store(url: str, rows: list[tuple[str, str, str, int | None]]) -> None:
    """Cases (reference, locality, stage, step due in days from today or None), with ids in this order."""
    now = dt.datetime.now(dt.UTC)
    with session_factory(url).begin() as session:
        for reference, locality, stage, due_in in rows:
            due = None if due_in is None else TODAY + dt.timedelta(days=due_in)
            session.add(
                Case(
                    reference=reference,
                    locality=locality,
                    stage=stage,
                    received_on=TODAY,
                    application=application(today=TODAY),
                    assessment={"met": True, "reasons": []},
                    next_deadline=due,
                    next_deadline_step="threshold_decision" if due else None,
                    step_due_on=due,
                    created_at=now,
                    updated_at=now,
                )
            )


async def every_page(api: httpx.AsyncClient, **params: Any) -> list[list[str]]:
    """The references of each page, following `X-Next-Cursor` (and checking `Link` says the same)."""
    pages: list[list[str]] = []
    cursor = None
    while True:
        response = await api.get("/api/cases", params={**params, "cursor": cursor or []}, headers=SPOC)
        assert response.status_code == 200, response.text
        pages.append([case["reference"] for case in response.json()])
        cursor = response.headers.get("X-Next-Cursor")
        if cursor is None:
            assert "Link" not in response.headers
            return pages
        assert f"cursor={cursor}" in response.headers["Link"]
        assert response.headers["Link"].endswith('>; rel="next"')


async def test_the_list_pages_by_cursor_in_due_order_with_its_filters(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, environment="development")
    seeded_in_development(settings)
    store(
        settings.database_url,
        [
            ("CT-RUT-1", "rutland", "threshold_check", 3),
            ("CT-RUT-2", "rutland", "review", -2),
            ("CT-RUT-3", "rutland", "closed", None),
            ("CT-RUT-4", "rutland", "threshold_check", -5),
            ("CT-RUT-5", "rutland", "received", None),
            ("CT-RUT-6", "rutland", "threshold_check", 3),
            ("CT-BLA-1", "blaby", "threshold_check", -9),  # not the Rutland SPOC's
        ],
    )
    async with client_of(app_for(settings)) as api:
        assert await every_page(api, limit=2) == [
            ["CT-RUT-4", "CT-RUT-2"],
            ["CT-RUT-1", "CT-RUT-6"],
            ["CT-RUT-5", "CT-RUT-3"],
        ]
        assert await every_page(api) == [
            ["CT-RUT-4", "CT-RUT-2", "CT-RUT-1", "CT-RUT-6", "CT-RUT-5", "CT-RUT-3"]
        ]
        assert await every_page(api, limit=1, overdue="true") == [["CT-RUT-4"], ["CT-RUT-2"]]
        assert await every_page(api, limit=2, overdue="false") == [
            ["CT-RUT-1", "CT-RUT-6"],
            ["CT-RUT-5", "CT-RUT-3"],
        ]
        assert await every_page(api, limit=1, stage="threshold_check") == [
            ["CT-RUT-4"],
            ["CT-RUT-1"],
            ["CT-RUT-6"],
        ]
        assert await every_page(api, locality="blaby") == [[]]

        first = (await api.get("/api/cases", params={"overdue": "true"}, headers=SPOC)).json()
        assert [(case["reference"], case["overdue"]) for case in first] == [
            ("CT-RUT-4", True),
            ("CT-RUT-2", True),
        ]
        for bad in ({"cursor": "page-2"}, {"limit": 0}, {"limit": 501}):
            assert (await api.get("/api/cases", params=bad, headers=SPOC)).status_code == 422, bad
