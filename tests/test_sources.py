"""Loader tests: one small file per quirk of the real exports, built in tmp_path."""

from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from workbench.sources import REJECT_COLUMNS, read_file

AS_OF = dt.date(2019, 11, 30)

# valid synthetic IDs (checksums computed by GB 11643), never real people
ID1 = "610928201001011236"
ID2 = "61092820100102123X"


def _id(body17: str) -> str:
    w = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    return body17 + "10X98765432"[sum(int(c) * k for c, k in zip(body17, w)) % 11]


ID1 = _id("61092820100101123")
ID2 = _id("61092820100102124")
ID3 = _id("61092820080101125")
REG_HEADER = ["学校标识码", "学校名称", "姓名", "性别", "出生日期", "身份证件类型", "身份证件号", "年级", "班级",
              "就读方式", "是否留守儿童", "入学年月", "学籍号"]


def reg_row(name: str, idn, sex="1-男", grade="小学2016级", birth="20100101") -> list:
    return ["2161000001", "旬阳县蜀河镇中心小学", name, sex, birth, "1-居民身份证", idn, grade, "1", "2-住校",
            "1-单亲留守儿童", "201609", "G" + str(idn)]


def write_xlsx(path: Path, rows: list[list], sheet: str = "导出工作表") -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = sheet
    for r in rows:
        ws.append(r)
    wb.save(path)
    return path


def write_csv(path: Path, rows: list[list], encoding="utf-8", sep=",") -> Path:
    text = "\r\n".join(sep.join("" if v is None else str(v) for v in r) for r in rows) + "\r\n"
    path.write_bytes(text.encode(encoding))
    return path


def one(results):
    placed = [r for r in results if r.system is not None]
    assert len(placed) == 1, [r.report["message"] for r in results]
    return placed[0]


def assert_invariant(results):
    for r in results:
        rep = r.report
        assert rep["rows_read"] == rep["rows_loaded"] + rep["rows_rejected"], rep
        assert len(r.frame) == rep["rows_loaded"]
        assert r.rejects["row"].nunique() == rep["rows_rejected"]
        assert list(r.rejects.columns) == REJECT_COLUMNS
        assert r.rejects["reason"].notna().all() and (r.rejects["reason"].str.len() > 0).all()


# ------------------------------------------------------------------------------------------------ formats
def test_registry_xlsx_with_title_rows_codes_and_cnemis_grade(tmp_path):
    p = write_xlsx(tmp_path / "学籍.xlsx", [
        ["旬阳县2019年秋季学期学生学籍信息"], ["导出条件：全部"], REG_HEADER,
        reg_row("张三", ID1), reg_row("李四", ID2, sex="2-女", grade="初中2017级"),
    ])
    res = read_file(p, as_of=AS_OF)
    assert_invariant(res)
    r = one(res)
    f = r.frame
    assert r.system == "registry"
    assert r.report["header_row"] == 3
    assert f["source_row"].tolist() == [4, 5]
    assert f["term"].tolist() == ["2019秋", "2019秋"]
    assert f["sex"].tolist() == ["男", "女"]
    assert f["id_type"].tolist() == ["居民身份证"] * 2
    assert f["boarding"].tolist() == ["住校"] * 2
    assert f["left_behind"].tolist() == ["单亲留守"] * 2
    assert f["stage"].tolist() == ["小学", "初中"] and f["grade"].tolist() == [4, 3]
    assert f["entry_ym"].tolist() == ["2016-09"] * 2
    assert f["birth_date"].tolist() == [pd.Timestamp("2010-01-01")] * 2
    assert f["town"].tolist() == ["蜀河镇"] * 2
    assert f["id_valid"].tolist() == [True, True]
    assert str(f["id_number"].dtype) == "string" and str(f["student_no"].dtype) == "string"


def test_spring_term_from_title_gives_lower_grade(tmp_path):
    p = write_xlsx(tmp_path / "a.xlsx", [["2018-2019学年第二学期学籍"], REG_HEADER, reg_row("张三", ID1)])
    f = one(read_file(p, as_of=AS_OF)).frame
    assert f["term"].tolist() == ["2019春"] and f["grade"].tolist() == [3]


