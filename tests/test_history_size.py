"""The longest realistic case stays well inside Temporal's history limits, run for real.

The threshold decision comes 60 working days late and the outcome 60 working days late; incidents were
reported to ten organisations, and the seven agencies with an address in the policy are chased at both
stages with extensions, resends and requests for new links. Temporal warns at 10,240 events
(and 10 MB) and ends a workflow at 51,200 (50 MB); a case must stay far below the warning, so it needs no
continue-as-new. The history is kept as a replay history (update letters, outcome reminders, new-link
requests and chasing in the review stage).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from domain.calendar import add_working_days, is_working_day
from tests.support import CaseService, application

pytestmark = pytest.mark.asyncio(loop_scope="session")

NATION = "england-and-wales"
# Well under Temporal's warning at 10,240 events and 10 MB.
MAX_EVENTS = 3_000
MAX_BYTES = 2_000_000

# Ten organisations: the seven agencies in Blaby's policy and three that are not in it.
ORGANISATIONS = [
    ("police", "Leicestershire Police"),
    ("council", "Blaby District Council ASB Team"),
    ("council", "Blaby District Council Environmental Health"),
    ("council", "Blaby District Council Housing Services"),
    ("housing_provider", "East Midlands Homes"),
    ("other", "Leicestershire Youth Justice Service"),
    ("other", "Leicester, Leicestershire and Rutland Integrated Care Board"),
    ("other", "Narborough Residents Association"),
    ("other", "St Mary's Surgery"),
    ("other", "Blaby Community Centre"),
]


def ten_agencies(today: dt.date) -> dict[str, Any]:
    body = application(today=today)
    body["incidents"] = [
        {
            "occurred_on": (today - dt.timedelta(days=90 - 5 * index)).isoformat(),
            "reported_on": (today - dt.timedelta(days=89 - 5 * index)).isoformat(),
            "reported_to": reported_to,
            "organisation": organisation,
            "reference": f"REF-{index}",
            "description": "Shouting and banging at night.",
        }
        for index, (reported_to, organisation) in enumerate(ORGANISATIONS)
    ]
    return body


async def chase_and_answer(service: CaseService, reference: str, purpose: str) -> None:
    """Extend some requests, resend others, have agencies ask for new links; then let every due date pass
    (reminders and escalations go) before the answers come in."""
    # The workflow has heard the requests' keys back once the chronology says they went.
    case = await service.wait_for(
        reference,
        lambda c: any(f"agencies ({purpose})" in e["event"] for e in c["chronology"]),
    )
    assert sum(r["purpose"] == purpose for r in case["information_requests"]) == 10
    # The three organisations not in the policy have no address (no_contact): the SPOC asks them by hand.
    requests = [
        r for r in case["information_requests"] if r["purpose"] == purpose and r["state"] == "requested"
    ]
    assert len(requests) == 7
    handle = service.env.client.get_workflow_handle(f"Case:{reference}")
    latest = dt.date.min
    for index, request in enumerate(requests):
        key = request["request_key"]
        if index % 2 == 0:
            due = add_working_days(dt.date.fromisoformat(request["due_on"]), 5, NATION)
            latest = max(latest, due)
            response = await service.act(
                reference,
                "information-requests/extend",
                {"request_key": key, "due_on": due.isoformat(), "reason": "Records are archived."},
            )
            assert response.status_code == 200, response.text
        if index % 3 == 0:
            response = await service.act(
                reference, "information-requests/resend", {"request_key": key, "reason": "Not received."}
            )
            assert response.status_code == 200, response.text
        if index % 4 == 0:
            await handle.signal("new_link_requested", key)
        latest = max(latest, dt.date.fromisoformat(request["due_on"]))
    await service.travel_to(add_working_days(latest, 1, NATION), dt.time(12, 0))
    await service.answer_requests(reference, purpose)


async def test_the_longest_realistic_case_stays_well_under_the_history_limits(
    fresh_clock: CaseService,
) -> None:
    # A server of its own: months skipped on the shared one would fire every other test's open cases too.
    service = fresh_clock
    start = await service.today() + dt.timedelta(days=1)
    while not is_working_day(start, NATION):
        start += dt.timedelta(days=1)
    await service.travel_to(start)
    response = await service.apply(ten_agencies(start), key=f"longest-{start.isoformat()}")
    assert response.status_code == 201, response.text
    reference = response.json()["reference"]

    await chase_and_answer(service, reference, "threshold")
    case = await service.case(reference)
    threshold_due = dt.date.fromisoformat(case["deadlines"]["threshold_decision_by"])
    await service.travel_to(add_working_days(threshold_due, 60, NATION), dt.time(18, 0))
    case = await service.wait_for(reference, lambda c: len(service.letters(c, "update-threshold")) == 7)
    decided = await service.act(
        reference, "threshold-decision", {"outcome": "met", "reasons": "Agencies confirm the reports."}
    )
    assert decided.status_code == 200, decided.text

    await chase_and_answer(service, reference, "review")
    meeting_day = add_working_days(await service.today(), 1, NATION)
    meeting = {
        "meeting_at": f"{meeting_day.isoformat()}T10:00:00+00:00",
        "location": "Council Offices, Narborough",
        "attendees": [{"name": "Sam Officer", "organisation": "Leicestershire Police"}],
    }
    assert (await service.act(reference, "review-meeting", meeting)).status_code == 200
    assert (await service.act(reference, "impact-statement", {"method": "written"})).status_code == 200
    case = await service.case(reference)
    outcome_due = dt.date.fromisoformat(case["deadlines"]["outcome_by"])
    await service.travel_to(add_working_days(outcome_due, 60, NATION), dt.time(18, 0))
    case = await service.wait_for(reference, lambda c: len(service.letters(c, "update-outcome")) == 4)
    panel = {"findings": "Information was not shared.", "recommendations": []}
    assert (await service.act(reference, "panel-decision", panel)).status_code == 200
    await service.result(reference, history="longest-case-v3")

    history = await service.env.client.get_workflow_handle(f"Case:{reference}").fetch_history()
    events = len(history.events)
    size = len(history.to_json())
    print(f"\nlongest realistic case: {events} history events, {size} bytes of history (as JSON)")
    assert events < MAX_EVENTS, events
    assert size < MAX_BYTES, size
