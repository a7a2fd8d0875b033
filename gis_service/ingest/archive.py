"""Safe unpacking of delivered archives (zip, kmz, xlsx): limits, zip bombs, path traversal.

An archive is checked from its central directory first (entry count, declared sizes and
compression ratio, names), then extracted member by member into a private temporary folder
while the bytes actually written are counted, because a zip's declared sizes can lie.
Nothing is ever written outside that folder; the caller removes it (``TemporaryDirectory``).
"""

from __future__ import annotations

import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from gis_service.errors import BadRequest, PayloadTooLarge
from gis_service.settings import Settings

MB = 1024 * 1024
# Small members compress extremely well without being dangerous (a .cpg, a blank .dbf).
RATIO_FLOOR_BYTES = 1 * MB
CHUNK = 64 * 1024
IGNORED_PARTS = {"__MACOSX"}


@dataclass(frozen=True)
class ArchiveLimits:
    """How much an archive may hold: entries, unpacked megabytes and compression ratio (zip-bomb guards)."""

    max_entries: int
    max_uncompressed_mb: float
    max_compression_ratio: float

    @classmethod
    def of(cls, settings: Settings) -> ArchiveLimits:
        """Return the limits the settings give (``RIVERGIS_MAX_ARCHIVE_ENTRIES``, ``…_MAX_UNCOMPRESSED_MB``, …)."""
        return cls(
            max_entries=settings.max_archive_entries,
            max_uncompressed_mb=settings.max_uncompressed_mb,
            max_compression_ratio=settings.max_compression_ratio,
        )


def member_name(info: zipfile.ZipInfo) -> str:
    """Return a member's name, re-decoded where the zip tool stored it without the UTF-8 flag.

    Python reads such a name as CP437. Its bytes are UTF-8 when Info-ZIP on Linux or macOS's Archive Utility made
    the archive, GBK when a Chinese Windows' own tools did: UTF-8 first, since GB18030 decodes almost any bytes
    (UTF-8's would come out as other characters, 成果 as 鎴愭灉) while GBK's are rarely valid UTF-8.
    """
    name = info.filename
    if info.flag_bits & 0x800:
        return name
    try:
        raw = name.encode("cp437")
    except UnicodeEncodeError:
        return name
    for encoding in ("utf-8", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    return name


def safe_relative(name: str) -> PurePosixPath:
    """Return the member's relative path, or refuse names that would land outside the folder."""
    clean = name.replace("\\", "/")
    path = PurePosixPath(clean)
    if clean.startswith("/") or (len(clean) > 1 and clean[1] == ":") or ".." in path.parts:
        raise BadRequest(
            f"压缩包中的文件名 {name!r} 指向压缩包以外的位置（绝对路径或 ..），已拒绝。"
            "请用常规压缩工具重新打包，文件放在压缩包根目录或子文件夹中。",
            code="unsafe_archive_path",
            details={"member": name},
        )
    return path


def check_archive(path: Path, limits: ArchiveLimits, *, what: str = "压缩包") -> list[zipfile.ZipInfo]:
    """Check an archive's directory against the limits; return its file members (no folders)."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise BadRequest(
            f"{what} {path.name} 已损坏或不完整（{exc}）。请重新打包或重新上传完整文件。",
            code="corrupt_archive",
        ) from exc
    with archive:
        infos = archive.infolist()
    if len(infos) > limits.max_entries:
        raise PayloadTooLarge(
            f"{what}包含 {len(infos)} 个文件，超过上限 {limits.max_entries}。请只打包本次交付的图层文件。",
            code="too_many_entries",
            details={"entries": len(infos), "limit": limits.max_entries},
        )
    members = []
    for info in infos:
        rel = safe_relative(member_name(info))
        mode = info.external_attr >> 16
        if mode and stat.S_ISLNK(mode):
            raise BadRequest(
                f"压缩包中的 {rel} 是符号链接，已拒绝。请打包真实文件。",
                code="unsafe_archive_path",
                details={"member": str(rel)},
            )
        if info.is_dir() or IGNORED_PARTS & set(rel.parts) or rel.name.startswith("."):
            continue
        members.append(info)
    total = sum(i.file_size for i in members)
    packed = sum(i.compress_size for i in members)
    limit = limits.max_uncompressed_mb * MB
    if total > limit:
        raise PayloadTooLarge(
            f"{what}解压后共 {total / MB:.0f} MB，超过上限 {limits.max_uncompressed_mb:.0f} MB。请分批交付。",
            code="archive_too_large",
            details={"uncompressed_bytes": total, "limit_bytes": int(limit)},
        )
    for info in members:
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > RATIO_FLOOR_BYTES and ratio > limits.max_compression_ratio:
            raise PayloadTooLarge(
                f"{what}中的 {member_name(info)} 压缩比 {ratio:.0f}:1 超过上限 "
                f"{limits.max_compression_ratio:.0f}:1（疑似压缩炸弹），已拒绝。",
                code="zip_bomb",
                details={"member": member_name(info), "ratio": round(ratio, 1)},
            )
    if total > RATIO_FLOOR_BYTES and total / max(packed, 1) > limits.max_compression_ratio:
        raise PayloadTooLarge(
            f"{what}整体压缩比 {total / max(packed, 1):.0f}:1 超过上限（疑似压缩炸弹），已拒绝。",
            code="zip_bomb",
        )
    return members


def extract_archive(path: Path, dest: Path, limits: ArchiveLimits, *, what: str = "压缩包") -> list[Path]:
    """Check and extract an archive into ``dest`` (a private temporary folder); return the files."""
    members = check_archive(path, limits, what=what)
    if not members:
        raise BadRequest(f"{what} {path.name} 是空的，没有可读取的文件。", code="empty_archive")
    budget = int(limits.max_uncompressed_mb * MB)
    root = dest.resolve()
    written: list[Path] = []
    try:
        with zipfile.ZipFile(path) as archive:
            for info in members:
                target = (root / safe_relative(member_name(info))).resolve()
                if not target.is_relative_to(root):  # belt and braces after safe_relative
                    raise BadRequest(f"压缩包成员 {info.filename!r} 路径不安全", code="unsafe_archive_path")
                target.parent.mkdir(parents=True, exist_ok=True)
                size = 0
                with archive.open(info) as src, target.open("wb") as out:
                    while chunk := src.read(CHUNK):
                        size += len(chunk)
                        budget -= len(chunk)
                        if size > info.file_size or budget < 0:
                            raise PayloadTooLarge(
                                f"{what}中的 {member_name(info)} 实际解压大小超过其声明或总上限"
                                "（疑似压缩炸弹），已拒绝。",
                                code="zip_bomb",
                            )
                        out.write(chunk)
                written.append(target)
    except (zipfile.BadZipFile, EOFError, OSError, NotImplementedError) as exc:
        raise BadRequest(
            f"{what} {path.name} 已损坏或不完整，解压失败（{exc}）。请重新打包或重新上传。",
            code="corrupt_archive",
        ) from exc
    return written