def test_term_from_file_name_when_no_title(tmp_path):
    p = write_xlsx(tmp_path / "学籍2019年春季.xlsx", [REG_HEADER, reg_row("张三", ID1)])
    assert one(read_file(p, as_of=AS_OF)).frame["term"].tolist() == ["2019春"]


def test_term_defaults_to_as_of_term(tmp_path):
    p = write_xlsx(tmp_path / "export.xlsx", [REG_HEADER, reg_row("张三", ID1)])
    f = one(read_file(p, as_of=AS_OF)).frame
    assert f["term"].tolist() == ["2019秋"] and f["grade"].tolist() == [4]


def test_two_level_merged_header(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["2019年秋季学期资助发放名单"])
    ws.append(["学校名称", "姓名", "身份证件号", "资助信息", None, "家庭成员", None])
    ws.append([None, None, None, "资助项目", "资助金额", "姓名", "关系"])
    ws.append(["旬阳县蜀河镇中心小学", "张三", ID1, "家庭经济困难寄宿生生活补助", "500", "张大", "父亲"])
    ws.merge_cells("A2:A3")
    ws.merge_cells("B2:B3")
    ws.merge_cells("C2:C3")
    ws.merge_cells("D2:E2")
    ws.merge_cells("F2:G2")
    p = tmp_path / "aid.xlsx"
    wb.save(p)
    res = read_file(p, as_of=AS_OF)
    assert_invariant(res)
    r = one(res)
    assert r.system == "aid"
    f = r.frame
    assert f["name"].tolist() == ["张三"]           # not the family member's 姓名
    assert f["item_raw"].tolist() == ["家庭经济困难寄宿生生活补助"]
    assert f["amount"].tolist() == [500.0]
    assert f["source_row"].tolist() == [4]
    assert f["term"].tolist() == ["2019秋"]


def test_gbk_csv(tmp_path):
    p = write_csv(tmp_path / "roster.csv", [
        ["市", "县", "乡镇", "行政村", "户编号", "人编号", "姓名", "证件号码", "与户主关系", "性别", "在校生状况"],
        ["安康市", "旬阳县", "蜀河镇", "某村", "612400000000001", "61240000000000101", "张三", ID1, "之子", "男",
         "七年级"],
    ], encoding="gbk")
    r = one(read_file(p, as_of=AS_OF))
    f = r.frame
    assert r.system == "roster"
    assert f["name"].tolist() == ["张三"]
    assert f["household_no"].tolist() == ["612400000000001"]
    assert f["stage"].tolist() == ["初中"] and f["grade"].tolist() == [1]
    assert f["source_sheet"].tolist() == [""] and f["source_row"].tolist() == [2]


def test_utf16_tab_text(tmp_path):
    rows = [["姓名", "身份证号", "未在校原因", "就读学校", "佐证材料"], ["张三", ID1, "县外就读", "西安市某小学", "转学证明"]]
    text = "\r\n".join("\t".join(r) for r in rows)
    p = tmp_path / "ledger.txt"
    p.write_bytes(b"\xff\xfe" + text.encode("utf-16-le"))
    r = one(read_file(p, as_of=AS_OF))
    assert r.system == "ledger"
    assert r.frame["reason"].tolist() == ["县外就读"] and r.frame["id_valid"].tolist() == [True]


def test_utf8_bom_csv(tmp_path):
    p = write_csv(tmp_path / "s.csv", [["学校名称", "年级", "班级", "姓名", "身份证号", "学困科目", "学困原因"],
                                       ["旬阳县中学", "七年级", "1", "张三", ID1, "数学", "基础薄弱"]], encoding="utf-8-sig")
    r = one(read_file(p, as_of=AS_OF))
    assert r.system == "struggling"
    assert r.frame["name"].tolist() == ["张三"] and r.frame["reason"].tolist() == ["基础薄弱"]
    assert r.frame["stage"].tolist() == ["初中"]


def test_semicolon_csv(tmp_path):
    p = write_csv(tmp_path / "pairs.csv", [["学校名称", "教师姓名", "学生姓名", "学生身份证号", "帮扶类别"],
                                           ["旬阳县蜀河镇中心小学", "王老师", "张三", ID1, "留守"]], sep=";")
    r = one(read_file(p, as_of=AS_OF))
    assert r.system == "pairs"
    assert r.frame["teacher_name"].tolist() == ["王老师"] and r.frame["student_name"].tolist() == ["张三"]
    assert r.frame["teacher_school"].tolist() == ["旬阳县蜀河镇中心小学"]
    assert r.frame["town"].tolist() == ["蜀河镇"]


