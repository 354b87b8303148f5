"""What every HTML page of the service shares: one Jinja environment (with the GOV.UK Frontend macros),
one date style, and the static assets (govuk-frontend's CSS, JS, fonts and images)."""

from __future__ import annotations

import mimetypes
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PackageLoader, PrefixLoader, select_autoescape

from core.config import PROJECT_ROOT
from domain.calendar import long_date

STATIC_DIR = Path(__file__).resolve().parent / "static"
GOVUK_ASSETS_DIR = STATIC_DIR / "govuk-frontend" / "assets"


templates = Environment(
    loader=ChoiceLoader(
        [
            FileSystemLoader(PROJECT_ROOT / "templates"),
            # The macros import each other as "govuk_frontend_jinja/components/...".
            PrefixLoader({"govuk_frontend_jinja": PackageLoader("govuk_frontend_jinja")}),
        ]
    ),
    autoescape=select_autoescape(default=True, default_for_string=True),
)
templates.filters["long_date"] = long_date


def render(template: str, **context: Any) -> str:
    return templates.get_template(template).render(**context)


class _Assets(StaticFiles):
    """Static files that browsers may cache and must not sniff into another type."""

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers.setdefault("Cache-Control", "public, max-age=3600")
        return response


def mount_assets(app: FastAPI) -> None:
    """govuk-frontend's CSS and JS under /static; its fonts and images at /assets, as its CSS expects."""
    # Not every system's MIME table knows web fonts.
    mimetypes.add_type("font/woff2", ".woff2")
    mimetypes.add_type("font/woff", ".woff")
    app.mount("/assets", _Assets(directory=GOVUK_ASSETS_DIR), name="govuk-assets")
    app.mount("/static", _Assets(directory=STATIC_DIR), name="static")
