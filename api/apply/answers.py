"""The questions of the online application, one page each: what each page asks, its checks (in the words
`domain.application` and `domain.threshold.check_application` use, where they say the same), the order of
the pages, and the `Application` the answers make.

Answers are kept as typed (strings), checked page by page, so that a page shows them again as they were.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import PydanticCustomError

from api.errors import clear_message
from api.link_pages import FormError, form_text, max_length
from domain.application import Applicant, Application, Incident, OnBehalfOf, ReportedTo, one_mailbox
from domain.policy import LocalityPolicy
from domain.threshold import Problem, format_date

WHO = {
    "myself": "I am the victim",
    "someone_else": "I am applying for the victim, with their agreement",
    "organisation": "I am applying for a business or community group",
}
CONTACT = {"email": "By email", "post": "By post"}
REPORTED_TO = {
    ReportedTo.POLICE.value: "The police",
    ReportedTo.COUNCIL.value: "The council",
    ReportedTo.HOUSING_PROVIDER.value: "A housing association or landlord",
    ReportedTo.OTHER.value: "Someone else",
}
YES_NO = {"yes": "Yes", "no": "No"}
MAX_INCIDENTS = 100


def _limit(model: type[BaseModel], name: str) -> int:
    return max_length(model, name)


# ---- the pages and their order ---------------------------------------------------------------

# Pages with one form each, in order; `incidents` stands for the incident pages and their list.
ORDER = ("who", "victim", "name", "contact", "incidents", "hate-incident", "effective-action", "support")


def applies(page: str, answers: Mapping[str, Any]) -> bool:
    return page != "victim" or answers.get("who") == "someone_else"


def answered(page: str, answers: Mapping[str, Any]) -> bool:
    key = {
        "who": "who",
        "victim": "victim_name",
        "name": "name",
        "contact": "contact_preference",
        "hate-incident": "hate_incident",
        "effective-action": "effective_action",
        "support": "support_needs",
    }.get(page)
    if key is not None:
        return key in answers
    return bool(answers.get("incidents")) and bool(answers.get("incidents_finished"))


def url_of(page: str, answers: Mapping[str, Any]) -> str:
    if page == "incidents":
        return "/apply/incidents" if answers.get("incidents") else "/apply/incident/1"
    return f"/apply/{page}"


def first_unanswered(answers: Mapping[str, Any]) -> str | None:
    """The first page still to answer (its URL), or None when every page is answered."""
    for page in ORDER:
        if applies(page, answers) and not answered(page, answers):
            return url_of(page, answers)
    return None


def next_url(page: str, answers: Mapping[str, Any], returning: bool) -> str:
    """Where a page goes once answered: the next page; back to check your answers after a change."""
    if returning:
        return first_unanswered(answers) or "/apply/check"
    later = ORDER[ORDER.index(page) + 1 :]
    following = next((item for item in later if applies(item, answers)), None)
    return url_of(following, answers) if following else "/apply/check"


def back_url(page: str, answers: Mapping[str, Any]) -> str | None:
    """The page before this one; None for the first (the start page comes before it)."""
    earlier = [item for item in ORDER[: ORDER.index(page)] if applies(item, answers)]
    if not earlier:
        return None
    return url_of(earlier[-1], answers)


# ---- checks shared by the pages ----------------------------------------------------------------


@dataclass(frozen=True)
class Checked:
    """A page's answers as typed and the problems with them."""

    values: dict[str, Any]
    errors: list[FormError]


def _required(values: Mapping[str, str], name: str, message: str, errors: list[FormError]) -> None:
    if not values[name]:
        errors.append(FormError(name, message))


def _max(values: Mapping[str, str], name: str, label: str, limit: int, errors: list[FormError]) -> None:
    if len(values[name]) > limit:
        errors.append(FormError(name, f"{label} must be {limit:,} characters or fewer"))


