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

__all__ = ["parse_dates", "parse_year_month", "EXCEL_EPOCH", "SERIAL_MIN", "SERIAL_MAX"]

EXCEL_EPOCH = pd.Timestamp("1899-12-30")  # 1900 date system (serial 1 = 1900-01-01, after Excel's leap bug)
SERIAL_MIN = 3000   # 1908-03-18: smaller numbers (e.g. a bare year 2019) are not taken for serials
SERIAL_MAX = 73050  # 2099-12-31

_FULLWIDTH = str.maketrans("０１２３４５６７８９／－．：　", "0123456789/-.: ")

# named groups: y, m, d (d optional -> year-month)
_PATTERNS = [
    r"^(?P<y>\d{4})(?P<m>\d{2})(?P<d>\d{2})$",
    r"^(?P<y>\d{4})\s*[-/.年]\s*(?P<m>\d{1,2})\s*[-/.月]\s*(?P<d>\d{1,2})\s*日?(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?$",
    r"^(?P<y>\d{4})(?P<m>\d{2})$",
    r"^(?P<y>\d{4})\s*[-/.年]\s*(?P<m>\d{1,2})\s*月?$",
]
_SERIAL = r"^(?P<serial>\d{4,5}(?:\.\d+)?)$"


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


def _parse_text(text: pd.Series) -> tuple[pd.Series, pd.Series]:
    t = text.str.translate(_FULLWIDTH).str.strip().str.lstrip("'")
    # fastexcel renders datetime cells as "2008-01-01 00:00:00": handled by the second pattern
    result = pd.Series(pd.NaT, index=t.index, dtype="datetime64[ns]")
    ym = pd.Series(False, index=t.index)
    todo = pd.Series(True, index=t.index)
    for i, pat in enumerate(_PATTERNS):
        if not todo.any():
            break
        m = t[todo].str.extract(pat)
        hit = m["y"].notna()
        if not hit.any():
            continue
        m = m[hit]
        day = m["d"] if "d" in m else pd.Series("1", index=m.index)
        ts = pd.to_datetime(
            pd.DataFrame({"year": m["y"].astype(int), "month": m["m"].astype(int), "day": day.astype(int)}),
            errors="coerce",
        )
        ok = ts.notna()
        result[ts.index[ok]] = ts[ok].astype("datetime64[ns]")
        todo[ts.index] = False  # matched the shape: a bad month/day is NaT, not retried as another format
        if "d" not in m:
            ym[ts.index[ok]] = True
    if todo.any():
        s = t[todo].str.extract(_SERIAL)["serial"].dropna()
        if not s.empty:
            num = s.astype(float)
            num = num[(num >= SERIAL_MIN) & (num <= SERIAL_MAX)]
            result[num.index] = (EXCEL_EPOCH + pd.to_timedelta(np.floor(num.to_numpy()), unit="D")).astype(
                "datetime64[ns]"
            )
    return result, ym


def _parse(values) -> tuple[pd.Series, pd.Series]:
    s = _as_series(values)
    if pd.api.types.is_datetime64_any_dtype(s.dtype):
        d = s.dt.tz_localize(None) if getattr(s.dt, "tz", None) is not None else s
        return d.dt.normalize().astype("datetime64[ns]"), pd.Series(False, index=s.index)
    if isinstance(s.dtype, pd.StringDtype) or (s.dtype == object and pd.api.types.infer_dtype(s, skipna=True) in ("string", "empty")):
        key = s.astype("string").str.strip()
        key = key.where(key != "", pd.NA).astype(object).where(key.notna() & (key != ""), None)
    else:
        obj = s.astype(object).where(s.notna(), None)
        key = obj.map(lambda v: v if v is None or not isinstance(v, str) else (v.strip() or None))
    codes, uniques = pd.factorize(key, use_na_sentinel=True)
    uniq = pd.Series(uniques, dtype=object)
    parsed, ym = _parse_unique(uniq)
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
    d = parse_dates(values)
    out = d.dt.strftime("%Y-%m")
    return out.astype("string").where(d.notna(), pd.NA)
