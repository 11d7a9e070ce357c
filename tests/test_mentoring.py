"""workbench.mentoring: pairs, calendar weeks and months, the four mentoring findings, compliance, timeline."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from mentoring_fixtures import (
    ACT_COLS,
    AS_OF,
    PAIR_COLS,
    REGISTRY_COLS,
    SCHOOL_A,
    SCHOOL_B,
    act,
    frame,
    full_logs,
    make_id,
    pair,
    student,
    workspace,
)
from workbench import mentoring, terms_calendar
from workbench.workspace import load_folder, load_parquet_folder

A, B, C, D, E = (make_id(f"2010010{i}", 20 + i) for i in range(1, 6))


def build(registry, pairs=(), acts=(), as_of=AS_OF, **extra):
    tables = {
        "registry": frame(list(registry), REGISTRY_COLS),
        "pairs": frame(list(pairs), PAIR_COLS, dates=("start_date", "end_date")),
        "activities": frame(list(acts), ACT_COLS, dates=("date",)),
        **extra,
    }
    return workspace(tables, as_of)


def kinds(ws, kind):
    f = mentoring.findings(ws)
    return f[f["kind"] == kind]


# ------------------------------------------------------------------------------------------------ calendar


def test_school_weeks_skip_national_day_and_stop_at_complete_weeks():
    w = terms_calendar.school_weeks("2019秋", AS_OF)
    assert w["week"].iloc[0] == "2019-W36" and w["week"].iloc[-1] == "2019-W47"
    assert "2019-W40" not in set(w["week"]) and len(w) == 11
    assert w["monday"].iloc[0] == pd.Timestamp("2019-09-02") and w["sunday"].iloc[0] == pd.Timestamp("2019-09-08")
    # a week is complete on its Sunday
    assert terms_calendar.school_weeks("2019秋", dt.date(2019, 12, 1))["week"].iloc[-1] == "2019-W48"
    every = terms_calendar.school_weeks("2019秋")
    assert every["week"].iloc[-1] == "2020-W02" and len(every) == 18  # Mondays 09-02 .. 2020-01-06, minus W40


def test_visit_months_complete_on_last_day():
    m = terms_calendar.visit_months("2019秋", AS_OF)
    assert list(m["month"]) == ["2019-09", "2019-10", "2019-11"]
    assert m["first_day"].iloc[0] == pd.Timestamp("2019-09-02")  # the term start inside September
    assert list(terms_calendar.visit_months("2019秋", dt.date(2019, 11, 29))["month"]) == ["2019-09", "2019-10"]
    assert terms_calendar.term_for(dt.date(2019, 8, 15)) == "2019春"  # summer holiday: the term just ended
    assert terms_calendar.term_for(AS_OF, "2019秋") == "2019秋"
    assert terms_calendar.term_for(dt.date(2020, 10, 9), "2020秋") is None  # not in the calendar: nothing to check


def test_term_missing_from_calendar_checks_no_weeks():
    ws = build([student("甲", A, term="2020秋", left_behind="双亲留守")], [pair("赵老师", "甲", A)], [],
               as_of=dt.date(2020, 10, 31))
    ws.term = "2020秋"
    with pytest.warns(UserWarning, match="校历"):
        f = mentoring.findings(ws)
    assert f.empty


# ------------------------------------------------------------------------------------------------ findings


def test_complete_logs_give_no_findings():
    ws = build([student("甲", A, left_behind="双亲留守")], [pair("赵老师", "甲", A)], full_logs("赵老师", "甲", A))
    assert mentoring.findings(ws).empty


def test_week_boundaries_sunday_counts_next_monday_does_not():
    logs = [r for r in full_logs("赵老师", "甲", A) if r["date"] not in ("2019-09-18", "2019-09-25")]
    logs.append(act("赵老师", "甲", A, "帮扶记录", "2019-09-22"))   # Sunday of W38: covers W38
    logs.append(act("赵老师", "甲", A, "帮扶记录", "2019-09-30"))   # Monday of W40 (holiday): not W39
    ws = build([student("甲", A, left_behind="单亲留守")], [pair("赵老师", "甲", A)], logs)
    gaps = kinds(ws, "weekly_record_gap")
    assert list(gaps["period"]) == ["2019-W39"]
    assert gaps["id_number"].iloc[0] == A and "9月23日" in gaps["detail"].iloc[0]
    assert set(mentoring.findings(ws)["kind"]) == {"weekly_record_gap"}


def test_holiday_week_and_incomplete_week_are_not_expected():
    logs = [r for r in full_logs("赵老师", "甲", A)]
    ws = build([student("甲", A, left_behind="单亲留守")], [pair("赵老师", "甲", A)], logs,
               as_of=dt.date(2019, 12, 7))  # Saturday: W49 incomplete, W48 complete and empty
    gaps = kinds(ws, "weekly_record_gap")
    assert list(gaps["period"]) == ["2019-W48"]  # never W40 (国庆) nor W49
    assert kinds(ws, "home_visit_gap").empty     # December not complete yet


def test_home_visit_gap_one_per_month():
    logs = full_logs("赵老师", "甲", A, skip_months=("2019-09", "2019-11"))
    ws = build([student("甲", A, migrant=True)], [pair("赵老师", "甲", A)], logs)
    gaps = kinds(ws, "home_visit_gap")
    assert list(gaps["period"]) == ["2019-09", "2019-11"]
    assert gaps["label"].iloc[0] == "月家访缺失" and gaps["systems"].iloc[0] == "pairs,activities"


def test_pair_starting_mid_term_counts_from_its_start():
    # starts Wednesday 16 October: W43 (Monday 21 Oct) is the first week, November the first month
    ws = build([student("甲", A, left_behind="单亲留守")], [pair("赵老师", "甲", A, start="2019-10-16")], [])
    weeks = kinds(ws, "weekly_record_gap")["period"].tolist()
    assert weeks == ["2019-W43", "2019-W44", "2019-W45", "2019-W46", "2019-W47"]
    assert kinds(ws, "home_visit_gap")["period"].tolist() == ["2019-11"]
    # starting on the Monday itself counts that week; on the first of the month counts that month
    ws2 = build([student("甲", A, left_behind="单亲留守")], [pair("赵老师", "甲", A, start="2019-11-18")], [])
    assert kinds(ws2, "weekly_record_gap")["period"].tolist() == ["2019-W47"]
    assert kinds(ws2, "home_visit_gap").empty
    ws3 = build([student("甲", A, left_behind="单亲留守")], [pair("赵老师", "甲", A, start="2019-11-01")], [])
    assert kinds(ws3, "home_visit_gap")["period"].tolist() == ["2019-11"]


def test_gaps_only_for_group_students_with_a_pair():
    ws = build(
        [student("甲", A), student("乙", B, left_behind="双亲留守")],
        [pair("赵老师", "甲", A)],          # 甲 is in no group: no gaps even without logs
        [],
    )
    f = mentoring.findings(ws)
    assert set(f["kind"]) == {"mentor_missing"} and f["id_number"].tolist() == [B]
    assert f["label"].iloc[0] == "未结对帮扶" and "留守" in f["detail"].iloc[0]


def test_records_of_any_mentor_count_for_the_student():
    logs = full_logs("赵老师", "甲", A, skip_weeks=("2019-10-14",)) + [act("钱老师", "甲", A, "周记录", "2019-10-15")]
    ws = build([student("甲", A, left_behind="双亲留守")], [pair("赵老师", "甲", A), pair("钱老师", "甲", A)], logs)
    assert mentoring.findings(ws).empty


def test_stale_pair_by_teacher_school():
    ws = build(
        [student("甲", A, left_behind="双亲留守"), student("乙", B, left_behind="双亲留守")],
        [pair("赵老师", "甲", A, teacher_school=SCHOOL_B),                  # teacher moved to another school
         pair("钱老师", "乙", B, teacher_school=" 蜀河镇中心小学")],          # same school without the county
        full_logs("赵老师", "甲", A) + full_logs("钱老师", "乙", B),
    )
    f = mentoring.findings(ws)
    assert f["kind"].tolist() == ["pair_stale"] and f["id_number"].tolist() == [A]
    assert SCHOOL_B in f["detail"].iloc[0] and f["school"].iloc[0] == SCHOOL_A


def test_student_enrolled_in_no_school():
    # 乙 left (转出), 丙 is in no registry at all: both pairs are stale, neither is mentor_missing nor gaps
    roster = frame([{"name": "丙", "id_number": C, "id_valid": True}], ["name", "id_number", "id_valid"])
    ws = build(
        [student("甲", A, left_behind="双亲留守"), student("乙", B, left_behind="双亲留守", status="转出")],
        [pair("赵老师", "甲", A), pair("赵老师", "乙", B), pair("赵老师", "丙", C)],
        full_logs("赵老师", "甲", A),
        roster=roster,
    )
    f = mentoring.findings(ws)
    assert f["kind"].tolist() == ["pair_stale", "pair_stale"]
    assert sorted(f["id_number"]) == sorted([B, C])
    assert all("无在读记录" in d for d in f["detail"])


def test_mentor_missing_and_ended_pair():
    ws = build(
        [student("甲", A, disability="视力残疾"), student("乙", B, left_behind="双亲留守")],
        [pair("赵老师", "乙", B, end="2019-10-31")],   # ended before as_of: no mentor now
        full_logs("赵老师", "乙", B),
    )
    f = mentoring.findings(ws)
    assert sorted(f[f["kind"] == "mentor_missing"]["id_number"]) == sorted([A, B])
    why = f.set_index("id_number")["detail"]
    assert "名单中无该生" in why[A] and "结对已结束" in why[B]
    # weeks while the pair existed are still checked, and complete
    assert f[f["kind"] == "weekly_record_gap"].empty


def test_activity_without_id_is_matched_by_name_and_school():
    logs = [dict(r, id_number=None, id_valid=None) for r in full_logs("赵老师", "甲", A)]
    ws = build([student("甲", A, left_behind="双亲留守")], [pair("赵老师", "甲", A)], logs)
    assert mentoring.findings(ws).empty


def test_pair_without_id_is_matched_by_name_and_school():
    ws = build([student("甲", A, left_behind="双亲留守")],
               [dict(pair("赵老师", "甲", None), id_valid=None)], full_logs("赵老师", "甲", A))
    assert mentoring.findings(ws).empty


def test_activity_aliases_are_data():
    s = mentoring.canonical_activity(pd.Series(["纪实手册记录", "入户走访", "心理辅导", " 家访 ", "开会", None],
                                               dtype="string"))
    assert s.tolist()[:4] == ["帮扶记录", "家访", "心理疏导", "家访"] and s.isna().tolist()[4:] == [True, True]


# ------------------------------------------------------------------------------------------------ shapes, rates


def test_pair_shapes():
    ws = build(
        [student("甲", A, left_behind="双亲留守"), student("乙", B, left_behind="双亲留守"),
         student("丙", C, left_behind="双亲留守"), student("丁", D, left_behind="双亲留守")],
        [pair("赵老师", "甲", A), pair("赵老师", "乙", B),      # 一对多
         pair("钱老师", "丙", C), pair("孙老师", "丙", C),      # 多对一
         pair("李老师", "丁", D)],                               # 一对一
    )
    p = mentoring.pairs(ws).set_index(["teacher_name", "student_name"])
    assert p.loc[("赵老师", "甲"), "shape"] == "一对多" and p.loc[("赵老师", "甲"), "teacher_students"] == 2
    assert p.loc[("钱老师", "丙"), "shape"] == "多对一" and p.loc[("孙老师", "丙"), "student_teachers"] == 2
    assert p.loc[("钱老师", "丙"), "teacher_shape"] == "一对一"
    assert p.loc[("李老师", "丁"), "shape"] == "一对一"
    s = mentoring.shape_counts(ws).set_index("shape")
    assert s.loc["一对多", "pairs"] == 2 and s.loc["多对一", "students"] == 1 and s.loc["一对一", "teachers"] == 1


def test_compliance_expected_vs_present():
    ws = build(
        [student("甲", A, left_behind="双亲留守"), student("乙", B, school=SCHOOL_B, left_behind="双亲留守"),
         student("丙", C, school=SCHOOL_B, migrant=True)],
        [pair("赵老师", "甲", A), pair("钱老师", "乙", B, school=SCHOOL_B)],
        full_logs("赵老师", "甲", A, skip_weeks=("2019-09-02", "2019-09-09"))
        + full_logs("钱老师", "乙", B, school=SCHOOL_B, skip_months=("2019-10",)),
    )
    c = mentoring.compliance(ws, "school").set_index("school")
    assert c.loc[SCHOOL_A, "weekly_expected"] == 11 and c.loc[SCHOOL_A, "weekly_present"] == 9
    assert c.loc[SCHOOL_B, "monthly_expected"] == 3 and c.loc[SCHOOL_B, "monthly_present"] == 2
    assert c.loc[SCHOOL_B, "group_students"] == 2 and c.loc[SCHOOL_B, "paired_students"] == 1
    assert c.loc[SCHOOL_B, "mentor_rate"] == pytest.approx(0.5)
    assert c.loc[SCHOOL_A, "weekly_rate"] == pytest.approx(9 / 11)
    t = mentoring.compliance(ws, "town").set_index("town")
    assert t.loc["双河镇", "rate"] == pytest.approx(13 / 14)
    w = mentoring.compliance(ws, "week").set_index("week")
    assert w.loc["2019-W36", "weekly_expected"] == 2 and w.loc["2019-W37", "weekly_present"] == 1
    m = mentoring.compliance(ws, "month").set_index("month")
    assert m.loc["2019-10", "monthly_rate"] == pytest.approx(0.5)
    te = mentoring.compliance(ws, "teacher").set_index("teacher_name")
    assert te.loc["钱老师", "monthly_present"] == 2 and te.loc["赵老师", "weekly_expected"] == 11
    weak = mentoring.weakest(ws, "school", n=1)
    assert weak["school"].tolist() == [SCHOOL_A]  # 12/14 < 13/14
    assert mentoring.weakest(ws, "teacher", n=5)["teacher_name"].tolist() == ["赵老师", "钱老师"]
    with pytest.raises(ValueError, match="level"):
        mentoring.compliance(ws, "county")


def test_teacher_compliance_counts_a_cell_once_when_pairs_repeat():
    # 赵老师 is listed twice with 甲 (overlapping periods) and once with 乙 (from November): 甲's weeks count once
    ws = build(
        [student("甲", A, left_behind="双亲留守"), student("乙", B, left_behind="单亲留守")],
        [pair("赵老师", "甲", A, end="2019-10-31"), pair("赵老师", "甲", A, start="2019-10-01"),
         pair("赵老师", "乙", B, start="2019-11-01")],
        full_logs("赵老师", "甲", A, skip_weeks=("2019-09-02",)),
    )
    te = mentoring.compliance(ws, "teacher").set_index("teacher_name")
    assert te.loc["赵老师", "weekly_expected"] == 11 + 3 and te.loc["赵老师", "weekly_present"] == 10
    assert te.loc["赵老师", "weekly_students"] == 2
    school = mentoring.compliance(ws, "school").set_index("school").loc[SCHOOL_A]
    for which in ("weekly", "monthly"):  # the only mentor: the teacher's cells are the school's cells
        for c in ("students", "expected", "present"):
            assert te.loc["赵老师", f"{which}_{c}"] == school[f"{which}_{c}"]


def test_timeline_lists_pairs_records_gaps_and_groups():
    ws = build([student("甲", A, left_behind="双亲留守")], [pair("赵老师", "甲", A, start="2019-11-12")],
               [act("赵老师", "甲", A, "家访", "2019-11-13")])
    t = mentoring.timeline(ws, A)
    assert t["event"].tolist() == ["五类特殊群体", "结对", "家访", "周帮扶记录缺失"]
    assert t["detail"].iloc[0].startswith("留守") and t["date"].iloc[1] == pd.Timestamp("2019-11-12")
    assert mentoring.timeline(ws, E).empty


# ------------------------------------------------------------------------------------------------ answer key

MENTORING_KINDS = ["mentor_missing", "weekly_record_gap", "home_visit_gap", "pair_stale"]
ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "data" / "samples"


def _grain(frame: pd.DataFrame) -> set[tuple]:
    cols = ["kind", "id_number", "item", "period"]
    f = frame.reindex(columns=cols).astype("string").fillna("")
    return set(map(tuple, f.to_numpy().tolist()))


def _compare(found: pd.DataFrame, key: pd.DataFrame) -> None:
    """100 % precision and recall per kind on (kind, id_number, item, period)."""
    for kind in MENTORING_KINDS:
        want = _grain(key[key["kind"] == kind])
        got = _grain(found[found["kind"] == kind])
        assert want, f"answer key has no {kind}"
        assert got == want, (f"{kind}: missed {sorted(want - got)[:5]} ({len(want - got)}), "
                             f"extra {sorted(got - want)[:5]} ({len(got - want)})")


def _answer_key(folder: Path) -> pd.DataFrame:
    return pd.read_csv(folder / "answer_key.csv", dtype=str, keep_default_na=False, encoding="utf-8-sig")


def test_sample_county_matches_answer_key():
    ws = load_folder(SAMPLES, progress=False)
    _compare(mentoring.findings(ws), _answer_key(SAMPLES))


@pytest.fixture(scope="module")
def county_60k(county_60k_parquet):
    """The shared generated county (tests/conftest.py) with its answer key."""
    return load_parquet_folder(county_60k_parquet), _answer_key(county_60k_parquet)


@pytest.mark.slow
def test_generated_60k_county_matches_answer_key(county_60k):
    ws, key = county_60k
    _compare(mentoring.findings(ws), key)
    # coverage agrees with the findings: every missing cell is one gap finding
    grid = mentoring.coverage_grid(ws)
    assert int((~grid["weekly"]["present"]).sum()) == int((key["kind"] == "weekly_record_gap").sum())
    assert int((~grid["monthly"]["present"]).sum()) == int((key["kind"] == "home_visit_gap").sum())
    if len(ws.tables["registry"]) > 100_000:  # the full-size county: one term of logs is > 500,000 rows
        assert len(grid["weekly"]) > 100_000 and len(ws.tables["activities"]) >= 500_000


# ------------------------------------------------------------------------------------------------ real export formats


def _write_xlsx(path: Path, title: str | None, header: list[str], rows: list[list], sheet: str = "Sheet1") -> None:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = sheet
    if title:
        ws.append([title])
    ws.append(header)
    for r in rows:
        ws.append([str(v) if v is not None else None for v in r])
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)


def test_exports_in_domain_formats_end_to_end(tmp_path):
    """Pairs and logs keyed by 学生身份证件号 and names, as schools export them (a 家访 sheet without 活动类型,
    a log row without ID, a pair listing the school without the county name), read by the loader."""
    school = SCHOOL_A
    people = [("王小明", A, "双亲留守"), ("李小红", B, "单亲留守"), ("张小刚", C, "非留守"), ("赵小丽", D, "单亲留守")]
    _write_xlsx(tmp_path / "学籍" / "蜀河镇学籍_2019年秋季学期.xlsx", "旬阳县2019年秋季学期学生学籍信息",
                ["学校名称", "姓名", "性别", "出生日期", "身份证件类型", "身份证件号", "年级", "班级", "是否留守儿童",
                 "学籍状态"],
                [[school, n, "男", i[6:14], "居民身份证", i, "小学2016级", "1班", lb + "儿童" if lb != "非留守" else
                  "非留守儿童", "在读"] for n, i, lb in people])
    _write_xlsx(tmp_path / "结对帮扶" / "师生结对帮扶名单.xlsx", "蜀河镇中心小学师生结对帮扶名单",
                ["学校", "教师姓名", "教师所在学校", "学生姓名", "学生身份证件号", "帮扶类别", "结对日期"],
                [["蜀河镇中心小学", "周老师", "蜀河镇中心小学", "王小明", A, "留守", "2019-09-02"],
                 [school, "周老师", school, "李小红", B, "留守", "2019/9/2"],
                 [school, "吴老师", SCHOOL_B, "赵小丽", D, "留守", "20190902"],      # teacher elsewhere: stale
                 [school, "吴老师", school, "钱小强", E, "留守", "2019年3月4日"]])   # in no registry: stale
    records, visits = [], []
    for name, idn in (("王小明", A), ("李小红", B), ("赵小丽", D)):
        for r in full_logs("周老师", name, idn):
            target = visits if r["activity"] == "入户走访" else records
            target.append(r)
    # 王小明: no record in W44; 李小红: no 家访 in October; a record of 王小明 without ID
    records = [r for r in records if not (r["student_name"] == "王小明" and r["date"] == "2019-10-30")]
    visits = [r for r in visits if not (r["student_name"] == "李小红" and r["date"] == "2019-10-15")]
    for r in records:
        if r["student_name"] == "王小明" and r["date"] == "2019-09-04":
            r["id_number"] = None
    _write_xlsx(tmp_path / "结对帮扶" / "纪实手册帮扶记录.xlsx", None,
                ["学校", "教师姓名", "学生姓名", "学生身份证件号", "活动类型", "活动日期", "活动内容"],
                [[r["school_name"], r["teacher_name"], r["student_name"], r["id_number"], "纪实手册记录",
                  r["date"].replace("-", ""), "谈心"] for r in records])
    _write_xlsx(tmp_path / "结对帮扶" / "家访记录表.xlsx", "2019年秋季学期家访记录",
                ["学校", "教师姓名", "学生姓名", "学生身份证件号", "家访日期", "家访内容"],
                [[r["school_name"], r["teacher_name"], r["student_name"], r["id_number"], r["date"], "了解家庭情况"]
                 for r in visits], sheet="家访")
    ws = load_folder(tmp_path, as_of=AS_OF, progress=False, cache=False)
    f = mentoring.findings(ws)
    got = sorted(zip(f["kind"], f["id_number"], f["period"].fillna("")))
    assert got == sorted([
        ("weekly_record_gap", A, "2019-W44"),
        ("home_visit_gap", B, "2019-10"),
        ("pair_stale", D, ""),
        ("pair_stale", E, ""),
    ]), f[["kind", "id_number", "period", "detail"]].to_string()
    shapes = mentoring.pairs(ws).set_index("student_name")["shape"]
    assert shapes["王小明"] == "一对多" and shapes["钱小强"] == "一对一"  # 吴老师 of two schools: two teachers


def test_several_teachers_in_one_cell_are_several_pairs():
    ws = build([student("甲", A, left_behind="双亲留守"), student("乙", B, left_behind="双亲留守")],
               [pair("赵老师、钱老师", "甲", A), pair("孙老师", "乙", B)], full_logs("赵老师", "甲", A))
    p = mentoring.pairs(ws)
    assert sorted(p[p["student_name"] == "甲"]["teacher_name"]) == ["赵老师", "钱老师"]
    assert set(p[p["student_name"] == "甲"]["shape"]) == {"多对一"} and len(p) == 3


def test_pair_list_abbreviating_the_school_name_is_not_stale():
    short = "蜀河中心小学"  # how the school writes itself; the registry says 旬阳县蜀河镇中心小学
    ws = build(
        [student("甲", A, left_behind="双亲留守"), student("乙", B, left_behind="双亲留守"),
         student("丙", C, left_behind="双亲留守")],
        [pair("赵老师", "甲", A, school=short, teacher_school=short),
         pair("赵老师", "乙", B, school=short),
         pair("钱老师", "丙", C, school=short, teacher_school=SCHOOL_B)],   # teacher really elsewhere
        full_logs("赵老师", "甲", A) + full_logs("赵老师", "乙", B) + full_logs("钱老师", "丙", C),
    )
    f = mentoring.findings(ws)
    assert f["kind"].tolist() == ["pair_stale"] and f["id_number"].tolist() == [C]
