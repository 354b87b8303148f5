"""The codec endpoint of the Temporal Web UI and CLI: decodes (and encodes) the encrypted payloads of
workflow histories for an authorised operator, and audits each use.

The Web UI posts `{"payloads": [...]}` (protobuf JSON) to `/codec/decode` with an `X-Namespace` header.
In development anyone on this machine may decode (the UI of `make run` points here). Elsewhere a manager's
staff API key is required (`Authorization: Bearer ...`): the CLI sends it with `--codec-auth`, and the Web
UI through the sign-on proxy it sits behind.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads

from api.audit import add_audit
from api.auth import staff_with_api_key
from api.deps import SessionDep, SettingsDep
from core.codec import UnknownKey, codec_for

router = APIRouter(prefix="/codec", tags=["operations"], include_in_schema=False)

_bearer = HTTPBearer(auto_error=False)

# The roles whose members may read histories in clear.
OPERATOR_ROLES = frozenset({"manager"})


def _operator(
    request: Request,
    settings: SettingsDep,
    session: SessionDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    if bearer is not None:
        staff = staff_with_api_key(session, bearer.credentials)
        if staff is None or staff.role not in OPERATOR_ROLES:
            raise HTTPException(status.HTTP_403_FORBIDDEN, "Decoding histories needs a manager's API key.")
        return staff.label
    if settings.is_development:
        return "development operator"
    raise HTTPException(
        status.HTTP_401_UNAUTHORIZED, "Send a manager's API key as 'Authorization: Bearer <key>'."
    )


def _cors(request: Request, settings: SettingsDep, response: Response) -> None:
    origin = request.headers.get("origin")
    allowed = {entry.strip() for entry in settings.codec_allowed_origins.split(",") if entry.strip()}
    if origin and origin in allowed:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Allow-Credentials"] = "true"
        response.headers["Access-Control-Allow-Headers"] = "Content-Type, X-Namespace, Authorization"
        response.headers["Access-Control-Allow-Methods"] = "POST, OPTIONS"
        response.headers["Vary"] = "Origin"


@router.options("/{action}")
def preflight(action: str, request: Request, settings: SettingsDep) -> Response:
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    _cors(request, settings, response)
    return response


@router.post("/{action}")
async def transcode(
    action: str,
    request: Request,
    settings: SettingsDep,
    session: SessionDep,
    operator: Annotated[str, Depends(_operator)],
) -> Response:
    if action not in ("encode", "decode"):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "Use /codec/decode or /codec/encode.")
    try:
        payloads = json_format.Parse(await request.body(), Payloads())
    except json_format.ParseError as error:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, 'The body must be {"payloads": [...]}.') from error
    codec = codec_for(settings)
    try:
        if action == "decode":
            result = await codec.decode(payloads.payloads)
        else:
            result = await codec.encode(payloads.payloads)
    except UnknownKey as error:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, str(error)) from error
    except Exception as error:  # a tampered or foreign payload: cryptography's InvalidTag and friends
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_ENTITY, "A payload could not be decrypted."
        ) from error
    if action == "decode":
        namespace = request.headers.get("x-namespace", "")
        add_audit(
            session,
            actor=operator,
            action="decode_payloads",
            case_reference=None,
            detail=f"{len(result)} payloads of namespace {namespace!r}",
        )
        await run_in_threadpool(session.commit)
    response = Response(
        content=json_format.MessageToJson(Payloads(payloads=result)), media_type="application/json"
    )
    _cors(request, settings, response)
    return response
