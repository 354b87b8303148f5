"""The published yearly figures (public, no sign-in): `/figures` for each council and each combined area
(LLR), per reporting year, with a chart and a table; downloads as CSV and JSON
(`/figures/<area>/<year>.csv|.json`); and the same JSON at `GET /api/figures?locality=&year=`.

Small numbers are suppressed here, in every form (domain/figures.py SUPPRESSED): only the manager's email
carries them exactly. Nothing personal is read: counts and dates.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from api.deps import PoliciesDep, SessionFactoryDep, TodayDep
from api.link_pages import link_page
from db.figures import figures_for, first_received_on
from domain.figures import (
    SUPPRESS_BELOW,
    SUPPRESSED,
    Area,
    ReportingYear,
    Row,
    YearlyFigures,
    areas_of,
    by_section,
    deadline_table,
    describe_year,
    has_figures,
    last_complete_year,
    rows,
    years_from,
)
from domain.policy import LocalityPolicy

router = APIRouter(tags=["figures"])

SUPPRESSION = (
    f'Numbers from 1 to {SUPPRESS_BELOW - 1} are shown as "{SUPPRESSED}", and so are shares and medians '
    f"of fewer than {SUPPRESS_BELOW} cases, so that no one can be identified from them."
)


# ---- the JSON document (also the API's) ---------------------------------------------------------------


class FiguresAreaView(BaseModel):
    key: str
    name: str
    councils: list[str]


class FiguresYearView(BaseModel):
    kind: str
    year: str
    label: str
    first_day: dt.date
    last_day: dt.date
    # False while the year is still running: the figures are so far, to `as_of`.
    complete: bool
    as_of: dt.date


class FiguresDocument(BaseModel):
    """An area's published figures for one reporting year; numbers, or words where suppressed."""

    area: FiguresAreaView
    year: FiguresYearView
    suppression: str
    required: dict[str, int | str]
    more: dict[str, int | str]
    deadlines_met: dict[str, str]
    deadlines_due: dict[str, int | str]
    median_working_days: dict[str, int | float | str]


def document(area: Area, figures: YearlyFigures, policies: Mapping[str, LocalityPolicy]) -> FiguresDocument:
    sections = by_section(rows(figures, public=True))
    values = {section: {row.key: row.value for row in found} for section, found in sections.items()}
    year = figures.year
    return FiguresDocument.model_validate(
        {
            "area": {
                "key": area.key,
                "name": area.name,
                "councils": [policies[key].council for key in area.localities],
            },
            "year": {
                "kind": year.kind.value,
                "year": year.slug,
                "label": year.label,
                "first_day": year.first_day,
                "last_day": year.last_day,
                "complete": figures.complete,
                "as_of": figures.as_of,
            },
            "suppression": SUPPRESSION,
            **values,
        }
    )


# ---- finding the area and the year --------------------------------------------------------------------


def area_named(key: str | None, policies: PoliciesDep) -> Area | None:
    return areas_of(policies).get(key) if key else None


def year_named(slug: str | None, area: Area, today: dt.date) -> ReportingYear | None:
    """The year the slug names for this area (its latest complete year when none is given), or None."""
    if not slug:
        return last_complete_year(today, area.year_kind)
    year = ReportingYear.parse(slug, area.year_kind)
    return year if year is not None and has_figures(year, today) else None


async def computed(
    area: Area, year: ReportingYear, policies: PoliciesDep, sessions: SessionFactoryDep, today: dt.date
) -> YearlyFigures:
    def count() -> YearlyFigures:
        with sessions() as session:
            return figures_for(session, area, policies, year, today)

    return await run_in_threadpool(count)


async def area_and_year(
    area_key: str, slug: str | None, policies: PoliciesDep, today: dt.date
) -> tuple[Area, ReportingYear]:
    """For the downloads and the API: 404 naming what is unknown."""
    area = area_named(area_key, policies)
    if area is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"No area {area_key!r}: see /figures for the areas.")
    year = year_named(slug, area, today)
    if year is None:
        example = last_complete_year(today, area.year_kind).slug
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            f"No figures for year {slug!r} in {area.key}: a year is written like {example!r}.",
        )
    return area, year


# ---- downloads and the API -----------------------------------------------------------------------------


def filename(area: Area, year: ReportingYear, extension: str) -> str:
    return f"community-trigger-figures-{area.key}-{year.slug}.{extension}"


