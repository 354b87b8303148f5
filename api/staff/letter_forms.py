"""The form of the staff page that sends a letter to the applicant again after its email failed for good
(api.routes.staff_failed_mail): which letter, and how, to a corrected email address or by post. It checks
what was typed into the submission the JSON API takes for the same action (api.letter_resend.LetterResend),
with the messages that say, in the page's words, what to correct.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from pydantic import BaseModel

from api.letter_resend import NO_POSTAL_ADDRESS, LetterResend, SendBy, failed_letters, postal_address
from api.link_pages import FormError
from api.staff.form_parts import FormContext, StaffForm, built
from domain.application import one_mailbox

SEND_BY = {
    SendBy.EMAIL.value: "By email, to a corrected email address",
    SendBy.POST.value: "By post",
}
# The outbox keeps addresses up to this long; a longer one is no address.
LONGEST_ADDRESS = 320


class ResendLetterForm(StaffForm):
    texts = ("letter", "to")
    choices: ClassVar[Mapping[str, Mapping[str, object]]] = {"send_by": SEND_BY}
    # Where the shared function's complaints about the submission's fields show.
    anchors: ClassVar[Mapping[str, str]] = {
        "code": "letter",
        "sequence": "letter",
        "send_by": "send_by",
        "to": "to",
    }

    @classmethod
    def defaults(cls, context: FormContext) -> dict[str, str]:
        ids = {str(letter.id) for letter in failed_letters(context.case)}
        return {"letter": context.letter_id if context.letter_id in ids else ""}

    @classmethod
    def check(cls, values: Mapping[str, str], context: FormContext) -> BaseModel | list[FormError]:
        errors: list[FormError] = []
        # Any letter of the case: the shared function says why one that did not fail cannot go again, and a
        # form sent twice must reach it to be recorded once (its letter has not failed by then).
        letter = next((one for one in context.case.letters if str(one.id) == values["letter"]), None)
        if letter is None:
            errors.append(FormError("letter", "Select the letter to send again"))
        send_by = values["send_by"]
        by_email = send_by == SendBy.EMAIL
        if not send_by:
            errors.append(FormError("send_by", "Select how to send the letter again"))
        elif by_email and not values["to"]:
            errors.append(FormError("to", "Enter the applicant’s correct email address"))
        elif by_email and len(values["to"]) > LONGEST_ADDRESS:
            errors.append(FormError("to", f"The email address must be {LONGEST_ADDRESS} characters or fewer"))
        elif by_email:
            try:
                one_mailbox(values["to"])
            except ValueError as error:  # its message says what to correct
                errors.append(FormError("to", str(error)))
        elif send_by == SendBy.POST and not postal_address(context.case.application):
            errors.append(FormError("send_by", NO_POSTAL_ADDRESS))
        if errors or letter is None:
            return errors
        data = {
            "code": letter.code,
            "sequence": letter.sequence,
            "send_by": send_by,
            # Without JavaScript the address field shows whatever is chosen: by post, it is ignored.
            "to": values["to"] if by_email else None,
        }
        return built(LetterResend, data, cls.anchors, "to")
