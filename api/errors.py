"""422 answers in FastAPI's own shape, so clients see one format whoever found the problem.

Every 422 reads `{"detail": [{"loc": [...], "msg": "...", "type": "..."}]}`: `loc` names the field
(for example `["body", "incidents", 1, "reported_on"]`) and `msg` says what to do in plain English.
Pydantic's own messages for malformed dates and missing fields are rewritten to say which field and
what is expected; the submitted value is not echoed back.

Routers opt in with `APIRouter(route_class=ClearValidationErrorRoute)`; an app can instead install
`request_validation_error_handler` for every route.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from typing import Any

from fastapi import HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel

from domain.threshold import Problem

Loc = tuple[str | int, ...]

# How fields are named in messages; the form's labels rather than the JSON keys.
FIELD_LABELS: dict[str, str] = {
    "body": "The application",
    "locality": "Council area",
    "received_on": "Date received",
    "applicant": "Your details",
    "name": "Name",
    "email": "Email address",
    "phone": "Phone number",
    "address": "Address",
    "postcode": "Postcode",
    "is_business": "Whether you are a business",
    "on_behalf_of": "Details of the person you are applying for",
    "victim_name": "Victim's name",
    "relationship": "Your relationship to the victim",
    "victim_consent": "Victim's consent",
    "incidents": "Incidents",
    "occurred_on": "Date the incident happened",
    "reported_on": "Date reported",
    "reported_to": "Who the incident was reported to",
    "organisation": "Organisation reported to",
    "reference": "Reference number",
    "description": "Description of the incident",
    "hate_incident": "Whether this was a hate incident",
    "hate_incident_details": "Details of the hate incident",
    "no_effective_action": "Whether you believe no effective action has been taken",
    "consent_to_share": "Consent to share information",
    "contact_preference": "How you would like to be contacted",
    "support_needs": "What makes you vulnerable or what help you need",
}


class ValidationProblem(BaseModel):
    """One problem with a request (the OpenAPI schema of a 422 item)."""

    loc: list[str | int]
    msg: str
    type: str


class ValidationProblems(BaseModel):
    """The body of every 422 answer."""

    detail: list[ValidationProblem]


def field_label(loc: Sequence[str | int]) -> str:
    """The form's name for the field at `loc`: its last named part."""
    name = next((part for part in reversed(loc) if isinstance(part, str)), "body")
    return FIELD_LABELS.get(name, name.replace("_", " ").capitalize())


def problem(loc: Iterable[str | int], msg: str, type_: str = "value_error") -> dict[str, Any]:
    """One 422 item in FastAPI's shape."""
    return {"loc": list(loc), "msg": msg, "type": type_}


def unprocessable(problems: Iterable[Problem]) -> JSONResponse:
    """A 422 answer naming the field of every problem the domain checks found."""
    return JSONResponse(
        status_code=422, content={"detail": [problem(item.loc, item.msg) for item in problems]}
    )


def clear_message(error: Mapping[str, Any]) -> str:
    """Pydantic's message for one error, rewritten to name the field where it would not be clear."""
    loc = tuple(error.get("loc", ()))
    kind = str(error.get("type", ""))
    label = field_label(loc)
    if kind == "missing":
        if loc == ("body",):
            return "Send the application as a JSON body"
        return f"{label} is required"
    if kind.startswith("date_"):
        return f"{label} must be a real date written as YYYY-MM-DD, for example 2026-03-12"
    if kind.startswith("bool_"):
        return f"{label} must be true or false"
    if kind == "extra_forbidden":
        return f"{label} is not part of the application; remove it"
    if kind == "json_invalid":
        return f"The request body is not valid JSON: {error.get('msg', '')}"
    return f"{label}: {error.get('msg', 'is not valid')}"


def validation_error_response(errors: Sequence[Any]) -> JSONResponse:
    """A 422 for pydantic's errors, keeping each `loc` and `type` and clearing up each `msg`."""
    return JSONResponse(
        status_code=422,
        content={
            "detail": [
                problem(error.get("loc", ()), clear_message(error), str(error.get("type", "value_error")))
                for error in errors
            ]
        },
    )


async def request_validation_error_handler(_request: Request, error: Exception) -> Response:
    """For `app.add_exception_handler(RequestValidationError, ...)`."""
    if not isinstance(error, RequestValidationError):  # pragma: no cover - registered for that class only
        raise error
    return validation_error_response(error.errors())


class ClearValidationErrorRoute(APIRoute):
    """A route whose request-validation 422s carry clear messages (see `validation_error_response`)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                return await handle(request)
            except RequestValidationError as error:
                return validation_error_response(error.errors())

        return handler


UNPROCESSABLE_RESPONSE: dict[int | str, dict[str, Any]] = {
    422: {
        "model": ValidationProblems,
        "description": "The application has problems; each names its field in `loc`.",
        "content": {
            "application/json": {
                "example": {
                    "detail": [
                        {
                            "loc": ["body", "incidents", 1, "reported_on"],
                            "msg": "Date reported must be on or after the date the incident happened",
                            "type": "value_error",
                        }
                    ]
                }
            }
        },
    }
}


def invalid(*problems: tuple[Loc, str]) -> HTTPException:
    """A 422 to raise from a route, in the same shape: `raise invalid((("body", "minutes"), "..."))`."""
    return HTTPException(status_code=422, detail=[problem(loc, msg) for loc, msg in problems])