def _choice(fields: Mapping[str, str], name: str, choices: Mapping[str, str]) -> str:
    value = fields.get(name, "")
    return value if value in choices else ""


def _date(
    fields: Mapping[str, str], prefix: str, label: str, today: dt.date, errors: list[FormError]
) -> tuple[dict[str, str], dt.date | None]:
    """A GOV.UK date input's three parts as typed, and the date when it is a real one, not in the future."""
    parts = {part: form_text(fields, f"{prefix}-{part}")[:10] for part in ("day", "month", "year")}
    anchor = f"{prefix}-day"
    if not any(parts.values()):
        errors.append(FormError(anchor, f"Enter the {label[0].lower()}{label[1:]}"))
        return parts, None
    try:
        day = dt.date(int(parts["year"]), int(parts["month"]), int(parts["day"]))
        if day.year < 1900:
            raise ValueError
    except ValueError:
        errors.append(FormError(anchor, f"{label} must be a real date, for example 27 3 2026"))
        return parts, None
    if day > today:
        errors.append(FormError(anchor, f"{label} must be today or in the past"))
        return parts, None
    return parts, day


def date_of(parts: Mapping[str, str]) -> dt.date:
    return dt.date(int(parts["year"]), int(parts["month"]), int(parts["day"]))


# ---- each page's checks ----------------------------------------------------------------------


def check_who(fields: Mapping[str, str], today: dt.date) -> Checked:
    values = {"who": _choice(fields, "who", WHO)}
    errors = [] if values["who"] else [FormError("who", "Select who is applying")]
    return Checked(values, errors)


def check_victim(fields: Mapping[str, str], today: dt.date) -> Checked:
    values: dict[str, Any] = {
        "victim_name": form_text(fields, "victim_name"),
        "relationship": form_text(fields, "relationship"),
        "victim_consent": "yes" if fields.get("victim_consent") == "yes" else "",
    }
    errors: list[FormError] = []
    _required(values, "victim_name", "Enter the victim's full name", errors)
    _max(values, "victim_name", "The victim's name", _limit(OnBehalfOf, "victim_name"), errors)
    _required(values, "relationship", "Enter your relationship to the victim", errors)
    _max(
        values, "relationship", "Your relationship to the victim", _limit(OnBehalfOf, "relationship"), errors
    )
    if not values["victim_consent"]:
        errors.append(
            FormError("victim_consent", "Confirm the victim has agreed to you applying on their behalf")
        )
    return Checked(values, errors)


def check_name(fields: Mapping[str, str], today: dt.date, organisation: bool = False) -> Checked:
    values = {"name": form_text(fields, "name")}
    errors: list[FormError] = []
    if organisation:
        _required(values, "name", "Enter the name of the business or group", errors)
    else:
        _required(values, "name", "Enter your full name", errors)
    _max(values, "name", "The name", _limit(Applicant, "name"), errors)
    return Checked(values, errors)


def check_contact(fields: Mapping[str, str], today: dt.date) -> Checked:
    values: dict[str, Any] = {
        "contact_preference": _choice(fields, "contact_preference", CONTACT),
        "email": form_text(fields, "email"),
        "address": form_text(fields, "address"),
        "postcode": form_text(fields, "postcode").upper(),
        "phone": form_text(fields, "phone"),
    }
    errors: list[FormError] = []
    preference = values["contact_preference"]
    if not preference:
        errors.append(FormError("contact_preference", "Select how you want us to send you letters"))
    if values["email"]:
        try:
            one_mailbox(values["email"])
        except PydanticCustomError as error:
            errors.append(FormError("email", error.message()))
        _max(values, "email", "Email address", 320, errors)
    elif preference == "email":
        errors.append(FormError("email", "Enter an email address, or choose a different way to be contacted"))
    if preference == "post" and not values["address"]:
        errors.append(
            FormError("address", "Enter a postal address, or choose a different way to be contacted")
        )
    _max(values, "address", "Address", _limit(Applicant, "address"), errors)
    _max(values, "postcode", "Postcode", _limit(Applicant, "postcode"), errors)
    _max(values, "phone", "Phone number", _limit(Applicant, "phone"), errors)
    return Checked(values, errors)


