"""The one date parser: every export format, Excel serials, objects; unparseable -> NaT."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workbench.dates import parse_dates, parse_dates_flagged, parse_year_month

D = pd.Timestamp("2010-01-02")


@pytest.mark.parametrize("value", ["20100102", "2010-01-02", "2010-1-2", "2010/1/2", "2010/01/02", "2010.1.2",
                                   "2010年1月2日", "2010 年 1 月 2 日", "２０１００１０２", "2010-01-02 00:00:00",
                                   "2010-01-02T08:30", " 20100102 ", "'20100102", 40180, 40180.75, "40180",
                                   20100102, dt.date(2010, 1, 2), dt.datetime(2010, 1, 2, 13, 5),
                                   np.datetime64("2010-01-02")])
def test_every_format_parses_to_the_same_day(value):
    assert parse_dates([value]).tolist() == [D]


@pytest.mark.parametrize("value", ["201001", "2010-01", "2010-1", "2010年1月", "2010/01"])
def test_year_month_is_first_day_and_flagged(value):
    d, ym = parse_dates_flagged([value])
    assert d.tolist() == [pd.Timestamp("2010-01-01")] and ym.tolist() == [True]


@pytest.mark.parametrize("value", [None, np.nan, "", "  ", "abc", "2010-02-30", "20101301", "2010", "20100100",
                                   "201013", "12", 1e12, "2010-01-02-03"])
def test_unparseable_is_nat(value):
    assert pd.isna(parse_dates([value]).iloc[0])


def test_result_dtype_and_index_kept():
    s = pd.Series(["20100102", None, "2010/1/3"], index=[5, 7, 9], dtype="string")
    out = parse_dates(s)
    assert str(out.dtype) == "datetime64[ns]" and out.index.tolist() == [5, 7, 9]
    assert pd.isna(out.loc[7]) and out.loc[9] == pd.Timestamp("2010-01-03")


def test_datetime_series_passes_through_normalised():
    s = pd.Series(pd.to_datetime(["2010-01-02 13:00", None]))
    assert parse_dates(s).tolist()[0] == D


def test_parse_year_month_text():
    out = parse_year_month(pd.Series(["201909", "2019-9", "2019年9月", "20190901", "43709", None, "x"]))
    assert out.tolist()[:5] == ["2019-09"] * 5
    assert pd.isna(out.iloc[5]) and pd.isna(out.iloc[6]) and str(out.dtype) == "string"


def test_excel_serial_range_is_plausible_only():
    assert pd.isna(parse_dates(["2999"]).iloc[0])          # a bare number below the range
    assert parse_dates(["3000"]).iloc[0] == pd.Timestamp("1908-03-18")


@settings(max_examples=200, deadline=None)
@given(st.dates(min_value=dt.date(1920, 1, 1), max_value=dt.date(2099, 12, 31)))
def test_roundtrip_every_text_format(d):
    ts = pd.Timestamp(d)
    texts = [d.strftime("%Y%m%d"), d.isoformat(), f"{d.year}/{d.month}/{d.day}", f"{d.year}.{d.month}.{d.day}",
             f"{d.year}年{d.month}月{d.day}日", str((d - dt.date(1899, 12, 30)).days)]
    assert parse_dates(texts).tolist() == [ts] * len(texts)


def test_large_column_vectorised():
    s = pd.Series(["20100102", "2011-3-4", None] * 20000, dtype="string")
    out = parse_dates(s)
    assert out.notna().sum() == 40000 and out.iloc[1] == pd.Timestamp("2011-03-04")
