"""The appeal forms: naming the chair, and the chair's acknowledgement, decision on the grounds, panel and
outcome. Each takes the posted fields as typed (kept to fill the form in again), says what needs
correcting in the order of the page, and gives the submission (domain.decisions) once nothing does.

The CSRF token is bound to the session, as the agency reply form's is; what the two share (errors, text
fields, signing) is in api.link_pages.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from api.link_pages import FormError, form_choice, form_text, max_length, sign, too_long, whole_number
from domain.calendar import LONDON
from domain.decisions import (
    AppealCriteria,
    AppealDecision,
    AppealPanel,
    ChairAcknowledgement,
    ChairNaming,
    PanelMember,
    Recommendation,
)
from domain.policy import LocalityPolicy

__all__ = [
    "MAX_MEMBERS",
    "MAX_RECOMMENDATIONS",
    "AcknowledgeForm",
    "CriteriaForm",
    "NameChairForm",
    "OutcomeForm",
    "PanelForm",
    "appeal_csrf_token",
]

ModelT = TypeVar("ModelT", bound=BaseModel)

# Rows shown on the panel and outcome forms (fixed blank rows: the forms work without JavaScript).
MAX_MEMBERS = 10
MAX_RECOMMENDATIONS = 10
YES_NO = {"yes": True, "no": False}


# ---- CSRF ------------------------------------------------------------------------------------


def appeal_csrf_token(secret_key: str, session_hash: str) -> str:
    """The appeal forms' CSRF token: bound to the session, so it is useless to anyone without the cookie."""
    return sign(secret_key, f"appeal-form|{session_hash}")


# ---- shared ----------------------------------------------------------------------------------


def _required(values: Mapping[str, str], name: str, missing: str, label: str, limit: int) -> FormError | None:
    """The error of a text the form needs: `missing` when it is empty, or that it is too long."""
    if not values[name]:
        return FormError(name, missing)
    return too_long(values, name, label, limit)


def _date_values(fields: Mapping[str, str], prefix: str) -> dict[str, str]:
    return {
        f"{prefix}-{part}": fields.get(f"{prefix}-{part}", "").strip() for part in ("day", "month", "year")
    }


def _parse_date(values: Mapping[str, str], prefix: str, label: str) -> dt.date | FormError:
    """A GOV.UK date input's date, or the error to show (on its day field, where the summary links to)."""
    anchor = f"{prefix}-day"
    parts = {part: values[f"{prefix}-{part}"] for part in ("day", "month", "year")}
    if not any(parts.values()):
        return FormError(anchor, f"Enter {label}")
    missing = [part for part, value in parts.items() if not value]
    if missing:
        return FormError(anchor, f"{label[0].upper()}{label[1:]} must include a {' and '.join(missing)}")
    if not all(whole_number(value, 4) is not None for value in parts.values()) or len(parts["year"]) != 4:
        return FormError(anchor, f"{label[0].upper()}{label[1:]} must be a real date")
    try:
        day = dt.date(int(parts["year"]), int(parts["month"]), int(parts["day"]))
    except ValueError:
        return FormError(anchor, f"{label[0].upper()}{label[1:]} must be a real date")
    if not 2000 <= day.year <= 2100:
        return FormError(anchor, f"{label[0].upper()}{label[1:]} must be a real date")
    return day


_TIME_24 = re.compile(r"^(\d{1,2})[:.](\d{2})$")
_TIME_12 = re.compile(r"^(\d{1,2})(?:[:.](\d{2}))?\s*([ap])\.?m\.?$", re.IGNORECASE)


def parse_time(value: str) -> dt.time | None:
    """14:30, 14.30, 2:30pm, 2pm; None if it is none of these."""
    match = _TIME_24.match(value)
    if match:
        hour, minute = int(match.group(1)), int(match.group(2))
    else:
        match = _TIME_12.match(value)
        if not match:
            return None
        hour, minute = int(match.group(1)), int(match.group(2) or 0)
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if match.group(3).lower() == "p" else 0)
    if hour > 23 or minute > 59:
        return None
    return dt.time(hour, minute)


def _built(build: type[ModelT], anchor: str, **data: object) -> ModelT | list[FormError]:
    """The submission, or (should the model refuse what the form's checks let through) one error."""
    try:
        return build.model_validate(data)
    except ValidationError:
        return [FormError(anchor, "Check your answers: something entered is not valid")]


# ---- naming the chair --------------------------------------------------------------------------


