"""The forms of the staff action pages for a case's decisions (api.routes.staff_actions): each reads what
was typed and checks it into the submission the JSON API takes for the same action (domain.decisions).
The appeal's forms are in api.staff.appeal_forms (they use the rows and the meeting checked here too); what
every form shares is in api.staff.form_parts.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import ClassVar

from pydantic import BaseModel

from api.case_decisions import AppealRequestBody
from api.link_pages import FormError, max_length
from api.staff.form_parts import (
    YES_NO,
    FormContext,
    Rows,
    StaffForm,
    bounds,
    built,
    date_fields,
    meeting_values,
    most_rows,
    parse_date,
    parse_meeting,
    required,
    whole_number,
    yes_no,
)
from domain.decisions import (
    AgencyResponse,
    AppealOutcome,
    Attendee,
    ExtendRequest,
    ImpactStatement,
    ImpactStatementMethod,
    PanelDecision,
    Recommendation,
    RejectionGround,
    ResendRequest,
    ReviewMeeting,
    ThresholdDecision,
    ThresholdOutcome,
    WaiveRequest,
    Withdrawal,
)

THRESHOLD_OUTCOMES = {
    ThresholdOutcome.MET.value: "The threshold is met: the case goes to a case review",
    ThresholdOutcome.NOT_MET.value: "The threshold is not met",
    ThresholdOutcome.REJECTED.value: "The application is rejected",
}
REJECTION_GROUNDS = {ground.value: ground.value.capitalize() for ground in RejectionGround}
IMPACT_METHODS = {
    ImpactStatementMethod.WRITTEN.value: "In writing",
    ImpactStatementMethod.IN_PERSON.value: "In person, at the open part of the review meeting",
    ImpactStatementMethod.REPRESENTATIVE.value: "Through a representative",
    ImpactStatementMethod.DECLINED.value: "The applicant does not want to give one",
}
REQUESTED_BY = {"applicant": "The applicant", "spoc": "The council (SPOC)"}
RECEIVED_BY = {"phone": "By phone", "email": "By email"}
KNOWN = {"yes": "Yes", "no": "No", "unknown": "Not said"}
# How many grounds a request for appeal can name.
MOST_GROUNDS = most_rows(AppealRequestBody, "grounds")
# The action plan's rows: what is to be done, by whom, by when.
ACTION_PLAN_PARTS = ("action", "agency", "due-day", "due-month", "due-year")


# ---- information requests -------------------------------------------------------------------------


class _RequestForm(StaffForm):
    """A form about one of the case's open information requests (`request_key`)."""

    @classmethod
    def defaults(cls, context: FormContext) -> dict[str, str]:
        open_keys = {r.request_key for r in context.open_requests()}
        return {"request_key": context.request_key if context.request_key in open_keys else ""}

    @classmethod
    def request_error(cls, values: Mapping[str, str], context: FormContext) -> list[FormError]:
        if values["request_key"] not in {r.request_key for r in context.open_requests()}:
            return [FormError("request_key", "Select the information request")]
        return []


class AgencyResponseForm(_RequestForm):
    texts = (
        "request_key",
        "responder_name",
        "responder_role",
        "records_found",
        "actions_taken",
        "risk_to_victim",
        "notes",
    )
    choices: ClassVar[Mapping[str, Mapping[str, object]]] = {
        "received_by": RECEIVED_BY,
        "behaviour_continues": KNOWN,
        "supports_threshold": KNOWN,
    }

    @classmethod
    def check(cls, values: Mapping[str, str], context: FormContext) -> BaseModel | list[FormError]:
        errors = cls.request_error(values, context)
        if not values["received_by"]:
            errors.append(FormError("received_by", "Select how the agency gave its answer"))
        errors += cls.text_errors(
            values,
            AgencyResponse,
            {
                "responder_name": ("The name of who answered", None),
                "responder_role": ("Their role", None),
                "records_found": ("What their records show", None),
                "actions_taken": ("What they have done", None),
                "risk_to_victim": ("The risk to the victim", None),
                "notes": ("Anything else", None),
            },
        )
        if errors:
            return errors
        data: dict[str, object] = {name: values[name] for name in cls.texts}
        data.update(
            received_by=values["received_by"],
            behaviour_continues=yes_no(values["behaviour_continues"]),
            supports_threshold=yes_no(values["supports_threshold"]),
        )
        return built(AgencyResponse, data, {}, "records_found")


