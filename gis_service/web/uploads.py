"""Page forms that carry photos (multipart): the CSRF check first, then the photos read within their size limit."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from starlette.datastructures import FormData, UploadFile

from gis_service.api.deps import app_settings
from gis_service.errors import BadRequest, PayloadTooLarge
from gis_service.ledger.photos import PhotoUpload
from gis_service.web.deps import CsrfRejected, CurrentUser, csrf_matches

MAX_PHOTOS = 10


async def photo_form(request: Request, user: CurrentUser) -> tuple[FormData, list[PhotoUpload]]:
    """Read a form with optional ``photos`` files; refuse it (403) without the user's CSRF token, before any photo."""
    form = await request.form(max_files=MAX_PHOTOS + 1, max_fields=50)
    if not csrf_matches(user.csrf, form.get("csrf_token")):
        raise CsrfRejected
    files = [f for f in form.getlist("photos") if isinstance(f, UploadFile) and f.filename]
    if len(files) > MAX_PHOTOS:
        raise PayloadTooLarge(
            f"一次最多上传 {MAX_PHOTOS} 张照片，收到 {len(files)} 张；请分次上传", code="too_many_photos"
        )
    limit = int(app_settings(request.app).max_photo_mb * 1024 * 1024)
    # One byte past the limit is enough for the ledger's check to refuse an oversized photo.
    photos = [PhotoUpload(filename=f.filename or "photo", content=await f.read(limit + 1)) for f in files]
    return form, photos


PhotoForm = Annotated[tuple[FormData, list[PhotoUpload]], Depends(photo_form)]


def text(form: FormData, name: str, label: str = "", limit: int = 4000) -> str:
    """Return a text field of a form, trimmed (empty when absent); refuse one longer than ``limit`` characters."""
    value = form.get(name)
    found = value.strip() if isinstance(value, str) else ""
    if len(found) > limit:
        raise BadRequest(f"“{label or name}”超过 {limit} 字（{len(found)} 字）；请精简后再提交", code="text_too_long")
    return found
