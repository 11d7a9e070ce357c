"""Acceptance of issue 5 on the sample county: every list item matched or explicitly not found, the suggested
corrections right for >= 95 % of the injected causes (suspects_key.csv), the answer workbook reopens with text IDs.

Uses data/samples when it holds the county (suspects_key.csv), else generates the same county (3,000 students,
seed 1) into a temporary folder."""

from __future__ import annotations

import argparse
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from workbench import followup
from workbench.followup import Ledger
from workbench.followup.triage import NOT_FOUND, triage

pytestmark = pytest.mark.slow

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"


@pytest.fixture(scope="module")
def county(tmp_path_factory) -> Path:
    if (SAMPLES / "suspects_key.csv").exists():
        return SAMPLES
    samples = pytest.importorskip("workbench.samples")
    out = tmp_path_factory.mktemp("county")
    samples.generate(out, students=3000, seed=1)
    return out


@pytest.fixture(scope="module")
def triaged(county):
    from workbench.workspace import load_folder

    ws = load_folder(county, progress=False)
    suspects = ws.tables["suspects"]
    assert len(suspects) >= 60
    return ws, triage(suspects, ws)


@pytest.fixture(scope="module")
def scored(county, triaged):
    _, out = triaged
    key = pd.read_csv(county / "suspects_key.csv", dtype=str, encoding="utf-8-sig", keep_default_na=False)
    key["seq"] = key["seq"].astype(int)
    got = out.assign(seq=out["seq"].astype(int))
    key = key[["seq", "cause", "correct_id", "correct_value"]].rename(columns={"cause": "cause_key"})
    m = key.merge(got, on="seq", validate="one_to_one")
    assert len(m) == len(key) == len(out)
    m["right"] = [_right(r) for r in m.to_dict("records")]
    return m


def _same(a, b) -> bool:
    return isinstance(a, str) and isinstance(b, str) and a == b


def _right(r: dict) -> bool:
    cause = r["cause_key"]
    if cause == "not_found":
        return _same(r["likely_result"], NOT_FOUND)
    if cause == "不属实":
        return _same(r["likely_result"], "不属实")
    ok = _same(r["likely_result"], "属实")
    if r["correct_id"]:
        ok = ok and _same(r["suggested_id"], r["correct_id"])
    if r["correct_value"]:
        ok = ok and _same(r["suggested_value"], r["correct_value"])
    return ok


def test_every_item_is_matched_or_explicitly_not_found(triaged, scored):
    _, out = triaged
    assert set(out["match"]) <= {"身份证号", "关联候选", NOT_FOUND}
    assert out["likely_result"].notna().all() and out["suggestion"].notna().all()
    assert ((out["match"] == NOT_FOUND) == (out["likely_result"] == NOT_FOUND)).all()
    ghosts = scored[scored["cause_key"] == "not_found"]
    assert len(ghosts) and (ghosts["match"] == NOT_FOUND).all()
    assert out["local_says"].notna().all() and out["responsible_town"].notna().all()


def test_suggested_corrections_right_for_injected_causes(scored):
    injected = scored[~scored["cause_key"].isin(["not_found", "不属实"])]
    rate = injected["right"].mean()
    by_cause = injected.groupby("cause_key")["right"].agg(["sum", "count"])
    print(f"\n注入问题建议正确率 {rate:.1%}（{int(injected['right'].sum())}/{len(injected)}）\n{by_cause}")
    assert rate >= 0.95
    ids = injected[injected["correct_id"] != ""]
    assert len(ids) and ids["suggestion"].str.contains("建议核对为").mean() >= 0.9


def test_false_alarms_are_answered_not_true(scored):
    false = scored[scored["cause_key"] == "不属实"]
    assert len(false) and false["right"].all()


def test_import_export_round_trip_on_the_sample(county, triaged, tmp_path):
    _, out = triaged
    ledger = Ledger(tmp_path / "followup.sqlite")
    res = ledger.import_list(out, actor="样例")
    assert (res["outcome"] == "新增").all() and len(ledger.items()) == len(out)
    again = ledger.import_list(out, actor="样例")
    assert (again["outcome"] == "已导入").all() and len(ledger.events()) == len(out)
    target = tmp_path / "反馈表.xlsx"
    table = ledger.export_response(target)
    ws = openpyxl.load_workbook(target).active
    header = [c.value for c in ws[1]]
    assert ws.max_row - 1 == len(out) == len(table)
    col = header.index("身份证号") + 1
    ids = [ws.cell(row=r, column=col).value for r in range(2, ws.max_row + 1)]
    assert all(isinstance(v, str) for v in ids if v is not None)
    assert sorted(v for v in ids if v) == sorted(out["id_number"].dropna())
    assert header[-9:] == ["核查结果", "原因说明", "整改情况", "是否整改到位", "整改时间", "佐证材料", "责任单位", "核查人",
                           "核查时间"]
    unit = header.index("责任单位") + 1
    assert all(ws.cell(row=r, column=unit).value for r in range(2, ws.max_row + 1))  # triage's responsible unit


def test_command_line_import_with_local_data(county, tmp_path, capsys):
    lists = sorted((county / "疑似问题").glob("*.xls*"))
    assert lists
    parser = argparse.ArgumentParser()
    followup.add_arguments(parser)
    db = str(tmp_path / "cli.sqlite")
    assert followup.run(parser.parse_args(["import", str(lists[0]), "--data", str(county), "--db", db])) == 0
    out = capsys.readouterr().out
    assert "本地比对" in out and "预判结果" in out and "新增" in out
    items = Ledger(db).items()
    assert len(items) >= 60
    assert items["payload"].map(lambda p: bool(p.get("suggestion"))).all()
