"""The agency's answer form: its fields and their checks, its CSRF tokens, and reading the posted form
(files included) without reading more than an answer can hold."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from fastapi import Request

from api.agency.uploads import MAX_FILE_BYTES, MAX_FILES, Upload, read_form_with_files
from api.link_pages import FormError, form_choice, form_text, max_length, sign, too_long
from domain.decisions import AgencyResponse
from domain.links import hash_token

# The body of an answer: the files at their largest plus the text fields. Beyond it, stop reading.
MAX_BODY_BYTES = MAX_FILES * MAX_FILE_BYTES + 1024 * 1024


# ---- CSRF ------------------------------------------------------------------------------------


def reply_csrf_token(secret_key: str, session_hash: str) -> str:
    """The reply form's CSRF token: bound to the session, so it is useless to anyone without the cookie."""
    return sign(secret_key, f"agency-reply|{session_hash}")


def new_link_csrf_token(secret_key: str, link_token: str) -> str:
    """The new-link form's CSRF token, bound to the link it asks about.

    That form carries no ambient authority (no cookie is involved; the link's token in the body is what
    counts), so a value signed with the secret key is enough to show that the form came from our page.
    """
    return sign(secret_key, f"agency-new-link|{hash_token(link_token)}")


# ---- the answer form -------------------------------------------------------------------------


TEXT_FIELDS: dict[str, str] = {
    # field -> how error messages name it
    "responder_name": "Your name",
    "responder_role": "Your job title or role",
    "records_found": "The records you hold",
    "actions_taken": "The action you have taken",
    "risk_to_victim": "What you know about risk to the victim",
    "notes": "Anything else",
}
MAX_LENGTHS = {name: max_length(AgencyResponse, name) for name in TEXT_FIELDS}
CHOICES: dict[str, dict[str, bool | None]] = {
    "behaviour_continues": {"yes": True, "no": False, "unknown": None},
    "supports_threshold": {"yes": True, "no": False, "cannot_say": None},
}
REQUIRED: dict[str, str] = {
    "responder_name": "Enter your name",
    "records_found": "Enter the records you hold, or say that you hold none",
    "behaviour_continues": "Select whether the behaviour is still going on",
    "supports_threshold": "Select whether your records support the application",
}
# Where each field's error links to: the first radio of a group has the group's name as its id.
ERROR_ORDER = (
    "responder_name",
    "responder_role",
    "records_found",
    "actions_taken",
    "behaviour_continues",
    "risk_to_victim",
    "supports_threshold",
    "notes",
    "attachments",
)


@dataclass(frozen=True)
class AnswerForm:
    """The answer as typed, kept to fill the form in again when something needs correcting."""

    values: dict[str, str]

    @classmethod
    def from_fields(cls, fields: Mapping[str, str]) -> AnswerForm:
        values = {name: form_text(fields, name) for name in TEXT_FIELDS}
        for name, choices in CHOICES.items():
            values[name] = form_choice(fields, name, choices)
        return cls(values)

    def problems(self) -> list[FormError]:
        found: list[FormError] = []
        for name, label in TEXT_FIELDS.items():
            error = too_long(self.values, name, label, MAX_LENGTHS[name])
            if error:
                found.append(error)
        for name, message in REQUIRED.items():
            if not self.values[name]:
                found.append(FormError(name, message))
        return found

    def to_response(self, request_key: str, attachment_ids: Sequence[int]) -> AgencyResponse:
        v = self.values
        return AgencyResponse(
            request_key=request_key,
            records_found=v["records_found"],
            actions_taken=v["actions_taken"],
            behaviour_continues=CHOICES["behaviour_continues"][v["behaviour_continues"]],
            risk_to_victim=v["risk_to_victim"],
            supports_threshold=CHOICES["supports_threshold"][v["supports_threshold"]],
            notes=v["notes"],
            received_by="email_link",
            responder_name=v["responder_name"],
            responder_role=v["responder_role"],
            attachment_ids=list(attachment_ids),
        )


def ordered(errors: Sequence[FormError]) -> list[FormError]:
    """Errors in the order of the fields on the page, as the error summary lists them."""
    return sorted(errors, key=lambda error: ERROR_ORDER.index(error.field))


# ---- reading the posted form ----------------------------------------------------------------


async def read_answer(request: Request) -> tuple[dict[str, str], list[Upload]]:
    """The form's text fields and its files (a file too big to accept is not read); raises BodyTooLarge."""
    return await read_form_with_files(
        request, limit=MAX_BODY_BYTES, file_field="attachments", max_files=MAX_FILES * 4, max_fields=40
    )
