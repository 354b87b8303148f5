"""The emails of staff accounts (a security code, an invitation, a password reset link), sent at once from
the API over SMTP.

Not through the case outbox (activities.mail): they are not a case's side effects, nothing retries them
(the person asks again), and the outbox would keep the code or the link in the database. Only the
message's purpose is logged, never the address, the code or the link.
"""

from __future__ import annotations

import datetime as dt
import logging
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any

import aiosmtplib

from activities.rendering import Renderer
from core.config import Settings

log = logging.getLogger(__name__)

_renderer = Renderer()


def sender_of(settings: Settings) -> str:
    """The From address: STAFF_EMAIL_FROM, or the service's own name at its public host."""
    if settings.staff_email_from:
        return settings.staff_email_from
    host = settings.public_base_url.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]
    return f"community-trigger@{host or 'localhost'}"


async def send_staff_email(
    settings: Settings, *, recipient: str, template: str, context: dict[str, Any]
) -> bool:
    """Render `templates/emails/<template>` and send it to `recipient`; whether the mail server took it
    (a failure is logged without the address; the page offers to send again)."""
    rendered = _renderer.render(f"emails/{template}", {**context, "service_url": settings.public_base_url})
    message = EmailMessage()
    if not _one_mailbox(recipient):
        log.warning("a staff %s email was not sent: the address is not one mailbox", template)
        return False
    message["To"] = recipient
    sender = sender_of(settings)
    message["From"] = sender
    message["Subject"] = rendered.subject
    message["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[-1])
    message["Date"] = format_datetime(dt.datetime.now(dt.UTC))
    message.set_content(rendered.text)
    message.add_alternative(rendered.html, subtype="html")
    try:
        await aiosmtplib.send(
            message,
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_username,
            password=settings.smtp_password,
            start_tls=settings.smtp_use_tls or None,
            timeout=settings.smtp_timeout_seconds,
        )
    except (aiosmtplib.SMTPException, OSError) as error:
        # The type only: an SMTP error's text can quote the address.
        log.warning("a staff %s email was not sent: %s", template, type(error).__name__)
        return False
    log.info("a staff %s email was sent", template)
    return True


def _one_mailbox(address: str) -> bool:
    """Exactly one address, nothing that could add a header or a recipient. Not domain.application's
    stricter check: the development users' `.invalid` addresses must reach the local mail sink."""
    return (
        address.count("@") == 1
        and not any(character in address for character in '\r\n,;<>"()')
        and not any(character.isspace() for character in address)
    )
