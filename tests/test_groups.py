"""workbench.groups: five special groups (五类特殊群体) from hand-built canonical frames."""

from __future__ import annotations

import pandas as pd
import pytest

from mentoring_fixtures import (
    REGISTRY_COLS,
    SCHOOL_A,
    SCHOOL_B,
    FakeWorkspace,
    frame,
    make_id,
    student,
    workspace,
)
from workbench import groups

IDS = [make_id(f"2010{m:02d}01", 10 + m) for m in range(1, 12)]
ROSTER_COLS = ["town", "village", "name", "id_number", "id_valid"]
AID_COLS = ["school_name", "name", "id_number", "id_valid", "item", "difficulty_type", "term"]
STRUGGLING_COLS = ["school_name", "name", "id_number", "id_valid", "subjects"]


@pytest.fixture
def ws():
    reg = frame([
        student("残一", IDS[0], disability="肢体残疾"),
        student("残二", IDS[1], inclusive="智力残疾随班就读"),
        student("贫一", IDS[2], left_behind="单亲留守"),                     # roster + 留守
        student("贫二", IDS[3], school=SCHOOL_B),                           # aid with 困难类型
        student("普通", IDS[4], school=SCHOOL_B),                           # aid without 困难类型: no group
        student("留二", IDS[5], left_behind="双亲留守", migrant=True),
        student("学一", IDS[6]),                                            # struggling by ID
        student("学二", IDS[7], school=SCHOOL_B),                           # struggling by name + school
        student("转出", IDS[8], status="转出", left_behind="双亲留守"),      # not enrolled
        student("上期", IDS[9], term="2019春", left_behind="双亲留守"),       # another term
        student("两校", IDS[10], left_behind="双亲留守"),
        student("两校", IDS[10], school=SCHOOL_B),                          # enrolled twice: one row
    ], REGISTRY_COLS)
    roster = frame([{"town": "蜀河镇", "village": "红岩村", "name": "贫一", "id_number": IDS[2], "id_valid": True}],
                   ROSTER_COLS)
    aid = frame([
        {"school_name": SCHOOL_B, "name": "贫二", "id_number": IDS[3], "id_valid": True, "item": "x", "difficulty_type": "低保",
             "term": "2019秋"},
        {"school_name": SCHOOL_B, "name": "普通", "id_number": IDS[4], "id_valid": True, "item": "x", "difficulty_type": None,
             "term": "2019秋"},
    ], AID_COLS)
    struggling = frame([
        {"school_name": SCHOOL_A, "name": "学一", "id_number": IDS[6], "id_valid": True, "subjects": "数学"},
        {"school_name": " 双河镇中心小学", "name": "学 二", "id_number": None, "id_valid": None, "subjects": "语文"},
    ], STRUGGLING_COLS)
    return workspace({"registry": reg, "roster": roster, "aid": aid, "struggling": struggling})


def test_memberships_one_row_per_enrolled_student(ws):
    m = groups.memberships(ws)
    assert sorted(m["name"]) == sorted(["残一", "残二", "贫一", "贫二", "普通", "留二", "学一", "学二", "两校"])
    assert m["person_id"].is_unique


def test_groups_follow_the_sources(ws):
    m = groups.memberships(ws).set_index("name")
    assert m.loc["残一", "残疾"] and m.loc["残二", "残疾"]
    assert m.loc["贫一", "贫困"] and m.loc["贫一", "留守"] and m.loc["贫一", "groups"] == "贫困+留守"
    assert m.loc["贫二", "贫困"] and not m.loc["普通", "贫困"]
    assert m.loc["普通", "group_count"] == 0 and m.loc["普通", "groups"] == ""
    assert m.loc["留二", "groups"] == "留守+随迁" and m.loc["留二", "group_count"] == 2
    assert m.loc["学一", "学困"] and m.loc["学二", "学困"]
    assert m.loc["两校", "留守"] and m.loc["两校", "school"] == SCHOOL_B  # first school by name, any row's group
    assert str(m["残疾"].dtype) == "boolean"


def test_counts_by_school_and_grade(ws):
    c = groups.counts(ws, by=("school", "grade"))
    assert list(c.columns[:3]) == ["school", "stage", "grade"]
    a = c[c["school"] == SCHOOL_A].iloc[0]
    assert (a["students"], a["group_students"], a["残疾"], a["留守"], a["学困"], a["随迁"]) == (5, 5, 2, 2, 1, 1)
    total = groups.counts(ws, by=())
    assert int(total["students"].iloc[0]) == 9 and int(total["group_students"].iloc[0]) == 8


def test_combinations_count_each_combination(ws):
    c = groups.combinations(ws).set_index("groups")["students"]
    assert c["贫困+留守"] == 1 and c["留守+随迁"] == 1 and c["残疾"] == 2 and c["学困"] == 2
    assert "" not in c.index


def test_filter_students_any_all_and_place(ws):
    m = groups.memberships(ws)
    any_ = groups.filter_students(m, groups=["贫困", "留守"])
    assert set(any_["name"]) == {"贫一", "贫二", "留二", "两校"}
    all_ = groups.filter_students(m, groups=["贫困", "留守"], mode="all")
    assert list(all_["name"]) == ["贫一"]
    in_b = groups.filter_students(m, school=SCHOOL_B)
    assert set(in_b["name"]) == {"贫二", "学二", "两校"}
    assert set(groups.filter_students(m, grade=[4], town="蜀河镇")["name"]) == {"残一", "残二", "贫一", "留二", "学一"}
    with pytest.raises(ValueError, match="未知的群体"):
        groups.filter_students(m, groups=["孤儿"])


def test_no_registry_gives_empty_memberships():
    m = groups.memberships(FakeWorkspace({}))
    assert m.empty and "贫困" in m.columns


def test_group_names_come_from_rules():
    assert groups.group_names() == ["残疾", "贫困", "留守", "学困", "随迁"]
    assert isinstance(groups.memberships(FakeWorkspace({})), pd.DataFrame)


def test_name_index_keeps_only_names_unique_in_their_school():
    students = pd.DataFrame({
        "student_key": pd.array(["k1", "k2", "k3", "k3", "k4"], dtype="string"),
        "name": pd.array(["张 三", "张三", "李四", "李四", "王五"], dtype="string"),
        "school_norm": pd.array(["甲校", "甲校", "甲校", "乙校", None], dtype="string"),
        "id_linked": [True, True, False, True, True],
    })
    idx = groups.student_name_index(students).set_index(["name_norm", "school_norm"])
    assert ("张三", "甲校") not in idx.index          # two students share the name in 甲校
    assert idx.loc[("李四", "甲校"), "first"] == "k3" and not idx.loc[("李四", "甲校"), "id_linked"]
    assert idx.loc[("李四", "乙校"), "first"] == "k3"
    assert len(idx) == 2                              # 王五 has no school


def test_pair_isin_matches_both_values_and_never_na():
    s = lambda *v: pd.Series(list(v), dtype="string")
    got = groups.pair_isin(s("a", "a", "b", None, "b"), s("x", "y", "x", "x", None),
                           s("a", "b", "b", None), s("x", "x", "x", "x"))
    assert got.tolist() == [True, False, True, False, False]
    assert groups.pair_isin(s(), s(), s("a"), s("x")).tolist() == []
