"""Page forms that carry one file (a roster workbook, a patrol track): the CSRF check first, then the file."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile

from gis_service.api.deps import app_settings
from gis_service.api.routers.deliveries import limited_request, save_upload
from gis_service.errors import BadRequest, PayloadTooLarge
from gis_service.ingest.archive import ArchiveLimits
from gis_service.web.deps import CsrfRejected, CurrentUser, WebUser, csrf_matches


async def file_form(request: Request, user: CurrentUser) -> tuple[FormData, UploadFile | None]:
    """Read a form with at most one file; refuse it (403) without the user's CSRF token, before the file is used."""
    form = await request.form(max_files=1, max_fields=20)
    if not csrf_matches(user.csrf, form.get("csrf_token")):
        raise CsrfRejected
    found = next((v for v in form.values() if isinstance(v, UploadFile) and v.filename), None)
    return form, found


FileForm = Annotated[tuple[FormData, UploadFile | None], Depends(file_form)]


async def file_bytes(upload: UploadFile | None, what: str, max_mb: float) -> bytes:
    """Return the uploaded file's bytes within the upload limit, or a clear 400/413 naming ``what`` was expected."""
    if upload is None:
        raise BadRequest(f"没有收到文件；请选择{what}后再提交", code="missing_file")
    limit = int(max_mb * 1024 * 1024)
    content = await upload.read(limit + 1)
    if len(content) > limit:
        raise PayloadTooLarge(f"文件超过 {max_mb:g} MB；请拆分后再上传", code="file_too_large")
    return content


async def import_form_file(
    request: Request,
    user: WebUser,
    session: Session,
    what: str,
    run: Callable[[Session, Path, ArchiveLimits], dict[str, Any]],
) -> tuple[dict[str, Any], str]:
    """Import the one file of a page form with ``run``; return its result and the file's name.

    The CSRF token is checked first; the body is bounded while it streams (the delivery limit), the
    file is saved to a temporary folder and imported in a savepoint, so a refused file stores nothing.
    """
    settings = app_settings(request.app)
    limit = int(settings.max_upload_mb * 1024 * 1024)
    async with limited_request(request, limit).form(max_files=1, max_fields=5) as form:
        if not csrf_matches(user.csrf, form.get("csrf_token")):
            raise CsrfRejected
        upload = form.get("file")
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise BadRequest(f"请选择要上传的{what}（.xlsx 或 .csv）", code="missing_file")
        with tempfile.TemporaryDirectory(prefix="rivergis-upload-") as tmp:
            path = await save_upload(upload, Path(tmp), limit)
            with session.begin_nested():
                result = await run_in_threadpool(run, session, path, ArchiveLimits.of(settings))
    return result, path.name