@dataclass(frozen=True)
class NameChairForm:
    values: dict[str, str]

    @classmethod
    def from_fields(cls, fields: Mapping[str, str]) -> NameChairForm:
        return cls({"chair": fields.get("chair", "").strip()[:200]})

    def check(self, policy: LocalityPolicy) -> ChairNaming | list[FormError]:
        key = self.values["chair"]
        if not key:
            return [FormError("chair", "Select who will hear the appeal")]
        chair = policy.appeal.chair(key)
        if chair is None:
            return [FormError("chair", "Select someone from the list")]
        refusal = policy.appeal_chair_refusal(chair)
        if refusal is not None:
            return [FormError("chair", refusal)]
        return _built(ChairNaming, "chair", chair=chair.key)


# ---- the chair's acknowledgement ---------------------------------------------------------------


@dataclass(frozen=True)
class AcknowledgeForm:
    values: dict[str, str]

    @classmethod
    def from_fields(cls, fields: Mapping[str, str]) -> AcknowledgeForm:
        return cls({"note": form_text(fields, "note")})

    def check(self) -> ChairAcknowledgement | list[FormError]:
        error = too_long(self.values, "note", "The note", max_length(ChairAcknowledgement, "note"))
        if error:
            return [error]
        return ChairAcknowledgement(note=self.values["note"])


# ---- the decision on the grounds ---------------------------------------------------------------


@dataclass(frozen=True)
class CriteriaForm:
    values: dict[str, str]

    @classmethod
    def from_fields(cls, fields: Mapping[str, str]) -> CriteriaForm:
        return cls(
            {
                "met": form_choice(fields, "met", YES_NO),
                "reasons": form_text(fields, "reasons"),
                "lessons": form_text(fields, "lessons"),
            }
        )

    def check(self) -> AppealCriteria | list[FormError]:
        v = self.values
        errors: list[FormError] = []
        if not v["met"]:
            errors.append(FormError("met", "Select whether the appeal meets the grounds"))
        if not v["reasons"]:
            errors.append(FormError("reasons", "Enter the reasons for your decision"))
        for name, label in (("reasons", "The reasons"), ("lessons", "The lessons learnt")):
            error = too_long(v, name, label, max_length(AppealCriteria, name))
            if error:
                errors.append(error)
        if errors:
            return errors
        return _built(AppealCriteria, "met", met=YES_NO[v["met"]], reasons=v["reasons"], lessons=v["lessons"])


# ---- the appeal panel --------------------------------------------------------------------------


@dataclass(frozen=True)
class PanelForm:
    values: dict[str, str]

    @classmethod
    def from_fields(cls, fields: Mapping[str, str]) -> PanelForm:
        values = _date_values(fields, "meeting")
        values["meeting-time"] = fields.get("meeting-time", "").strip()[:20]
        values["location"] = form_text(fields, "location")
        for row in range(1, MAX_MEMBERS + 1):
            for part in ("name", "role"):
                values[f"member-{row}-{part}"] = form_text(fields, f"member-{row}-{part}")
        values["victim_minutes"] = fields.get("victim_minutes", "").strip()[:10]
        return cls(values)

    @classmethod
    def from_panel(cls, panel: Mapping[str, object] | None) -> PanelForm:
        """The form filled in with the panel as recorded, to rearrange it."""
        values: dict[str, str] = {}
        if panel:
            try:
                when = dt.datetime.fromisoformat(str(panel.get("meeting_at"))).astimezone(LONDON)
            except ValueError:
                when = None
            if when is not None:
                values.update(
                    {
                        "meeting-day": str(when.day),
                        "meeting-month": str(when.month),
                        "meeting-year": str(when.year),
                        "meeting-time": f"{when:%H:%M}",
                    }
                )
            values["location"] = str(panel.get("location") or "")
            members = panel.get("members")
            for row, member in enumerate(members if isinstance(members, list) else [], start=1):
                if row <= MAX_MEMBERS and isinstance(member, dict):
                    values[f"member-{row}-name"] = str(member.get("name") or "")
                    values[f"member-{row}-role"] = str(member.get("role") or "")
            minutes = panel.get("victim_attends_minutes")
            values["victim_minutes"] = "" if minutes is None else str(minutes)
        return cls(values)

    def check(self) -> AppealPanel | list[FormError]:
        v = self.values
        errors: list[FormError] = []
        day = _parse_date(v, "meeting", "the date of the panel meeting")
        if isinstance(day, FormError):
            errors.append(day)
        time = parse_time(v["meeting-time"]) if v["meeting-time"] else None
        if not v["meeting-time"]:
            errors.append(FormError("meeting-time", "Enter the time of the panel meeting"))
        elif time is None:
            errors.append(
                FormError("meeting-time", "Enter the time of the panel meeting, like 14:30 or 2:30pm")
            )
        error = _required(
            v,
            "location",
            "Enter where the panel meets",
            "Where the panel meets",
            max_length(AppealPanel, "location"),
        )
        if error:
            errors.append(error)
        members: list[PanelMember] = []
        name_limit, role_limit = max_length(PanelMember, "name"), max_length(PanelMember, "role")
        for row in range(1, MAX_MEMBERS + 1):
            name, role = v[f"member-{row}-name"], v[f"member-{row}-role"]
            if not name and not role:
                continue
            row_errors: list[FormError] = []
            for part, limit in (("name", name_limit), ("role", role_limit)):
                error = _required(
                    v,
                    f"member-{row}-{part}",
                    f"Enter the {part} of panel member {row}",
                    f"Panel member {row}'s {part}",
                    limit,
                )
                if error:
                    row_errors.append(error)
            errors += row_errors
            if not row_errors:
                members.append(PanelMember(name=name, role=role))
        if not members and not any(e.field.startswith("member-") for e in errors):
            errors.append(FormError("member-1-name", "Enter the name and role of at least one panel member"))
        minutes: int | None = None
        if v["victim_minutes"]:
            if 5 <= (whole_number(v["victim_minutes"]) or 0) <= 120:
                minutes = int(v["victim_minutes"])
            else:
                errors.append(
                    FormError(
                        "victim_minutes", "The victim's time at the meeting must be from 5 to 120 minutes"
                    )
                )
        if errors or isinstance(day, FormError) or time is None:
            return errors
        return _built(
            AppealPanel,
            "meeting-day",
            meeting_at=dt.datetime.combine(day, time, tzinfo=LONDON),
            location=v["location"],
            members=members,
            victim_attends_minutes=minutes,
        )


