"""The files an agency attaches to its answer: reading them from the posted form without reading more than
it may hold, which types are accepted (by their content, not their name), safe file names, size limits,
and keeping them with the case until the answer is recorded. The applicant's document is read and checked
the same way (api.applicant.information)."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import re
import unicodedata
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from fastapi import Request
from sqlalchemy import delete
from sqlalchemy.orm import Session, sessionmaker
from starlette.datastructures import UploadFile
from starlette.types import Message

from api.agency.sessions import RequestView
from db.models import Attachment

MAX_FILES = 5
MAX_FILE_BYTES = 10 * 1024 * 1024
MAX_TOTAL_BYTES = 20 * 1024 * 1024
ALLOWED_TYPES_TEXT = "a PDF, Word (.docx), Excel (.xlsx), PNG, JPEG, text (.txt) or CSV file"


def _is_pdf(content: bytes) -> bool:
    return content.startswith(b"%PDF-")


def _is_png(content: bytes) -> bool:
    return content.startswith(b"\x89PNG\r\n\x1a\n")


def _is_jpeg(content: bytes) -> bool:
    return content.startswith(b"\xff\xd8\xff")


def _is_office(folder: str) -> Callable[[bytes], bool]:
    """A .docx or .xlsx: a zip holding the Office content-types file and the document's own folder."""

    def sniff(content: bytes) -> bool:
        if not content.startswith(b"PK\x03\x04"):
            return False
        try:
            # Only the zip's directory is read; nothing is extracted.
            with zipfile.ZipFile(io.BytesIO(content)) as archive:
                names = archive.namelist()
        except (zipfile.BadZipFile, ValueError, OSError):
            return False
        return "[Content_Types].xml" in names and any(name.startswith(folder) for name in names)

    return sniff


def _is_utf8_text(content: bytes) -> bool:
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return "\x00" not in text


@dataclass(frozen=True)
class FileType:
    content_type: str
    sniff: Callable[[bytes], bool]


FILE_TYPES: dict[str, FileType] = {
    "pdf": FileType("application/pdf", _is_pdf),
    "png": FileType("image/png", _is_png),
    "jpg": FileType("image/jpeg", _is_jpeg),
    "jpeg": FileType("image/jpeg", _is_jpeg),
    "docx": FileType(
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document", _is_office("word/")
    ),
    "xlsx": FileType("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", _is_office("xl/")),
    "txt": FileType("text/plain; charset=utf-8", _is_utf8_text),
    "csv": FileType("text/csv; charset=utf-8", _is_utf8_text),
}


def safe_filename(name: str) -> tuple[str, str]:
    """(a file name safe to store and offer for download, its extension in lower case).

    Only the last part of a path is kept (some browsers send the whole path), and only letters, digits,
    spaces, dots, hyphens and underscores survive, so the name cannot break out of a header or a folder.
    """
    base = re.split(r"[\\/]", unicodedata.normalize("NFKC", name))[-1]
    stem, dot, extension = base.rpartition(".")
    if not dot:
        stem, extension = base, ""
    extension = re.sub(r"[^a-z0-9]", "", extension.lower())[:10]
    stem = re.sub(r"[^A-Za-z0-9 ._-]+", "_", stem)
    # No leading dot (a hidden file) and no trailing dot or space (which some systems drop).
    stem = re.sub(r"_{2,}", "_", stem).strip(" .")[:120].strip(" .") or "attachment"
    return (f"{stem}.{extension}" if extension else stem), extension


@dataclass(frozen=True)
class Upload:
    """A file as received: its name, its size, and its content (None when too big to read)."""

    filename: str
    size: int
    content: bytes | None


# ---- reading the posted form ----------------------------------------------------------------


class BodyTooLarge(Exception):
    """The posted form is larger than its page allows: it is not read further."""


def _limited(request: Request, limit: int) -> Request:
    """The same request, whose body may not exceed `limit` bytes (declared or as it arrives)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    received = 0

    async def receive() -> Message:
        nonlocal received
        message = await request.receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise BodyTooLarge
        return message

    return Request(request.scope, receive)


async def read_form_with_files(
    request: Request, *, limit: int, file_field: str, max_files: int, max_fields: int
) -> tuple[dict[str, str], list[Upload]]:
    """A posted form's text fields (the first of each name) and the files of its `file_field` (one too big
    to accept is not read), reading no more than `limit` bytes. Raises BodyTooLarge, or Starlette's
    HTTPException for a malformed form."""
    fields: dict[str, str] = {}
    uploads: list[Upload] = []
    async with _limited(request, limit).form(max_files=max_files, max_fields=max_fields) as form:
        for name, value in form.multi_items():
            if isinstance(value, UploadFile):
                size = value.size or 0
                # An empty file input still sends a part, with no name and no content.
                if name != file_field or (not value.filename and size == 0):
                    continue
                content = await value.read() if size <= MAX_FILE_BYTES else None
                uploads.append(Upload(filename=value.filename or "", size=size, content=content))
            else:
                fields.setdefault(name, value)
    return fields, uploads


@dataclass(frozen=True)
class CheckedFile:
    filename: str
    content_type: str
    content: bytes
    sha256: str


def check_attachments(uploads: Sequence[Upload]) -> tuple[list[CheckedFile], list[str]]:
    """The files that may be stored, and a message for each problem (any problem: store none)."""
    problems: list[str] = []
    checked: list[CheckedFile] = []
    if len(uploads) > MAX_FILES:
        return [], [f"Select up to {MAX_FILES} files"]
    for upload in uploads:
        filename, extension = safe_filename(upload.filename)
        file_type = FILE_TYPES.get(extension)
        if upload.size > MAX_FILE_BYTES or upload.content is None:
            problems.append(f"{filename} must be smaller than {MAX_FILE_BYTES // (1024 * 1024)}MB")
            continue
        if upload.size == 0 or not upload.content:
            problems.append(f"{filename} is empty")
            continue
        if file_type is None or not file_type.sniff(upload.content):
            problems.append(f"{filename} must be {ALLOWED_TYPES_TEXT}")
            continue
        checked.append(
            CheckedFile(
                filename=filename,
                content_type=file_type.content_type,
                content=upload.content,
                sha256=hashlib.sha256(upload.content).hexdigest(),
            )
        )
    if not problems and sum(upload.size for upload in uploads) > MAX_TOTAL_BYTES:
        problems.append(
            f"The selected files must be smaller than {MAX_TOTAL_BYTES // (1024 * 1024)}MB in total"
        )
    return ([] if problems else checked), problems


def stage_attachments(
    sessions: sessionmaker[Session], *, request: RequestView, files: Sequence[CheckedFile], now: dt.datetime
) -> list[int]:
    """Store the files with the case, not yet accepted: the answer they came with is still on its way."""
    if not files:
        return []
    with sessions.begin() as session:
        rows = [
            Attachment(
                case_id=request.case_id,
                request_id=request.request_id,
                filename=item.filename,
                content_type=item.content_type,
                size=len(item.content),
                sha256=item.sha256,
                content=item.content,
                accepted=False,
                uploaded_at=now,
            )
            for item in files
        ]
        session.add_all(rows)
        session.flush()
        return [row.id for row in rows]


def discard_attachments(sessions: sessionmaker[Session], *, ids: Sequence[int]) -> None:
    """Remove files staged for an answer that was not recorded (never those an answer was recorded with)."""
    if not ids:
        return
    with sessions.begin() as session:
        session.execute(delete(Attachment).where(Attachment.id.in_(ids), Attachment.accepted.is_(False)))
