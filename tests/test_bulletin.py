"""The bulletin (定期通报): a Word document and Excel annex whose tables equal the ledger's and the sections'."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from docx import Document
from docx.table import Table
from openpyxl import load_workbook
from sqlalchemy import Engine, text

from gis_service.catalogue import bundled_catalogue
from gis_service.chiefs.stats import patrol_stats
from gis_service.clock import BusinessClock
from gis_service.db.engine import transaction
from gis_service.ledger.filters import ProblemFilter
from gis_service.ledger.stats import overdue, statistics
from gis_service.quality import bulletin_charts
from gis_service.settings import Settings
from tests.test_quality import SECTIONS, run, xlsx
from tests.test_quality_tasks import HEADER, TASKS

# The bundled catalogue's problems layer: the ledger's status and category words.
PROBLEMS = bundled_catalogue()["problems"]

# 30 June 2024, noon in Chongqing: the last day of the period, as the bulletin counts overdue.
END_OF_JUNE = BusinessClock.at(dt.datetime(2024, 6, 30, 4, 0))


def tables_of(path: Path) -> dict[str, list[list[str]]]:
    """Return the .docx tables by the heading before each, as rows of cell texts."""
    found: dict[str, list[list[str]]] = {}
    heading = ""
    for block in Document(str(path)).iter_inner_content():
        if isinstance(block, Table):
            found[heading] = [[c.text for c in row.cells] for row in block.rows]
        elif block.style is not None and block.style.name == "Heading 1":
            heading = block.text
    return found


def test_bulletin_tables_equal_the_ledger(demo_engine: Engine, tmp_path: Path) -> None:
    assert run("import", "sections", str(xlsx(tmp_path / "s.xlsx", SECTIONS))).exit_code == 0
    samples = [["断面编码", "采样日期", "溶解氧", "氨氮"], ["S1", "2024-06-03", 6.5, 1.2], ["S2", "2024-06-04", 8, 0.1]]
    assert run("import", "samples", str(xlsx(tmp_path / "m.xlsx", samples))).exit_code == 0
    assert run("import", "tasks", str(xlsx(tmp_path / "t.xlsx", [HEADER, *TASKS]))).exit_code == 0
    out = tmp_path / "通报.docx"
    result = run("bulletin", "--period", "2024-06", "-o", str(out))
    assert result.exit_code == 0, result.output
    tables = tables_of(out)
    by_town = tables["1. 问题台账进展（按镇街）"]
    assert by_town[0] == ["镇街", "本期新增", "本期销号", "超期未整改"]
    with transaction(demo_engine) as session:
        june = ProblemFilter(found_from=dt.date(2024, 6, 1), found_to=dt.date(2024, 6, 30))
        new = {
            g["key"]: g["total"]
            for g in statistics(session, by="town", flt=june, clock=END_OF_JUNE, problems=PROBLEMS)["groups"]
        }
        late = overdue(session, clock=END_OF_JUNE, limit=1, problems=PROBLEMS)
        closed = dict(
            session.execute(
                text(
                    "SELECT town, count(*) FROM problems WHERE closed_date BETWEEN :a AND :b GROUP BY town"
                ).bindparams(a=dt.date(2024, 6, 1), b=dt.date(2024, 6, 30))
            ).all()
        )
        total_new = statistics(session, flt=june, clock=END_OF_JUNE, problems=PROBLEMS)["total"]
    rows = {r[0]: [int(v) for v in r[1:]] for r in by_town[1:]}
    total = rows.pop("合计")
    for town, (n_new, n_closed, n_late) in rows.items():
        assert n_new == new.get(town, 0) and n_closed == closed.get(town, 0) and n_late == late["by_town"].get(town, 0)
    assert set(late["by_town"]) <= set(rows) and {k for k, v in new.items() if v} <= set(rows)
    assert total == [total_new, sum(closed.values()), late["count"]]
    assert total_new > 0 and late["count"] > 0  # the demo ledger has June items: the check is not vacuous
    by_unit = tables["2. 问题台账进展（按责任单位）"]
    assert [int(v) for v in by_unit[-1][1:]] == total
    assert {r[0]: int(r[3]) for r in by_unit[1:-1] if int(r[3])} == {k: v for k, v in late["by_unit"].items() if v}
    # Sections: S1 June 氨氮 1.2 → IV against III (not met); S2 DO 8, 氨氮 0.1 → I against II.
    sections = {r[0]: r for r in tables["4. 断面水质"][1:]}
    assert sections["S1"][2:] == ["Ⅲ类", "Ⅳ类", "氨氮", "未达标"]
    assert sections["S2"][3] == "Ⅰ类" and sections["S2"][5] == "达标"
    tasks = {r[0]: r for r in tables["5. 一河一策任务进展"][1:]}
    assert tasks["WS001"][1:4] == ["2", "0", "1"]  # T1 (deadline 31 March) overdue on 30 June
    # The annex holds the same tables.
    annex = load_workbook(tmp_path / "通报_附件.xlsx")
    sheet = annex.worksheets[0]
    assert [[str(c) for c in row] for row in sheet.iter_rows(values_only=True)] == by_town


def test_town_bulletin_and_bad_input(demo_engine: Engine, tmp_path: Path) -> None:
    out = tmp_path / "南桐镇.docx"
    assert run("bulletin", "--period", "2024-Q2", "--town", "南桐镇", "-o", str(out)).exit_code == 0
    by_town = tables_of(out)["1. 问题台账进展（按镇街）"]
    assert {r[0] for r in by_town[1:]} <= {"南桐镇", "合计"}
    with transaction(demo_engine) as session:
        q2 = ProblemFilter(town="南桐镇", found_from=dt.date(2024, 4, 1), found_to=dt.date(2024, 6, 30))
        assert int(by_town[-1][1]) == statistics(session, flt=q2, clock=END_OF_JUNE, problems=PROBLEMS)["total"]
    bad = run("bulletin", "--period", "2024-13", "-o", str(tmp_path / "x.docx"))
    assert bad.exit_code == 2 and "bad_period" in bad.stderr
    bad = run("bulletin", "--period", "2024-06", "-o", str(tmp_path / "x.pdf"))
    assert bad.exit_code == 2 and "bad_output_suffix" in bad.stderr
    assert not (tmp_path / "x.docx").exists() and not (tmp_path / "x.pdf").exists()
    # The office's template: its letterhead stays first; a broken template is refused.
    template = Document()
    template.add_paragraph("万盛经开区河长制办公室（模板版头）")
    template.save(str(tmp_path / "模板.docx"))
    out = tmp_path / "t.docx"
    good = str(tmp_path / "模板.docx")
    assert run("bulletin", "--period", "2024-06", "-o", str(out), "--template", good).exit_code == 0
    assert Document(str(out)).paragraphs[0].text == "万盛经开区河长制办公室（模板版头）"
    (tmp_path / "坏.docx").write_bytes(b"not a docx")
    broken = str(tmp_path / "坏.docx")
    bad = run("bulletin", "--period", "2024-06", "-o", str(tmp_path / "y.docx"), "--template", broken)
    assert bad.exit_code == 2 and "bad_template" in bad.stderr and not (tmp_path / "y.docx").exists()


def test_bulletin_patrol_table_and_charts(demo_engine: Engine, tmp_path: Path) -> None:
    # The demo's patrols run from 1 September 2026; the September bulletin counts them to 30 September.
    assert run("import", "sections", str(xlsx(tmp_path / "s.xlsx", SECTIONS))).exit_code == 0
    samples = [["断面编码", "采样日期", "溶解氧", "氨氮"], ["S1", "2026-09-03", 6.5, 1.2], ["S2", "2026-09-04", 8, 0.1]]
    assert run("import", "samples", str(xlsx(tmp_path / "m.xlsx", samples))).exit_code == 0
    tasks = [HEADER, ["WS001", 2026, "清理河道垃圾", "人工清理", "南桐镇人民政府", "2026-12-31", 10, "km", None, 40]]
    assert run("import", "tasks", str(xlsx(tmp_path / "t.xlsx", tasks))).exit_code == 0
    out = tmp_path / "九月.docx"
    result = run("bulletin", "--period", "2026-09", "-o", str(out))
    assert result.exit_code == 0, result.output
    patrol = tables_of(out)["6. 巡河覆盖（按镇街）"]
    assert patrol[0] == ["镇街", "责任河段", "超期未巡河段", "近30日巡河次数", "平均覆盖率(%)"]
    with transaction(demo_engine) as session:
        stats = patrol_stats(session, Settings(), dt.date(2026, 9, 30))
    expected = [
        [
            r["town"],
            str(r["reaches"]),
            str(r["overdue"]),
            str(r["patrols"]),
            "—" if r["mean_coverage"] is None else str(round(r["mean_coverage"] * 100, 1)),
        ]
        for r in stats["by_town"]
    ]
    total = stats["total"]
    assert patrol[1:] == [*expected, ["合计", str(total["reaches"]), str(total["overdue"]), str(total["patrols"]), "—"]]
    assert total["patrols"] > 0  # the demo's September tracks: the comparison is not vacuous
    annex = load_workbook(tmp_path / "九月_附件.xlsx")
    assert [[str(c) for c in r] for r in annex.worksheets[5].iter_rows(values_only=True)] == patrol
    # Charts: ledger by town, section classes, task progress and patrol coverage, each a PNG after its table.
    doc = Document(str(out))
    assert len(doc.inline_shapes) == 4
    images = [p for p in doc.part.package.parts if p.content_type == "image/png"]
    assert len(images) == 4 and all(p.blob.startswith(b"\x89PNG") for p in images)
    captions = [p.text for p in doc.paragraphs if p.text.startswith("图：")]
    assert captions == ["图：问题台账进展（按镇街）", "图：断面水质", "图：一河一策任务进展", "图：巡河覆盖（按镇街）"]


def test_bulletin_without_a_cjk_font_keeps_the_tables(
    demo_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bulletin_charts, "CJK_FAMILIES", ("没有这种字体",))
    bulletin_charts.cjk_font.cache_clear()
    try:
        out = tmp_path / "无字体.docx"
        assert run("bulletin", "--period", "2026-09", "-o", str(out)).exit_code == 0
    finally:
        bulletin_charts.cjk_font.cache_clear()
    doc = Document(str(out))
    assert len(doc.inline_shapes) == 0
    assert bulletin_charts.NO_FONT in [p.text for p in doc.paragraphs]
    assert "6. 巡河覆盖（按镇街）" in tables_of(out)
