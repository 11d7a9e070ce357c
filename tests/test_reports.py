"""reports: the one Excel writer (IDs as text, frozen header, widths, autofilter, formula neutralising)."""

from __future__ import annotations

import io
from datetime import datetime

import openpyxl
import pandas as pd

from workbench import reports
from workbench.findings import as_findings


def reopen(data: bytes) -> openpyxl.Workbook:
    return openpyxl.load_workbook(io.BytesIO(data))


def sample_frame() -> pd.DataFrame:
    return pd.DataFrame({
        "id_number": pd.Series(["610928200801011234", "61092820080101123X", None], dtype="string"),
        "student_no": [61092820080101, 61092820080102, 61092820080103],  # numbers in an ID column
        "学籍号": [6.1092820080101e13, None, 1.0],
        "name": ["张三", "=HYPERLINK(\"http://x\")", "+1"],
        "note": ["-2+3", "@SUM(A1)", "\tcmd"],
        "amount": [500.0, 312.5, None],
        "count": [1, 2, 3],
        "flag": pd.array([True, False, None], dtype="boolean"),
        "date": pd.to_datetime(["2019-11-30", None, "2008-01-01"]),
    })


def test_ids_are_text_cells_never_numbers():
    wb = reopen(reports.write_workbook(None, {"学生": sample_frame()}))
    ws = wb["学生"]
    header = [c.value for c in ws[1]]
    col = {name: i + 1 for i, name in enumerate(header)}
    assert ws.cell(2, col["id_number"]).value == "610928200801011234"
    assert ws.cell(2, col["id_number"]).data_type == "s"
    assert ws.cell(3, col["id_number"]).value == "61092820080101123X"
    assert ws.cell(4, col["id_number"]).value is None
    assert ws.cell(2, col["student_no"]).value == "61092820080101"
    assert ws.cell(2, col["学籍号"]).value == "61092820080101"
    assert ws.cell(4, col["学籍号"]).value == "1"
    # ordinary numbers stay numbers, dates are dates, booleans 是/否
    assert ws.cell(3, col["amount"]).value == 312.5
    assert ws.cell(2, col["count"]).value == 1
    assert isinstance(ws.cell(2, col["date"]).value, datetime)
    assert ws.cell(2, col["flag"]).value == "是" and ws.cell(3, col["flag"]).value == "否"


def test_explicit_id_columns_are_text():
    df = pd.DataFrame({"证件": [610928200801011234, 2], "other": [1, 2]})
    ws = reopen(reports.write_workbook(None, {"s": df}, id_columns=["证件"]))["s"]
    assert ws["A2"].value == "610928200801011234" and ws["B2"].value == 1


def test_formulas_are_neutralised_with_a_leading_apostrophe():
    ws = reopen(reports.write_workbook(None, {"s": sample_frame()}))["s"]
    values = [c.value for row in ws.iter_rows(min_row=2) for c in row if isinstance(c.value, str)]
    assert "'=HYPERLINK(\"http://x\")" in values and "'+1" in values
    assert "'-2+3" in values and "'@SUM(A1)" in values and "'\tcmd" in values
    for row in ws.iter_rows():
        for cell in row:
            assert cell.data_type != "f"
            if isinstance(cell.value, str):
                assert cell.value[0] not in "=+-@\t\r"


def test_frozen_header_style_autofilter_and_widths():
    ws = reopen(reports.write_workbook(None, {"s": sample_frame()}, title="测试"))["s"]
    assert ws.freeze_panes == "A2"
    assert ws.auto_filter.ref == "A1:I4"
    assert ws["A1"].font.b
    # an 18-character ID needs ~20 columns; a two-character CJK header counts 4
    assert ws.column_dimensions["A"].width >= 18
    assert 4 <= ws.column_dimensions["G"].width < 12


def test_cjk_counts_double_in_widths():
    df = pd.DataFrame({"a": ["旬阳县蜀河镇中心小学"], "b": ["abcdefghij"]})
    ws = reopen(reports.write_workbook(None, {"s": df}))["s"]
    assert ws.column_dimensions["A"].width > ws.column_dimensions["B"].width + 8


def test_writes_to_path_and_sheet_names_are_valid(tmp_path):
    path = tmp_path / "out.xlsx"
    long = "身份证号被Excel截断/重复:记录*这个名字非常非常非常长而且超过三十一个字符的限制"
    assert reports.write_workbook(path, {long: pd.DataFrame({"x": [1]}), "a": pd.DataFrame()}) is None
    wb = openpyxl.load_workbook(path)
    assert len(wb.sheetnames[0]) <= 31 and not set(wb.sheetnames[0]) & set("[]:*?/\\")
    assert wb.sheetnames[1] == "a"


def findings_frame() -> pd.DataFrame:
    rows = [
        {"kind": "aid_missed", "systems": "registry,roster,aid", "id_number": "610928200801011234", "name": "张三",
             "town": "蜀河镇", "school": "蜀河镇中心小学", "item": "compulsory_living", "period": "2019秋", "detail": "无发放记录"},
        {"kind": "aid_missed", "systems": "registry,aid", "id_number": "610928200901011234", "name": "李四",
             "town": "吕河镇", "school": "吕河镇中学", "item": "nutrition", "period": "2019秋", "detail": "无发放记录"},
        {"kind": "id_invalid", "systems": "registry,aid", "id_number": "610928200801011235", "name": "=王五",
             "town": "蜀河镇", "suggestion": "建议核对为 610928200801011234", "suggested_id": "610928200801011234"},
        {"kind": "not_enrolled", "systems": "roster", "id_number": "610928201001011234", "name": "赵六", "town": None},
    ]
    return as_findings(pd.DataFrame(rows))


def test_findings_report_summary_and_sheets_with_chinese_headers(tmp_path):
    path = tmp_path / "问题清单.xlsx"
    reports.findings_report(findings_frame(), path)
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["汇总", "身份证号无效", "适龄未入学（疑似辍学）", "应助未助"]
    summary = wb["汇总"]
    rows = [[c.value for c in r] for r in summary.iter_rows()]
    assert rows[0] == ["乡镇", "身份证号无效", "适龄未入学（疑似辍学）", "应助未助", "合计"]
    assert [r[0] for r in rows[1:]] == ["蜀河镇", "吕河镇", "（乡镇不明）", "合计"]  # the county's town order
    table = {r[0]: r[1:] for r in rows[1:]}
    assert table["蜀河镇"] == [1, 0, 1, 2] and table["吕河镇"] == [0, 0, 1, 1]
    assert table["（乡镇不明）"] == [0, 1, 0, 1] and table["合计"] == [1, 1, 2, 4]
    missed = wb["应助未助"]
    assert [c.value for c in missed[1]] == ["类型", "系统", "身份证号", "姓名", "乡镇", "村", "学校", "项目", "期间",
                                            "问题说明", "处理建议", "建议身份证号"]
    assert missed.freeze_panes == "A2"
    values = {c.value for r in missed.iter_rows(min_row=2) for c in r}
    assert "义务教育家庭经济困难学生生活补助" in values and "学籍、建档立卡、资助" in values
    invalid = wb["身份证号无效"]
    assert invalid["C2"].value == "610928200801011235" and invalid["C2"].data_type == "s"
    assert invalid["L2"].value == "610928200801011234" and invalid["D2"].value == "'=王五"


def test_findings_report_returns_bytes_and_handles_empty():
    from workbench.findings import empty_findings
    data = reports.findings_report(empty_findings(), None)
    wb = reopen(data)
    assert wb.sheetnames == ["汇总"]
