"""The case workflow's activities, composed in one class: keep the case record current, ask agencies,
send letters, tell staff.

Each group lives in a module of its own, by side effect (records, requests, letters, notices), on the
shared `CaseFiles` base. The workflows name activities as `CaseActivities.<method>`, and each activity is
registered under its method's name, which recorded histories replay against: a method may move between
modules, but must not be renamed.

Each is idempotent on a business key, because Temporal runs an activity at least once: chronology
entries on (case, event key), letters on (case, code, sequence), requests on (case, request key), and
emails on their outbox key.
"""

from __future__ import annotations

from typing import Any

from activities.appeals import AppealRecords
from activities.letters import Letters
from activities.notices import StaffNotices
from activities.records import CaseRecords
from activities.requests import InformationRequests


class CaseActivities(CaseRecords, InformationRequests, Letters, StaffNotices, AppealRecords):
    """All the case and appeal workflows' activities, on one set of settings, policies, sessions and
    mailer."""

    def all(self) -> list[Any]:
        return [
            self.record_progress,
            self.record_agency_response,
            self.open_information_requests,
            self.send_letter,
            self.notify_staff,
            self.chase_information_request,
            self.resend_information_request,
            self.record_request_change,
            self.close_information_requests,
            self.record_appeal,
            self.ask_for_appeal_chair,
            self.send_appeal_bundle,
            self.extend_chair_link,
            self.send_appeal_lessons,
        ]