class ResendForm(_RequestForm):
    texts = ("request_key", "to", "reason")
    anchors: ClassVar[Mapping[str, str]] = {"to": "to"}

    @classmethod
    def check(cls, values: Mapping[str, str], context: FormContext) -> BaseModel | list[FormError]:
        errors = cls.request_error(values, context)
        errors += cls.text_errors(values, ResendRequest, {"reason": ("The reason", None)})
        if len(values["to"]) > 320:
            errors.append(FormError("to", "The email address must be 320 characters or fewer"))
        if errors:
            return errors
        data = {"request_key": values["request_key"], "to": values["to"] or None, "reason": values["reason"]}
        checked = built(ResendRequest, data, {"to": "to"}, "to")
        if isinstance(checked, list):
            # The model's complaint about an address is about its shape: say so in the form's words.
            return [FormError("to", "Enter one email address, like name@example.com")]
        return checked


class ExtendForm(_RequestForm):
    texts = ("request_key", "reason")
    dates = ("due_on",)

    @classmethod
    def check(cls, values: Mapping[str, str], context: FormContext) -> BaseModel | list[FormError]:
        errors = cls.request_error(values, context)
        due = parse_date(values, "due_on", "the new due date")
        if isinstance(due, FormError):
            errors.append(due)
        errors += cls.text_errors(
            values, ExtendRequest, {"reason": ("The reason", "Enter why the agency has longer")}
        )
        if errors or isinstance(due, FormError):
            return errors
        data = {"request_key": values["request_key"], "due_on": due, "reason": values["reason"]}
        return built(ExtendRequest, data, {"due_on": "due_on-day"}, "reason")


class WaiveForm(_RequestForm):
    texts = ("request_key", "reasons")

    @classmethod
    def check(cls, values: Mapping[str, str], context: FormContext) -> BaseModel | list[FormError]:
        errors = cls.request_error(values, context)
        errors += cls.text_errors(
            values,
            WaiveRequest,
            {"reasons": ("The reasons", "Enter why the case can go ahead without this answer")},
        )
        if errors:
            return errors
        return built(
            WaiveRequest, {"request_key": values["request_key"], "reasons": values["reasons"]}, {}, "reasons"
        )


# ---- the case's decisions ---------------------------------------------------------------------------


class ThresholdDecisionForm(StaffForm):
    texts = ("reasons",)
    choices: ClassVar[Mapping[str, Mapping[str, object]]] = {
        "outcome": THRESHOLD_OUTCOMES,
        "rejection_ground": REJECTION_GROUNDS,
    }
    checkboxes = ("below_threshold",)

    @classmethod
    def check(cls, values: Mapping[str, str], context: FormContext) -> BaseModel | list[FormError]:
        errors: list[FormError] = []
        outcome = values["outcome"]
        if not outcome:
            errors.append(FormError("outcome", "Select the threshold decision"))
        if values["below_threshold"] and outcome and outcome != ThresholdOutcome.MET:
            errors.append(
                FormError(
                    "below_threshold",
                    "Accepting a case below the threshold applies only when the case goes to a review",
                )
            )
        if outcome == ThresholdOutcome.REJECTED and not values["rejection_ground"]:
            errors.append(FormError("rejection_ground", "Select the ground for rejecting the application"))
        if outcome and outcome != ThresholdOutcome.REJECTED and values["rejection_ground"]:
            errors.append(
                FormError(
                    "rejection_ground", "Select a ground for rejection only when rejecting the application"
                )
            )
        errors += cls.text_errors(
            values, ThresholdDecision, {"reasons": ("The reasons", "Enter the reasons for the decision")}
        )
        if errors:
            return errors
        data = {
            "outcome": outcome,
            "reasons": values["reasons"],
            "below_threshold": bool(values["below_threshold"]),
            "rejection_ground": values["rejection_ground"] or None,
        }
        return built(ThresholdDecision, data, {}, "outcome")


class ReviewMeetingForm(StaffForm):
    texts = ("meeting-time", "location")
    dates = ("meeting",)
    checkboxes = ("youth_offending_service_invited",)
    rows = (Rows("attendee", ("name", "organisation"), most_rows(ReviewMeeting, "attendees"), "attendee"),)

    @classmethod
    def defaults(cls, context: FormContext) -> dict[str, str]:
        recorded = context.case.review_meeting
        values = meeting_values(recorded, "meeting", cls.rows[0], "attendees")
        if recorded and recorded.get("youth_offending_service_invited"):
            values["youth_offending_service_invited"] = "yes"
        return values

    @classmethod
    def check(cls, values: Mapping[str, str], context: FormContext) -> BaseModel | list[FormError]:
        when, attendees = meeting(
            values,
            cls.rows[0],
            model=ReviewMeeting,
            person=Attendee,
            what="the review meeting",
            location=("Enter where the review meeting is", "Where the meeting is"),
            nobody="Enter the name and organisation of at least one attendee",
        )
        if attendees.errors or when is None:
            return attendees.errors
        data = {
            "meeting_at": when,
            "location": values["location"],
            "attendees": attendees.items,
            "youth_offending_service_invited": bool(values["youth_offending_service_invited"]),
        }
        return built(ReviewMeeting, data, {"meeting_at": "meeting-day"}, "location")


