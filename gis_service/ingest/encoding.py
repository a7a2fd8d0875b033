"""Which text encoding a Shapefile's ``.dbf`` uses: ``.cpg``, the code-page byte, or the bytes themselves.

GBK text is always decoded as GB18030 (its superset: every GBK file reads the same, and the rare
characters GBK lacks too); the report names it so, with GBK in brackets, wherever it speaks of it.

Chinese software usually writes GBK (CP936) without a ``.cpg`` and with a zero code-page
byte (LDID); read naively such a file comes out as mojibake. Order of trust: the user's
``--encoding``, the ``.cpg``, a Chinese LDID, then detection from the record bytes.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from pathlib import Path

from gis_service.errors import BadRequest

# dBASE language driver ids that name a Chinese code page outright.
CHINESE_LDIDS = {0x4D, 0x7A}
# 0x57 means "the writer's ANSI code page", which on Chinese Windows is GBK: treat like 0.
UNKNOWN_LDIDS = {0x00, 0x57}
SAMPLE_BYTES = 4 * 1024 * 1024
# How the report names the one codec it reads GBK text with.
GBK_WORDS = "GB18030（兼容 GBK）"
CPG_ALIASES = {
    "936": "CP936",
    "65001": "UTF-8",
    "utf8": "UTF-8",
    "gb2312": "GB18030",
    "gbk": "GB18030",
    "cp936": "GB18030",
    "gb18030": "GB18030",
}


@dataclass(frozen=True)
class EncodingChoice:
    """The encoding used to read a file, and how it was chosen (for the report)."""

    encoding: str | None
    source: str
    note: str

    def to_dict(self) -> dict[str, str | None]:
        """Return the choice as report data."""
        return {"encoding": self.encoding, "source": self.source, "note": self.note}


def _as(name: str, declared: str) -> str:
    """Say which codec decodes a declared encoding when the two names differ (GBK → GB18030)."""
    return f"（以 {GBK_WORDS} 解码）" if name == "GB18030" and declared.upper() != "GB18030" else ""


def normalise_name(name: str, *, where: str) -> str:
    """Return a codec name GDAL and Python both accept, or refuse an unknown one naming --encoding."""
    key = name.strip().lower()
    if key in CPG_ALIASES:
        return CPG_ALIASES[key]
    try:
        return codecs.lookup(key).name.upper()
    except LookupError:
        raise BadRequest(
            f"{where}中的编码 {name!r} 无法识别；请用 --encoding 指定，如 GBK 或 UTF-8。",
            code="unknown_encoding",
        ) from None


def detect_bytes(data: bytes) -> str | None:
    """Return ``UTF-8`` or ``GB18030`` for text bytes, or None when they are plain ASCII."""
    if data.isascii():
        return None
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        # final=False: a sample may end in the middle of a multi-byte character.
        decoder.decode(data, final=False)
        return "UTF-8"
    except UnicodeDecodeError:
        pass
    try:
        codecs.getincrementaldecoder("gb18030")().decode(data, final=False)
        return "GB18030"
    except UnicodeDecodeError:
        return None


def dbf_records(dbf: Path) -> tuple[int, bytes]:
    """Return a ``.dbf``'s LDID byte and a sample of its record bytes."""
    with dbf.open("rb") as fh:
        header = fh.read(32)
        if len(header) < 32:
            raise BadRequest(f"{dbf.name} 不完整（文件头不足 32 字节）；请重新导出 Shapefile。", code="corrupt_dbf")
        header_len = int.from_bytes(header[8:10], "little")
        fh.seek(header_len)
        return header[29], fh.read(SAMPLE_BYTES)


def shapefile_encoding(shp: Path, override: str | None = None) -> EncodingChoice:
    """Decide the encoding of the Shapefile ``shp`` (its ``.dbf`` and ``.cpg`` siblings)."""
    if override:
        name = normalise_name(override, where="--encoding ")
        return EncodingChoice(name, "option", f"按用户指定的编码 {override} 读取{_as(name, override)}")
    cpg = next((p for p in shp.parent.glob(shp.stem + ".*") if p.suffix.lower() == ".cpg"), None)
    if cpg is not None:
        raw = cpg.read_bytes()[:64].decode("ascii", "replace").strip()
        if raw:
            name = normalise_name(raw, where=f"{cpg.name} ")
            return EncodingChoice(name, "cpg", f"按 {cpg.name} 声明的编码 {raw} 读取{_as(name, raw)}")
    dbf = next((p for p in shp.parent.glob(shp.stem + ".*") if p.suffix.lower() == ".dbf"), None)
    if dbf is None:
        return EncodingChoice(None, "none", "无 .dbf")
    ldid, sample = dbf_records(dbf)
    if ldid in CHINESE_LDIDS:
        return EncodingChoice("GB18030", "ldid", f".dbf 代码页标记 0x{ldid:02X} 为简体中文，按 {GBK_WORDS} 读取")
    if ldid not in UNKNOWN_LDIDS:
        return EncodingChoice(None, "ldid", f"按 .dbf 代码页标记 0x{ldid:02X} 读取")
    found = detect_bytes(sample)
    if found is None:
        return EncodingChoice("UTF-8", "detected", "属性全为 ASCII 字符，按 UTF-8 读取")
    label = GBK_WORDS if found == "GB18030" else found
    return EncodingChoice(found, "detected", f"无 .cpg 且代码页标记为 0，按字节内容判断为 {label}")


def decode_text(data: bytes, override: str | None = None) -> tuple[str, EncodingChoice]:
    """Decode a text table (CSV): UTF-8 with or without BOM, else GBK/GB18030."""
    if override:
        name = normalise_name(override, where="--encoding ")
        try:
            note = f"按用户指定的编码 {override} 读取{_as(name, override)}"
            return data.decode(name), EncodingChoice(name, "option", note)
        except UnicodeDecodeError as exc:
            raise BadRequest(
                f"文件不是 {name} 编码（第 {exc.start} 字节无法解码）；请改用 --encoding GBK 或 UTF-8。",
                code="bad_encoding",
            ) from None
    if data.startswith(codecs.BOM_UTF8):
        return data[3:].decode("utf-8", "replace"), EncodingChoice("UTF-8", "bom", "UTF-8（带 BOM）")
    try:
        return data.decode("utf-8"), EncodingChoice("UTF-8", "detected", "按字节内容判断为 UTF-8")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030"), EncodingChoice("GB18030", "detected", f"按字节内容判断为 {GBK_WORDS}")
    except UnicodeDecodeError:
        raise BadRequest(
            "无法判断表格的文字编码（既不是 UTF-8 也不是 GBK）；请另存为 UTF-8 CSV 或用 --encoding 指定。",
            code="bad_encoding",
        ) from None
