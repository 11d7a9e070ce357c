"""Hand-built canonical frames for the groups / mentoring tests (synthetic people only)."""

from __future__ import annotations

import datetime as dt

import pandas as pd

W = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]


def make_id(birth: str, seq: int) -> str:
    """A valid 18-character ID of 旬阳县 (610928) for birth date YYYYMMDD and sequence number."""
    body = f"610928{birth}{seq:03d}"
    return body + "10X98765432"[sum(int(c) * w for c, w in zip(body, W)) % 11]


AS_OF = dt.date(2019, 11, 30)
SCHOOL_A = "旬阳县蜀河镇中心小学"
SCHOOL_B = "旬阳县双河镇中心小学"


class FakeWorkspace:
    """Stand-in with the Workspace attributes the analyses use (tables, as_of, term)."""

    def __init__(self, tables: dict[str, pd.DataFrame], as_of: dt.date = AS_OF, term: str = "2019秋"):
        self.tables = tables
        self.as_of = as_of
        self.term = term


def workspace(tables: dict[str, pd.DataFrame], as_of: dt.date = AS_OF):
    """Workspace.from_tables when the loader module exists, else the stand-in."""
    try:
        from workbench.workspace import Workspace
    except ImportError:
        return FakeWorkspace(tables, as_of)
    return Workspace.from_tables(tables, as_of)


def frame(rows: list[dict], columns: list[str], dates: tuple[str, ...] = ()) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=columns)
    for c in columns:
        if c in dates:
            df[c] = pd.to_datetime(df[c]).astype("datetime64[us]")
        elif c in ("id_valid", "migrant"):
            df[c] = df[c].astype("boolean")
        elif c == "grade":
            df[c] = df[c].astype("Int64")
        else:
            df[c] = df[c].astype("string")
    return df


REGISTRY_COLS = ["term", "school_name", "town", "name", "id_number", "id_valid", "stage", "grade", "class_name",
                 "status", "left_behind", "migrant", "disability", "inclusive"]
PAIR_COLS = ["school_name", "town", "teacher_name", "teacher_id_number", "teacher_school", "student_name",
             "id_number", "id_valid", "group_raw", "start_date", "end_date"]
ACT_COLS = ["school_name", "teacher_name", "student_name", "id_number", "id_valid", "activity", "date", "content"]


def student(name: str, idn: str, school: str = SCHOOL_A, term: str = "2019秋", status=None, left_behind="非留守",
            migrant=False, disability="无残疾", inclusive="非随班就读", grade=4, valid=True) -> dict:
    town = school.removeprefix("旬阳县")[:3]
    return {"term": term, "school_name": school, "town": town, "name": name, "id_number": idn, "id_valid": valid,
            "stage": "小学", "grade": grade, "class_name": "1班", "status": status, "left_behind": left_behind,
            "migrant": migrant, "disability": disability, "inclusive": inclusive}


def pair(teacher: str, sname: str, idn: str, school: str = SCHOOL_A, teacher_school=None, start="2019-09-01",
         end=None, valid=True) -> dict:
    return {"school_name": school, "town": school.removeprefix("旬阳县")[:3], "teacher_name": teacher,
            "teacher_id_number": None, "teacher_school": teacher_school, "student_name": sname, "id_number": idn,
            "id_valid": valid, "group_raw": "留守", "start_date": start, "end_date": end}


def act(teacher: str, sname: str, idn: str, activity: str, date: str, school: str = SCHOOL_A,
        valid=True) -> dict:
    return {"school_name": school, "teacher_name": teacher, "student_name": sname, "id_number": idn,
            "id_valid": valid, "activity": activity, "date": date, "content": "谈心"}


def school_mondays(as_of: dt.date = AS_OF) -> list[dt.date]:
    """Mondays of the complete 2019秋 school weeks (without the 国庆 week) up to as_of."""
    out, d = [], dt.date(2019, 9, 2)
    while d + dt.timedelta(days=6) <= as_of:
        if d != dt.date(2019, 9, 30):
            out.append(d)
        d += dt.timedelta(days=7)
    return out


def full_logs(teacher: str, sname: str, idn: str, school: str = SCHOOL_A, skip_weeks=(), skip_months=(),
              as_of: dt.date = AS_OF) -> list[dict]:
    """A complete term of logs: a 帮扶记录 each school Wednesday, a 家访 on the 15th of each month."""
    rows = []
    for monday in school_mondays(as_of):
        if monday.isoformat() in skip_weeks:
            continue
        rows.append(act(teacher, sname, idn, "纪实手册记录", (monday + dt.timedelta(days=2)).isoformat(), school))
    for month in ("2019-09", "2019-10", "2019-11"):
        if month not in skip_months:
            rows.append(act(teacher, sname, idn, "入户走访", f"{month}-15", school))
    return rows
