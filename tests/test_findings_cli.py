"""findings: all_findings combines every analysis; `workbench findings DIR` prints counts or writes a report."""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import sys
import types
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from workbench import cli, findings
from workbench.findings import FINDING_COLUMNS, all_findings, as_findings

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"


def main(argv: list[str]) -> int:
    """`workbench findings ...` through this module's own add_arguments/run (as cli.main dispatches it)."""
    parser = argparse.ArgumentParser(prog="workbench findings")
    findings.add_arguments(parser)
    return findings.run(parser.parse_args(argv[1:]))


def test_cli_dispatcher_knows_the_findings_subcommand():
    assert cli.SUBCOMMANDS["findings"][0] == "workbench.findings"


def fake_module(name: str, rows: list[dict]) -> types.ModuleType:
    module = types.ModuleType(f"workbench.{name}")
    module.findings = lambda ws: as_findings(pd.DataFrame(rows)) if rows else findings.empty_findings()
    return module


ROWS = {
    "reconcile": [{"kind": "id_invalid", "systems": "registry", "id_number": "61092820080101123", "name": "=张三",
                       "town": "蜀河镇", "suggestion": "建议核对为 610928200801011234：同名同生日",
                       "suggested_id": "610928200801011234"}],
    "dropout": [{"kind": "not_enrolled", "systems": "roster", "id_number": "610928201001011234", "name": "赵六",
                     "town": "吕河镇", "village": "某村"}],
    "aid": [{"kind": "aid_missed", "systems": "registry,aid", "id_number": "610928200901011234", "name": "李四",
                 "town": "吕河镇", "school": "吕河镇中学", "item": "nutrition", "period": "2019秋", "detail": "无发放记录"},
            {"kind": "aid_missed", "systems": "registry,aid", "id_number": "610928200901011234", "name": "李四",
                 "town": "吕河镇", "school": "吕河镇中学", "item": "nutrition", "period": "2019秋", "detail": "重复一行"}],
}


@pytest.fixture
def analyses(monkeypatch):
    for name, rows in ROWS.items():
        monkeypatch.setitem(sys.modules, f"workbench.{name}", fake_module(name, rows))
    # mentoring is "not built yet"
    monkeypatch.setitem(sys.modules, "workbench.mentoring", None)
    real_import = findings._analysis

    def analysis(name):
        if name == "mentoring":
            print("提示：结对帮扶模块（workbench.mentoring）尚未提供，已跳过", file=sys.stderr)
            return None
        return real_import(name)
    monkeypatch.setattr(findings, "_analysis", analysis)
    monkeypatch.setattr(findings, "_load", lambda folder, as_of, no_cache: types.SimpleNamespace(
        as_of=as_of, tables={}))


def test_all_findings_combines_modules_in_a_deterministic_order(analyses, capsys):
    found = all_findings(object())
    assert list(found.columns) == FINDING_COLUMNS
    assert found["kind"].tolist() == ["aid_missed", "id_invalid", "not_enrolled"]  # sorted, one row per grain
    assert found["label"].tolist() == ["应助未助", "身份证号无效", "适龄未入学（疑似辍学）"]
    assert "结对帮扶" in capsys.readouterr().err
    pd.testing.assert_frame_equal(found, all_findings(object()))


def test_missing_module_is_skipped_with_a_warning(monkeypatch, capsys):
    assert findings._analysis("no_such_analysis") is None
    assert "尚未提供" in capsys.readouterr().err


def test_cli_prints_counts_per_kind_in_chinese(analyses, tmp_path, capsys):
    assert main(["findings", str(tmp_path), "--as-of", "2019-11-30"]) == 0
    out = capsys.readouterr().out
    assert "基准日期 2019-11-30" in out
    lines = {line.split()[0]: int(line.split()[-1]) for line in out.splitlines()[1:]}
    assert lines["应助未助"] == 1 and lines["身份证号无效"] == 1 and lines["重复资助"] == 0 and lines["合计"] == 3


def test_cli_writes_json_csv_and_xlsx(analyses, tmp_path):
    for suffix in ("json", "csv", "xlsx"):
        assert main(["findings", str(tmp_path), "--out", str(tmp_path / f"问题清单.{suffix}"), "--no-cache"]) == 0
    data = json.loads((tmp_path / "问题清单.json").read_text(encoding="utf-8"))
    assert isinstance(data, list) and len(data) == 3 and list(data[0]) == FINDING_COLUMNS
    assert data[1]["name"] == "=张三" and data[0]["village"] is None
    assert "张三" in (tmp_path / "问题清单.json").read_text(encoding="utf-8")  # ensure_ascii False
    raw = (tmp_path / "问题清单.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(raw.decode("utf-8-sig").splitlines()))
    assert len(rows) == 3 and rows[1]["suggested_id"] == "610928200801011234"
    wb = openpyxl.load_workbook(tmp_path / "问题清单.xlsx")
    assert wb.sheetnames[0] == "汇总" and "应助未助" in wb.sheetnames
    sheet = wb["身份证号无效"]
    assert sheet["C2"].data_type == "s" and sheet["D2"].value == "'=张三" and sheet.freeze_panes == "A2"


def test_cli_rejects_bad_arguments_in_chinese(analyses, tmp_path, capsys):
    assert main(["findings", str(tmp_path / "nope")]) == 2
    assert "文件夹不存在" in capsys.readouterr().err
    assert main(["findings", str(tmp_path), "--as-of", "2019/11/30"]) == 2
    assert "YYYY-MM-DD" in capsys.readouterr().err
    assert main(["findings", str(tmp_path), "--out", str(tmp_path / "x.txt")]) == 2
    assert "不支持的输出格式" in capsys.readouterr().err


@pytest.mark.skipif(importlib.util.find_spec("workbench.workspace") is None,
                    reason="workbench.workspace (loader) not built yet")
@pytest.mark.skipif(not (SAMPLES / "answer_key.csv").exists(), reason="sample county not generated yet")
def test_cli_on_the_sample_county(tmp_path, capsys):
    out = tmp_path / "findings.json"
    assert main(["findings", str(SAMPLES), "--as-of", "2019-11-30", "--out", str(out)]) == 0
    data = json.loads(out.read_text(encoding="utf-8"))
    assert len(data) > 0 and {"aid_missed", "aid_duplicate"} <= {d["kind"] for d in data}
    # every analysis together finds exactly the generator's answer key (kind, id_number, item, period)
    key = pd.read_csv(SAMPLES / "answer_key.csv", dtype=str, keep_default_na=False, encoding="utf-8-sig")
    got = {(d["kind"], d["id_number"] or "", d["item"] or "", d["period"] or "") for d in data}
    want = set(zip(key["kind"], key["id_number"], key["item"], key["period"]))
    assert not want - got and not got - want, (sorted(want - got)[:5], sorted(got - want)[:5])


def test_no_cache_is_passed_to_the_loader(monkeypatch):
    import datetime as dt
    calls = []

    def load_folder(path, as_of=None, progress=True, cache=True):
        calls.append((path, as_of, cache))
        return types.SimpleNamespace(as_of=as_of, tables={})

    fake = types.ModuleType("workbench.workspace")
    fake.load_folder = load_folder
    monkeypatch.setitem(sys.modules, "workbench.workspace", fake)
    findings._load("DIR", dt.date(2019, 11, 30), True)
    findings._load("DIR", None, False)
    assert calls == [("DIR", dt.date(2019, 11, 30), False), ("DIR", None, True)]
