"""A bulletin as a Word document (python-docx) and its Excel annex (openpyxl), with the same tables.

The office's own template (a .docx with its letterhead and styles) may be given: the bulletin is
written after whatever the template holds. Each chart (:mod:`gis_service.quality.bulletin_charts`)
follows the table it draws; without a CJK font the document says so in a line and keeps the
tables. Text cells starting with ``= + - @`` are written with a leading
apostrophe in the annex, so a spreadsheet never runs them as formulas.
"""

from __future__ import annotations

import io
from pathlib import Path

from docx import Document
from docx.shared import Cm, Pt

from gis_service.errors import BadRequest
from gis_service.export.sheets import Column, Sheet, workbook_bytes
from gis_service.quality.bulletin import Bulletin
from gis_service.quality.bulletin_charts import NO_FONT, bulletin_charts


def word_bytes(bulletin: Bulletin, template: Path | None = None) -> bytes:
    """Return the bulletin as a .docx file's bytes."""
    if template is not None and not template.is_file():
        raise BadRequest(f"找不到通报模板 {template}；请检查路径或去掉 --template。", code="template_not_found")
    try:
        doc = Document(str(template)) if template else Document()
    except Exception as exc:  # noqa: BLE001 - python-docx raises zip, XML and package errors for a bad file
        raise BadRequest(
            f"通报模板 {template} 不是可用的 Word 文件（{type(exc).__name__}）；请用 Word 另存为 .docx 后重试。",
            code="bad_template",
        ) from None
    doc.add_heading(bulletin.title, level=0)
    doc.add_paragraph(
        f"统计期间：{bulletin.period.start.isoformat()} 至 {bulletin.period.end.isoformat()}；"
        f"超期统计截至 {bulletin.as_of.isoformat()}。"
    )
    for line in bulletin.summary:
        doc.add_paragraph(line)
    charts = bulletin_charts(bulletin)
    if charts is None:
        doc.add_paragraph(NO_FONT)
    by_table = {c.table: c for c in charts or []}
    for number, table in enumerate(bulletin.tables, start=1):
        doc.add_heading(f"{number}. {table.title}", level=1)
        if not table.rows:
            doc.add_paragraph("本期无数据。")
            continue
        grid = doc.add_table(rows=1, cols=len(table.headers))
        grid.style = "Table Grid"
        for cell, header in zip(grid.rows[0].cells, table.headers, strict=True):
            cell.text = header
            for run in cell.paragraphs[0].runs:
                run.font.bold = True
                run.font.size = Pt(10.5)
        for row in table.rows:
            cells = grid.add_row().cells
            for cell, value in zip(cells, row, strict=True):
                cell.text = "" if value is None else str(value)
        chart = by_table.get(table.title)
        if chart is not None:
            doc.add_picture(io.BytesIO(chart.png), width=Cm(15))
            doc.add_paragraph(chart.caption)
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def annex_bytes(bulletin: Bulletin) -> bytes:
    """Return the bulletin's tables as an .xlsx workbook, one sheet a table (the service's one Excel writer)."""
    # Sheet titles: at most 31 characters, no []:*?/\ (the titles here have none).
    sheets = [
        Sheet(f"{number}.{table.title}"[:31], [Column(h) for h in table.headers], [list(row) for row in table.rows])
        for number, table in enumerate(bulletin.tables, start=1)
    ]
    return workbook_bytes(sheets)


def write_files(bulletin: Bulletin, output: Path, annex: Path | None, template: Path | None) -> list[Path]:
    """Write the Word file to ``output`` and the annex next to it (or to ``annex``); return the paths."""
    if output.suffix.lower() != ".docx":
        raise BadRequest(f"通报文件 {output} 应以 .docx 结尾。", code="bad_output_suffix")
    if not output.parent.is_dir():
        raise BadRequest(f"输出目录 {output.parent} 不存在；请先创建。", code="output_dir_missing")
    annex = annex or output.with_name(output.stem + "_附件.xlsx")
    data = word_bytes(bulletin, template), annex_bytes(bulletin)
    try:
        output.write_bytes(data[0])
        annex.write_bytes(data[1])
    except OSError as exc:
        raise BadRequest(f"无法写入 {output}：{exc.strerror or exc}", code="output_not_writable") from None
    return [output, annex]
