"""The one date parser (日期解析): every date format the exports use, vectorised over unique values.

Accepted: YYYYMMDD, YYYY-MM-DD, YYYY/M/D, YYYY.M.D, YYYY年M月D日 (with or without a time part), year-month
(YYYYMM, YYYY-MM, YYYY年M月 -> first day of the month), Excel serial numbers (1900 date system, plausible
range only) and date/datetime objects. Anything else becomes NaT; callers decide whether that is a reject.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["EXCEL_EPOCH", "SERIAL_MAX", "SERIAL_MIN", "parse_dates", "parse_year_month"]

EXCEL_EPOCH = pd.Timestamp("1899-12-30")  # 1900 date system (serial 1 = 1900-01-01, after Excel's leap bug)
SERIAL_MIN = 3000   # 1908-03-18: smaller numbers (e.g. a bare year 2019) are not taken for serials
SERIAL_MAX = 73050  # 2099-12-31

_FULLWIDTH = str.maketrans("０１２３４５６７８９／－．：　", "0123456789/-.: ")

def _as_series(values: Iterable | pd.Series) -> pd.Series:
    if isinstance(values, pd.Series):
        return values
    if isinstance(values, pd.Index):
        return pd.Series(values, copy=False)
    return pd.Series(list(values) if not isinstance(values, (list, np.ndarray)) else values, dtype=object)


def _parse_unique(uniq: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Parse unique non-null values; returns (timestamps, is_year_month) indexed like `uniq`."""
    out = pd.Series(pd.NaT, index=uniq.index, dtype="datetime64[ns]")
    ym = pd.Series(False, index=uniq.index)
    if uniq.empty:
        return out, ym
    is_obj = uniq.map(lambda v: isinstance(v, (_dt.date, np.datetime64)))
    if is_obj.any():
        objs = pd.to_datetime(uniq[is_obj].astype(object), errors="coerce")
        out[is_obj] = objs.dt.normalize().astype("datetime64[ns]")
    is_num = uniq.map(lambda v: isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool))
    if is_num.any():
        nums = pd.to_numeric(uniq[is_num], errors="coerce").astype(float)
        # an integer number like 20080101 or 201909 is a date written as digits, not a serial
        as_text = nums.map(lambda v: str(int(v)) if np.isfinite(v) and v == int(v) else str(v))
        parsed, ym_part = _parse_text(as_text)
        out[is_num] = parsed
        ym[is_num] = ym_part
    rest = ~(is_obj | is_num)
    if rest.any():
        parsed, ym_part = _parse_text(uniq[rest].astype(str))
        out[rest] = parsed
        ym[rest] = ym_part
    return out, ym


_DATE_RE = (
    r"^(?P<y>\d{4})(?:(?P<m1>\d{2})(?P<d1>\d{2})?"
    r"|\s*[-/.年]\s*(?P<m2>\d{1,2})\s*(?:[-/.月]\s*(?P<d2>\d{1,2})\s*日?(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?|月)?)$"
)
_SERIAL_RE = r"^\d{4,5}(?:\.\d+)?$"
_DIM = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)


def _digits(parts, name: str) -> np.ndarray:
    """A captured group as int64 (0 when the group is empty)."""
    g = pc.struct_field(parts, name)
    g = pc.if_else(pc.equal(g, ""), "0", g)
    return pc.cast(pc.fill_null(g, "0"), pa.int64()).to_numpy(zero_copy_only=False)


def _present(parts, name: str) -> np.ndarray:
    g = pc.struct_field(parts, name)
    return pc.fill_null(pc.greater(pc.binary_length(g), 0), False).to_numpy(zero_copy_only=False)


