"""Terms (学期), school years (学年), grades (年级) and the school-age cohort (适龄).

Term code: `"2019秋"` (autumn, Sep 2019 - Jan 2020, first term of school year 2019-2020) or `"2019春"` (spring,
Feb - Aug 2019, second term of school year 2018-2019). Stage/grade as in docs/design.md.
"""

from __future__ import annotations

import datetime as _dt
import re

import numpy as np
import pandas as pd

from .rules import settings

__all__ = [
    "STAGES",
    "STAGE_MAX_GRADE",
    "grade_from_label",
    "next_term",
    "parse_term_text",
    "previous_term",
    "roster_school_status",
    "school_age_bounds",
    "school_year",
    "term_code",
    "term_of",
    "term_school_year",
    "term_sort_key",
    "term_start",
]

STAGES = ["学前", "小学", "初中", "高中", "中职", "高职", "大专及以上"]
STAGE_MAX_GRADE = {"小学": 6, "初中": 3, "高中": 3, "中职": 3, "高职": 3}

_TERM_RE = re.compile(r"^(\d{4})(秋|春)$")


def term_code(year: int, season: str) -> str:
    """`term_code(2019, "秋") == "2019秋"`."""
    return f"{int(year)}{season}"


def _to_date(d) -> _dt.date:
    if isinstance(d, pd.Timestamp):
        return d.date()
    if isinstance(d, _dt.datetime):
        return d.date()
    if isinstance(d, _dt.date):
        return d
    return pd.Timestamp(d).date()


def school_year(d):
    """School year (学年) starting year of a date: Y = year if month >= 9 else year - 1. Scalar or Series."""
    if isinstance(d, pd.Series):
        dd = pd.to_datetime(d)
        return (dd.dt.year - (dd.dt.month < 9).astype(int)).astype("Int64")
    d = _to_date(d)
    return d.year if d.month >= 9 else d.year - 1


def term_of(d):
    """Term code of a date: Sep-Jan -> `{Y}秋`, Feb-Aug -> `{Y+1}春` (Y = school year). Scalar or Series."""
    if isinstance(d, pd.Series):
        dd = pd.to_datetime(d)
        y = school_year(dd)
        autumn = (dd.dt.month >= 9) | (dd.dt.month == 1)
        out = pd.Series(pd.NA, index=d.index, dtype="string")
        ok = dd.notna()
        out[ok & autumn] = y[ok & autumn].astype(str) + "秋"
        out[ok & ~autumn] = (y[ok & ~autumn] + 1).astype(str) + "春"
        return out
    d = _to_date(d)
    y = school_year(d)
    return f"{y}秋" if d.month >= 9 or d.month == 1 else f"{y + 1}春"


def _split_term(term: str) -> tuple[int, bool]:
    """`2019秋` -> (2019, True); `2019春` -> (2019, False); anything else raises a Chinese ValueError."""
    m = _TERM_RE.match(str(term))
    if not m:
        raise ValueError(f"无法识别的学期代码：{term}")
    return int(m.group(1)), m.group(2) == "秋"


def term_school_year(term: str) -> int:
    """School year of a term code: `2019秋` -> 2019, `2019春` -> 2018."""
    y, autumn = _split_term(term)
    return y if autumn else y - 1


def term_start(term: str) -> _dt.date:
    """Nominal first day of a term: `2019秋` -> 2019-09-01, `2019春` -> 2019-02-01."""
    y, autumn = _split_term(term)
    return _dt.date(y, 9, 1) if autumn else _dt.date(y, 2, 1)


def previous_term(term: str) -> str:
    """`2019秋` -> `2019春`; `2019春` -> `2018秋`."""
    y, autumn = _split_term(term)
    return f"{y}春" if autumn else f"{y - 1}秋"


def next_term(term: str) -> str:
    """`2019春` -> `2019秋`; `2019秋` -> `2020春`."""
    y, autumn = _split_term(term)
    return f"{y}秋" if not autumn else f"{y + 1}春"


def term_sort_key(term: str) -> tuple[int, int]:
    """Chronological sort key of a term code."""
    try:
        y, autumn = _split_term(term)
    except ValueError:
        return (0, 0)
    return (y, 1 if autumn else 0)


_FOLD = str.maketrans("０１２３４５６７８９－～（）　", "0123456789-~() ")
_YEAR_TERM = re.compile(
    r"(\d{4})\s*[-—–~至到/]\s*(\d{4})\s*学?年?度?\s*(?:学年)?\s*"
    r"(第一学期|第二学期|第1学期|第2学期|上学期|下学期|上期|下期|秋季|春季|秋|春)"
)
_YEAR_SEASON = re.compile(r"(\d{4})\s*年?\s*(秋季|春季|秋|春)")
_SEASON_OF = {
    "第一学期": 1, "第1学期": 1, "上学期": 1, "上期": 1, "秋季": 1, "秋": 1,
    "第二学期": 2, "第2学期": 2, "下学期": 2, "下期": 2, "春季": 2, "春": 2,
}


def parse_term_text(text) -> str | None:
    """Find a term in a title, sheet or file name: 2019年秋季, 2019-2020学年第一学期, 2019秋, 2018-2019学年第二学期."""
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return None
    t = str(text).translate(_FOLD)
    m = _YEAR_TERM.search(t)
    if m:
        y1, y2 = int(m.group(1)), int(m.group(2))
        if y2 == y1 + 1:
            return f"{y1}秋" if _SEASON_OF[m.group(3)] == 1 else f"{y2}春"
    m = _YEAR_SEASON.search(t)
    if m:
        return f"{int(m.group(1))}{m.group(2)[0]}"
    m = re.search(r"(\d{4})\s*[-—–~至到]\s*(\d{4})\s*学年", t)
    if m and int(m.group(2)) == int(m.group(1)) + 1:  # a school year without a term: its first term
        return f"{int(m.group(1))}秋"
    return None


