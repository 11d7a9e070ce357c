"""The county's answer (反馈表) and the `workbench followup` command."""

from __future__ import annotations

import argparse
import datetime as dt

import openpyxl
import pandas as pd
import pytest

from workbench import followup
from workbench.followup import Ledger, export
from workbench.followup.listfile import read_list

HEADERS = ["序号", "市", "县", "乡镇", "村", "学校", "姓名", "身份证号", "问题类型", "问题描述", "下发日期", "整改时限"]
RESPONSE = ["核查结果", "原因说明", "整改情况", "是否整改到位", "整改时间", "佐证材料", "责任单位", "核查人", "核查时间"]
ROWS = [
    ["1", "安康市", "旬阳县", "蜀河镇", "一村", "旬阳县蜀河镇中心小学", "测试甲", "610928201003050419", "身份证号校验不通过",
     "请核实", "2019-11-18", "2019-11-25"],
    ["2", "安康市", "旬阳县", "城关镇", "二村", "旬阳县城关镇第一小学", "测试乙", "61092820110406013X", "人员信息不一致",
     "请核实", "2019-11-18", "2019-11-25"],
    ["3", "安康市", "旬阳县", "城关镇", "三村", "旬阳县城关镇第一小学", "测试丙", "610928200903050017", "疑似辍学",
     "请核实", "2019-11-18", "2019-11-25"],
]


