"""What the staff action forms share: the form a page is, read from the posted fields as typed (to show
again) and checked into the submission its decision takes (domain.decisions), its dates, times and rows
("add another", without JavaScript), and the GOV.UK wording of their errors.

Every limit comes from the submission's model (`max_length`, `bounds`), so the page and the JSON API refuse
the same things; a form only adds the messages that say, in the page's words, what to correct.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from annotated_types import Ge, Le, MaxLen
from pydantic import BaseModel, ValidationError

from api.appeal.forms import parse_time
from api.link_pages import FormError, form_choice, form_text, max_length, too_long, whole_number
from db.models import Case, InformationRequest
from domain.calendar import LONDON
from domain.policy import LocalityPolicy

ModelT = TypeVar("ModelT", bound=BaseModel)

YES_NO = {"yes": True, "no": False}
# Each submitted value is cut to this before it is checked: nothing longer fits any field, and a form
# posted with megabytes in one field must not be copied about.
LONGEST_FIELD = 25_000
# States of an information request that an action can still change (answer, resend, extend, waive).
OPEN_REQUEST_STATES = ("requested", "no_contact")


@dataclass(frozen=True)
class FormContext:
    """What a form is checked against: the case, its locality's policy, today, and the information request
    (`?request=`) or the letter (`?letter=`, its id) the page was opened for, if any."""

    case: Case
    policy: LocalityPolicy
    today: dt.date
    request_key: str = ""
    letter_id: str = ""

    def open_requests(self) -> list[InformationRequest]:
        return [r for r in self.case.information_requests if r.state in OPEN_REQUEST_STATES]


def bounds(model: type[BaseModel], name: str) -> tuple[int, int]:
    """The smallest and largest number the submission's model takes in field `name`."""
    low, high = None, None
    for item in model.model_fields[name].metadata:
        if isinstance(item, Ge):
            low = int(item.ge)  # type: ignore[call-overload]
        if isinstance(item, Le):
            high = int(item.le)  # type: ignore[call-overload]
    if low is None or high is None:
        raise LookupError(f"{model.__name__}.{name} has no bounds")
    return low, high


def most_rows(model: type[BaseModel], name: str) -> int:
    """How many items the model's list field `name` takes."""
    for item in model.model_fields[name].metadata:
        if isinstance(item, MaxLen):
            return int(item.max_length)
    raise LookupError(f"{model.__name__}.{name} has no max_length")


def required(values: Mapping[str, str], name: str, missing: str, label: str, limit: int) -> FormError | None:
    """The error of a text the form needs: `missing` when it is empty, or that it is too long."""
    if not values[name]:
        return FormError(name, missing)
    return too_long(values, name, label, limit)


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def parse_date(values: Mapping[str, str], prefix: str, label: str) -> dt.date | FormError:
    """A GOV.UK date input's date, or the error to show (on its day field, where the summary links to)."""
    anchor = f"{prefix}-day"
    parts = {part: values.get(f"{prefix}-{part}", "") for part in ("day", "month", "year")}
    if not any(parts.values()):
        return FormError(anchor, f"Enter {label}")
    missing = [part for part, value in parts.items() if not value]
    if missing:
        return FormError(anchor, f"{_capital(label)} must include a {' and a '.join(missing)}")
    real = FormError(anchor, f"{_capital(label)} must be a real date, like 27 3 2027")
    year, month, day_of_month = (whole_number(parts[part], 4) for part in ("year", "month", "day"))
    if year is None or month is None or day_of_month is None or len(parts["year"]) != 4:
        return real
    try:
        day = dt.date(year, month, day_of_month)
    except ValueError:
        return real
    return day if 2000 <= day.year <= 2100 else real


def parse_meeting(values: Mapping[str, str], prefix: str, what: str) -> dt.datetime | list[FormError]:
    """A date input `prefix` and a time field `<prefix>-time`, as a London time; or the errors."""
    errors: list[FormError] = []
    day = parse_date(values, prefix, f"the date of {what}")
    if isinstance(day, FormError):
        errors.append(day)
    typed = values.get(f"{prefix}-time", "")
    time = parse_time(typed) if typed else None
    if not typed:
        errors.append(FormError(f"{prefix}-time", f"Enter the time of {what}"))
    elif time is None:
        errors.append(FormError(f"{prefix}-time", f"Enter the time of {what} like 14:30 or 2:30pm"))
    if errors or isinstance(day, FormError) or time is None:
        return errors
    return dt.datetime.combine(day, time, tzinfo=LONDON)


def date_fields(day: dt.date | None) -> dict[str, str]:
    """A date input's three parts, filled in with `day` (or left empty)."""
    if day is None:
        return {"day": "", "month": "", "year": ""}
    return {"day": str(day.day), "month": str(day.month), "year": str(day.year)}


def meeting_values(
    recorded: Mapping[str, Any] | None, prefix: str, rows: Rows, list_name: str
) -> dict[str, str]:
    """A meeting's form filled in as it was recorded (its date and London time, its place and its people),
    to change its arrangements; empty when none was."""
    if not recorded:
        return {}
    values: dict[str, str] = {"location": str(recorded.get("location") or "")}
    try:
        when = dt.datetime.fromisoformat(str(recorded.get("meeting_at"))).astimezone(LONDON)
    except ValueError:
        when = None
    if when is not None:
        values.update({f"{prefix}-{part}": value for part, value in date_fields(when.date()).items()})
        values[f"{prefix}-time"] = f"{when:%H:%M}"
    people = recorded.get(list_name)
    people = (
        [person for person in people if isinstance(person, dict)][: rows.limit]
        if isinstance(people, list)
        else []
    )
    for row, person in enumerate(people, start=1):
        for part in rows.parts:
            values[f"{rows.prefix}-{row}-{part}"] = str(person.get(part) or "")
    values[f"{rows.prefix}-rows"] = str(max(1, len(people)))
    return values


