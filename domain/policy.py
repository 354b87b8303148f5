"""A locality's Community Trigger policy: who runs it, its threshold, its deadlines and its appeal route.

Policies are configuration (one TOML file per locality under `localities/`); this module only
describes and validates them. Every number the process uses comes from here, never from code.
"""

from __future__ import annotations

import re
import tomllib
from enum import StrEnum
from typing import Annotated, TypeVar

from pydantic import BaseModel, ConfigDict, EmailStr, Field, ValidationError, field_validator

from domain.calendar import NATIONS

ModelT = TypeVar("ModelT", bound=BaseModel)

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
    """Who hears an appeal. The routes differ in people and wording; the appeal workflow is the same."""

    # A Community Safety Partnership chair from another area, from a list the county team keeps (LLR).
    INDEPENDENT_CHAIR = "independent_chair"
    # The chair of the applicant's own partnership (North West Leicestershire, Harborough).
    CSP_CHAIR = "csp_chair"
    # The Office of the Police and Crime Commissioner (Derby).
    PCC = "pcc"
    # A secondary review by the partnership's senior officers (Tunbridge Wells).
    SENIOR_OFFICERS = "senior_officers"


class AppealChair(_Strict):
    """Someone who may hear an appeal: a partnership's chair, a senior officer, the PCC's office."""

    key: str = Field(pattern=SLUG.pattern)
    name: str = Field(min_length=1)
    email: EmailStr
    # The partnership they chair or belong to: an independent chair never hears their own area's appeals.
    partnership: str = Field(min_length=1)


class AppealChairList(_Strict):
    """A list of chairs kept in its own file (`localities/appeal-chairs/<name>.toml`), shared by the
    localities that name it (LLR: the county team's list of CSP chairs)."""

    chairs: tuple[AppealChair, ...] = Field(min_length=1)


class AppealPolicy(_Strict):
    route: AppealRoute
    # Who names the person to hear the appeal (LLR: the county team); they get a link to do it.
    contact: Contact
    grounds: tuple[str, ...] = Field(
        default=(),
        description="What an appeal must show to qualify; empty when any dissatisfaction qualifies.",
    )
    # Who may hear the appeal: listed here, or in the shared list `chair_list` names (or both).
    chairs: tuple[AppealChair, ...] = ()
    chair_list: str | None = Field(default=None, pattern=SLUG.pattern)
    # The contact is asked to name a chair within this many working days, and chased as often after.
    name_chair: PositiveWorkingDays = 2
    # A representative's appeal waits for the victim's signed consent; the SPOC is chased this often.
    consent_chase_interval: PositiveWorkingDays = 5
    send_bundle: PositiveWorkingDays = 1
    acknowledge: PositiveWorkingDays = 5
    outcome: PositiveWorkingDays = 20
    update_interval: PositiveWorkingDays = 20
    # Where the lessons learnt from an appeal go (LLR: shared with partners across LLR).
    lessons_to: tuple[EmailStr, ...] = ()

    def chair(self, key: str) -> AppealChair | None:
        return next((chair for chair in self.chairs if chair.key == key), None)


class ReportingYearKind(StrEnum):
    """Which twelve months a locality's yearly figures cover (domain/figures.py)."""

    # 1 April to 31 March, as councils' accounts run: the default.
    FINANCIAL = "financial"
    CALENDAR = "calendar"


class CombinedArea(_Strict):
    """An area whose councils' figures are also published together (LLR: the ten councils)."""

    key: str = Field(pattern=SLUG.pattern, description="In the figures' addresses: /figures?area=llr.")
    name: str = Field(min_length=1)


class FiguresPolicy(_Strict):
    """How the locality's yearly figures are published (`[figures]`; every key optional)."""

    year: ReportingYearKind = ReportingYearKind.FINANCIAL
    combined_area: CombinedArea | None = None


class LocalityPolicy(_Strict):
    key: str = Field(pattern=SLUG.pattern, description="Slug of the council's name; the file's name.")
    code: str = Field(pattern=r"^[A-Z]{3}$", description="Three letters used in case references.")
    council: str = Field(min_length=1)
    partnership: str = Field(min_length=1, description="The Community Safety Partnership's name.")
    nation: str
    website: str | None = None
    # The council's postal address, a line each, at the head of every printed letter; without it, the
    # SPOC's address split at its commas.
    postal_address: tuple[Annotated[str, Field(min_length=1, max_length=80)], ...] = Field(
        default=(), max_length=7
    )
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
    figures: FiguresPolicy = FiguresPolicy()

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

    def appeal_chair_refusal(self, chair: AppealChair) -> str | None:
        """Why `chair` may not hear this locality's appeals under its route, or None if they may."""
        own = chair.partnership == self.partnership
        if self.appeal.route == AppealRoute.INDEPENDENT_CHAIR and own:
            return (
                f"{chair.name} chairs {chair.partnership}, the applicant's own partnership: an appeal is "
                f"heard by an independent chair from another area."
            )
        if self.appeal.route == AppealRoute.CSP_CHAIR and not own:
            return f"{chair.name} is not of {self.partnership}, whose chair hears this area's appeals."
        return None

    def eligible_appeal_chairs(self) -> list[AppealChair]:
        return [chair for chair in self.appeal.chairs if self.appeal_chair_refusal(chair) is None]

    def agencies_of_kind(self, kind: AgencyKind) -> list[Agency]:
        return [agency for agency in self.agencies if agency.kind == kind]

    def agency(self, key: str) -> Agency | None:
        return next((agency for agency in self.agencies if agency.key == key), None)


class PolicyError(ValueError):
    """A policy file that cannot be used; the message names the file, the field and what is wrong."""


def parse_policy(text: str, source: str) -> LocalityPolicy:
    """Parse and validate one policy file's TOML text; `source` names the file in errors."""
    return _parse(LocalityPolicy, text, source)


def parse_chair_list(text: str, source: str) -> AppealChairList:
    """Parse and validate a shared list of appeal chairs; `source` names the file in errors."""
    return _parse(AppealChairList, text, source)


def _parse(model: type[ModelT], text: str, source: str) -> ModelT:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise PolicyError(f"{source}: not valid TOML: {error}") from error
    try:
        return model.model_validate(raw)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in issue['loc']) or '(file)'}: {issue['msg']}"
            for issue in error.errors()
        )
        raise PolicyError(f"{source}: {problems}") from error
