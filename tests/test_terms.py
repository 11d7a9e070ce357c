"""Terms, school years, grades from CNEMIS and school-made labels, roster school status, school-age bounds."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from workbench.terms import (
    grade_from_label,
    next_term,
    parse_term_text,
    previous_term,
    roster_school_status,
    school_age_bounds,
    school_year,
    term_of,
    term_school_year,
    term_sort_key,
    term_start,
)


@pytest.mark.parametrize("d,term,year", [
    (dt.date(2019, 11, 30), "2019秋", 2019), (dt.date(2020, 1, 10), "2019秋", 2019),
    (dt.date(2019, 9, 1), "2019秋", 2019), (dt.date(2019, 8, 31), "2019春", 2018),
    (dt.date(2019, 2, 1), "2019春", 2018), (dt.date(2020, 3, 1), "2020春", 2019),
])
def test_term_and_school_year_of_a_date(d, term, year):
    assert term_of(d) == term and school_year(d) == year


def test_term_of_series():
    s = pd.Series(pd.to_datetime(["2019-11-30", "2019-03-01", None]))
    out = term_of(s)
    assert out.tolist()[:2] == ["2019秋", "2019春"] and pd.isna(out.iloc[2])


def test_term_arithmetic():
    assert previous_term("2019秋") == "2019春" and previous_term("2019春") == "2018秋"
    assert next_term("2019春") == "2019秋" and next_term("2019秋") == "2020春"
    assert term_school_year("2019春") == 2018 and term_school_year("2019秋") == 2019
    assert term_start("2019秋") == dt.date(2019, 9, 1)
    assert sorted(["2019秋", "2018秋", "2019春"], key=term_sort_key) == ["2018秋", "2019春", "2019秋"]
    with pytest.raises(ValueError):
        term_school_year("秋季")


@pytest.mark.parametrize("text,term", [
    ("2019年秋季", "2019秋"), ("旬阳县2019年秋季学期学生学籍信息", "2019秋"), ("2019-2020学年第一学期", "2019秋"),
    ("2019秋", "2019秋"), ("2019年春季学期", "2019春"), ("2018-2019学年第二学期", "2019春"),
    ("2019—2020学年度第二学期资助名单", "2020春"), ("资助发放2019年秋季学期.xlsx", "2019秋"),
    ("2019－2020学年上学期", "2019秋"), ("2019-2020学年", "2019秋"), ("学生名单", None), (None, None),
])
def test_parse_term_text(text, term):
    assert parse_term_text(text) == term


def test_grade_from_cnemis_labels_depends_on_term():
    labels = ["小学2016级", "初中2017级", "高中2019级", "中职2019级", "小学2019级", "小学2012级"]
    autumn = grade_from_label(labels, "2019秋")
    assert autumn["stage"].tolist() == ["小学", "初中", "高中", "中职", "小学", "小学"]
    assert autumn["grade"].tolist()[:5] == [4, 3, 1, 1, 1] and pd.isna(autumn["grade"].iloc[5])
    spring = grade_from_label(["小学2016级", "初中2017级"], "2019春")
    assert spring["grade"].tolist() == [3, 2]


@pytest.mark.parametrize("label,stage,grade", [
    ("一年级", "小学", 1), ("六年级", "小学", 6), ("七年级", "初中", 1), ("九年级", "初中", 3), ("初一", "初中", 1),
    ("初三", "初中", 3), ("高一", "高中", 1), ("高中一年级", "高中", 1), ("普通高中二年级", "高中", 2),
    ("初中一年级", "初中", 1), ("三年级(2)班", "小学", 3), ("3年级", "小学", 3), ("中职二年级", "中职", 2),
    ("普高（高中）2018级", "高中", 2),
])
def test_grade_from_school_made_labels(label, stage, grade):
    out = grade_from_label([label], "2019秋")
    assert out["stage"].tolist() == [stage] and out["grade"].tolist() == [grade]


def test_grade_from_label_keeps_index_and_na():
    s = pd.Series(["一年级", None], index=[3, 4])
    out = grade_from_label(s, "2019秋")
    assert out.index.tolist() == [3, 4] and pd.isna(out.loc[4, "stage"]) and str(out["grade"].dtype) == "Int64"


@pytest.mark.parametrize("value,stage,grade", [
    ("非在校生", None, None), ("学前教育", "学前", None), ("小学", "小学", None), ("七年级", "初中", 1),
    ("九年级", "初中", 3), ("高中一年级", "高中", 1), ("普通高中三年级", "高中", 3), ("中职二年级", "中职", 2),
    ("高职一年级", "高职", 1), ("大专及以上", "大专及以上", None), ("本科", "大专及以上", None),
    ("硕士研究生及以上", "大专及以上", None),
])
def test_roster_school_status(value, stage, grade):
    out = roster_school_status([value])
    got_stage = out["stage"].iloc[0]
    got_grade = out["grade"].iloc[0]
    assert (pd.isna(got_stage) if stage is None else got_stage == stage)
    assert (pd.isna(got_grade) if grade is None else got_grade == grade)


def test_school_age_bounds_autumn_2019():
    assert school_age_bounds(dt.date(2019, 11, 30)) == (dt.date(2003, 9, 1), dt.date(2013, 8, 31))
    assert school_age_bounds(dt.date(2019, 5, 1)) == (dt.date(2002, 9, 1), dt.date(2012, 8, 31))