_CN_NUM = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10}
_NUM = r"([一二三四五六七八九1-9])"
_STAGE_ALIASES = {
    "小学": "小学", "初中": "初中", "初级中学": "初中", "高中": "高中", "普通高中": "高中", "普高": "高中",
    "中职": "中职", "职高": "中职", "中专": "中职", "高职": "高职",
}
_STAGE_ALT = "|".join(sorted(_STAGE_ALIASES, key=len, reverse=True))


def _n(s: str) -> int:
    return _CN_NUM[s] if s in _CN_NUM else int(s)


def _label_to_stage_grade(label: str, sy: int | None) -> tuple[object, object]:
    """One label -> (stage, grade) or (NA, NA). `sy` is the school year for CNEMIS 20xx级 names."""
    t = str(label).translate(_FOLD).replace(" ", "")
    if not t:
        return pd.NA, pd.NA
    m = re.search(rf"({_STAGE_ALT})(?:\([^)]*\))?\(?(\d{{4}})\)?级", t)
    if m:
        stage = _STAGE_ALIASES[m.group(1)]
        if sy is None:
            return stage, pd.NA
        g = sy - int(m.group(2)) + 1
        return stage, (g if 1 <= g <= STAGE_MAX_GRADE.get(stage, 6) else pd.NA)
    m = re.search(rf"({_STAGE_ALT})(?:[\(（]?[^\d一二三四五六七八九]*?[\)）]?)?{_NUM}年级", t)
    if m:
        stage = _STAGE_ALIASES[m.group(1)]
        g = _n(m.group(2))
        if stage == "初中" and 7 <= g <= 9:
            g -= 6
        return stage, (g if 1 <= g <= STAGE_MAX_GRADE.get(stage, 6) else pd.NA)
    m = re.search(r"(初|高)([一二三123])", t)
    if m and not re.search(r"高职|高校", t):
        return ("初中" if m.group(1) == "初" else "高中"), _n(m.group(2))
    m = re.search(rf"{_NUM}年级", t)
    if m:
        g = _n(m.group(1))
        return ("小学", g) if g <= 6 else ("初中", g - 6)
    if re.search(r"学前|幼儿|大班|中班|小班|幼儿园", t):
        return "学前", pd.NA
    if re.search(r"大专|本科|硕士|研究生|博士|大学", t):
        return "大专及以上", pd.NA
    for alias, stage in sorted(_STAGE_ALIASES.items(), key=lambda kv: -len(kv[0])):
        if t.startswith(alias):
            return stage, pd.NA
    return pd.NA, pd.NA


def _map_unique(values, func) -> pd.DataFrame:
    s = values if isinstance(values, pd.Series) else pd.Series(list(values), dtype=object)
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    pairs = [func(u) for u in uniques]  # a loop over the few distinct labels, not over rows
    stage_u = np.array([p[0] for p in pairs] + [pd.NA], dtype=object)
    grade_u = np.array([p[1] for p in pairs] + [pd.NA], dtype=object)
    codes = np.where(codes < 0, len(pairs), codes)
    return pd.DataFrame(
        {
            "stage": pd.array(stage_u[codes], dtype="string"),
            "grade": pd.array(grade_u[codes], dtype="Int64"),
        },
        index=s.index,
    )


def grade_from_label(labels, term: str | None) -> pd.DataFrame:
    """年级 labels -> DataFrame[stage, grade]. CNEMIS `小学2016级` needs the term (grade = Y - 2016 + 1)."""
    sy = term_school_year(term) if term else None
    return _map_unique(labels, lambda u: _label_to_stage_grade(u, sy))


def _status_to_stage_grade(value: str) -> tuple[object, object]:
    t = str(value).translate(_FOLD).replace(" ", "")
    if not t or "非在校" in t or t in ("无", "否", "不在校"):
        return pd.NA, pd.NA
    if t.startswith("学前"):
        return "学前", pd.NA
    if t == "小学":
        return "小学", pd.NA
    if re.search(r"大专|本科|硕士|研究生|博士", t):
        return "大专及以上", pd.NA
    return _label_to_stage_grade(t, None)


def roster_school_status(values) -> pd.DataFrame:
    """建档立卡 在校生状况 (非在校生, 学前教育, 小学, 七年级, 高中一年级, 中职二年级, 大专及以上 ...) -> [stage, grade]."""
    return _map_unique(values, _status_to_stage_grade)


def school_age_bounds(as_of) -> tuple[_dt.date, _dt.date]:
    """Birth-date bounds of the compulsory-school cohort on `as_of` (2019秋: 2003-09-01 .. 2013-08-31)."""
    cfg = settings().get("school_age", {})
    entry_age = int(cfg.get("entry_age", 6))
    years = int(cfg.get("years", 9))
    month, day = (int(x) for x in str(cfg.get("cutoff_month_day", "08-31")).split("-"))
    y = school_year(as_of)
    # "6-15周岁" (domain.md 3.4 and the example in design.md): for 2019秋 born 2003-09-01 .. 2013-08-31, ten
    # cohorts: the nine of compulsory school plus the one a year older (late entry, repeated grades).
    last = _dt.date(y - entry_age, month, day)
    first = _dt.date(y - entry_age - years - 1, month, day) + _dt.timedelta(days=1)
    return first, last