def _parse_text(text: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Vectorised (pyarrow regex + numpy) parse of text dates."""
    arr = pa.array(text.tolist(), type=pa.string())
    nonascii = np.flatnonzero(~pc.fill_null(pc.string_is_ascii(arr), True).to_numpy(zero_copy_only=False))
    if len(nonascii):
        vals = arr.to_pylist()
        for i in nonascii:
            vals[i] = vals[i].translate(_FULLWIDTH)
        arr = pa.array(vals, type=pa.string())
    arr = pc.utf8_trim(arr, characters=" '\t")
    n = len(arr)
    result = np.full(n, np.datetime64("NaT"), dtype="datetime64[ns]")
    ym = np.zeros(n, dtype=bool)
    parts = pc.extract_regex(arr, _DATE_RE)
    hit = pc.fill_null(pc.is_valid(parts), False).to_numpy(zero_copy_only=False)
    if hit.any():
        y = _digits(parts, "y")
        m = np.where(_present(parts, "m1"), _digits(parts, "m1"), _digits(parts, "m2"))
        d = np.where(_present(parts, "d1"), _digits(parts, "d1"), _digits(parts, "d2"))
        no_day = hit & ~_present(parts, "d1") & ~_present(parts, "d2")
        d = np.where(no_day, 1, d)
        leap = (y % 4 == 0) & ((y % 100 != 0) | (y % 400 == 0))
        month_ok = (m >= 1) & (m <= 12)
        dim = _DIM[np.where(month_ok, m, 0)] + ((m == 2) & leap)
        ok = hit & month_ok & (d >= 1) & (d <= dim) & (y >= 1800) & (y <= 2200)
        if ok.any():
            days = (
                (y[ok] - 1970).astype("datetime64[Y]").astype("datetime64[M]") + (m[ok] - 1)
            ).astype("datetime64[D]") + (d[ok] - 1)
            result[ok] = days.astype("datetime64[ns]")
            ym[ok] = no_day[ok]
    rest = ~hit
    if rest.any():
        serial = pc.fill_null(pc.match_substring_regex(arr, _SERIAL_RE), False).to_numpy(zero_copy_only=False)
        serial &= rest
        if serial.any():
            num = pc.cast(arr.filter(pa.array(serial)), pa.float64()).to_numpy(zero_copy_only=False)
            good = (num >= SERIAL_MIN) & (num <= SERIAL_MAX)
            pos = np.flatnonzero(serial)[good]
            result[pos] = (np.datetime64("1899-12-30") + np.floor(num[good]).astype("timedelta64[D]")).astype(
                "datetime64[ns]"
            )
    return pd.Series(result, index=text.index), pd.Series(ym, index=text.index)


def _parse(values) -> tuple[pd.Series, pd.Series]:
    s = _as_series(values)
    if pd.api.types.is_datetime64_any_dtype(s.dtype):
        d = s.dt.tz_localize(None) if getattr(s.dt, "tz", None) is not None else s
        return d.dt.normalize().astype("datetime64[ns]"), pd.Series(False, index=s.index)
    text_only = isinstance(s.dtype, pd.StringDtype) or (
        s.dtype == object and pd.api.types.infer_dtype(s, skipna=True) in ("string", "empty")
    )
    if text_only:
        key = s.astype("string").str.strip()
        key = key.mask(key == "")
    else:
        obj = s.astype(object).where(s.notna(), None)
        key = obj.map(lambda v: v if v is None or not isinstance(v, str) else (v.strip() or None))
    codes, uniques = pd.factorize(key, use_na_sentinel=True)
    uniq = pd.Series(np.asarray(uniques, dtype=object), dtype=object)
    parsed, ym = _parse_text(uniq) if text_only else _parse_unique(uniq)
    codes = np.asarray(codes)
    valid = codes >= 0
    out = np.full(len(s), np.datetime64("NaT"), dtype="datetime64[ns]")
    out[valid] = parsed.to_numpy()[codes[valid]]
    ym_out = np.zeros(len(s), dtype=bool)
    ym_out[valid] = ym.to_numpy()[codes[valid]]
    return pd.Series(out, index=s.index, dtype="datetime64[ns]"), pd.Series(ym_out, index=s.index)


def parse_dates(values) -> pd.Series:
    """Parse a column of dates (text in any export format, Excel serials, date objects) -> datetime64, NaT if not."""
    return _parse(values)[0]


def parse_dates_flagged(values) -> tuple[pd.Series, pd.Series]:
    """Like `parse_dates`, plus a boolean Series: True where only a year and month were given (day set to 1)."""
    return _parse(values)


def parse_year_month(values) -> pd.Series:
    """Parse year-months (入学年月: 201909, 2019-09, 2019年9月, or a full date) -> `YYYY-MM` text (string dtype)."""
    s = _as_series(values)
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    d = parse_dates(pd.Series(np.asarray(uniques, dtype=object), dtype=object))
    text = pd.array([None if pd.isna(x) else f"{x.year:04d}-{x.month:02d}" for x in d] + [None], dtype="string")
    codes = np.where(codes < 0, len(d), codes)
    return pd.Series(text.take(codes), index=s.index)


def as_date(d) -> _dt.date:
    """One date (a date, a datetime, or text such as 2019-11-30) as a `datetime.date`."""
    if isinstance(d, _dt.datetime):
        return d.date()
    if isinstance(d, _dt.date):
        return d
    return pd.Timestamp(d).date()
