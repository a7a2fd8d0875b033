"""Page forms that carry one file (a roster workbook, a patrol track): the CSRF check first, then the file."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from starlette.datastructures import FormData, UploadFile

from gis_service.errors import BadRequest, PayloadTooLarge
from gis_service.settings import get_settings
from gis_service.web.deps import CsrfRejected, CurrentUser, csrf_matches


async def file_form(request: Request, user: CurrentUser) -> tuple[FormData, UploadFile | None]:
    """Read a form with at most one file; refuse it (403) without the user's CSRF token, before the file is used."""
    form = await request.form(max_files=1, max_fields=20)
    if not csrf_matches(user.csrf, form.get("csrf_token")):
        raise CsrfRejected
    found = next((v for v in form.values() if isinstance(v, UploadFile) and v.filename), None)
    return form, found


FileForm = Annotated[tuple[FormData, UploadFile | None], Depends(file_form)]


async def file_bytes(upload: UploadFile | None, what: str) -> bytes:
    """Return the uploaded file's bytes within the upload limit, or a clear 400/413 naming ``what`` was expected."""
    if upload is None:
        raise BadRequest(f"没有收到文件；请选择{what}后再提交", code="missing_file")
    limit = int(get_settings().max_upload_mb * 1024 * 1024)
    content = await upload.read(limit + 1)
    if len(content) > limit:
        raise PayloadTooLarge(f"文件超过 {get_settings().max_upload_mb:g} MB；请拆分后再上传", code="file_too_large")
    return content
