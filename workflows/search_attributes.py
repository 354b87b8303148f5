"""The custom search attributes of case workflows: what operations filter cases by in the Temporal Web UI.

The workflows set them; `core.temporal` registers them (from `SEARCH_ATTRIBUTE_TYPES`) where a server needs
it, and the API sets the first ones when it starts a case.
"""

from __future__ import annotations

from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

CASE_REFERENCE = SearchAttributeKey.for_keyword("CaseReference")
LOCALITY = SearchAttributeKey.for_keyword("Locality")
CASE_STAGE = SearchAttributeKey.for_keyword("CaseStage")
NEXT_DEADLINE = SearchAttributeKey.for_datetime("NextDeadline")

# Name -> the Temporal type it is registered with (`temporal operator search-attribute create --type`).
SEARCH_ATTRIBUTE_TYPES: dict[str, str] = {
    CASE_REFERENCE.name: "Keyword",
    LOCALITY.name: "Keyword",
    CASE_STAGE.name: "Keyword",
    NEXT_DEADLINE.name: "Datetime",
}


def search_attributes_at_start(
    reference: str, locality: str, stage: str = "received"
) -> TypedSearchAttributes:
    """The search attributes a case workflow starts with."""
    return TypedSearchAttributes(
        [
            SearchAttributePair(CASE_REFERENCE, reference),
            SearchAttributePair(LOCALITY, locality),
            SearchAttributePair(CASE_STAGE, stage),
        ]
    )
