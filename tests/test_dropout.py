"""控辍保学: school-age children, not_enrolled / exception_unverified, village verdicts and rollups."""

from __future__ import annotations

import pandas as pd
import pytest

from test_reconcile import ROS, FakeWorkspace, P, county, frame, ros
from workbench import dropout


@pytest.fixture()
def ws():
    return FakeWorkspace(county())


def test_school_age_children_statuses(ws):
    kids = dropout.school_age_children(ws).set_index("person_id")
    # the adult is not school-age; the typo student counts as enrolled through the confident link
    assert P["zhou"] not in kids.index
    assert kids.loc[P["zhang"], "status"] == "在校" and bool(kids.loc[P["zhang"], "enrolled"])
    assert kids.loc[P["zhao"], "status"] == "疑似失学"
    assert kids.loc[P["qian"], "status"] == "台账：县外就读"
    assert kids.loc[P["sun"], "status"] == "台账：辍学"


def test_school_age_bounds_follow_the_8_31_rule():
    t = county()
    edge = frame([
        ros("zhou", "早一", "男", "2013-08-31", "学前教育", "学前"),   # turns 6 by 31 August 2019: school age
    ], ROS)
    edge["id_number"] = "61092820130831001" + "X"
    from test_reconcile import make_id
    edge["id_number"] = make_id("61092820130831001")
    late = edge.copy()
    late["id_number"] = make_id("61092820130901001")
    late["birth_date"] = pd.Timestamp("2013-09-01")
    t["roster"] = pd.concat([t["roster"], edge, late], ignore_index=True)
    kids = dropout.school_age_children(FakeWorkspace(t))
    assert edge["id_number"].iloc[0] in set(kids["person_id"])
    assert late["id_number"].iloc[0] not in set(kids["person_id"])


def test_findings_kinds(ws):
    f = dropout.findings(ws)
    assert sorted(zip(f["kind"], f["id_number"])) == sorted(
        [("exception_unverified", P["qian"]), ("not_enrolled", P["zhao"])])
    row = f[f["kind"] == "not_enrolled"].iloc[0]
    assert row["village"] == "红岩村" and row["town"] == "蜀河镇" and row["label"] == "适龄未入学（疑似辍学）"


def test_evidence_variants_count_as_missing():
    t = county()
    led = t["ledger"].copy()
    for value in ["暂无", " - ", None, "无佐证", "\u3000", "\u3000无\u3000"]:   # full-width spaces are spaces
        led.loc[0, "evidence"] = value
        t2 = dict(t, ledger=led.copy())
        f = dropout.findings(FakeWorkspace(t2))
        assert P["qian"] in set(f.loc[f["kind"] == "exception_unverified", "id_number"]), value
    led.loc[0, "evidence"] = "就读证明"
    f = dropout.findings(FakeWorkspace(dict(t, ledger=led)))
    assert "exception_unverified" not in set(f["kind"])


def test_village_verdict_lists_blocking_children(ws):
    v = dropout.village_verdicts(ws)
    row = v.set_index(["town", "village"]).loc[("蜀河镇", "红岩村")]
    assert row["verdict"] == "未达标"
    assert set(row["blocking_ids"].split("、")) == {P["zhao"], P["sun"]}
    assert row["school_age_children"] == 5 and row["enrolled_in_county"] == 2
    assert row["县外就读"] == 1 and row["辍学"] == 1 and row["suspected_out_of_school"] == 1


def test_health_exceptions_do_not_block():
    t = county()
    # the missing child is on the ledger for 送教上门; the 辍学 child has been brought back (已劝返)
    led = t["ledger"].copy()
    extra = led.iloc[[0]].copy()
    extra["id_number"] = P["zhao"]
    extra["name"] = "赵兰"
    extra["reason"] = "送教上门"
    extra["evidence"] = "送教记录"
    led = pd.concat([led, extra], ignore_index=True)
    led.loc[led["name"] == "孙八", "dropout_status"] = "已劝返"
    v = dropout.village_verdicts(FakeWorkspace(dict(t, ledger=led)))
    row = v.iloc[0]
    assert row["verdict"] == "达标" and pd.isna(row["blocking_ids"])
    assert row["送教上门"] == 1


def test_rollups(ws):
    town = dropout.town_rollup(ws)
    assert town.loc[0, "villages_failed"] == 1 and town.loc[0, "verdict"] == "未达标"
    county_row = dropout.county_rollup(ws).iloc[0]
    assert county_row["towns"] == 1 and county_row["school_age_children"] == 5 and county_row["verdict"] == "未达标"
