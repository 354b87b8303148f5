"""What a case is found and ordered by on the staff dashboard: the names it is searched by, folded so that
one LIKE finds them on SQLite and PostgreSQL, and the date the step it waits on is due. Pure: no I/O."""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Mapping

# The longest the names a case is searched by are kept (db.models.Case.applicant_name_search).
LONGEST_NAMES = 410

# The deadline each step a case can wait on (`next_deadline_step`) is due by: the case's own steps
# (workflows.calendar_changes.STEP_DEADLINES), and its appeal's.
CASE_STEP_DEADLINES = {
    "threshold_decision": "threshold_decision_by",
    "outcome": "outcome_by",
    "appeal_by": "appeal_by",
}
APPEAL_STEP_DEADLINES = {
    "appeal_chair": "name_chair_by",
    "appeal_acknowledge": "acknowledge_by",
    "appeal_decision": "decision_by",
}


def name_search_key(text: str) -> str:
    """A name as the dashboard searches it: lower case, without accents, single spaces ("Zoë O'Brien" and
    "zoe  o'brien" alike)."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(character for character in decomposed if not unicodedata.combining(character))
    return " ".join(plain.casefold().split())


def names_to_search(application: object) -> str | None:
    """The names a case is found by: the applicant's and, for an application made for someone else, the
    victim's ("alex example / sam victim")."""
    if not isinstance(application, dict):
        return None
    names = [
        part.get("name") if key == "applicant" else part.get("victim_name")
        for key in ("applicant", "on_behalf_of")
        if isinstance(part := application.get(key), dict)
    ]
    folded = [name_search_key(name) for name in names if isinstance(name, str) and name.strip()]
    return " / ".join(folded)[:LONGEST_NAMES] or None


def step_due_on(
    step: str | None,
    next_deadline: dt.date | None,
    case_deadlines: Mapping[str, dt.date | None],
    appeal_deadlines: Mapping[str, dt.date | None],
) -> dt.date | None:
    """The date the step a case waits on is due by its policy. Once that date has passed, the case's next
    deadline moves on to each update letter's date; this does not. A step without a deadline of its own
    (the chase for the victim's consent) is due on its next date; a case waiting on nothing, never."""
    if next_deadline is None:
        return None
    if step in CASE_STEP_DEADLINES:
        return case_deadlines.get(CASE_STEP_DEADLINES[step]) or next_deadline
    if step in APPEAL_STEP_DEADLINES:
        return appeal_deadlines.get(APPEAL_STEP_DEADLINES[step]) or next_deadline
    return next_deadline
