"""The staff page's form for an application taken by phone, on paper, in person or by email: the questions
of the online form (api.apply.answers, whose checks it runs) on one page, with how the application came in
and the council area (one of the staff member's). Incidents are rows ("add another", without JavaScript).

The online form's messages speak to the applicant ("your name"); here they are said about the applicant.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from pydantic import ValidationError

from api.apply import answers
from api.link_pages import FormError, form_choice, form_text
from api.staff.form_parts import LONGEST_FIELD, Rows, date_fields, most_rows, parse_date
from domain.application import Application
from domain.threshold import Problem

# How the application came in (kept in the audit trail with the case's reference).
CHANNELS = {"phone": "By phone", "paper": "On paper, by post", "in_person": "In person", "email": "By email"}
TAKEN = {"phone": "by phone", "paper": "on paper", "in_person": "in person", "email": "by email"}
WHO = {
    "myself": "The victim",
    "someone_else": "Someone applying for the victim, with their agreement",
    "organisation": "A business or community group",
}
YES_NO = {"yes": "Yes", "no": "No"}
INCIDENT_PARTS = (
    "occurred_on-day",
    "occurred_on-month",
    "occurred_on-year",
    "reported_on-day",
    "reported_on-month",
    "reported_on-year",
    "reported_to",
    "organisation",
    "reference",
    "description",
)
INCIDENTS = Rows("incident", INCIDENT_PARTS, most_rows(Application, "incidents"), "incident")
# The online form's words, about the applicant instead of to them.
ABOUT_THE_APPLICANT = {
    "Enter your full name": "Enter the applicant's full name",
    "Enter your relationship to the victim": "Enter the applicant's relationship to the victim",
    "Confirm the victim has agreed to you applying on their behalf": (
        "Confirm the victim has agreed to the applicant applying for them"
    ),
    "Select how you want us to send you letters": "Select how the applicant wants their letters",
    "Select who you reported the incident to": "Select who the incident was reported to",
    "Enter the name of the organisation you reported it to": "Enter the organisation it was reported to",
    "Select yes if you think enough has been done": "Select yes if the applicant thinks enough has been done",
}
TEXTS = (
    "victim_name",
    "relationship",
    "name",
    "email",
    "address",
    "postcode",
    "phone",
    "hate_incident_details",
    "support_needs",
)


def _staff_words(error: FormError, field: str | None = None, prefix: str = "") -> FormError:
    return FormError(field or error.field, prefix + ABOUT_THE_APPLICANT.get(error.message, error.message))


class ApplicationForm:
    """The answers as typed; `check` gives the application and its channel, or the errors to show."""

    choices: ClassVar[Mapping[str, Mapping[str, str]]] = {
        "channel": CHANNELS,
        "who": WHO,
        "contact_preference": answers.CONTACT,
        "hate_incident": YES_NO,
        "effective_action": YES_NO,
    }

    @classmethod
    def read(cls, fields: Mapping[str, str], localities: Sequence[str]) -> dict[str, str]:
        values = {name: form_text(fields, name)[:LONGEST_FIELD] for name in TEXTS}
        values["postcode"] = values["postcode"].upper()
        for name, allowed in cls.choices.items():
            values[name] = form_choice(fields, name, allowed)
        values["locality"] = form_choice(fields, "locality", dict.fromkeys(localities, ""))
        for part in ("day", "month", "year"):
            values[f"received_on-{part}"] = form_text(fields, f"received_on-{part}")[:10]
        for name in ("victim_consent", "consent_to_share", "truthful"):
            values[name] = "yes" if fields.get(name) == "yes" else ""
        values.update(INCIDENTS.read(fields))
        return values

    @classmethod
    def blank(cls, localities: Sequence[str], today: dt.date) -> dict[str, str]:
        values = cls.read({}, localities)
        values.update({f"received_on-{part}": value for part, value in date_fields(today).items()})
        if len(localities) == 1:
            values["locality"] = localities[0]
        return values

    @classmethod
    def check(cls, values: Mapping[str, str], today: dt.date) -> tuple[Application, str] | list[FormError]:
        errors: list[FormError] = []
        if not values["locality"]:
            errors.append(FormError("locality", "Select the council area"))
        if not values["channel"]:
            errors.append(FormError("channel", "Select how the application came in"))
        received = parse_date(values, "received_on", "the date the application arrived")
        if isinstance(received, FormError):
            errors.append(received)
        elif received > today:
            errors.append(
                FormError("received_on-day", "The date the application arrived must be today or in the past")
            )
        who = values["who"]
        before = [answers.check_who(values, today)]
        if who == "someone_else":
            before.append(answers.check_victim(values, today))
        before.append(answers.check_name(values, today, organisation=who == "organisation"))
        before.append(answers.check_contact(values, today))
        after = [
            check(values, today) for check in (answers.check_hate_incident, answers.check_effective_action)
        ]
        after.append(answers.check_support(values, today))
        page_answers: dict[str, Any] = {}
        # The errors in the order of the page.
        for checked in before:
            errors += [_staff_words(error) for error in checked.errors]
            page_answers.update(checked.values)
        incidents = cls._incidents(values, today, errors)
        for checked in after:
            errors += [_staff_words(error) for error in checked.errors]
            page_answers.update(checked.values)
        if not values["consent_to_share"]:
            errors.append(
                FormError(
                    "consent_to_share", "Confirm the applicant agrees to their information being shared"
                )
            )
        if not values["truthful"]:
            errors.append(
                FormError("truthful", "Confirm the applicant says the information they gave is true")
            )
        if errors or isinstance(received, FormError):
            return errors
        page_answers["incidents"] = incidents
        try:
            made = answers.application_of(values["locality"], page_answers)
            application = Application.model_validate({**made.model_dump(), "received_on": received})
        except ValidationError as error:
            return [where(problem) for problem in answers.model_problems(error)]
        return application, values["channel"]

    @staticmethod
    def _incidents(
        values: Mapping[str, str], today: dt.date, errors: list[FormError]
    ) -> list[dict[str, Any]]:
        """Each incident row with anything in it, checked as the online form's incident page checks one."""
        incidents: list[dict[str, Any]] = []
        for row in range(1, INCIDENTS.count(values) + 1):
            if not INCIDENTS.filled(values, row):
                continue
            prefix = f"incident-{row}-"
            checked = answers.check_incident({part: values[prefix + part] for part in INCIDENT_PARTS}, today)
            errors += [
                _staff_words(error, prefix + error.field, f"Incident {row}: ") for error in checked.errors
            ]
            if not checked.errors:
                incidents.append(checked.values)
        if not incidents and not any(error.field.startswith("incident-") for error in errors):
            errors.append(FormError("incident-1-occurred_on-day", "Enter at least one incident"))
        return incidents


def where(problem: Problem) -> FormError:
    """The field of the page a problem with the application (its `loc`) is about."""
    parts = [part for part in problem.loc if part != "body"]
    head = str(parts[0]) if parts else "locality"
    last = str(parts[-1]) if parts else "locality"
    message = ABOUT_THE_APPLICANT.get(problem.msg, problem.msg)
    if head == "incidents" and len(parts) > 2 and isinstance(parts[1], int):
        row = parts[1] + 1
        field = f"{last}-day" if last in ("occurred_on", "reported_on") else last
        return FormError(f"incident-{row}-{field}", f"Incident {row}: {message}")
    fields = {"received_on": "received_on-day", "no_effective_action": "effective_action"}
    if head in ("applicant", "on_behalf_of"):
        return FormError(last, message)
    return FormError(fields.get(head, head), message)
