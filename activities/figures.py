"""The yearly figures' activities: which localities' reporting years have just ended, and the email of a
year's figures (unsuppressed) to each locality's manager with the reminder to publish them.

Idempotent on the locality and year: the emails of a year are recorded in the outbox together, under
`yearly-figures:<locality>:<year>:<recipient>`, and a retry (or the schedule's next firing) that finds
any of them delivers those and records no more.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.case_files import deliver_each
from activities.mail import Mailer, OutgoingEmail, activity_now
from activities.rendering import Renderer
from core.config import Settings
from db.figures import figures_for, managers_of
from db.models import OutboxMessage
from domain.calendar import london_date
from domain.figures import (
    SUPPRESS_BELOW,
    SUPPRESSED,
    ReportingYear,
    areas_of,
    by_section,
    deadline_table,
    first_working_day_after,
    last_complete_year,
    rows,
)
from domain.policy import LocalityPolicy
from workflows.yearly_figures import FiguresDue, FiguresSent, YearlyFiguresPlan

log = logging.getLogger(__name__)

# A year that ended longer ago than this is not sent when the schedule fires: its email went when it
# ended (or, on a service started since, it is past being a reminder). It covers a schedule caught up
# after Temporal was down, or triggered by hand, within the month.
CATCH_UP = dt.timedelta(days=31)
PURPOSE = "yearly-figures"


def figures_due(policies: dict[str, LocalityPolicy], today: dt.date) -> list[FiguresDue]:
    """Each locality whose reporting year ended in the month before `today`, with the first working day
    after it (in the locality's nation)."""
    due = []
    for key, policy in sorted(policies.items()):
        year = last_complete_year(today, policy.figures.year)
        if today - year.last_day <= CATCH_UP:
            due.append(
                FiguresDue(
                    locality=key,
                    year_kind=year.kind,
                    start_year=year.start_year,
                    send_on=first_working_day_after(year, policy.nation),
                )
            )
    return due


class YearlyFiguresActivities:
    def __init__(
        self, settings: Settings, policies: dict[str, LocalityPolicy], sessions: sessionmaker[Session]
    ) -> None:
        self._settings = settings
        self._policies = policies
        self._sessions = sessions
        self._mailer = Mailer(settings, sessions)
        self._renderer = Renderer()

    def all(self) -> list[object]:
        return [self.plan_yearly_figures, self.send_yearly_figures]

    @activity.defn
    def plan_yearly_figures(self, today: dt.date) -> YearlyFiguresPlan:
        return YearlyFiguresPlan(due=figures_due(self._policies, today))

    @activity.defn
    async def send_yearly_figures(self, due: FiguresDue) -> FiguresSent:
        keys, to_policy_manager = await asyncio.to_thread(self._record, due)
        await deliver_each(self._mailer.deliver(key) for key in keys)
        log.info("yearly figures of %s for %s: %d emails", due.locality, due.start_year, len(keys))
        return FiguresSent(
            locality=due.locality,
            start_year=due.start_year,
            emails=len(keys),
            to_policy_manager=to_policy_manager,
        )

    def _record(self, due: FiguresDue) -> tuple[list[str], bool]:
        """The outbox keys of the year's emails, recorded now unless an earlier attempt did; and whether
        they go to the policy's manager for want of a manager's account."""
        policy = self._policies.get(due.locality)
        if policy is None:
            raise ApplicationError(f"no locality {due.locality!r}", non_retryable=True)
        year = ReportingYear(due.year_kind, due.start_year)
        prefix = f"{PURPOSE}:{due.locality}:{year.slug}:"
        with self._sessions.begin() as session:
            recorded = list(
                session.execute(
                    select(OutboxMessage.idempotency_key, OutboxMessage.recipient).where(
                        OutboxMessage.idempotency_key.startswith(prefix, autoescape=True)
                    )
                )
            )
            if recorded:
                addresses = {str(policy.manager.email).lower()}
                return [key for key, _ in recorded], all(r.lower() in addresses for _, r in recorded)
            managers = managers_of(session, due.locality)
            to_policy_manager = not managers
            recipients = [(m.name, m.email) for m in managers] or [
                (policy.manager.name, str(policy.manager.email))
            ]
            areas = areas_of(self._policies)
            as_of = london_date(activity_now())
            figures = figures_for(session, areas[due.locality], self._policies, year, as_of)
            published = rows(figures, public=False)
            combined = policy.figures.combined_area
            keys = []
            for name, address in recipients:
                rendered = self._renderer.render(
                    f"emails/{PURPOSE}.j2",
                    {
                        "council": policy,
                        "recipient": {"name": name},
                        "year": year,
                        "as_of": figures.as_of,
                        "sections": {
                            section: [(row.label, row.value) for row in section_rows]
                            for section, section_rows in by_section(published).items()
                        },
                        "deadlines": deadline_table(published),
                        "figures_url": self._figures_url(due.locality, year),
                        "combined_area": combined.name if combined else None,
                        "combined_url": self._figures_url(combined.key, year) if combined else None,
                        "to_policy_manager": to_policy_manager,
                        "suppress_below": SUPPRESS_BELOW,
                        "suppressed": SUPPRESSED,
                    },
                )
                key = f"{prefix}{address.lower()}"
                self._mailer.record(
                    OutgoingEmail(
                        idempotency_key=key,
                        case_reference=None,
                        purpose=PURPOSE,
                        sender=str(policy.email_from or policy.spoc.email),
                        reply_to=None,
                        recipient=address,
                        subject=rendered.subject,
                        body_text=rendered.text,
                        body_html=rendered.html,
                    ),
                    session,
                )
                keys.append(key)
            return keys, to_policy_manager

    def _figures_url(self, area: str, year: ReportingYear) -> str:
        return f"{self._settings.public_base_url.rstrip('/')}/figures?area={area}&year={year.slug}"
