"""School calendar (校历): school weeks and home-visit months of a term, from `rules/calendar_*.yaml`.

A school week is an ISO week (Monday to Sunday) whose Monday lies in the term and that is not a holiday week
(listed in the term's `holiday_weeks`, or with no weekday in term time outside the `holidays` ranges). A week is
complete when its Sunday is on or before the as-of date; a visit month when its last day is. The first school day
of a week is its Monday or the term start, whichever is later; of a visit month, the month's first day or the
term start, whichever is later: a pair counts for a week or month once it exists on that day.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd

from .rules import load_yaml, settings

WEEK_COLUMNS = ["term", "week", "monday", "sunday", "first_day"]
MONTH_COLUMNS = ["term", "month", "first_day", "last_day"]


def _as_date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value).strip())


def calendar(name: str | None = None) -> dict[str, Any]:
    """The calendar in force (settings()['calendar'], or the file `name`): {'terms': {code: {...}}, 'holidays': {...}}."""
    raw = load_yaml(name or settings().get("calendar", "calendar_2019.yaml"))
    terms: dict[str, dict[str, Any]] = {}
    for code, spec in (raw.get("terms") or {}).items():
        terms[str(code)] = {
            "start": _as_date(spec["start"]),
            "end": _as_date(spec["end"]),
            "holiday_weeks": [str(w).strip() for w in spec.get("holiday_weeks") or []],
            "visit_months": [str(m).strip() for m in spec.get("visit_months") or []],
        }
    holidays = {
        str(k): (_as_date(v[0]), _as_date(v[-1])) for k, v in (raw.get("holidays") or {}).items() if v
    }
    return {"terms": terms, "holidays": holidays}


def iso_week_label(day: dt.date) -> str:
    """`2019-W38` for any day of ISO week 38 of ISO year 2019."""
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def term_for(as_of: dt.date, term: str | None = None, name: str | None = None) -> str | None:
    """The calendar term to check on `as_of`: `term` when the calendar has it, else the term containing as_of;
    when `term` is given but the calendar lacks it, None (nothing to check); without `term`, the latest term
    that started on or before as_of (e.g. during a holiday), else None."""
    terms = calendar(name)["terms"]
    if term is not None and str(term) in terms:
        return str(term)
    for code, spec in terms.items():
        if spec["start"] <= as_of <= spec["end"]:
            return code
    if term is not None:
        return None
    started = [(spec["start"], code) for code, spec in terms.items() if spec["start"] <= as_of]
    return max(started)[1] if started else None


def _in_holiday(day: dt.date, holidays: dict[str, tuple[dt.date, dt.date]]) -> bool:
    return any(lo <= day <= hi for lo, hi in holidays.values())


def school_weeks(term: str, as_of: dt.date | None = None, name: str | None = None) -> pd.DataFrame:
    """The term's school weeks (columns WEEK_COLUMNS, dates as datetime64); only complete ones when as_of is given."""
    cal = calendar(name)
    spec = cal["terms"].get(str(term))
    rows = []
    if spec is not None:
        start, end = spec["start"], spec["end"]
        monday = start - dt.timedelta(days=start.weekday())
        if monday < start:
            monday += dt.timedelta(days=7)
        while monday <= end:
            label = iso_week_label(monday)
            sunday = monday + dt.timedelta(days=6)
            weekdays = [monday + dt.timedelta(days=i) for i in range(5)]
            has_school_day = any(
                start <= d <= end and not _in_holiday(d, cal["holidays"]) for d in weekdays
            )
            if label not in spec["holiday_weeks"] and has_school_day and (as_of is None or sunday <= as_of):
                rows.append((str(term), label, monday, sunday, max(monday, start)))
            monday += dt.timedelta(days=7)
    out = pd.DataFrame(rows, columns=WEEK_COLUMNS)
    for col in ("monday", "sunday", "first_day"):
        out[col] = pd.to_datetime(out[col]).astype("datetime64[us]")
    out["term"] = out["term"].astype("string")
    out["week"] = out["week"].astype("string")
    return out


def visit_months(term: str, as_of: dt.date | None = None, name: str | None = None) -> pd.DataFrame:
    """The term's home-visit months (columns MONTH_COLUMNS); only complete ones when as_of is given."""
    spec = calendar(name)["terms"].get(str(term))
    rows = []
    if spec is not None:
        for month in spec["visit_months"]:
            first = dt.date.fromisoformat(f"{month}-01")
            nxt = dt.date(first.year + first.month // 12, first.month % 12 + 1, 1)
            last = nxt - dt.timedelta(days=1)
            if as_of is None or last <= as_of:
                rows.append((str(term), month, max(first, spec["start"]), last))
    out = pd.DataFrame(rows, columns=MONTH_COLUMNS)
    for col in ("first_day", "last_day"):
        out[col] = pd.to_datetime(out[col]).astype("datetime64[us]")
    out["term"] = out["term"].astype("string")
    out["month"] = out["month"].astype("string")
    return out