def test_xls_written_with_xlwt(tmp_path):
    xlwt = pytest.importorskip("xlwt")
    wb = xlwt.Workbook()
    ws = wb.add_sheet("Sheet1")
    rows = [["教师姓名", "学生姓名", "学生身份证号", "活动类型", "帮扶日期", "帮扶内容"],
            ["王老师", "张三", ID1, "入户走访", "2019-10-12", "家访"],
            ["王老师", "张三", ID1, "纪实手册记录", 43752.0, "谈心"]]
    for i, row in enumerate(rows):
        for j, v in enumerate(row):
            ws.write(i, j, v)
    p = tmp_path / "act.xls"
    wb.save(str(p))
    r = one(read_file(p, as_of=AS_OF))
    assert r.system == "activities"
    assert r.frame["activity"].tolist() == ["家访", "帮扶记录"]
    assert r.frame["date"].tolist() == [pd.Timestamp("2019-10-12"), pd.Timestamp("2019-10-14")]


# ------------------------------------------------------------------------------------------------ IDs
def test_id_stored_as_number_in_xlsx_is_precision_lost(tmp_path):
    p = write_xlsx(tmp_path / "a.xlsx", [REG_HEADER, reg_row("张三", float(ID3)), reg_row("李四", ID2)])
    f = one(read_file(p, as_of=AS_OF)).frame
    assert f["id_reason"].tolist()[0] == "precision_lost" and not f["id_valid"].iloc[0]
    assert f["id_valid"].tolist()[1] is True or bool(f["id_valid"].iloc[1])
    assert "E" not in f["id_number"].iloc[0] and "." not in f["id_number"].iloc[0]


def test_excel_fifteen_digit_float_is_precision_lost(tmp_path):
    # what Excel itself keeps of an ID typed as a number: 15 significant digits
    mangled = float(f"{float(ID3):.15g}")
    p = write_xlsx(tmp_path / "a.xlsx", [REG_HEADER, reg_row("张三", mangled)])
    f = one(read_file(p, as_of=AS_OF)).frame
    assert f["id_reason"].tolist() == ["precision_lost"]


def test_scientific_text_and_full_width_digits(tmp_path):
    fw = ID2.translate(str.maketrans("0123456789X", "０１２３４５６７８９Ｘ"))
    p = write_csv(tmp_path / "a.csv", [REG_HEADER, reg_row("张三", "6.10928E+17"), reg_row("李四", fw),
                                       reg_row("王五", " " + ID1.lower() + "\t")])
    f = one(read_file(p, as_of=AS_OF)).frame
    assert f["id_reason"].tolist() == ["precision_lost", "ok", "ok"]
    assert f["id_number"].tolist()[1:] == [ID2, ID1]


def test_bad_id_is_loaded_and_flagged_not_rejected(tmp_path):
    bad = ID1[:-1] + ("0" if ID1[-1] != "0" else "1")
    p = write_csv(tmp_path / "a.csv", [REG_HEADER, reg_row("张三", bad), reg_row("李四", "")])
    res = read_file(p, as_of=AS_OF)
    assert_invariant(res)
    f = one(res).frame
    assert len(f) == 2
    assert f["id_reason"].tolist() == ["bad_checksum", "empty"]


def test_id_born_after_as_of_is_bad_birthdate(tmp_path):
    late = _id("61092820191201123")
    p = write_csv(tmp_path / "a.csv", [REG_HEADER, reg_row("张三", late)])
    assert one(read_file(p, as_of=AS_OF)).frame["id_reason"].tolist() == ["bad_birthdate"]


# ------------------------------------------------------------------------------------------------ values
@pytest.mark.parametrize("text", ["20100101", "2010-01-01", "2010/1/1", "2010.1.1", "2010年1月1日", "40179",
                                  "2010-01-01 00:00:00"])
def test_each_date_format(tmp_path, text):
    p = write_csv(tmp_path / "a.csv", [REG_HEADER, reg_row("张三", ID1, birth=text)])
    assert one(read_file(p, as_of=AS_OF)).frame["birth_date"].tolist() == [pd.Timestamp("2010-01-01")]