class ImpactStatementForm(StaffForm):
    texts = ("minutes", "representative_name")
    choices: ClassVar[Mapping[str, Mapping[str, object]]] = {"method": IMPACT_METHODS}
    checkboxes = ("representative_consent",)
    anchors: ClassVar[Mapping[str, str]] = {"minutes": "minutes"}

    @classmethod
    def check(cls, values: Mapping[str, str], context: FormContext) -> BaseModel | list[FormError]:
        errors: list[FormError] = []
        method = values["method"]
        if not method:
            errors.append(FormError("method", "Select how the applicant will give their statement"))
        # Only what goes with the chosen way counts: without JavaScript every field is on the page.
        in_person = method == ImpactStatementMethod.IN_PERSON
        by_representative = method == ImpactStatementMethod.REPRESENTATIVE
        minutes: int | None = None
        if in_person and values["minutes"]:
            low, high = bounds(ImpactStatement, "minutes")
            limit = min(high, context.policy.impact_statement.in_person_minutes)
            typed = whole_number(values["minutes"])
            if typed is None or not low <= typed <= limit:
                errors.append(FormError("minutes", f"Enter a number of minutes from {low} to {limit}"))
            else:
                minutes = typed
        if by_representative:
            error = required(
                values,
                "representative_name",
                "Enter the name of the representative",
                "The representative's name",
                max_length(ImpactStatement, "representative_name"),
            )
            if error:
                errors.append(error)
            if not values["representative_consent"]:
                errors.append(
                    FormError("representative_consent", "Confirm the victim has agreed to the representative")
                )
        if errors:
            return errors
        data = {
            "method": method,
            "minutes": minutes,
            "representative_name": values["representative_name"] if by_representative else None,
            "representative_consent": by_representative and bool(values["representative_consent"]),
        }
        return built(ImpactStatement, data, {"minutes": "minutes"}, "method")


class PanelDecisionForm(StaffForm):
    texts = ("findings",)
    rows = (Rows("plan", ACTION_PLAN_PARTS, most_rows(PanelDecision, "recommendations"), "action"),)

    @classmethod
    def check(cls, values: Mapping[str, str], context: FormContext) -> BaseModel | list[FormError]:
        errors = cls.text_errors(
            values, PanelDecision, {"findings": ("The findings", "Enter the panel's findings")}
        )
        plan = action_plan(values, cls.rows[0])
        errors += plan.errors
        if errors:
            return errors
        return built(
            PanelDecision, {"findings": values["findings"], "recommendations": plan.items}, {}, "findings"
        )


class WithdrawForm(StaffForm):
    texts = ("reason",)
    choices: ClassVar[Mapping[str, Mapping[str, object]]] = {"requested_by": REQUESTED_BY}

    @classmethod
    def check(cls, values: Mapping[str, str], context: FormContext) -> BaseModel | list[FormError]:
        errors = []
        if not values["requested_by"]:
            errors.append(FormError("requested_by", "Select who asked for the withdrawal"))
        errors += cls.text_errors(
            values, Withdrawal, {"reason": ("The reason", "Enter the reason for withdrawing")}
        )
        if errors:
            return errors
        return built(
            Withdrawal, {"reason": values["reason"], "requested_by": values["requested_by"]}, {}, "reason"
        )


class AppealRequestForm(StaffForm):
    texts = ("explanation",)
    dates = ("received_on",)
    checkboxes = ("consent_received",)
    anchors: ClassVar[Mapping[str, str]] = {"received_on": "received_on-day", "grounds": "grounds"}

    @classmethod
    def read(cls, fields: Mapping[str, str]) -> dict[str, str]:
        values = super().read(fields)
        # One checkbox a ground (`ground-<n>`): at most the model's number of them.
        for number in range(1, MOST_GROUNDS + 1):
            values[f"ground-{number}"] = "yes" if fields.get(f"ground-{number}") == "yes" else ""
        return values

    @classmethod
    def defaults(cls, context: FormContext) -> dict[str, str]:
        return {f"received_on-{part}": value for part, value in date_fields(context.today).items()}

    @classmethod
    def check(cls, values: Mapping[str, str], context: FormContext) -> BaseModel | list[FormError]:
        errors: list[FormError] = []
        received = parse_date(values, "received_on", "the date the request arrived")
        if isinstance(received, FormError):
            errors.append(received)
        grounds = [number for number in range(1, MOST_GROUNDS + 1) if values[f"ground-{number}"]]
        if context.policy.appeal.grounds and not grounds:
            errors.append(FormError("grounds", "Select the grounds the applicant says apply"))
        errors += cls.text_errors(
            values,
            AppealRequestBody,
            {"explanation": ("The explanation", "Enter the applicant's explanation of the grounds")},
        )
        if errors or isinstance(received, FormError):
            return errors
        data = {
            "received_on": received,
            "grounds": grounds,
            "explanation": values["explanation"],
            "consent_received": bool(values["consent_received"]),
        }
        return built(AppealRequestBody, data, cls.anchors, "explanation")