def built(
    model: type[ModelT], data: Mapping[str, Any], anchors: Mapping[str, str], anchor: str
) -> ModelT | list[FormError]:
    """The submission; or, should its model refuse what the form's own checks let through, each of its
    problems on the field it is about (`anchors`: the model's field -> the form's), in its words."""
    try:
        return model.model_validate(data)
    except ValidationError as error:
        problems = []
        for issue in error.errors():
            field = str(issue["loc"][0]) if issue["loc"] else ""
            message = str(issue["msg"]).removeprefix("Value error, ")
            problems.append(FormError(anchors.get(field, anchor), _capital(message)))
        return problems


# ---- rows: "add another" without JavaScript ----------------------------------------------------------


@dataclass(frozen=True)
class Rows:
    """A group of repeated fields (`<prefix>-<n>-<part>`, n from 1) that the page can add to and remove
    from with buttons that send the form back (`step` add-<prefix> or remove-<prefix>-<n>); the number
    shown goes with the form in `<prefix>-rows`."""

    prefix: str
    parts: tuple[str, ...]
    limit: int
    noun: str

    def count(self, values: Mapping[str, str]) -> int:
        typed = values.get(f"{self.prefix}-rows", "")
        number = whole_number(typed, 3) or 1
        return max(1, min(number, self.limit))

    def read(self, fields: Mapping[str, str]) -> dict[str, str]:
        count = self.count(fields)
        values = {f"{self.prefix}-rows": str(count)}
        for row in range(1, count + 1):
            for part in self.parts:
                name = f"{self.prefix}-{row}-{part}"
                values[name] = form_text(fields, name)[:LONGEST_FIELD]
        return values

    def filled(self, values: Mapping[str, str], row: int) -> bool:
        return any(values.get(f"{self.prefix}-{row}-{part}") for part in self.parts)

    def add(self, values: dict[str, str]) -> FormError | None:
        """One more empty row; or, at the model's limit, why not."""
        count = self.count(values)
        if count >= self.limit:
            return FormError(f"add-{self.prefix}", f"You can add up to {self.limit} {self.noun}s")
        for part in self.parts:
            values[f"{self.prefix}-{count + 1}-{part}"] = ""
        values[f"{self.prefix}-rows"] = str(count + 1)
        return None

    def remove(self, values: dict[str, str], row: int) -> None:
        """Take row `row` out, moving the later ones up (the last row left is emptied instead)."""
        count = self.count(values)
        if not 1 <= row <= count:
            return
        for later in range(row, count):
            for part in self.parts:
                values[f"{self.prefix}-{later}-{part}"] = values.get(f"{self.prefix}-{later + 1}-{part}", "")
        if count == 1:
            for part in self.parts:
                values[f"{self.prefix}-1-{part}"] = ""
            return
        for part in self.parts:
            values.pop(f"{self.prefix}-{count}-{part}", None)
        values[f"{self.prefix}-rows"] = str(count - 1)


# ---- the form a page is -------------------------------------------------------------------------------


class StaffForm:
    """A staff action's form: which fields it reads (declared), its blank state, and its `check`, which
    gives the submission or the errors to show. Values stay strings, as typed."""

    texts: ClassVar[tuple[str, ...]] = ()
    # Radio groups: field -> the values it may take (anything else reads as nothing chosen).
    choices: ClassVar[Mapping[str, Mapping[str, object]]] = {}
    # Single checkboxes (value "yes").
    checkboxes: ClassVar[tuple[str, ...]] = ()
    # Date inputs, by prefix.
    dates: ClassVar[tuple[str, ...]] = ()
    rows: ClassVar[tuple[Rows, ...]] = ()
    # Where a policy rule's complaint about a submission field (api.case_decisions.InvalidDecision) shows.
    anchors: ClassVar[Mapping[str, str]] = {}

    @classmethod
    def read(cls, fields: Mapping[str, str]) -> dict[str, str]:
        values: dict[str, str] = {}
        for name in cls.texts:
            values[name] = form_text(fields, name)[:LONGEST_FIELD]
        for name, allowed in cls.choices.items():
            values[name] = form_choice(fields, name, allowed)
        for name in cls.checkboxes:
            values[name] = "yes" if fields.get(name) == "yes" else ""
        for prefix in cls.dates:
            for part in ("day", "month", "year"):
                values[f"{prefix}-{part}"] = form_text(fields, f"{prefix}-{part}")[:10]
        for group in cls.rows:
            values.update(group.read(fields))
        return values

    @classmethod
    def blank(cls, context: FormContext) -> dict[str, str]:
        """The form as first shown: empty, but for what `defaults` fills in."""
        return {**cls.read({}), **cls.defaults(context)}

    @classmethod
    def defaults(cls, context: FormContext) -> dict[str, str]:
        return {}

    @classmethod
    def check(cls, values: Mapping[str, str], context: FormContext) -> BaseModel | list[FormError]:
        raise NotImplementedError

    @classmethod
    def text_errors(
        cls, values: Mapping[str, str], model: type[BaseModel], labels: Mapping[str, tuple[str, str | None]]
    ) -> list[FormError]:
        """The errors of the form's texts: each `name: (label, missing)` must be at most the model's length,
        and, with a `missing` message, not empty."""
        errors = []
        for name, (label, missing) in labels.items():
            limit = max_length(model, name)
            error = (
                required(values, name, missing, label, limit)
                if missing
                else too_long(values, name, label, limit)
            )
            if error:
                errors.append(error)
        return errors


def yes_no(value: str) -> bool | None:
    """A yes/no/not-known radio group's answer."""
    return YES_NO.get(value)
