"""Evidence photos: JPEG/PNG only (checked from the bytes), size-limited, stored under a generated name.

The EXIF GPS position and capture time are read when present, so a reviewer can see where and
when the evidence was taken.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError

from gis_service.clock import CHINA_TZ
from gis_service.errors import BadRequest, PayloadTooLarge
from gis_service.settings import Settings

FORMATS = {"JPEG": ("image/jpeg", ".jpg"), "PNG": ("image/png", ".png")}
GPS_IFD = 0x8825
EXIF_IFD = 0x8769
DATETIME_ORIGINAL = 36867
OFFSET_TIME_ORIGINAL = 36881
DATETIME = 306
# Cameras and phones in China write local time without an offset tag.


@dataclass(frozen=True)
class PhotoUpload:
    """An uploaded photo as received: the client's file name and the bytes."""

    filename: str
    content: bytes


@dataclass(frozen=True)
class StoredPhoto:
    """A checked photo written under the data folder, with what its EXIF says."""

    filename: str
    path: str
    content_type: str
    size: int
    sha256: str
    lon: float | None
    lat: float | None
    taken_at: dt.datetime | None


def _rational(value: Any) -> float:
    """Return an EXIF rational (IFDRational or a (num, den) pair) as a float."""
    if isinstance(value, tuple) and len(value) == 2:
        return float(value[0]) / float(value[1]) if value[1] else 0.0
    return float(value)


def _dms(value: Any, ref: Any) -> float | None:
    """Return degrees from EXIF degrees/minutes/seconds and a N/S/E/W reference."""
    try:
        d, m, s = (_rational(v) for v in value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    deg = d + m / 60.0 + s / 3600.0
    ref_text = ref.decode() if isinstance(ref, bytes) else str(ref or "")
    return -deg if ref_text.strip().upper() in {"S", "W"} else deg


def exif_position_and_time(image: Image.Image) -> tuple[float | None, float | None, dt.datetime | None]:
    """Return (lon, lat, taken_at) from a photo's EXIF; each None when absent or unreadable."""
    exif = image.getexif()
    lon = lat = None
    gps = exif.get_ifd(GPS_IFD)
    if gps and 2 in gps and 4 in gps:
        lat = _dms(gps[2], gps.get(1, "N"))
        lon = _dms(gps[4], gps.get(3, "E"))
        if lat is not None and not -90 <= lat <= 90 or lon is not None and not -180 <= lon <= 180:
            lon = lat = None
    sub = exif.get_ifd(EXIF_IFD)
    raw = sub.get(DATETIME_ORIGINAL) or exif.get(DATETIME)
    taken: dt.datetime | None = None
    if raw:
        try:
            taken = dt.datetime.strptime(str(raw).strip("\x00 "), "%Y:%m:%d %H:%M:%S")
        except ValueError:
            taken = None
    if taken is not None:
        offset = str(sub.get(OFFSET_TIME_ORIGINAL) or "").strip("\x00 ")
        tz: dt.tzinfo = CHINA_TZ  # cameras in the field are set to China time
        if len(offset) == 6 and offset[0] in "+-":
            sign = -1 if offset[0] == "-" else 1
            tz = dt.timezone(sign * dt.timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6])))
        taken = taken.replace(tzinfo=tz)
    return lon, lat, taken


def check_photo(
    upload: PhotoUpload, limit_mb: float
) -> tuple[str, str, tuple[float | None, float | None, dt.datetime | None]]:
    """Check size (at most ``limit_mb``) and type from the bytes; return (content type, extension, EXIF facts)."""
    if len(upload.content) > limit_mb * 1024 * 1024:
        raise PayloadTooLarge(
            f"照片 {upload.filename} 大小 {len(upload.content) / 1048576:.1f} MB 超过上限 {limit_mb:g} MB；"
            "请压缩后重新上传",
            code="photo_too_large",
        )
    if not upload.content:
        raise BadRequest(f"照片 {upload.filename} 是空文件；请重新选择照片", code="empty_photo")
    try:
        # verify() must come straight after open and leaves the image unusable: open twice.
        with Image.open(io.BytesIO(upload.content)) as image:
            kind = image.format or ""
            image.verify()
        with Image.open(io.BytesIO(upload.content)) as image:
            facts = exif_position_and_time(image)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, RuntimeError, Image.DecompressionBombError):
        raise BadRequest(
            f"文件 {upload.filename} 不是可读的 JPEG/PNG 照片；请上传 JPEG 或 PNG 格式的照片",
            code="bad_photo",
        ) from None
    if kind not in FORMATS:
        raise BadRequest(
            f"文件 {upload.filename} 的格式为 {kind or '未知'}，只接受 JPEG 或 PNG 照片",
            code="bad_photo_type",
        )
    content_type, ext = FORMATS[kind]
    return content_type, ext, facts


def store_photo(upload: PhotoUpload, settings: Settings, *, now: dt.datetime | None = None) -> StoredPhoto:
    """Check a photo and write it under ``data_dir/attachments/YYYY/MM`` with a generated name."""
    content_type, ext, (lon, lat, taken) = check_photo(upload, settings.max_photo_mb)
    digest = hashlib.sha256(upload.content).hexdigest()
    when = now or dt.datetime.now(dt.UTC)
    # The client's file name is never used as a path: only as a label, trimmed.
    relative = Path("attachments") / f"{when:%Y}" / f"{when:%m}" / f"{digest[:16]}-{uuid.uuid4().hex[:8]}{ext}"
    target = settings.data_dir / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(upload.content)
    label = Path(upload.filename.replace("\\", "/")).name[:200] or f"photo{ext}"
    return StoredPhoto(
        filename=label,
        path=relative.as_posix(),
        content_type=content_type,
        size=len(upload.content),
        sha256=digest,
        lon=lon,
        lat=lat,
        taken_at=taken,
    )


def photo_file(relative: str, data_dir: Path) -> Path:
    """Return the absolute path of a stored photo, refusing anything outside the attachments folder."""
    root = (data_dir / "attachments").resolve()
    path = (data_dir / relative).resolve()
    if not path.is_relative_to(root):
        raise BadRequest("附件路径无效", code="bad_attachment_path")
    return path
