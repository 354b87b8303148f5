"""The users page for admins (`/staff/users`): every staff user; invite one (an emailed link to set their
password); change a user's role and localities; deactivate (their sessions end at once) or reactivate them;
send a new invitation; create a personal API key for the JSON API (shown once) or revoke it.

Only a role with the MANAGE_USERS permission (admin) sees these pages; anyone else signed in gets a 403
page, audited. The work and its audit are api.staff.accounts; GOV.UK pages that work without JavaScript,
every form with the session's CSRF token, bad input answered with the error summary and nothing written.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Path, Request, Response
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session, sessionmaker

from api.audit import record_audit
from api.deps import NowDep, PoliciesDep, SessionFactoryDep, SettingsDep
from api.link_pages import FormError, ShowPage, errors_by_field, redirect
from api.staff.account_pages import Fields, field, moment, read_fields
from api.staff.accounts import (
    AccountError,
    UserDetails,
    change_user,
    create_api_key,
    details_from_form,
    invite_user,
    list_users,
    new_invitation,
    revoke_api_key,
    set_active,
    user_row,
)
from api.staff.links import LIFETIMES, LinkPurpose, link_url
from api.staff.pages import staff_page
from api.staff.sessions import SignedIn, SignedInDep, check_csrf
from api.staff.staff_mail import send_staff_email
from core.config import Settings
from domain.policy import LocalityPolicy
from domain.staff import ROLE_NAMES, Permission, Role, may

router = APIRouter(prefix="/staff/users", include_in_schema=False)

ROLE_HINTS = {
    Role.SPOC.value: "Runs the cases of their localities",
    Role.MANAGER.value: "Sees and acts on every case of their localities",
    Role.PANEL.value: "Reads cases and records the review panel's findings",
    Role.COUNTY_TEAM.value: "Follows the appeals of the localities it serves and names who hears them",
    Role.ADMIN.value: "Manages staff accounts; sees no case",
}
DONE = {
    "invited": "The user has been invited: they have been emailed a link to set their password.",
    "invite-not-sent": "The user has been added, but the invitation email could not be sent: send it again.",
    "changed": "The user's role and localities have been changed.",
    "deactivated": "The user has been deactivated and signed out everywhere.",
    "reactivated": "The user has been reactivated.",
    "invitation": "A new invitation has been emailed; earlier ones no longer work.",
    "revoked": "The API key has been revoked: it no longer works.",
}


async def admin(
    request: Request, signed_in: SignedInDep, settings: SettingsDep, sessions: SessionFactoryDep, now: NowDep
) -> SignedIn:
    """The signed-in admin; anyone else gets the 403 page (audited) and the route does not run."""
    if not may(signed_in.staff.role, Permission.MANAGE_USERS):
        await run_in_threadpool(
            record_audit,
            sessions,
            at=now,
            actor=signed_in.staff.label,
            action="staff_users_refused",
            case_reference=None,
            detail=f"{request.method} {request.url.path}",
        )
        raise ShowPage(staff_page("staff/users/forbidden.html", signed_in, settings, status_code=403))
    return signed_in


AdminDep = Annotated[SignedIn, Depends(admin)]
_T = TypeVar("_T")
# A user's number in a path: anything else is answered 422 before the database is asked.
UserId = Annotated[int, Path(ge=1, le=2**31 - 1)]


@dataclass(frozen=True)
class Admin:
    """What every users page works with: the signed-in admin, and the request's settings, database,
    localities and clock."""

    signed_in: SignedIn
    settings: Settings
    sessions: sessionmaker[Session]
    policies: dict[str, LocalityPolicy]
    now: dt.datetime


async def _admin_pages(
    signed_in: AdminDep,
    settings: SettingsDep,
    sessions: SessionFactoryDep,
    policies: PoliciesDep,
    now: NowDep,
) -> Admin:
    return Admin(signed_in, settings, sessions, policies, now)


AdminPagesDep = Annotated[Admin, Depends(_admin_pages)]


def _page(template: str, admin: Admin, status_code: int = 200, **context: Any) -> Response:
    return staff_page(
        f"staff/users/{template}",
        admin.signed_in,
        admin.settings,
        status_code=status_code,
        current="users",
        **context,
    )


async def _form(request: Request, admin: Admin) -> Fields | Response:
    signed_in, settings = admin.signed_in, admin.settings
    fields = await read_fields(request)
    if fields is None or not check_csrf(settings.secret_key, signed_in, field(fields, "csrf") or None):
        return staff_page("staff/account/form_expired_signed_in.html", signed_in, settings, status_code=400)
    return fields


def _choices(policies: dict[str, LocalityPolicy]) -> dict[str, Any]:
    return {
        "roles": {role.value: ROLE_NAMES[role] for role in Role},
        "role_hints": ROLE_HINTS,
        "localities": {key: policy.council for key, policy in sorted(policies.items())},
    }


@router.get("")
async def users(admin: AdminPagesDep, done: str | None = None) -> Response:
    rows = await run_in_threadpool(list_users, admin.sessions, admin.now)
    return _page("users.html", admin, users=rows, done=DONE.get(done or ""), **_choices(admin.policies))


# ---- inviting ----------------------------------------------------------------------------------


@router.get("/invite")
async def invite_form(admin: AdminPagesDep) -> Response:
    return _page(
        "invite.html",
        admin,
        values=UserDetails(role="", localities=()),
        errors=[],
        error_for={},
        **_choices(admin.policies),
    )


async def _send_invitation(
    admin: Admin, *, token: str, name: str, email: str, role: str, localities: tuple[str, ...]
) -> bool:
    policies = admin.policies
    return await send_staff_email(
        admin.settings,
        recipient=email,
        template="staff-invitation.j2",
        context={
            "recipient": {"name": name},
            "role": ROLE_NAMES.get(role, role),
            "localities": [policies[key].council for key in sorted(localities) if key in policies],
            "link": link_url(admin.settings, LinkPurpose.INVITATION, token),
            "valid_until": moment(admin.now + LIFETIMES[LinkPurpose.INVITATION]),
        },
    )


@router.post("/invite")
async def invite(request: Request, admin: AdminPagesDep) -> Response:
    fields = await _form(request, admin)
    if isinstance(fields, Response):
        return fields
    details = details_from_form(fields, with_identity=True)
    errors = details.problems(admin.policies, with_identity=True)
    if not errors:
        try:
            user_id, token = await run_in_threadpool(
                invite_user, admin.sessions, admin.signed_in.staff, details, admin.now
            )
        except AccountError as error:
            errors = [FormError("email", str(error))]
    if errors:
        return _page(
            "invite.html",
            admin,
            422,
            values=details,
            errors=errors,
            error_for=errors_by_field(errors),
            has_errors=True,
            **_choices(admin.policies),
        )
    sent = await _send_invitation(
        admin,
        token=token,
        name=details.name,
        email=details.email,
        role=details.role,
        localities=details.localities,
    )
    return redirect(f"/staff/users/{user_id}?done={'invited' if sent else 'invite-not-sent'}")


# ---- one user ----------------------------------------------------------------------------------


async def _user_page(user_id: UserId, admin: Admin, *, status_code: int = 200, **context: Any) -> Response:
    row = await run_in_threadpool(user_row, admin.sessions, user_id, admin.now)
    if row is None:
        return _page("not_found.html", admin, 404)
    context.setdefault("values", UserDetails(role=row.role, localities=row.localities))
    context.setdefault("errors", [])
    return _page(
        "user.html",
        admin,
        status_code,
        user=row,
        error_for=errors_by_field(context["errors"]),
        has_errors=bool(context["errors"]),
        is_self=row.id == admin.signed_in.staff.id,
        **context,
        **_choices(admin.policies),
    )


@router.get("/{user_id}")
async def user(user_id: UserId, admin: AdminPagesDep, done: str | None = None) -> Response:
    return await _user_page(user_id, admin, done=DONE.get(done or ""))


@router.post("/{user_id}")
async def change(user_id: UserId, request: Request, admin: AdminPagesDep) -> Response:
    fields = await _form(request, admin)
    if isinstance(fields, Response):
        return fields
    details = details_from_form(fields, with_identity=False)
    errors = details.problems(admin.policies, with_identity=False)
    if not errors:
        try:
            await run_in_threadpool(
                change_user, admin.sessions, admin.signed_in.staff, user_id, details, admin.now
            )
        except AccountError as error:
            errors = [FormError("role", str(error))]
    if errors:
        return await _user_page(user_id, admin, status_code=422, values=details, errors=errors)
    return redirect(f"/staff/users/{user_id}?done=changed")


async def _attempt(user_id: UserId, request: Request, admin: Admin, work: Callable[[], _T]) -> _T | Response:
    """A button on the user's page: what `work` returns; or, instead, the form-expired page, or the user's
    page again with why it could not be done."""
    fields = await _form(request, admin)
    if isinstance(fields, Response):
        return fields
    try:
        return await run_in_threadpool(work)
    except AccountError as error:
        return await _user_page(user_id, admin, status_code=409, refusal=str(error))


async def _act(
    user_id: UserId, request: Request, admin: Admin, work: Callable[[], object], done: str
) -> Response:
    """A button that does `work`, then shows the user's page saying `done`."""
    refused = await _attempt(user_id, request, admin, work)
    if isinstance(refused, Response):
        return refused
    return redirect(f"/staff/users/{user_id}?done={done}")


