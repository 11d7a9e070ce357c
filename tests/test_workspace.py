"""load_folder: a folder mixing every quirk, the parse cache, Workspace helpers and the `workbench load` CLI."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import zipfile

import openpyxl
import pandas as pd
import pytest

from test_sources import ID1, ID2, ID3, REG_HEADER, reg_row, write_csv, write_xlsx
from workbench import workspace
from workbench.sources import canonical_columns
from workbench.workspace import Workspace, infer_as_of, load_folder, load_parquet_folder

AS_OF = dt.date(2019, 11, 30)


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "cache"))


def make_folder(root):
    root.mkdir()
    (root / "学校A").mkdir()
    write_xlsx(root / "学校A" / "学籍.xlsx", [["2019年秋季学期学籍"], REG_HEADER, reg_row("张三", ID1),
                                            reg_row("李四", float(ID3)), ["合计"] + [None] * 12])
    write_csv(root / "学籍2019年春季.csv", [list(reversed(REG_HEADER)), list(reversed(reg_row("张三", ID1,
                                                                                           grade="小学2016级")))],
              encoding="gbk")
    write_csv(root / "活动.csv", [["教师姓名", "学生姓名", "学生身份证号", "活动类型", "帮扶日期"],
                                 ["王老师", "张三", ID1, "家访", "2019-11-12"], ["王老师", "张三", ID1, "家访", "下周"]])
    (root / "空.csv").write_bytes(b"")
    (root / "坏.xlsx").write_bytes(b"PK\x03\x04" + b"\x00" * 50)
    with zipfile.ZipFile(root / "bin.csv", "w") as z:
        z.writestr("x", bytes(range(256)) * 40)
    openpyxl.Workbook().save(root / "空表.xlsx")
    write_csv(root / "说明.csv", [["项目", "负责人"], ["资助", "某某"]])
    write_csv(root / "answer_key.csv", [["kind", "system", "id_number"], ["id_invalid", "registry", ID2]])
    (root / "~$学籍.xlsx").write_bytes(b"lock")
    (root / ".hidden.csv").write_text("姓名,身份证号\n甲,1\n", encoding="utf-8")
    return root


def test_load_folder_mixing_quirks(tmp_path):
    ws = load_folder(make_folder(tmp_path / "county"), progress=False)
    assert ws.as_of == AS_OF                    # month end of the latest activity
    assert ws.term == "2019秋"
    assert set(ws.tables) == {"registry", "aid", "roster", "ledger", "pairs", "activities", "struggling",
                              "suspects"}
    reg = ws.table("registry")
    assert sorted(reg["term"].tolist()) == ["2019春", "2019秋", "2019秋"]
    assert ws.registry_term()["name"].tolist() == ["张三", "李四"]
    assert ws.previous_term == "2019春" and ws.registry_term(ws.previous_term)["grade"].tolist() == [3]
    assert reg.loc[reg["name"] == "李四", "id_reason"].tolist() == ["precision_lost"]
    assert set(reg["source_file"]) == {"学校A/学籍.xlsx", "学籍2019年春季.csv"}
    assert len(ws.table("activities")) == 1 and len(ws.table("aid")) == 0
    assert list(ws.table("aid").columns) == list(canonical_columns("aid"))
    rep = ws.report
    assert (rep["rows_read"] == rep["rows_loaded"] + rep["rows_rejected"]).all()
    assert int(rep["rows_rejected"].sum()) == len(ws.rejects) == 2
    files = set(rep["file"])
    assert {"空.csv", "坏.xlsx", "bin.csv", "空表.xlsx", "说明.csv", "answer_key.csv"} <= files
    assert "~$学籍.xlsx" not in files and ".hidden.csv" not in files
    unplaced = rep[rep["system"].isna()].set_index("file")["message"]
    for f in ["空.csv", "坏.xlsx", "bin.csv", "空表.xlsx", "说明.csv"]:
        assert f in unplaced[f]
    assert "答案" in unplaced["answer_key.csv"]
    assert "最接近" in unplaced["说明.csv"] or "不匹配" in unplaced["说明.csv"]


def test_cache_gives_the_same_workspace_and_is_keyed_by_content(tmp_path):
    root = make_folder(tmp_path / "county")
    first = load_folder(root, progress=False)
    assert any((tmp_path / "cache").glob("*.parquet"))
    second = load_folder(root, progress=False)
    for key in first.tables:
        a, b = first.tables[key], second.tables[key]
        assert list(a.columns) == list(b.columns)
        pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True), check_dtype=False)
    pd.testing.assert_frame_equal(first.rejects.astype(str), second.rejects.astype(str))
    # a changed file is parsed again
    write_csv(root / "活动.csv", [["教师姓名", "学生姓名", "学生身份证号", "活动类型", "帮扶日期"],
                                 ["王老师", "张三", ID1, "家访", "2019-10-12"]])
    third = load_folder(root, progress=False)
    assert third.as_of == dt.date(2019, 10, 31) and len(third.rejects) == 1


def test_no_cache_writes_nothing(tmp_path):
    load_folder(make_folder(tmp_path / "county"), progress=False, cache=False)
    assert not (tmp_path / "cache").exists()


def test_explicit_as_of_sets_default_term_and_grades(tmp_path):
    root = tmp_path / "c"
    root.mkdir()
    write_csv(root / "export.csv", [REG_HEADER, reg_row("张三", ID1)])
    ws = load_folder(root, as_of=dt.date(2019, 5, 1), progress=False)
    assert ws.term == "2019春"
    assert ws.table("registry")["term"].tolist() == ["2019春"] and ws.table("registry")["grade"].tolist() == [3]
    ws2 = load_folder(root, as_of=AS_OF, progress=False)        # same cached parse, another as-of date
    assert ws2.table("registry")["grade"].tolist() == [4]


def test_infer_as_of():
    acts = pd.DataFrame({"date": pd.to_datetime(["2019-10-02", "2019-11-12"])})
    assert infer_as_of({"activities": acts}, today=dt.date(2020, 1, 1)) == AS_OF
    assert infer_as_of({"activities": acts}, today=dt.date(2019, 11, 20)) == dt.date(2019, 11, 20)
    assert infer_as_of({}, today=dt.date(2020, 1, 1)) == dt.date(2020, 1, 1)


def test_from_tables_fills_missing_columns_and_terms():
    reg = pd.DataFrame({"name": ["张三"], "id_number": [ID1]})
    ws = Workspace.from_tables({"registry": reg}, AS_OF)
    assert list(ws.table("registry").columns) == list(canonical_columns("registry"))
    assert ws.table("registry")["term"].tolist() == ["2019秋"]
    assert len(ws.table("roster")) == 0 and "id_number" in ws.table("roster").columns
    with pytest.raises(KeyError):
        ws.table("nope")


def test_load_parquet_folder(tmp_path):
    reg = pd.DataFrame({"term": ["2019秋"], "name": ["张三"], "id_number": [ID1]})
    reg.to_parquet(tmp_path / "registry.parquet")
    acts = pd.DataFrame({"student_name": ["张三"], "id_number": [ID1], "activity": ["家访"],
                         "date": pd.to_datetime(["2019-11-02"])})
    acts.to_parquet(tmp_path / "activities.parquet")
    ws = load_parquet_folder(tmp_path)
    assert ws.as_of == AS_OF and len(ws.table("registry")) == 1 and len(ws.table("activities")) == 1
    assert ws.report["system"].tolist() == ["registry", "activities"]


def _cli(argv):
    p = argparse.ArgumentParser()
    workspace.add_arguments(p)
    return workspace.run(p.parse_args(argv))


def test_cli_json_report(tmp_path, capsys):
    root = make_folder(tmp_path / "county")
    assert _cli([str(root), "--json", "--as-of", "2019-11-30"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["as_of"] == "2019-11-30" and out["tables"]["registry"] == 3
    assert {"report", "rejects"} <= set(out)
    assert all(r["rows_read"] == r["rows_loaded"] + r["rows_rejected"] for r in out["report"])
    assert any("合计" in r["reason"] for r in out["rejects"])


def test_cli_table_report_in_chinese(tmp_path, capsys):
    root = make_folder(tmp_path / "county")
    assert _cli([str(root), "--no-cache"]) == 0
    out = capsys.readouterr().out
    assert "读取行数" in out and "学籍" in out and "拒绝的行" in out
    assert _cli([str(tmp_path / "missing")]) == 2


def test_parallel_parse_gives_the_same_tables(tmp_path, monkeypatch):
    root = make_folder(tmp_path / "county")
    monkeypatch.setenv("WORKBENCH_WORKERS", "1")
    seq = load_folder(root, progress=False, cache=False)
    monkeypatch.setenv("WORKBENCH_WORKERS", "2")
    monkeypatch.setattr(workspace, "PARALLEL_MIN_BYTES", 0)
    par = load_folder(root, progress=False, cache=False)
    for key in seq.tables:
        pd.testing.assert_frame_equal(seq.tables[key], par.tables[key], check_dtype=False)
    pd.testing.assert_frame_equal(seq.report.astype(str), par.report.astype(str))


def test_lazy_parquet_folder_reads_tables_only_when_asked(tmp_path):
    reg = pd.DataFrame({"term": ["2019秋", None], "name": ["张三", "李四"], "id_number": [ID1, ID2]})
    reg.to_parquet(tmp_path / "registry.parquet")
    ws = load_parquet_folder(tmp_path, AS_OF, lazy=True)
    assert not ws.tables.loaded("registry") and ws.report["rows_loaded"].tolist() == [2]
    from workbench import engine

    eng = engine.of(ws)
    # the engine reads the file itself; a registry row without a term belongs to the as-of term
    assert eng.execute("SELECT count(*) FROM src_registry WHERE term = '2019秋'").fetchall()[0][0] == 2
    assert not ws.tables.loaded("registry")
    assert len(ws.tables["registry"]) == 2 and ws.tables.loaded("registry")
    assert ws.tables["registry"]["term"].tolist() == ["2019秋", "2019秋"]
    assert len(ws.tables["roster"]) == 0


def test_engine_keeps_the_invalid_id_rows_apart(tmp_path):
    """Engine.src(system, "invalid") holds every row whose ID is not valid (false or missing), for a loaded frame
    and for a parquet file read lazily; a table without id_valid reads as a whole."""
    from workbench import engine

    reg = pd.DataFrame({"term": ["2019秋"] * 4, "name": ["张三", "李四", "王五", "赵六"],
                        "id_number": [ID1, "123", ID2, None],
                        "id_valid": pd.array([True, False, True, None], dtype="boolean")})
    reg.to_parquet(tmp_path / "registry.parquet")
    for lazy in (False, True):
        eng = engine.Engine(load_parquet_folder(tmp_path, AS_OF, lazy=lazy))
        rows = eng.execute(f"SELECT name, _rn FROM {eng.src('registry', 'invalid')} ORDER BY _rn").fetchall()
        assert rows == [("李四", 1), ("赵六", 3)], lazy
        assert eng.src("registry") == "src_registry"
        assert eng.execute(f"SELECT count(*) FROM {eng.src('registry')}").fetchall()[0][0] == 4
    eng = engine.Engine({"pairs": pd.DataFrame({"id_number": [ID1]}),
                         "roster": pd.DataFrame({"id_number": [ID1], "id_valid": pd.array([True], dtype="boolean")})})
    assert eng.src("pairs", "invalid") == "src_pairs"
    # no invalid row at all: an empty relation with the table's columns
    assert eng.execute(f"SELECT id_number, _rn FROM {eng.src('roster', 'invalid')}").fetchall() == []
