"""A locality's Community Trigger policy: who runs it, its threshold, its deadlines and its appeal route.

Policies are configuration (one TOML file per locality under `localities/`); this module only
describes and validates them. Every number the process uses comes from here, never from code.
"""

from __future__ import annotations

import re
import tomllib
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, EmailStr, Field, ValidationError, field_validator

from domain.calendar import NATIONS

SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")

WorkingDays = Annotated[int, Field(ge=0, le=250)]
PositiveWorkingDays = Annotated[int, Field(ge=1, le=250)]
Months = Annotated[int, Field(ge=1, le=24)]


class _Strict(BaseModel):
    # A misspelt key in a policy file must fail loudly rather than silently fall back to a default.
    model_config = ConfigDict(extra="forbid", frozen=True)


class Contact(_Strict):
    name: str = Field(min_length=1)
    email: EmailStr
    phone: str | None = None
    address: str | None = None


class Spoc(Contact):
    """The single point of contact in the council's Community Safety Team."""

    signature: str = Field(min_length=1, description="How letters are signed off, one line per line.")


class AgencyKind(StrEnum):
    POLICE = "police"
    COUNCIL_ASB = "council_asb"
    ENVIRONMENTAL_HEALTH = "environmental_health"
    COUNCIL_HOUSING = "council_housing"
    HOUSING_PROVIDER = "housing_provider"
    HEALTH = "health"
    YOUTH_OFFENDING = "youth_offending"
    VICTIM_SUPPORT = "victim_support"
    OTHER = "other"


class Agency(_Strict):
    key: str = Field(pattern=SLUG.pattern)
    name: str = Field(min_length=1)
    kind: AgencyKind
    email: EmailStr


class ThresholdRules(_Strict):
    incident_count: Annotated[int, Field(ge=1, le=20)] = 3
    window_months: Months = 6
    report_within_months: Months = 1
    # The same incident reported to several organisations (same date) counts once.
    same_date_counts_once: bool = True
    hate_incident_route: bool = True
    hate_incident_window_months: Months = 6
    # Several people complaining about the same incident (for example Harborough: three individuals).
    multiple_complainants_route: bool = False
    multiple_complainants_count: Annotated[int, Field(ge=2, le=20)] = 3
    # Harborough: the application must come within six months of the first complaint.
    application_within_months_of_first_report: Months | None = None
    # Conditions the SPOC checks by hand, shown with every assessment (plain English).
    extra_conditions: tuple[str, ...] = ()


class Deadlines(_Strict):
    """Working-day deadlines of each step, and how often an update goes out while one slips."""

    acknowledge: PositiveWorkingDays = 5
    # Agencies' answers to the threshold information request, counted from the request.
    threshold_information: PositiveWorkingDays = 5
    # Letter 2a/2b, counted from Letter 1.
    threshold_decision: PositiveWorkingDays = 10
    threshold_update_interval: PositiveWorkingDays = 10
    # Agencies' full reports for the review, counted from the request.
    review_information: PositiveWorkingDays = 10
    # Letter 3, counted from Letter 2a.
    outcome: PositiveWorkingDays = 20
    outcome_update_interval: PositiveWorkingDays = 20
    # The applicant may appeal within this many working days of Letter 2b or Letter 3.
    appeal_window: PositiveWorkingDays = 20
    # The SPOC is reminded this many working days before a deadline they own.
    spoc_reminder_before: WorkingDays = 2
    # An agency is reminded this many working days before its answer is due (0: no early reminder);
    # on the due date it gets a second reminder and the SPOC an escalation.
    agency_reminder_before: WorkingDays = 2
    # An agency's link keeps working until the end of this many working days after the due date.
    agency_link_valid_after_due: WorkingDays = 15


class ImpactStatement(_Strict):
    in_person_minutes: Annotated[int, Field(ge=5, le=240)] = 30


class AppealRoute(StrEnum):
    INDEPENDENT_CHAIR = "independent_chair"
    CSP_CHAIR = "csp_chair"
    PCC_OFFICE = "pcc_office"
    SENIOR_OFFICERS = "senior_officers"


class AppealPolicy(_Strict):
    route: AppealRoute
    # Who hears the appeal or, for an independent chair, who names one (LLR: the county team).
    contact: Contact
    grounds: tuple[str, ...] = Field(
        default=(),
        description="What an appeal must show to qualify; empty when any dissatisfaction qualifies.",
    )
    send_bundle: PositiveWorkingDays = 1
    acknowledge: PositiveWorkingDays = 5
    outcome: PositiveWorkingDays = 20
    update_interval: PositiveWorkingDays = 20


class LocalityPolicy(_Strict):
    key: str = Field(pattern=SLUG.pattern, description="Slug of the council's name; the file's name.")
    code: str = Field(pattern=r"^[A-Z]{3}$", description="Three letters used in case references.")
    council: str = Field(min_length=1)
    partnership: str = Field(min_length=1, description="The Community Safety Partnership's name.")
    nation: str
    website: str | None = None
    report_asb: str = Field(min_length=1, description="How to report new anti-social behaviour.")
    spoc: Spoc
    manager: Contact
    # The From address of the locality's emails (a team mailbox); the SPOC's address when not set.
    # Replies always go to the SPOC.
    email_from: EmailStr | None = None
    threshold: ThresholdRules = ThresholdRules()
    deadlines: Deadlines = Deadlines()
    impact_statement: ImpactStatement = ImpactStatement()
    appeal: AppealPolicy
    agencies: tuple[Agency, ...] = Field(min_length=1)

    # Field validators (not a model validator), so that an error names the field: `nation`, `agencies`.
    @field_validator("nation")
    @classmethod
    def _check_nation(cls, nation: str) -> str:
        if nation not in NATIONS:
            raise ValueError(f"nation must be one of {', '.join(NATIONS)}, not {nation!r}")
        return nation

    @field_validator("agencies")
    @classmethod
    def _check_agencies(cls, agencies: tuple[Agency, ...]) -> tuple[Agency, ...]:
        keys = [agency.key for agency in agencies]
        duplicates = sorted({key for key in keys if keys.count(key) > 1})
        if duplicates:
            raise ValueError(f"agency keys must be unique; repeated: {', '.join(duplicates)}")
        for needed in (AgencyKind.POLICE, AgencyKind.COUNCIL_ASB):
            if not any(agency.kind == needed for agency in agencies):
                raise ValueError(f"agencies must include one of kind {needed.value!r}")
        return agencies

    def agencies_of_kind(self, kind: AgencyKind) -> list[Agency]:
        return [agency for agency in self.agencies if agency.kind == kind]

    def agency(self, key: str) -> Agency | None:
        return next((agency for agency in self.agencies if agency.key == key), None)


class PolicyError(ValueError):
    """A policy file that cannot be used; the message names the file, the field and what is wrong."""


def parse_policy(text: str, source: str) -> LocalityPolicy:
    """Parse and validate one policy file's TOML text; `source` names the file in errors."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise PolicyError(f"{source}: not valid TOML: {error}") from error
    try:
        return LocalityPolicy.model_validate(raw)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in issue['loc']) or '(file)'}: {issue['msg']}"
            for issue in error.errors()
        )
        raise PolicyError(f"{source}: {problems}") from error
