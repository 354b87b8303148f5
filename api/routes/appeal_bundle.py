"""The appeal bundle as one PDF, `/appeal/chair/bundle.pdf`, for chairs who print: the same papers as the
chair's page (api.appeal.views.load_bundle) with a contents page, made when asked for (templates/
letters_pdf/appeal_bundle.j2). Only the chair's working session gets it; every download is audited.
"""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Response
from fastapi.concurrency import run_in_threadpool

from activities.letter_pdf import TEMPLATES, LetterPdf, pdf_of, unbroken_reference
from activities.rendering import Renderer
from api.appeal.views import Bundle, load_bundle
from api.appeal.visits import ChairVisitDep
from api.security_headers import download_headers
from domain.calendar import london_date
from domain.policy import LocalityPolicy

router = APIRouter(prefix="/appeal", include_in_schema=False)

STYLESHEET = TEMPLATES / "letters_pdf" / "appeal_bundle.css"
_RENDERER = Renderer()


def bundle_pdf(
    bundle: Bundle, *, reference: str, council: LocalityPolicy, heard_by: str, made_on: dt.date
) -> LetterPdf:
    """The bundle as a PDF: a title page with the contents, then each section on a new page."""
    printable = _RENDERER.render_print(
        "letters_pdf/appeal_bundle.j2",
        {
            "bundle": bundle,
            "reference": reference,
            "council": council,
            "heard_by": heard_by,
            "made_on": made_on,
        },
    )
    return pdf_of(unbroken_reference(printable, reference), STYLESHEET)


@router.get("/chair/bundle.pdf")
async def chair_bundle_pdf(visit: ChairVisitDep) -> Response:
    appeal = visit.appeal
    bundle = await run_in_threadpool(load_bundle, visit.sessions, view=appeal, policy=visit.policy)
    pdf = await run_in_threadpool(
        bundle_pdf,
        bundle,
        reference=appeal.case_reference,
        council=visit.policy,
        heard_by=appeal.holder_name,
        made_on=london_date(visit.now),
    )
    await visit.audit("appeal_bundle_downloaded", f"{pdf.pages} pages")
    # A download (not shown in the browser), never cached or referred, as the chair's page.
    return Response(
        content=pdf.content,
        media_type="application/pdf",
        headers=download_headers(f'attachment; filename="{appeal.case_reference}-appeal-bundle.pdf"'),
    )