def write_list(path, rows=ROWS, title="旬阳县疑似问题数据（第1批）") -> None:
    """A province list as received: a title row, the header, a 说明 row, then the items (IDs as text)."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "疑似问题"
    ws.append([title])
    ws.append(HEADERS)
    ws.append(["说明：请于整改时限前反馈核查结果"])
    for row in rows:
        ws.append(row)
    wb.save(path)


@pytest.fixture()
def filled(tmp_path):
    src = tmp_path / "第1批.xlsx"
    write_list(src)
    ledger = Ledger(tmp_path / "db" / "followup.sqlite")
    keys = ledger.import_list(read_list(src), actor="县资助中心")["item_key"].tolist()
    ledger.record(keys[0], "assigned", "县资助中心", unit="蜀河镇中心学校", person="王老师")
    ledger.record(keys[0], "checked", "王老师", result="属实", note="学籍身份证号录入错误")
    ledger.record(keys[0], "corrected", "王老师", what="更正身份证号", system="学籍", date="2019-11-22")
    ledger.attach(keys[0], "更正截图.png", b"png", "王老师")
    ledger.record(keys[1], "checked", "李老师", result="不属实", note="学籍与户籍一致")
    return ledger, keys, tmp_path


def test_response_workbook_reopens_with_text_ids_and_one_row_per_item(filled):
    ledger, _, tmp = filled
    out = tmp / "反馈表.xlsx"
    table = ledger.export_response(out)
    wb = openpyxl.load_workbook(out)
    ws = wb.active
    header = [c.value for c in ws[1]]
    assert header == HEADERS + RESPONSE
    assert ws.max_row - 1 == len(ledger.items()) == len(table) == 3
    assert ws.freeze_panes == "A2"
    id_col = header.index("身份证号") + 1
    ids = [ws.cell(row=r, column=id_col).value for r in range(2, ws.max_row + 1)]
    assert ids == [r[7] for r in ROWS] and all(isinstance(v, str) for v in ids)
    rows = {r[0]: dict(zip(header, r)) for r in ws.iter_rows(min_row=2, values_only=True)}
    first = rows["1"]
    assert (first["核查结果"], first["原因说明"], first["整改情况"], first["是否整改到位"], first["整改时间"],
            first["佐证材料"], first["责任单位"], first["核查人"]) == \
        ("属实", "学籍身份证号录入错误", "更正身份证号（学籍）", "是", "2019-11-22", "更正截图.png", "蜀河镇中心学校",
         "王老师")
    assert first["核查时间"] == dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).date().isoformat()
    assert (rows["2"]["核查结果"], rows["2"]["是否整改到位"]) == ("不属实", "无需整改")
    assert rows["3"]["核查结果"] is None and rows["3"]["乡镇"] == "城关镇"


def test_response_per_town(filled):
    ledger, _, tmp = filled
    table = ledger.export_response(tmp / "城关镇.xlsx", town="城关镇")
    assert table["乡镇"].tolist() == ["城关镇", "城关镇"]
    ws = openpyxl.load_workbook(tmp / "城关镇.xlsx").active
    assert ws.max_row == 3


def test_response_columns_are_configurable(filled, monkeypatch):
    ledger, _, tmp = filled
    monkeypatch.setattr(export, "response_columns",
                        lambda: [{"header": "核查结论", "field": "result"}, {"header": "联系电话", "field": "phone"},
                                 {"header": "当前状态", "field": "status"}])
    table = ledger.export_response(tmp / "x.xlsx")
    assert list(table.columns[-3:]) == ["核查结论", "联系电话", "当前状态"]
    assert "核查结果" not in table.columns
    assert table["当前状态"].tolist() == ["已整改", "已核查", "待分派"]


def run_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="workbench followup")
    followup.add_arguments(parser)
    return followup.run(parser.parse_args(list(argv)))


def test_command_line_import_status_record_export(tmp_path, capsys):
    src = tmp_path / "第1批.xlsx"
    write_list(src)
    db = str(tmp_path / "cli.sqlite")
    assert run_cli("import", str(src), "--db", db, "--actor", "县资助中心") == 0
    assert run_cli("import", str(src), "--db", db) == 0
    out = capsys.readouterr().out
    assert "新增 3 条" in out and "已导入 3 条" in out
    ledger = Ledger(db)
    assert len(ledger.items()) == 3 and len(ledger.events()) == 3
    key = ledger.items()["item_key"].iloc[0]
    assert run_cli("assign", key[:10], "--unit", "蜀河镇中心学校", "--db", db, "--actor", "甲") == 0
    assert run_cli("check", key[:10], "--result", "属实", "--note", "录入错误", "--db", db, "--actor", "乙") == 0
    assert run_cli("correct", key[:10], "--what", "更正", "--system", "学籍", "--db", db, "--actor", "乙") == 0
    evidence = tmp_path / "证明.pdf"
    evidence.write_bytes(b"%PDF fake")
    assert run_cli("attach", key[:10], str(evidence), "--db", db, "--actor", "乙") == 0
    assert run_cli("close", key[:10], "--db", db, "--actor", "甲") == 0
    assert run_cli("reopen", key[:10], "--note", "复查", "--db", db, "--actor", "甲") == 0
    assert run_cli("check", key[:10], "--result", "也许", "--db", db, "--actor", "乙") == 1
    assert "核查结果须为" in capsys.readouterr().err
    hist = Ledger(db).history(key)
    assert hist["kind"].tolist() == ["imported", "assigned", "checked", "corrected", "evidence", "closed",
                                     "reopened"]
    assert hist["actor"].tolist() == ["县资助中心", "甲", "乙", "乙", "乙", "甲", "甲"]
    capsys.readouterr()
    assert run_cli("status", "--overdue", "--as-of", "2019-12-01", "--db", db) == 0
    out = capsys.readouterr().out
    assert "已超期未办结 3 条" in out and "超期条目" in out
    assert "测试" not in out and "610928" not in out  # no personal data on screen
    target = tmp_path / "反馈表.xlsx"
    assert run_cli("export", str(target), "--town", "蜀河镇", "--db", db) == 0
    assert openpyxl.load_workbook(target).active.max_row == 2
    assert run_cli("history", key[:10], "--db", db) == 0
    assert run_cli("close", "ffffffffffff", "--db", db, "--actor", "甲") == 1


def test_a_file_without_a_list_is_refused_in_chinese(tmp_path):
    bad = tmp_path / "别的.xlsx"
    wb = openpyxl.Workbook()
    wb.active.append(["甲", "乙"])
    wb.active.append(["1", "2"])
    wb.save(bad)
    with pytest.raises(followup.LedgerError, match="没有识别到疑似问题清单"):
        read_list(bad)
    assert run_cli("import", str(tmp_path / "无此文件.xlsx"), "--db", str(tmp_path / "x.sqlite")) == 1


def test_list_rows_keep_their_own_columns(tmp_path):
    src = tmp_path / "第2批.xlsx"
    write_list(src, rows=[r + [] for r in ROWS[:1]])
    frame = read_list(src)
    ledger = Ledger(tmp_path / "y.sqlite")
    ledger.import_list(frame)
    own = export.list_columns(ledger.items())
    assert list(own.columns) == HEADERS
    assert own.iloc[0].tolist() == ROWS[0]
    assert pd.api.types.is_string_dtype(own["身份证号"])