def test_excel_date_cell_and_serial_number(tmp_path):
    p = write_xlsx(tmp_path / "a.xlsx", [REG_HEADER, reg_row("张三", ID1, birth=dt.datetime(2010, 1, 1)),
                                         reg_row("李四", ID2, birth=40180)])
    f = one(read_file(p, as_of=AS_OF)).frame
    assert f["birth_date"].tolist() == [pd.Timestamp("2010-01-01"), pd.Timestamp("2010-01-02")]


def test_coded_values_labels_and_bare_codes(tmp_path):
    rows = [REG_HEADER + ["残疾人类型", "随班就读", "是否进城务工人员随迁子女", "学籍状态"]]
    rows.append(reg_row("张三", ID1, sex="男") + ["0", "0", "否", "在校"])
    r2 = reg_row("李四", ID2, sex="2")
    r2[10] = "2"
    rows.append(r2 + ["4-肢体残疾", "4-其他残疾随班就读", "1-是", "休学"])
    r3 = reg_row("王五", ID3, sex="1")
    r3[10] = "非留守儿童"
    r3[9] = "1"
    rows.append(r3 + ["", "", "0", ""])
    f = one(read_file(write_csv(tmp_path / "a.csv", rows), as_of=AS_OF)).frame
    assert f["sex"].tolist() == ["男", "女", "男"]
    assert f["left_behind"].tolist() == ["单亲留守", "双亲留守", "非留守"]
    assert f["boarding"].tolist() == ["住校", "住校", "走读"]
    assert f["disability"].tolist() == ["无残疾", "肢体残疾", "无残疾"]
    assert f["inclusive"].tolist() == ["非随班就读", "其他残疾随班就读", "非随班就读"]
    assert f["migrant"].tolist() == [False, True, False]
    assert f["status"].tolist()[:2] == ["在读", "休学"] and pd.isna(f["status"].iloc[2])


def test_roster_numeric_sex_code_left_na(tmp_path):
    p = write_csv(tmp_path / "r.csv", [["户编号", "人编号", "姓名", "证件号码", "性别", "与户主关系"],
                                       ["1", "11", "张三", ID1, "1", "之子"], ["1", "12", "李四", ID2, "女", "之女"]])
    f = one(read_file(p, as_of=AS_OF)).frame
    assert pd.isna(f["sex"].iloc[0]) and f["sex"].iloc[1] == "女"


def test_aid_term_from_school_year_and_semester_columns(tmp_path):
    p = write_csv(tmp_path / "aid.csv", [
        ["学校名称", "学段", "年级", "姓名", "身份证件号", "资助项目", "资助金额", "学年", "学期", "家庭经济困难等级"],
        ["旬阳县城关中学", "初中", "一年级", "张三", ID1, "家庭经济困难寄宿生生活补助", "625.00", "2019-2020", "秋季", "特别困难"],
        ["旬阳县城关中学", "初中", "一年级", "李四", ID2, "家庭经济困难寄宿生生活补助", "625", "2018-2019", "春季", "困难"],
    ])
    f = one(read_file(p, as_of=AS_OF)).frame
    assert f["term"].tolist() == ["2019秋", "2019春"]
    assert f["stage"].tolist() == ["初中", "初中"] and f["grade"].tolist() == [1, 1]
    assert f["amount"].tolist() == [625.0, 625.0]
    assert f["item"].notna().all()
    assert f["town"].tolist() == ["城关镇", "城关镇"]


# ------------------------------------------------------------------------------------------------ rejects
def test_total_rows_repeated_headers_and_rows_without_person_are_rejected(tmp_path):
    rows = [["2019年秋季学籍"], REG_HEADER, reg_row("张三", ID1), [None] * 13, REG_HEADER, reg_row("李四", ID2),
            ["合计", None, None, None, None, None, None, None, None, None, None, None, None],
            ["2161000001", "旬阳县蜀河镇中心小学", None, None, None, None, None, None, None, None, None, None, None]]
    res = read_file(write_xlsx(tmp_path / "a.xlsx", rows), as_of=AS_OF)
    assert_invariant(res)
    r = one(res)
    assert r.report["rows_read"] == 5 and r.report["rows_loaded"] == 2 and r.report["rows_rejected"] == 3
    assert r.rejects["row"].tolist() == [5, 7, 8]
    reasons = r.rejects["reason"].tolist()
    assert "重复的表头行" in reasons[0] and "合计" in reasons[1] and "姓名" in reasons[2]


