"""The forms of the staff action pages for a case's appeal (api.routes.staff_appeal_actions): the victim's
consent, naming the chair, withdrawing the appeal, the chair's link, and the chair's steps recorded on the
chair's behalf. Each checks what was typed into the submission the JSON API takes (domain.decisions).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from pydantic import BaseModel

from api.link_pages import FormError
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
    whole_number,
)
from api.staff.forms import ACTION_PLAN_PARTS, REQUESTED_BY, action_plan, meeting
from domain.decisions import (
    AppealConsent,
    AppealCriteria,
    AppealDecision,
    AppealPanel,
    AppealWithdrawal,
    ChairAcknowledgement,
    ChairLinkExtension,
    ChairLinkResend,
    ChairNaming,
    PanelMember,
)


class AppealConsentForm(StaffForm):
    texts = ("note",)
    dates = ("received_on",)
    anchors: ClassVar[Mapping[str, str]] = {"received_on": "received_on-day"}

    @classmethod
    def defaults(cls, context: FormContext) -> dict[str, str]:
        return {f"received_on-{part}": value for part, value in date_fields(context.today).items()}

    @classmethod
    def check(cls, values: Mapping[str, str], context: FormContext) -> BaseModel | list[FormError]:
        errors: list[FormError] = []
        received = parse_date(values, "received_on", "the date the consent arrived")
        if isinstance(received, FormError):
            errors.append(received)
        errors += cls.text_errors(values, AppealConsent, {"note": ("The note", None)})
        if errors or isinstance(received, FormError):
            return errors
        return built(AppealConsent, {"received_on": received, "note": values["note"]}, cls.anchors, "note")


class ChairForm(StaffForm):
    texts = ("chair",)
    anchors: ClassVar[Mapping[str, str]] = {"chair": "chair"}

    @classmethod
    def check(cls, values: Mapping[str, str], context: FormContext) -> BaseModel | list[FormError]:
        # Only the people the policy lets hear this appeal are offered (api.appeal_decisions refuses others).
        eligible = {chair.key for chair in context.policy.eligible_appeal_chairs()}
        if values["chair"] not in eligible:
            return [FormError("chair", "Select who will hear the appeal")]
        return built(ChairNaming, {"chair": values["chair"]}, cls.anchors, "chair")


class AppealWithdrawForm(StaffForm):
    texts = ("reason",)
    choices: ClassVar[Mapping[str, Mapping[str, object]]] = {"requested_by": REQUESTED_BY}

    @classmethod
    def check(cls, values: Mapping[str, str], context: FormContext) -> BaseModel | list[FormError]:
        errors = []
        if not values["requested_by"]:
            errors.append(FormError("requested_by", "Select who asked for the appeal to be withdrawn"))
        errors += cls.text_errors(
            values,
            AppealWithdrawal,
            {"reason": ("The reason", "Enter the reason for withdrawing the appeal")},
        )
        if errors:
            return errors
        data = {"reason": values["reason"], "requested_by": values["requested_by"]}
        return built(AppealWithdrawal, data, {}, "reason")


class ChairLinkResendForm(StaffForm):
    texts = ("reason",)

    @classmethod
    def check(cls, values: Mapping[str, str], context: FormContext) -> BaseModel | list[FormError]:
        errors = cls.text_errors(values, ChairLinkResend, {"reason": ("The reason", None)})
        return errors or built(ChairLinkResend, {"reason": values["reason"]}, {}, "reason")


class ChairLinkExtendForm(StaffForm):
    texts = ("reason",)
    dates = ("valid_until",)
    anchors: ClassVar[Mapping[str, str]] = {"valid_until": "valid_until-day"}

    @classmethod
    def check(cls, values: Mapping[str, str], context: FormContext) -> BaseModel | list[FormError]:
        errors: list[FormError] = []
        until = parse_date(values, "valid_until", "the last day the link works")
        if isinstance(until, FormError):
            errors.append(until)
        errors += cls.text_errors(
            values,
            ChairLinkExtension,
            {"reason": ("The reason", "Enter why the link is kept working longer")},
        )
        if errors or isinstance(until, FormError):
            return errors
        return built(
            ChairLinkExtension, {"valid_until": until, "reason": values["reason"]}, cls.anchors, "reason"
        )


class AcknowledgeForm(StaffForm):
    texts = ("note",)

    @classmethod
    def check(cls, values: Mapping[str, str], context: FormContext) -> BaseModel | list[FormError]:
        errors = cls.text_errors(values, ChairAcknowledgement, {"note": ("The note", None)})
        return errors or built(ChairAcknowledgement, {"note": values["note"]}, {}, "note")


class CriteriaForm(StaffForm):
    texts = ("reasons", "lessons")
    choices: ClassVar[Mapping[str, Mapping[str, object]]] = {"met": YES_NO}

    @classmethod
    def check(cls, values: Mapping[str, str], context: FormContext) -> BaseModel | list[FormError]:
        errors = []
        if not values["met"]:
            errors.append(FormError("met", "Select whether the appeal meets the grounds"))
        errors += cls.text_errors(
            values,
            AppealCriteria,
            {
                "reasons": ("The reasons", "Enter the reasons for the chair's decision"),
                "lessons": ("The lessons learnt", None),
            },
        )
        if errors:
            return errors
        data = {"met": YES_NO[values["met"]], "reasons": values["reasons"], "lessons": values["lessons"]}
        return built(AppealCriteria, data, {}, "met")


class AppealPanelForm(StaffForm):
    texts = ("meeting-time", "location", "victim_minutes")
    dates = ("meeting",)
    rows = (Rows("member", ("name", "role"), most_rows(AppealPanel, "members"), "panel member"),)

    @classmethod
    def defaults(cls, context: FormContext) -> dict[str, str]:
        appeal = context.case.appeal
        recorded = appeal.panel if appeal is not None else None
        values = meeting_values(recorded, "meeting", cls.rows[0], "members")
        if recorded and recorded.get("victim_attends_minutes"):
            values["victim_minutes"] = str(recorded["victim_attends_minutes"])
        return values

    @classmethod
    def check(cls, values: Mapping[str, str], context: FormContext) -> BaseModel | list[FormError]:
        when, members = meeting(
            values,
            cls.rows[0],
            model=AppealPanel,
            person=PanelMember,
            what="the panel meeting",
            location=("Enter where the panel meets", "Where the panel meets"),
            nobody="Enter the name and role of at least one panel member",
        )
        errors = members.errors
        minutes: int | None = None
        if values["victim_minutes"]:
            low, high = bounds(AppealPanel, "victim_attends_minutes")
            typed = whole_number(values["victim_minutes"])
            if typed is not None and low <= typed <= high:
                minutes = typed
            else:
                errors.append(
                    FormError(
                        "victim_minutes",
                        f"The victim's time at the meeting must be from {low} to {high} minutes",
                    )
                )
        if errors or when is None:
            return errors
        data = {
            "meeting_at": when,
            "location": values["location"],
            "members": members.items,
            "victim_attends_minutes": minutes,
        }
        return built(AppealPanel, data, {"meeting_at": "meeting-day"}, "location")


class AppealDecisionForm(StaffForm):
    texts = ("reasons", "lessons")
    choices: ClassVar[Mapping[str, Mapping[str, object]]] = {"upheld": YES_NO}
    rows = (Rows("plan", ACTION_PLAN_PARTS, most_rows(AppealDecision, "recommendations"), "action"),)

    @classmethod
    def check(cls, values: Mapping[str, str], context: FormContext) -> BaseModel | list[FormError]:
        errors = []
        if not values["upheld"]:
            errors.append(FormError("upheld", "Select whether the appeal is upheld"))
        errors += cls.text_errors(
            values,
            AppealDecision,
            {
                "reasons": ("The reasons", "Enter the reasons for the outcome"),
                "lessons": ("The lessons learnt", None),
            },
        )
        plan = action_plan(values, cls.rows[0])
        errors += plan.errors
        if errors:
            return errors
        data = {
            "upheld": YES_NO[values["upheld"]],
            "reasons": values["reasons"],
            "recommendations": plan.items,
            "lessons": values["lessons"],
        }
        return built(AppealDecision, data, {}, "upheld")
