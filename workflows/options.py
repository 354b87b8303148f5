"""How long each kind of activity may take and how it is retried, in one place for every workflow."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio.common import RetryPolicy

# Database writes: short, retried until the database is back. A worker killed during one is noticed when
# the attempt times out, so the case resumes on another worker within about this long.
RECORD_TIMEOUT = timedelta(seconds=20)
RECORD_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))

# Email: transient failures retry with backoff for up to two days; permanent ones are not retried.
# One attempt may send several emails (each with its own SMTP timeout), so it has ten minutes; it
# heartbeats every few seconds while it sends (activities/mail.py), so a worker that dies is noticed
# within the heartbeat timeout and the case resumes on another worker within half a minute.
MAIL_TIMEOUT = timedelta(minutes=10)
MAIL_HEARTBEAT = timedelta(seconds=15)
MAIL_GIVE_UP_AFTER = timedelta(days=2)
MAIL_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=5),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=30),
    non_retryable_error_types=["PermanentMailFailure"],
)


def record_options(summary: str | None = None) -> dict[str, Any]:
    """Options for an activity that writes to the database; `summary` is what the Web UI shows for it
    (ids and enums only: no personal data)."""
    return {"start_to_close_timeout": RECORD_TIMEOUT, "retry_policy": RECORD_RETRY, "summary": summary}


def mail_options(summary: str | None = None) -> dict[str, Any]:
    """Options for an activity that sends email (and records what it sent), with its Web UI summary."""
    return {
        "summary": summary,
        "start_to_close_timeout": MAIL_TIMEOUT,
        "heartbeat_timeout": MAIL_HEARTBEAT,
        "schedule_to_close_timeout": MAIL_GIVE_UP_AFTER,
        "retry_policy": MAIL_RETRY,
    }
