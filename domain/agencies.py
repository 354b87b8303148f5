"""Which agencies a case asks for information, the key each is known by, and the incidents reported to each.

Pure rules: the case's activities use them to open requests, and the agency reply page to show an agency
only its own part of the application.
"""

from __future__ import annotations

import hashlib
import re

from domain.application import Application, Incident, ReportedTo
from domain.policy import Agency, AgencyKind, LocalityPolicy


def _digest(text: str) -> str:
    normalised = " ".join(re.sub(r"[^a-z0-9]+", " ", text.casefold()).split())
    return hashlib.sha256(normalised.encode()).hexdigest()[:12]


def agency_key(agency: Agency | None, name: str) -> str:
    """The key of an agency to ask: its policy key, or, for an organisation not in the policy, one made
    from a digest of the name the applicant typed (keys travel through Temporal; names must not)."""
    return agency.key if agency else f"unlisted-{_digest(name)}"


def incidents_reported_to(application: Application, policy: LocalityPolicy, key: str) -> list[Incident]:
    """The incidents the applicant reported to the agency with this key, oldest report first."""
    for agency, name, indexes in agencies_to_ask(application, policy):
        if agency_key(agency, name) == key:
            return [application.incidents[index] for index in sorted(indexes)]
    return []


def agencies_to_ask(
    application: Application, policy: LocalityPolicy
) -> list[tuple[Agency | None, str, list[int]]]:
    """Who to ask for records: each agency an incident was reported to, plus the police and the ASB team.

    Returns (agency from the policy, or None when the organisation is not in the policy's list; the
    name to address; the indexes of the incidents reported to it).
    """
    chosen: dict[str, tuple[Agency | None, str, list[int]]] = {}

    def add(agency: Agency | None, name: str, index: int | None) -> None:
        entry = chosen.setdefault(agency_key(agency, name), (agency, agency.name if agency else name, []))
        if index is not None and index not in entry[2]:
            entry[2].append(index)

    def by_name(organisation: str, kinds: tuple[AgencyKind, ...] | None = None) -> Agency | None:
        wanted = organisation.casefold()
        for agency in policy.agencies:
            if kinds and agency.kind not in kinds:
                continue
            name = agency.name.casefold()
            if wanted and (wanted in name or name in wanted):
                return agency
        return None

    for agency in (
        policy.agencies_of_kind(AgencyKind.POLICE)[:1] + policy.agencies_of_kind(AgencyKind.COUNCIL_ASB)[:1]
    ):
        add(agency, agency.name, None)
    for index, incident in enumerate(application.incidents):
        if incident.reported_to == ReportedTo.POLICE:
            police = (
                by_name(incident.organisation, (AgencyKind.POLICE,))
                or policy.agencies_of_kind(AgencyKind.POLICE)[0]
            )
            add(police, police.name, index)
        elif incident.reported_to == ReportedTo.COUNCIL:
            council = (
                by_name(
                    incident.organisation,
                    (
                        AgencyKind.COUNCIL_ASB,
                        AgencyKind.ENVIRONMENTAL_HEALTH,
                        AgencyKind.COUNCIL_HOUSING,
                    ),
                )
                or policy.agencies_of_kind(AgencyKind.COUNCIL_ASB)[0]
            )
            add(council, council.name, index)
        elif incident.reported_to == ReportedTo.HOUSING_PROVIDER:
            add(
                by_name(incident.organisation, (AgencyKind.HOUSING_PROVIDER, AgencyKind.COUNCIL_HOUSING)),
                incident.organisation,
                index,
            )
        else:
            add(by_name(incident.organisation), incident.organisation, index)
    return list(chosen.values())