def test_unparseable_required_date_and_amount_rejected_with_column(tmp_path):
    p = write_csv(tmp_path / "act.csv", [["教师姓名", "学生姓名", "学生身份证号", "活动类型", "帮扶日期"],
                                         ["王老师", "张三", ID1, "家访", "2019-10-12"],
                                         ["王老师", "张三", ID1, "家访", "国庆后"],
                                         ["王老师", "张三", ID1, "家访", ""]])
    res = read_file(p, as_of=AS_OF)
    assert_invariant(res)
    r = one(res)
    assert r.report["rows_loaded"] == 1 and r.rejects["row"].tolist() == [3, 4]
    assert r.rejects["column"].tolist() == ["帮扶日期", "帮扶日期"]
    p2 = write_csv(tmp_path / "aid.csv", [["姓名", "身份证件号", "资助项目", "资助金额"], ["张三", ID1, "一补", "五百"]])
    r2 = one(read_file(p2, as_of=AS_OF))
    assert r2.report["rows_rejected"] == 1 and "资助金额" in r2.rejects["reason"].iloc[0]


def test_different_column_orders_in_two_files(tmp_path):
    h2 = list(reversed(REG_HEADER))
    p1 = write_csv(tmp_path / "a.csv", [REG_HEADER, reg_row("张三", ID1)])
    p2 = write_csv(tmp_path / "b.csv", [h2, list(reversed(reg_row("李四", ID2)))])
    f1 = one(read_file(p1, as_of=AS_OF)).frame
    f2 = one(read_file(p2, as_of=AS_OF)).frame
    assert list(f1.columns) == list(f2.columns)
    assert f2["name"].tolist() == ["李四"] and f2["id_number"].tolist() == [ID2]


# ------------------------------------------------------------------------------------------------ recognition
@pytest.mark.parametrize("header,system", [
    (["学校名称", "姓名", "身份证件号", "资助项目", "资助金额", "学年", "学期"], "aid"),
    (["学校名称", "姓名", "身份证件号", "年级", "班级", "学籍号"], "registry"),
    (["教师姓名", "学生姓名", "学生身份证号", "结对时间"], "pairs"),
    (["教师姓名", "学生姓名", "学生身份证号", "家访日期", "帮扶内容"], "activities"),
    (["学校名称", "姓名", "身份证号", "学困科目"], "struggling"),
    (["序号", "乡镇", "姓名", "身份证号", "问题类型", "问题描述"], "suspects"),
    (["乡镇", "行政村", "姓名", "身份证号", "未在校原因", "佐证材料"], "ledger"),
    (["乡(镇)", "行政村", "户编号", "姓名", "证件号码", "在校生状况"], "roster"),
])
def test_system_recognised_from_headers_not_file_name(tmp_path, header, system):
    row = ["x"] * len(header)
    p = write_csv(tmp_path / "学籍名单.csv", [header, row])
    assert one(read_file(p, as_of=AS_OF)).system == system


def test_full_width_parentheses_and_markers_in_headers(tmp_path):
    p = write_csv(tmp_path / "a.csv", [["★姓名", "身份证件号\u3000", "乡（镇）", "资助金额（元）", "资助项目"],
                                       ["张三", ID1, "蜀河镇", "500", "一补"]])
    r = one(read_file(p, as_of=AS_OF))
    assert r.system == "aid" and r.frame["amount"].tolist() == [500.0]


def test_suspects_keep_extra_columns(tmp_path):
    p = write_csv(tmp_path / "疑似问题.csv", [["序号", "乡镇", "学校", "姓名", "身份证号", "问题类型", "问题描述", "比对来源"],
                                          ["1", "蜀河镇", "某小学", "张三", "6.10928E+17", "身份证号错误", "校验不通过", "公安"]])
    f = one(read_file(p, as_of=AS_OF)).frame
    assert f["category_key"].tolist() == ["id_invalid"]
    assert f["extra"].iloc[0] == {"比对来源": "公安"}
    assert f["id_number"].tolist() == ["6.10928E+17"]       # as listed, not repaired


