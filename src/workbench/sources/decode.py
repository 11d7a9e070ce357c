"""Value decoding for canonical columns: coded values, booleans, amounts, integers, towns. All by unique values."""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
import pandas as pd

from .schema import bool_values, code_sets, normalize_value, schools_rule, suspect_categories

STRING = "string"


def map_unique(s: pd.Series, func: Callable[[str], object], dtype: str) -> pd.Series:
    """Apply `func` to each distinct non-NA value of `s` and broadcast (a loop over distinct values only)."""
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    mapped = [func(u) for u in uniques]
    mapped = [None if (m is None or m is pd.NA or (isinstance(m, float) and np.isnan(m))) else m for m in mapped]
    arr = pd.array([*mapped, None], dtype=dtype)
    codes = np.where(codes < 0, len(mapped), codes)
    return pd.Series(arr.take(codes), index=s.index)


def _code_table(set_name: str) -> tuple[dict[str, str], dict[str, str], bool, str, str | None]:
    spec = code_sets()[set_name]
    labels: dict[str, str] = {}
    for canon, variants in (spec.get("labels") or {}).items():
        for v in [canon, *(variants or [])]:
            labels.setdefault(normalize_value(str(v)).upper(), str(canon))
    codes = {normalize_value(str(k)).upper(): str(v) for k, v in (spec.get("codes") or {}).items()}
    return labels, codes, bool(spec.get("bare_codes", True)), str(spec.get("unknown", "keep")), spec.get("default")


_CODED = re.compile(r"^\s*([0-9A-Za-z]{1,3})\s*[-－—:：、.．_\s]\s*(.+?)\s*$")


def decode_code(s: pd.Series, set_name: str) -> pd.Series:
    """Labels first, then `1-男` style (label part, else code part), then bare codes, else keep / NA."""
    labels, codes, bare, unknown, _default = _code_table(set_name)

    def one(v: str):
        t = normalize_value(v)
        u = t.upper()
        if u in labels:
            return labels[u]
        m = _CODED.match(t)
        if m:
            lab = m.group(2).upper()
            if lab in labels:
                return labels[lab]
            code = m.group(1).upper()
            if code in codes:
                return codes[code]
        if bare and u in codes:
            return codes[u]
        if bare and re.fullmatch(r"\d+\.0", u) and u[:-2] in codes:
            return codes[u[:-2]]
        return t if unknown == "keep" else None

    return map_unique(s, one, STRING)


def code_default(set_name: str) -> str | None:
    return _code_table(set_name)[4]


def decode_bool(s: pd.Series) -> pd.Series:
    yes, no = bool_values()

    def one(v: str):
        u = normalize_value(v).upper()
        if u in yes or u.startswith(("1-", "是")):
            return True
        if u in no or u.startswith(("0-", "否", "非")):
            return False
        if u in ("TRUE",):
            return True
        if u in ("FALSE",):
            return False
        return None

    return map_unique(s, one, "boolean")


_AMOUNT_JUNK = re.compile(r"[,，\s元￥¥]|RMB|CNY", re.IGNORECASE)


def parse_amount(s: pd.Series) -> pd.Series:
    """Amounts as written (2,500.00 / 500元 / ￥250) -> float64, NaN when not a number."""
    def one(v: str):
        t = _AMOUNT_JUNK.sub("", normalize_value(v))
        try:
            x = float(t)
        except ValueError:
            return None
        return x if np.isfinite(x) else None

    return map_unique(s, one, "float64")


def parse_int(s: pd.Series) -> pd.Series:
    def one(v: str):
        m = re.search(r"-?\d+(?:\.0+)?", normalize_value(v))
        return int(float(m.group(0))) if m else None

    return map_unique(s, one, "Int64")


def town_from_school(school: pd.Series, town_col: pd.Series | None) -> pd.Series:
    """A school's town: named in the school name, else the file's town column, else the county seat for
    county-level schools, else NA (rules/schools.yaml)."""
    rule = schools_rule()
    towns = [str(t) for t in rule.get("towns", [])]
    county = str(rule.get("county", ""))
    seat = rule.get("county_seat")
    county_level = [str(x) for x in rule.get("county_level", [])]
    pattern = re.compile(r"^(?:.{0,6}?[省市])?(?:.{1,4}?[县区市])?(.{1,4}?[镇乡])")

    def one(name: str):
        t = normalize_value(name)
        for town in towns:
            if town in t:
                return town
        rest = t[len(county):] if county and t.startswith(county) else t
        m = pattern.match(rest) if rest is not t else pattern.match(t)
        if m and not re.search(r"(中心|小学|中学|学校)", m.group(1)):
            return m.group(1)
        return None

    named = map_unique(school, one, STRING) if len(school) else pd.Series(dtype=STRING, index=school.index)
    out = named
    if town_col is not None:
        out = out.fillna(town_col.astype(STRING))

    def seat_of(name: str):
        t = normalize_value(name)
        if seat and ((county and t.startswith(county)) or any(x in t for x in county_level)):
            return seat
        return None

    if seat and out.isna().any():
        missing = out.isna() & school.notna()
        if missing.any():
            out = out.copy()
            out[missing] = map_unique(school[missing], seat_of, STRING)
    return out.astype(STRING)


def suspect_category_key(s: pd.Series) -> pd.Series:
    rules = suspect_categories()

    def one(v: str):
        t = normalize_value(v)
        for needle, key in rules:
            if needle in t:
                return key
        return None

    return map_unique(s, one, STRING)