@router.post("/{user_id}/deactivate")
async def deactivate(user_id: UserId, request: Request, admin: AdminPagesDep) -> Response:
    work = partial(set_active, admin.sessions, admin.signed_in.staff, user_id, False, admin.now)
    return await _act(user_id, request, admin, work, "deactivated")


@router.post("/{user_id}/reactivate")
async def reactivate(user_id: UserId, request: Request, admin: AdminPagesDep) -> Response:
    work = partial(set_active, admin.sessions, admin.signed_in.staff, user_id, True, admin.now)
    return await _act(user_id, request, admin, work, "reactivated")


@router.post("/{user_id}/api-key/revoke")
async def revoke_key(user_id: UserId, request: Request, admin: AdminPagesDep) -> Response:
    work = partial(revoke_api_key, admin.sessions, admin.signed_in.staff, user_id, admin.now)
    return await _act(user_id, request, admin, work, "revoked")


@router.post("/{user_id}/invitation")
async def send_invitation(user_id: UserId, request: Request, admin: AdminPagesDep) -> Response:
    work = partial(new_invitation, admin.sessions, admin.signed_in.staff, user_id, admin.now)
    invitation = await _attempt(user_id, request, admin, work)
    if isinstance(invitation, Response):
        return invitation
    token, name, email = invitation
    row = await run_in_threadpool(user_row, admin.sessions, user_id, admin.now)
    assert row is not None
    sent = await _send_invitation(
        admin, token=token, name=name, email=email, role=row.role, localities=row.localities
    )
    return redirect(f"/staff/users/{user_id}?done={'invitation' if sent else 'invite-not-sent'}")


@router.post("/{user_id}/api-key")
async def new_key(user_id: UserId, request: Request, admin: AdminPagesDep) -> Response:
    """The new key is on this page only (never in an address, never stored); the page is not cached."""
    work = partial(create_api_key, admin.sessions, admin.signed_in.staff, user_id, admin.now)
    key = await _attempt(user_id, request, admin, work)
    if isinstance(key, Response):
        return key
    row = await run_in_threadpool(user_row, admin.sessions, user_id, admin.now)
    return _page("api_key.html", admin, user=row, api_key=key)
