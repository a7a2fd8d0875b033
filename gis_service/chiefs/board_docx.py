"""A printable signboard (公示牌版面) per board as a Word document: title, then one row a line of the board's text.

Word documents are what a printing shop takes; the text is the one the roster gives the board
today (``expected_text``), so a board flagged 待更新 prints with its new chiefs.
"""

from __future__ import annotations

import io
from typing import Any

from docx import Document
from docx.enum.section import WD_ORIENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml.ns import qn
from docx.shared import Cm, Pt, RGBColor

FONT = "黑体"  # a Chinese sans every office Word has; the printer substitutes its own when missing
BLUE = RGBColor(0x1F, 0x4E, 0x99)


def _font(run: Any, size: float, *, bold: bool = False, color: RGBColor | None = None) -> None:
    """Set a run's Chinese font, size and weight (East Asian text needs its own font slot)."""
    run.font.name = FONT
    run._element.rPr.rFonts.set(qn("w:eastAsia"), FONT)
    run.font.size = Pt(size)
    run.font.bold = bold
    if color is not None:
        run.font.color.rgb = color


def board_document(board: dict[str, Any]) -> bytes:
    """Return the board's printable layout (A4 landscape .docx) from its record with ``expected_text``."""
    lines = str(board.get("expected_text") or board["text"]).splitlines()
    doc = Document()
    section = doc.sections[0]
    section.orientation = WD_ORIENT.LANDSCAPE
    section.page_width, section.page_height = Cm(29.7), Cm(21.0)
    for side in ("left_margin", "right_margin", "top_margin", "bottom_margin"):
        setattr(section, side, Cm(1.8))
    title = doc.add_paragraph()
    title.alignment = WD_ALIGN_PARAGRAPH.CENTER
    _font(title.add_run(lines[0]), 36, bold=True, color=BLUE)
    table = doc.add_table(rows=0, cols=2)
    table.style = "Table Grid"
    for line in lines[1:]:
        key, _, value = line.partition("：")
        cells = table.add_row().cells
        cells[0].width, cells[1].width = Cm(5.5), Cm(20.0)
        _font(cells[0].paragraphs[0].add_run(key), 20, bold=True)
        _font(cells[1].paragraphs[0].add_run(value), 20)
    foot = doc.add_paragraph()
    foot.alignment = WD_ALIGN_PARAGRAPH.RIGHT
    _font(foot.add_run(f"公示牌编号：{board['code']}"), 12)
    buffer = io.BytesIO()
    doc.save(buffer)
    return buffer.getvalue()