def check_incident(fields: Mapping[str, str], today: dt.date) -> Checked:
    errors: list[FormError] = []
    occurred, occurred_on = _date(fields, "occurred_on", "Date the incident happened", today, errors)
    values: dict[str, Any] = {
        "occurred_on": occurred,
        "description": form_text(fields, "description"),
        "reported_to": _choice(fields, "reported_to", REPORTED_TO),
        "organisation": form_text(fields, "organisation"),
    }
    _required(values, "description", "Enter what happened", errors)
    _max(values, "description", "What happened", _limit(Incident, "description"), errors)
    if not values["reported_to"]:
        errors.append(FormError("reported_to", "Select who you reported the incident to"))
    _required(values, "organisation", "Enter the name of the organisation you reported it to", errors)
    _max(values, "organisation", "The organisation's name", _limit(Incident, "organisation"), errors)
    reported, reported_on = _date(fields, "reported_on", "Date reported", today, errors)
    values["reported_on"] = reported
    if occurred_on and reported_on and reported_on < occurred_on:
        errors.append(
            FormError("reported_on-day", "Date reported must be on or after the date the incident happened")
        )
    values["reference"] = form_text(fields, "reference")
    _max(values, "reference", "Reference number", _limit(Incident, "reference"), errors)
    return Checked(values, errors)


def check_hate_incident(fields: Mapping[str, str], today: dt.date) -> Checked:
    values = {
        "hate_incident": _choice(fields, "hate_incident", YES_NO),
        "hate_incident_details": form_text(fields, "hate_incident_details"),
    }
    errors: list[FormError] = []
    if not values["hate_incident"]:
        errors.append(FormError("hate_incident", "Select yes if any of the incidents was a hate incident"))
    if values["hate_incident"] != "yes":
        values["hate_incident_details"] = ""
    _max(
        values, "hate_incident_details", "What happened", _limit(Application, "hate_incident_details"), errors
    )
    return Checked(values, errors)


def check_effective_action(fields: Mapping[str, str], today: dt.date) -> Checked:
    values = {"effective_action": _choice(fields, "effective_action", YES_NO)}
    errors = (
        []
        if values["effective_action"]
        else [FormError("effective_action", "Select yes if you think enough has been done")]
    )
    return Checked(values, errors)


def check_support(fields: Mapping[str, str], today: dt.date) -> Checked:
    values = {"support_needs": form_text(fields, "support_needs")}
    errors: list[FormError] = []
    _max(values, "support_needs", "What you tell us", _limit(Application, "support_needs"), errors)
    return Checked(values, errors)


def check_declaration(fields: Mapping[str, str]) -> Checked:
    values = {name: "yes" if fields.get(name) == "yes" else "" for name in ("consent_to_share", "truthful")}
    errors: list[FormError] = []
    if not values["consent_to_share"]:
        errors.append(FormError("consent_to_share", "Confirm you agree to your information being shared"))
    if not values["truthful"]:
        errors.append(FormError("truthful", "Confirm the information you have given is true"))
    return Checked(values, errors)


CHECKS: dict[str, Callable[[Mapping[str, str], dt.date], Checked]] = {
    "who": check_who,
    "victim": check_victim,
    "name": check_name,
    "contact": check_contact,
    "hate-incident": check_hate_incident,
    "effective-action": check_effective_action,
    "support": check_support,
}