@router.get(
    "/api/figures",
    response_model=FiguresDocument,
    summary="An area's published yearly figures",
    description=(
        "The yearly figures of a locality (its key, as in `localities/`) or a combined area (`llr`), for a "
        "reporting year written `2025-26` (financial) or `2025` (calendar), as the locality's policy "
        "counts; without `year`, the latest year that has ended. " + SUPPRESSION
    ),
)
async def figures_api(
    policies: PoliciesDep,
    sessions: SessionFactoryDep,
    today: TodayDep,
    locality: Annotated[str, Query(max_length=60)],
    year: Annotated[str | None, Query(max_length=7)] = None,
) -> FiguresDocument:
    area, reporting_year = await area_and_year(locality, year, policies, today)
    return document(area, await computed(area, reporting_year, policies, sessions, today), policies)


@router.get("/figures/{area_key}/{year}.json", include_in_schema=False)
async def figures_json(
    area_key: str, year: str, policies: PoliciesDep, sessions: SessionFactoryDep, today: TodayDep
) -> Response:
    area, reporting_year = await area_and_year(area_key, year, policies, today)
    figures = await computed(area, reporting_year, policies, sessions, today)
    return JSONResponse(
        document(area, figures, policies).model_dump(mode="json"),
        headers={"Content-Disposition": f'attachment; filename="{filename(area, reporting_year, "json")}"'},
    )


@router.get("/figures/{area_key}/{year}.csv", include_in_schema=False)
async def figures_csv(
    area_key: str, year: str, policies: PoliciesDep, sessions: SessionFactoryDep, today: TodayDep
) -> Response:
    area, reporting_year = await area_and_year(area_key, year, policies, today)
    figures = await computed(area, reporting_year, policies, sessions, today)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["area", "year", "section", "figure", "label", "value"])
    for row in rows(figures, public=True):
        writer.writerow([area.name, describe_year(figures), row.section, row.key, row.label, row.value])
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename(area, reporting_year, "csv")}"'},
    )


# ---- the pages ------------------------------------------------------------------------------------------

# The chart's geometry, in its viewBox's units (it scales to the column's width).
CHART_WIDTH, BAR_SPACE, ROW_HEIGHT, BAR_HEIGHT = 400, 300, 64, 24


def chart(required: list[Row]) -> dict[str, Any]:
    """A horizontal bar for each of the four required figures; a suppressed one has no bar, only its words."""
    largest = max((row.number or 0 for row in required), default=0)
    bars = []
    for index, row in enumerate(required):
        width = round(BAR_SPACE * (row.number or 0) / largest) if largest else 0
        top = index * ROW_HEIGHT
        bars.append(
            {
                "label": row.label,
                "value": row.value,
                "label_y": top + 18,
                "bar_y": top + 26,
                "width": width,
                "value_x": width + 8,
                "value_y": top + 26 + BAR_HEIGHT - 7,
            }
        )
    return {
        "width": CHART_WIDTH,
        "height": len(required) * ROW_HEIGHT,
        "bar_height": BAR_HEIGHT,
        "bars": bars,
        "description": "; ".join(f"{row.label}: {row.value}" for row in required) + ".",
    }


def page(template: str, status_code: int = 200, **context: Any) -> Response:
    return link_page(f"figures/{template}", status_code, **context)


@router.get("/figures", include_in_schema=False)
async def figures_page(
    policies: PoliciesDep,
    sessions: SessionFactoryDep,
    today: TodayDep,
    area: Annotated[str | None, Query(max_length=60)] = None,
    year: Annotated[str | None, Query(max_length=7)] = None,
) -> Response:
    areas = areas_of(policies)
    if not area:
        councils = [found for found in areas.values() if not found.combined]
        combined = [found for found in areas.values() if found.combined]
        return page("index.html", councils=councils, combined=combined)
    chosen = areas.get(area)
    if chosen is None:
        return page("not_found.html", status.HTTP_404_NOT_FOUND, what="area")
    reporting_year = year_named(year, chosen, today)
    if reporting_year is None:
        return page("not_found.html", status.HTTP_404_NOT_FOUND, what="year", area=chosen)
    figures = await computed(chosen, reporting_year, policies, sessions, today)

    def first_case() -> dt.date | None:
        with sessions() as session:
            return first_received_on(session, list(chosen.localities))

    first = await run_in_threadpool(first_case) or today
    published = rows(figures, public=True)
    sections = by_section(published)
    return page(
        "area.html",
        area=chosen,
        councils=[policies[key].council for key in chosen.localities],
        figures=figures,
        described_year=describe_year(figures),
        years=years_from(min(first, reporting_year.first_day), today, chosen.year_kind),
        sections=sections,
        chart=chart(sections["required"]),
        deadlines=deadline_table(published),
        suppression=SUPPRESSION,
        csv_url=f"/figures/{chosen.key}/{reporting_year.slug}.csv",
        json_url=f"/figures/{chosen.key}/{reporting_year.slug}.json",
        api_url=f"/api/figures?locality={chosen.key}&year={reporting_year.slug}",
    )
