"""Photos of public reports: checked like evidence photos, then stored with their EXIF removed (location, device)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io

from PIL import Image, ImageOps

from gis_service.ledger.photos import PhotoUpload, StoredPhoto, check_photo, store_photo
from gis_service.settings import Settings


def strip_exif(upload: PhotoUpload) -> PhotoUpload:
    """Return the photo re-encoded without EXIF or other metadata, turned upright as the EXIF said."""
    with Image.open(io.BytesIO(upload.content)) as image:
        kind = image.format or "JPEG"
        upright = ImageOps.exif_transpose(image)
        clean = Image.new(upright.mode, upright.size)
        clean.paste(upright)
    out = io.BytesIO()
    if kind == "JPEG":
        clean.convert("RGB").save(out, format="JPEG", quality=90)
    else:
        clean.save(out, format=kind)
    return PhotoUpload(filename=upload.filename, content=out.getvalue())


def photo_position(upload: PhotoUpload, limit_mb: float) -> tuple[float | None, float | None]:
    """Check a public photo (type, size) and return the EXIF position it carries, if any."""
    _, _, (lon, lat, _) = check_photo(upload, limit_mb)
    return lon, lat


def store_public_photo(upload: PhotoUpload, now: dt.datetime, settings: Settings) -> StoredPhoto:
    """Store a checked public photo without its EXIF (no position, device or capture time kept)."""
    stored = store_photo(strip_exif(upload), settings, now=now)
    return dataclasses.replace(stored, lon=None, lat=None, taken_at=None)