def store(page: str, answers: dict[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """The answers with this page's values; answers a changed answer makes irrelevant are dropped."""
    updated = {**answers, **values}
    if page == "who" and values["who"] != "someone_else":
        for key in ("victim_name", "relationship", "victim_consent"):
            updated.pop(key, None)
    return updated


# ---- the application the answers make ---------------------------------------------------------


def application_of(
    locality: str, answers: Mapping[str, Any], *, consent_to_share: bool = True
) -> Application:
    """The application made of complete answers. Raises pydantic's ValidationError if the model refuses."""
    who = answers["who"]
    body: dict[str, Any] = {
        "locality": locality,
        "channel": "online",
        "applicant": {
            "name": answers["name"],
            "email": answers.get("email") or None,
            "phone": answers.get("phone") or None,
            "address": answers.get("address") or None,
            "postcode": answers.get("postcode") or None,
            "is_business": who == "organisation",
        },
        "on_behalf_of": (
            {
                "victim_name": answers["victim_name"],
                "relationship": answers["relationship"],
                "victim_consent": answers.get("victim_consent") == "yes",
            }
            if who == "someone_else"
            else None
        ),
        "incidents": [
            {
                "occurred_on": date_of(incident["occurred_on"]),
                "reported_on": date_of(incident["reported_on"]),
                "reported_to": incident["reported_to"],
                "organisation": incident["organisation"],
                "reference": incident.get("reference") or None,
                "description": incident["description"],
            }
            for incident in answers.get("incidents", [])
        ],
        "hate_incident": answers["hate_incident"] == "yes",
        "hate_incident_details": answers.get("hate_incident_details") or None,
        "no_effective_action": answers["effective_action"] == "no",
        "consent_to_share": consent_to_share,
        "contact_preference": answers["contact_preference"],
        "support_needs": answers.get("support_needs") or None,
    }
    return Application.model_validate(body)


def where(loc: Sequence[str | int]) -> tuple[str, str]:
    """The page (URL) and field id of a problem's `loc` (FastAPI-style, "body" first or not)."""
    parts = [part for part in loc if part != "body"]
    head = parts[0] if parts else "locality"
    last = str(parts[-1]) if parts else "locality"
    if head == "applicant":
        return ("/apply/name", "name") if last == "name" else ("/apply/contact", last)
    if head == "on_behalf_of":
        return "/apply/victim", last
    if head == "incidents" and len(parts) > 1 and isinstance(parts[1], int):
        field = last if last in ("description", "reported_to", "organisation", "reference") else f"{last}-day"
        return f"/apply/incident/{parts[1] + 1}", field
    pages = {
        "hate_incident": "/apply/hate-incident",
        "hate_incident_details": "/apply/hate-incident",
        "no_effective_action": "/apply/effective-action",
        "support_needs": "/apply/support",
        "contact_preference": "/apply/contact",
        "consent_to_share": "/apply/declaration",
    }
    return pages.get(str(head), "/apply"), last


@dataclass(frozen=True)
class LinkedProblem:
    """A problem found once the answers are put together, linked to the page that can correct it."""

    message: str
    href: str


def linked(problems: Sequence[Problem]) -> list[LinkedProblem]:
    found = []
    for item in problems:
        page, field = where(item.loc)
        found.append(LinkedProblem(item.msg, f"{page}?return=check#{field}"))
    return found


def model_problems(error: ValidationError) -> list[Problem]:
    return [Problem(tuple(issue["loc"]), clear_message(issue)) for issue in error.errors()]


# ---- check your answers ----------------------------------------------------------------------


def summary(answers: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The summary lists of check your answers: each row with its Change link."""

    def row(key: str, value: str, href: str, hidden: str) -> dict[str, Any]:
        return {
            "key": {"text": key},
            "value": {"text": value or "Not given"},
            "actions": {
                "items": [{"href": f"{href}?return=check", "text": "Change", "visuallyHiddenText": hidden}]
            },
        }

    who = answers.get("who", "")
    organisation = who == "organisation"
    about = [row("Who is applying", WHO.get(who, ""), "/apply/who", "who is applying")]
    if who == "someone_else":
        about += [
            row("Victim's name", answers.get("victim_name", ""), "/apply/victim", "the victim's name"),
            row(
                "Your relationship to them", answers.get("relationship", ""), "/apply/victim", "relationship"
            ),
            row(
                "Victim has agreed",
                "Yes" if answers.get("victim_consent") == "yes" else "No",
                "/apply/victim",
                "whether the victim has agreed",
            ),
        ]
    about.append(
        row(
            "Name of the business or group" if organisation else "Your name",
            answers.get("name", ""),
            "/apply/name",
            "name",
        )
    )
    contact = [
        row(
            "How we send letters",
            CONTACT.get(answers.get("contact_preference", ""), ""),
            "/apply/contact",
            "how we send letters",
        ),
        row("Email address", answers.get("email", ""), "/apply/contact", "email address"),
        row("Postal address", answers.get("address", ""), "/apply/contact", "postal address"),
        row("Postcode", answers.get("postcode", ""), "/apply/contact", "postcode"),
        row("Phone number", answers.get("phone", ""), "/apply/contact", "phone number"),
    ]
    incidents = []
    for number, incident in enumerate(answers.get("incidents", []), start=1):
        described = (
            f"Happened on {format_date(date_of(incident['occurred_on']))}. "
            f"Reported to {incident['organisation']} ({REPORTED_TO[incident['reported_to']].lower()}) on "
            f"{format_date(date_of(incident['reported_on']))}"
            + (f", reference {incident['reference']}" if incident.get("reference") else "")
            + f". {incident['description']}"
        )
        incidents.append(
            row(f"Incident {number}", described, f"/apply/incident/{number}", f"incident {number}")
        )
    hate = answers.get("hate_incident") == "yes"
    more = [
        row(
            "A hate incident",
            "Yes" + (f": {answers['hate_incident_details']}" if answers.get("hate_incident_details") else "")
            if hate
            else "No",
            "/apply/hate-incident",
            "whether any incident was a hate incident",
        ),
        row(
            "Enough has been done",
            YES_NO.get(answers.get("effective_action", ""), ""),
            "/apply/effective-action",
            "whether enough has been done",
        ),
        row(
            "Vulnerability or help needed",
            answers.get("support_needs", "") or "Nothing given",
            "/apply/support",
            "vulnerability or help needed",
        ),
    ]
    return {"about": about, "contact": contact, "incidents": incidents, "more": more}


# ---- the locality's rules in plain words --------------------------------------------------------


def _months(count: int) -> str:
    return "month" if count == 1 else f"{count} months"


def threshold_in_words(policy: LocalityPolicy) -> dict[str, Any]:
    """The locality's threshold, for its start page: the routes (any one of them) and what else counts."""
    rules = policy.threshold
    within = "1 month" if rules.report_within_months == 1 else f"{rules.report_within_months} months"
    routes = [
        f"{rules.incident_count} or more separate incidents of anti-social behaviour in the last "
        f"{_months(rules.window_months)}, each reported to the council, the police or a housing provider "
        f"within {within} of it happening"
    ]
    if rules.hate_incident_route:
        routes.append(
            f"you were the victim of a hate incident reported in the last "
            f"{_months(rules.hate_incident_window_months)}, within {within} of it happening"
        )
    if rules.multiple_complainants_route:
        routes.append(
            f"{rules.multiple_complainants_count} or more people complained separately about the same "
            f"incident in the last {_months(rules.window_months)}"
        )
    notes = []
    if rules.same_date_counts_once:
        notes.append("An incident reported to more than one organisation counts as one incident.")
    if not rules.hate_incident_route:
        notes.append(
            "In this area a hate incident is not a separate route to a case review: it can count as one of "
            "the incidents."
        )
    if rules.application_within_months_of_first_report:
        months = rules.application_within_months_of_first_report
        notes.append(f"You must apply within {_months(months)} of your first report.")
    return {"routes": routes, "notes": notes, "extra": list(rules.extra_conditions)}
