"""The Community Trigger application (the report form), as the JSON API and the form receive it.

This module fixes the shape. Rules that need today's date or the localities (dates in the future, an
unknown locality) live in `domain.threshold.check_application`, which takes them as arguments.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated

from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError


def one_mailbox(value: str) -> str:
    """`value` if it is exactly one email address (name@example.org): not a list, no display name, no
    spaces or line breaks. Letters go to it as it stands, so anything else would send them elsewhere too.

    Raises a ValueError (pydantic's, so that a 422 carries the message as it is) saying what to correct.
    """
    if any(character in value for character in ",;"):
        raise PydanticCustomError("email_address", "Enter one email address only")
    if any(character in value for character in '<>()"'):
        raise PydanticCustomError("email_address", "Enter the email address only, without a name")
    if "@" in value and any(character.isspace() or not character.isprintable() for character in value):
        raise PydanticCustomError("email_address", "Enter an email address without spaces or line breaks")
    try:
        # No look-ups (pure); `.test` addresses are allowed for trials, reserved names otherwise refused.
        validate_email(value, check_deliverability=False, test_environment=True)
    except EmailNotValidError as error:
        raise PydanticCustomError(
            "email_address", "Enter an email address in the correct format, like name@example.com"
        ) from error
    return value


def _one_mailbox_or_blank(value: str) -> str:
    # Blank is no address at all: `check_application` then asks for one if letters are to go by email.
    return value if value == "" else one_mailbox(value)


Mailbox = Annotated[str, AfterValidator(_one_mailbox_or_blank)]


class _Form(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ReportedTo(StrEnum):
    POLICE = "police"
    COUNCIL = "council"
    HOUSING_PROVIDER = "housing_provider"
    OTHER = "other"


class ContactPreference(StrEnum):
    EMAIL = "email"
    POST = "post"
    PHONE = "phone"


class Applicant(_Form):
    name: str = Field(min_length=1, max_length=200)
    email: Mailbox | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=40)
    address: str | None = Field(default=None, max_length=500)
    postcode: str | None = Field(default=None, max_length=10)
    is_business: bool = False


class OnBehalfOf(_Form):
    victim_name: str = Field(min_length=1, max_length=200)
    relationship: str = Field(min_length=1, max_length=100)
    victim_consent: bool


class Incident(_Form):
    occurred_on: dt.date
    reported_on: dt.date
    reported_to: ReportedTo
    organisation: str = Field(min_length=1, max_length=200)
    reference: str | None = Field(default=None, max_length=100)
    description: str = Field(min_length=1, max_length=5000)


class ApplicationChannel(StrEnum):
    """How the application reached the council: online (`/apply`), or taken by staff (`/staff/applications/
    new`). Left out by integrations calling the API, and on applications made before it was recorded."""

    ONLINE = "online"
    PHONE = "phone"
    PAPER = "paper"
    IN_PERSON = "in_person"
    EMAIL = "email"


class Application(_Form):
    locality: str = Field(min_length=1, max_length=60)
    channel: ApplicationChannel | None = None
    received_on: dt.date | None = Field(
        default=None,
        description="Day the application reached the council; today (Europe/London) when left out.",
    )
    applicant: Applicant
    on_behalf_of: OnBehalfOf | None = None
    incidents: list[Incident] = Field(default_factory=list, max_length=100)
    hate_incident: bool = False
    hate_incident_details: str | None = Field(default=None, max_length=5000)
    no_effective_action: bool
    consent_to_share: bool
    contact_preference: ContactPreference = ContactPreference.EMAIL
    support_needs: str | None = Field(
        default=None,
        max_length=2000,
        description="Anything that makes the applicant vulnerable, or an adjustment they need (optional).",
    )