# ---- the outcome -------------------------------------------------------------------------------


@dataclass(frozen=True)
class OutcomeForm:
    values: dict[str, str]

    @classmethod
    def from_fields(cls, fields: Mapping[str, str]) -> OutcomeForm:
        values = {"upheld": form_choice(fields, "upheld", YES_NO), "reasons": form_text(fields, "reasons")}
        for row in range(1, MAX_RECOMMENDATIONS + 1):
            values[f"rec-{row}-agency"] = form_text(fields, f"rec-{row}-agency")
            values[f"rec-{row}-action"] = form_text(fields, f"rec-{row}-action")
            values.update(_date_values(fields, f"rec-{row}-due"))
        values["lessons"] = form_text(fields, "lessons")
        return cls(values)

    def check(self) -> AppealDecision | list[FormError]:
        v = self.values
        errors: list[FormError] = []
        if not v["upheld"]:
            errors.append(FormError("upheld", "Select whether the appeal is upheld"))
        error = _required(
            v,
            "reasons",
            "Enter the reasons for the outcome",
            "The reasons",
            max_length(AppealDecision, "reasons"),
        )
        if error:
            errors.append(error)
        recommendations: list[Recommendation] = []
        agency_limit = max_length(Recommendation, "agency")
        action_limit = max_length(Recommendation, "action")
        for row in range(1, MAX_RECOMMENDATIONS + 1):
            agency, action = v[f"rec-{row}-agency"], v[f"rec-{row}-action"]
            due_parts = [v[f"rec-{row}-due-{part}"] for part in ("day", "month", "year")]
            if not agency and not action and not any(due_parts):
                continue
            row_errors: list[FormError] = []
            for part, limit in (("agency", agency_limit), ("action", action_limit)):
                error = _required(
                    v,
                    f"rec-{row}-{part}",
                    f"Enter the {part} for recommendation {row}",
                    f"The {part} for recommendation {row}",
                    limit,
                )
                if error:
                    row_errors.append(error)
            due = _parse_date(v, f"rec-{row}-due", f"the date recommendation {row} is due")
            if isinstance(due, FormError):
                row_errors.append(due)
            errors += row_errors
            if not row_errors and isinstance(due, dt.date):
                recommendations.append(Recommendation(agency=agency, action=action, due_on=due))
        error = too_long(v, "lessons", "The lessons learnt", max_length(AppealDecision, "lessons"))
        if error:
            errors.append(error)
        if errors:
            return errors
        return _built(
            AppealDecision,
            "upheld",
            upheld=YES_NO[v["upheld"]],
            reasons=v["reasons"],
            recommendations=recommendations,
            lessons=v["lessons"],
        )