class AppealOutcomeForm(StaffForm):
    texts = ("summary",)
    choices: ClassVar[Mapping[str, Mapping[str, object]]] = {"upheld": YES_NO}

    @classmethod
    def check(cls, values: Mapping[str, str], context: FormContext) -> BaseModel | list[FormError]:
        errors = []
        if not values["upheld"]:
            errors.append(FormError("upheld", "Select whether the appeal was upheld"))
        errors += cls.text_errors(
            values, AppealOutcome, {"summary": ("The summary", "Enter a summary of the outcome")}
        )
        if errors:
            return errors
        return built(
            AppealOutcome, {"upheld": YES_NO[values["upheld"]], "summary": values["summary"]}, {}, "summary"
        )


# ---- rows -----------------------------------------------------------------------------------------


class Found:
    """The items of a group of rows, and the errors of the rows that are not right."""

    def __init__(self) -> None:
        self.items: list[BaseModel] = []
        self.errors: list[FormError] = []


def people(values: Mapping[str, str], rows: Rows, model: type[BaseModel]) -> Found:
    """People rows (attendees, panel members): every part of every row that has any."""
    found = Found()
    parts, noun = rows.parts, rows.noun
    for row in range(1, rows.count(values) + 1):
        if not rows.filled(values, row):
            continue
        row_errors = []
        for part in parts:
            name = f"{rows.prefix}-{row}-{part}"
            error = required(
                values,
                name,
                f"Enter the {part} of {noun} {row}",
                f"The {part} of {noun} {row}",
                max_length(model, part),
            )
            if error:
                row_errors.append(error)
        found.errors += row_errors
        if not row_errors:
            found.items.append(
                model.model_validate({part: values[f"{rows.prefix}-{row}-{part}"] for part in parts})
            )
    return found


def meeting(
    values: Mapping[str, str],
    rows: Rows,
    *,
    model: type[BaseModel],
    person: type[BaseModel],
    what: str,
    location: tuple[str, str],
    nobody: str,
) -> tuple[dt.datetime | None, Found]:
    """A meeting's form: its time (`meeting`, `meeting-time`: `what` it is), its place (`location`, as long
    as `model` allows; the error when it is missing and its label) and its people (`rows` of `person`s;
    `nobody`, the error when no one is named). Returns the time (None if it is not one) and the
    people found, with every error in the order of the page."""
    when = parse_meeting(values, "meeting", what)
    errors = list(when) if isinstance(when, list) else []
    missing, label = location
    error = required(values, "location", missing, label, max_length(model, "location"))
    if error:
        errors.append(error)
    found = people(values, rows, person)
    if not found.items and not found.errors:
        found.errors.append(FormError(f"{rows.prefix}-1-{rows.parts[0]}", nobody))
    found.errors = errors + found.errors
    return (None if isinstance(when, list) else when), found


def action_plan(values: Mapping[str, str], rows: Rows) -> Found:
    """The action plan's rows (action, who, by when): every part of each row that has any; empty rows are
    left out."""
    found = Found()
    for row in range(1, rows.count(values) + 1):
        if not rows.filled(values, row):
            continue
        prefix = f"{rows.prefix}-{row}"
        row_errors = []
        for part, missing, label in (
            ("action", f"Enter what is to be done in action {row}", f"Action {row}"),
            ("agency", f"Enter who is to do action {row}", f"Who is to do action {row}"),
        ):
            error = required(values, f"{prefix}-{part}", missing, label, max_length(Recommendation, part))
            if error:
                row_errors.append(error)
        due = parse_date(values, f"{prefix}-due", f"the date action {row} is due by")
        if isinstance(due, FormError):
            row_errors.append(due)
        found.errors += row_errors
        if not row_errors and not isinstance(due, FormError):
            found.items.append(
                Recommendation(
                    agency=values[f"{prefix}-agency"], action=values[f"{prefix}-action"], due_on=due
                )
            )
    return found
