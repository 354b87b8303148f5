"""What the case page's success banner says after a staff action page has done its work.

An action page redirects to `/staff/cases/{reference}?done=<action>`; the case page shows DONE[action] in a
GOV.UK notification banner (an unknown action shows none). Nothing personal goes in the address.
"""

from __future__ import annotations

DONE: dict[str, str] = {
    "application": "The application has been recorded and the case has started.",
    "agency-response": "The agency's answer has been recorded.",
    "resend": "The information request has been sent again with a new link.",
    "extend": "The information request's due date has been extended.",
    "waive": "The case will go ahead without that agency's answer.",
    "threshold-decision": "The threshold decision has been recorded.",
    "review-meeting": "The review meeting has been arranged.",
    "impact-statement": "The impact statement arrangement has been recorded.",
    "panel-decision": "The panel's decision has been recorded.",
    "withdraw": "The case has been withdrawn.",
    "appeal-request": "The appeal request has been recorded.",
    "appeal-outcome": "The appeal outcome has been recorded.",
    "appeal-consent": "The victim's consent to the appeal has been recorded.",
    "appeal-chair": "The appeal chair has been named.",
    "appeal-withdraw": "The appeal has been withdrawn.",
    "appeal-chair-link-resend": "The appeal chair's link has been sent again.",
    "appeal-chair-link-extend": "The appeal chair's link has been extended.",
    "appeal-acknowledge": "The appeal has been acknowledged on the chair's behalf.",
    "appeal-criteria": "The appeal criteria decision has been recorded on the chair's behalf.",
    "appeal-panel": "The appeal panel has been recorded on the chair's behalf.",
    "appeal-decision": "The appeal decision has been recorded on the chair's behalf.",
}


def done_message(action: str | None) -> str | None:
    return DONE.get(action or "")