# ------------------------------------------------------------------------------------------------ bad files
def _unplaced_message(results) -> str:
    assert len(results) >= 1 and all(r.system is None for r in results)
    return results[0].report["message"]


def test_unknown_headers_name_headers_and_closest_system(tmp_path):
    p = write_csv(tmp_path / "会议记录.csv", [["日期", "地点", "参会人", "姓名"], ["2019-10-1", "县局", "甲", "乙"]])
    msg = _unplaced_message(read_file(p, as_of=AS_OF))
    assert "会议记录.csv" in msg and "无法识别" in msg and "地点" in msg


def test_empty_file(tmp_path):
    p = tmp_path / "空.csv"
    p.write_bytes(b"")
    msg = _unplaced_message(read_file(p))
    assert "空.csv" in msg and "空文件" in msg


def test_truncated_xlsx(tmp_path):
    good = write_xlsx(tmp_path / "good.xlsx", [REG_HEADER, reg_row("张三", ID1)])
    data = good.read_bytes()
    p = tmp_path / "坏.xlsx"
    p.write_bytes(data[: len(data) // 2])
    msg = _unplaced_message(read_file(p))
    assert "坏.xlsx" in msg and "损坏" in msg


def test_non_excel_file_named_xlsx(tmp_path):
    p = tmp_path / "假.xlsx"
    p.write_bytes(bytes(range(256)) * 20)
    msg = _unplaced_message(read_file(p))
    assert "假.xlsx" in msg


def test_binary_file_named_csv(tmp_path):
    p = tmp_path / "二进制.csv"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("a.bin", bytes(range(256)) * 50)
    msg = _unplaced_message(read_file(p))
    assert "二进制.csv" in msg and "不是文本文件" in msg


def test_workbook_with_only_an_empty_sheet(tmp_path):
    p = tmp_path / "空表.xlsx"
    openpyxl.Workbook().save(p)
    msg = _unplaced_message(read_file(p))
    assert "空表.xlsx" in msg and "没有可读取的数据" in msg


def test_empty_sheet_next_to_a_data_sheet_is_skipped(tmp_path):
    wb = openpyxl.Workbook()
    wb.active.title = "空"
    ws = wb.create_sheet("学籍")
    ws.append(REG_HEADER)
    ws.append(reg_row("张三", ID1))
    p = tmp_path / "a.xlsx"
    wb.save(p)
    res = read_file(p, as_of=AS_OF)
    assert [r.system for r in res] == [None, "registry"]
    assert "为空" in res[0].report["message"] and res[0].report["rows_read"] == 0


def test_html_table_saved_as_xls(tmp_path):
    html = ("<html><head><meta charset='utf-8'></head><body><table>"
            "<tr><td colspan='4'>2019年秋季学期学困生名单</td></tr>"
            "<tr><th>学校</th><th>姓名</th><th>身份证号</th><th>学困科目</th></tr>"
            f"<tr><td>旬阳县中学</td><td>张三</td><td>{ID1}</td><td>数学</td></tr></table></body></html>")
    p = tmp_path / "学困生.xls"
    p.write_text(html, encoding="utf-8")
    r = one(read_file(p, as_of=AS_OF))
    assert r.system == "struggling" and r.frame["id_number"].tolist() == [ID1]
    assert r.frame["source_row"].tolist() == [3] and "网页" in r.report["message"]


def _valid(idn: str) -> bool:
    return len(idn) == 18 and _id(idn[:17]) == idn


def test_number_cell_whose_float_digits_pass_the_check_is_still_precision_lost(tmp_path):
    # Excel keeps 15 significant digits; the float64 nearest to them may, by chance, read as a valid ID
    for seq in range(100, 1000):
        idn = _id(f"61092820120101{seq:03d}")
        typed = float(idn[:15] + "000")
        if _valid(str(int(typed))):
            break
    else:  # pragma: no cover
        pytest.skip("no such ID in the range")
    p = write_xlsx(tmp_path / "a.xlsx", [REG_HEADER, reg_row("张三", typed), reg_row("李四", str(int(typed)))])
    f = one(read_file(p, as_of=AS_OF)).frame
    assert f["id_reason"].tolist() == ["precision_lost", "ok"]   # the number cell, not the same digits as text
