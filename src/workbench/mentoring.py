"""师生结对 智志双扶: teacher–student pairs, mentoring activities, coverage and the four mentoring findings.

Rules (`rules/mentoring.yaml`, seed defaults): every enrolled student of the five special groups has a mentor;
at least one 帮扶记录 per student per completed school week and one 家访 per completed visit month of the term
(`rules/calendar_2019.yaml`, see `workbench.terms_calendar`), counted from when the student's pair exists.
Set work (the expected (student, week) grid minus present records) is DuckDB SQL kept to what Spark SQL accepts.
"""

from __future__ import annotations

import datetime as dt
import os
import warnings
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from . import terms_calendar
from .findings import as_findings, combine, empty_findings
from .groups import (
    _col,
    _memberships,
    cached,
    enrolled_name_index,
    enrolled_registry,
    isin,
    linked_tables,
    match_keys,
    mentoring_rules,
    norm_name,
    norm_school,
    pair_isin,
    record_keys,
)
from .rules import finding_kinds

LEVELS = ("school", "town", "teacher", "week", "month")
TEACHER_SEPARATORS = r"[、，,；;/／]"
LEVEL_KEYS = {
    "school": ["town", "school"],
    "town": ["town"],
    "teacher": ["teacher_school", "teacher_name", "teacher_key"],
    "week": ["week"],
    "month": ["month"],
}

# --------------------------------------------------------------------------------------------------- inputs


def _dates(values: pd.Series) -> pd.Series:
    """Dates as datetime64 (date part); text in any export format goes through the one date parser."""
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        return values.astype("datetime64[us]").dt.normalize()
    from .dates import parse_dates

    return pd.Series(parse_dates(values), index=values.index).astype("datetime64[us]")


def activity_aliases() -> dict[str, str]:
    """Activity name as written (folded) -> canonical activity (帮扶记录 / 家访 / 心理疏导)."""
    out: dict[str, str] = {}
    for canonical, aliases in (mentoring_rules().get("activities") or {}).items():
        for alias in [canonical, *(aliases or [])]:
            out[str(alias)] = str(canonical)
    return out


def canonical_activity(values: pd.Series) -> pd.Series:
    """Map activity names through the aliases of rules/mentoring.yaml (after NFKC folding); unknown -> NA."""
    from .groups import _fold

    aliases = activity_aliases()
    table = dict(zip(_fold(pd.Series(list(aliases), dtype="string")), aliases.values()))
    table.update(aliases)
    codes, uniques = pd.factorize(pd.Series(values).astype("string"))
    mapped = _fold(pd.Series(uniques, dtype="string")).map(table).astype("string")
    return pd.Series(mapped.array.take(codes, allow_fill=True), index=values.index, dtype="string")


def activity_from_source(df: pd.DataFrame) -> pd.Series:
    """The activity a whole file or sheet records when it has no 活动类型 column (e.g. 家访记录表.xlsx, sheet 家访):
    the canonical activity whose alias appears in the sheet name, else in the file name (longest alias first)."""
    from .groups import _fold

    aliases = sorted(activity_aliases().items(), key=lambda kv: len(kv[0]), reverse=True)
    out = pd.Series(pd.NA, index=df.index, dtype="string")
    for col in ("source_sheet", "source_file"):
        if col not in df.columns:
            continue
        text = _fold(df[col].astype("string"))
        codes, uniques = pd.factorize(text)
        found = []
        for u in uniques:  # a loop over the few distinct file / sheet names
            name = str(u).rsplit("/", 1)[-1]
            found.append(next((canon for alias, canon in aliases if alias in name), None))
        guess = pd.Series(pd.array(found, dtype="string").take(codes, allow_fill=True), index=df.index)
        out = out.fillna(guess)
    return out


def _teacher_key(df: pd.DataFrame) -> pd.Series:
    tid = _col(df, "teacher_id_number").astype("string").str.strip()
    tid = tid.mask(tid == "", pd.NA)
    tname = norm_name(_col(df, "teacher_name").astype("string")).fillna("")
    return ("id:" + tid).fillna("nm:" + tname + "|" + df["teacher_school_norm"].fillna(""))


def _with_columns(raw: pd.DataFrame | None, cols: list[str]) -> pd.DataFrame:
    """A fresh copy of a linked table with every expected column present (NA where the export had none)."""
    if raw is None:
        raw = pd.DataFrame({c: pd.Series(dtype="string") for c in cols})
    df = raw.copy().reset_index(drop=True)
    for c in cols:
        if c not in df.columns:
            df[c] = pd.NA
    return df


def _pairs_frame(ws: Any) -> pd.DataFrame:
    """Canonical pairs with student_key, teacher_key, schools normalised, active on the as-of date."""

    def build() -> pd.DataFrame:
        raw = linked_tables(ws).get("pairs")
        cols = ["school_name", "town", "teacher_name", "teacher_id_number", "teacher_school", "student_name",
                "id_number", "group_raw", "start_date", "end_date"]
        df = _with_columns(raw, cols)
        names = df["teacher_name"].astype("string")
        several = names.str.contains(TEACHER_SEPARATORS, regex=True).fillna(False).to_numpy(dtype=bool)
        if several.any():  # 多对一 written in one cell (张老师、李老师): one pair per teacher
            df["teacher_name"] = names.str.split(TEACHER_SEPARATORS, regex=True)
            df["_split"] = several
            df = df.explode("teacher_name", ignore_index=True)
            tn = df["teacher_name"].astype("string").str.strip()
            df["teacher_name"] = tn.mask(tn == "", pd.NA)
            df = df[~(df["_split"].to_numpy(dtype=bool) & df["teacher_name"].isna().to_numpy())]
            df = df.drop(columns="_split").reset_index(drop=True)
        students = enrolled_registry(ws)
        df["student_key"] = match_keys(df, students, "student_name", "school_name",
                                       name_index=enrolled_name_index(ws))
        df["person_id"] = df["student_key"]
        school = df["school_name"].astype("string")
        tschool = df["teacher_school"].astype("string")
        tschool = tschool.mask(tschool.str.strip() == "", pd.NA).fillna(school)
        df["teacher_school"] = tschool
        df["teacher_school_norm"] = norm_school(tschool)
        df["teacher_key"] = _teacher_key(df)
        df["start_date"] = _dates(df["start_date"])
        df["end_date"] = _dates(df["end_date"])
        as_of = pd.Timestamp(ws.as_of)
        df["active"] = ((df["start_date"].isna() | (df["start_date"] <= as_of))
                        & (df["end_date"].isna() | (df["end_date"] >= as_of))).astype(bool)
        df["pair_no"] = np.arange(len(df), dtype=np.int64)
        return df

    return cached(ws, "mentoring_pairs", build)


def pairs(ws: Any) -> pd.DataFrame:
    """One row per pair (师生结对) with its shape: teacher_students (students of the pair's teacher),
    student_teachers (teachers of the pair's student), shape (多对一 when the student has several teachers, else
    一对多 when the teacher has several students, else 一对一), teacher_shape (一对多 / 一对一), active (on the as-of
    date), enrolled (student enrolled in the as-of term), student_school."""
    p = _pairs_frame(ws).copy()
    shapes = mentoring_rules().get("shapes", {})
    one_one = shapes.get("one_to_one", "一对一")
    one_many = shapes.get("one_to_many", "一对多")
    many_one = shapes.get("many_to_one", "多对一")
    act = p[p["active"]].copy()
    skey = act["student_key"].fillna("row:" + act["pair_no"].astype("string"))
    act["_skey"] = skey
    per_teacher = act.groupby("teacher_key")["_skey"].nunique()
    per_student = act.groupby("_skey")["teacher_key"].nunique()
    p["_skey"] = p["student_key"].fillna("row:" + p["pair_no"].astype("string"))
    p["teacher_students"] = p["teacher_key"].map(per_teacher).fillna(0).astype("int64")
    p["student_teachers"] = p["_skey"].map(per_student).fillna(0).astype("int64")
    p["shape"] = np.where(p["student_teachers"] > 1, many_one,
                          np.where(p["teacher_students"] > 1, one_many, one_one))
    p["teacher_shape"] = np.where(p["teacher_students"] > 1, one_many, one_one)
    p.loc[~p["active"], ["shape", "teacher_shape"]] = pd.NA
    p["shape"] = p["shape"].astype("string")
    p["teacher_shape"] = p["teacher_shape"].astype("string")
    reg = enrolled_registry(ws)
    first_school = reg.drop_duplicates("student_key").set_index("student_key")["school"]
    p["enrolled"] = isin(p["student_key"], reg["student_key"])
    p["student_school"] = p["student_key"].map(first_school).astype("string")
    p["person_id"] = _finding_id(p["student_key"])
    keep = ["school_name", "town", "teacher_name", "teacher_id_number", "teacher_school", "teacher_key",
            "student_name", "id_number", "person_id", "group_raw", "start_date", "end_date", "active",
            "teacher_students", "student_teachers", "shape", "teacher_shape", "enrolled", "student_school"]
    return p[keep]


def shape_counts(ws: Any) -> pd.DataFrame:
    """Active pairs and distinct teachers / students by shape (一对一, 一对多, 多对一)."""
    p = pairs(ws)
    p = p[p["active"]]
    out = p.groupby("shape").agg(pairs=("teacher_key", "size"), teachers=("teacher_key", "nunique"),
                                 students=("person_id", "nunique")).reset_index()
    return out


def _activities_frame(ws: Any) -> pd.DataFrame:
    def build() -> pd.DataFrame:
        raw = linked_tables(ws).get("activities")
        cols = ["school_name", "teacher_name", "student_name", "id_number", "activity", "date", "content"]
        df = _with_columns(raw, cols)
        def via_pairs() -> pd.DataFrame:
            p = _pairs_frame(ws)
            return pd.DataFrame({
                "student_key": p["student_key"],
                "name_norm": norm_name(p["student_name"].astype("string")),
                "teacher_norm": norm_name(p["teacher_name"].astype("string")),
            })

        df["student_key"] = match_keys(df, enrolled_registry(ws), "student_name", "school_name", extra=via_pairs,
                                       name_index=enrolled_name_index(ws))
        df["activity_raw"] = df["activity"]
        df["activity"] = canonical_activity(df["activity"])
        if mentoring_rules().get("activity_from_source", True) and df["activity_raw"].isna().any():
            src = [c for c in ("source_file", "source_sheet") if c in df.columns]
            if src:  # only files / sheets without any activity value (no 活动类型 column)
                typed = df["activity_raw"].notna().groupby([df[c].fillna("") for c in src]).transform("any")
                untyped = ~typed.to_numpy(dtype=bool)
                df.loc[untyped, "activity"] = activity_from_source(df[untyped]).to_numpy()
        df["date"] = _dates(df["date"])
        return df

    return cached(ws, "mentoring_activities", build)


def activities(ws: Any) -> pd.DataFrame:
    """Activities (帮扶记录 / 家访 / 心理疏导) normalised through the aliases, with the student's person key
    (`person_id`); rows whose activity is unknown keep activity NA and `activity_raw`."""
    df = _activities_frame(ws).copy()
    df["person_id"] = _finding_id(df["student_key"])
    return df.drop(columns=["student_key"])


# --------------------------------------------------------------------------------------------------- grid


def _calendar_frames(ws: Any) -> tuple[str | None, pd.DataFrame, pd.DataFrame]:
    """The as-of term and its complete school weeks and visit months (empty when the calendar lacks the term)."""
    as_of = ws.as_of if isinstance(ws.as_of, dt.date) else pd.Timestamp(ws.as_of).date()
    if isinstance(as_of, dt.datetime):
        as_of = as_of.date()
    term = terms_calendar.term_for(as_of, getattr(ws, "term", None))
    if term is None:
        warnings.warn(f"校历文件中没有 {getattr(ws, 'term', None) or as_of} 所在学期，未检查周帮扶记录与月家访",
                      stacklevel=3)
    weeks = terms_calendar.school_weeks(term or "", as_of)
    months = terms_calendar.visit_months(term or "", as_of)
    months["month_start"] = pd.to_datetime(months["month"] + "-01").astype("datetime64[us]")
    return term, weeks, months


# A cell (student sid, period pid) is coded as one integer, sid * {periods} + pid: one hash key instead of two, and
# sorting cells sorts by student then period.
GRID_SQL = """
WITH expected AS (
    SELECT DISTINCT c.sid * {periods} + x.pid AS cell
    FROM pairs c JOIN periods x
      ON (c.start_date IS NULL OR c.start_date <= x.first_day)
     AND (c.end_date IS NULL OR c.end_date >= x.first_day)
),
present AS (
    SELECT a.sid * {periods} + x.pid AS cell, COUNT(*) AS n
    FROM acts a JOIN periods x ON CAST(date_trunc('{unit}', a.date) AS TIMESTAMP) = x.period_start
    GROUP BY a.sid * {periods} + x.pid
)
SELECT e.cell, COALESCE(r.n, 0) AS records
FROM expected e LEFT JOIN present r ON r.cell = e.cell
"""

# Per teacher (tid): the grid cells their pairs cover (a cell counts once per teacher), the distinct students of
# those cells and the cells present. A teacher paired with a student once (the usual case) covers distinct cells
# already; only repeated (teacher, student) pairs, whose periods may overlap, need the DISTINCT.
TEACHER_ROLLUP_SQL = """
WITH tp AS (
    SELECT tid, sid, start_date, end_date, COUNT(*) OVER (PARTITION BY tid, sid) AS n
    FROM pairs
),
covered AS (
    SELECT t.tid, g.sid, g.pid, CASE WHEN g.present THEN 1 ELSE 0 END AS present, t.n
    FROM grid g JOIN tp t ON t.sid = g.sid
     AND (t.start_date IS NULL OR t.start_date <= g.first_day)
     AND (t.end_date IS NULL OR t.end_date >= g.first_day)
),
per_student AS (
    SELECT tid, sid, COUNT(*) AS expected, SUM(present) AS present FROM covered WHERE n = 1 GROUP BY tid, sid
    UNION ALL
    SELECT tid, sid, COUNT(*) AS expected, SUM(present) AS present
    FROM (SELECT DISTINCT tid, sid, pid, present FROM covered WHERE n > 1) d
    GROUP BY tid, sid
)
SELECT tid, COUNT(*) AS students, SUM(expected) AS expected, SUM(present) AS present
FROM per_student GROUP BY tid
"""

_DUCKDB: dict[int, duckdb.DuckDBPyConnection] = {}  # by process id; an inherited one is left alone


def _duckdb() -> duckdb.DuckDBPyConnection:
    """A cursor (own connection, own registered views) on one in-memory database per process (a forked worker
    opens its own): opening a database costs tens of milliseconds, a cursor nothing. Settings duckdb.memory_limit /
    threads apply as in the engine."""
    pid = os.getpid()
    if pid not in _DUCKDB:
        from .rules import settings

        con = duckdb.connect()
        cfg = settings().get("duckdb") or {}
        if cfg.get("memory_limit"):
            con.execute(f"SET memory_limit = '{cfg['memory_limit']}'")
        if cfg.get("threads"):
            con.execute(f"SET threads = {int(cfg['threads'])}")
        _DUCKDB[pid] = con
    return _DUCKDB[pid].cursor()


def _cell_order(cell: np.ndarray) -> np.ndarray:
    """Positions that sort the distinct integer cells ascending (a counting pass when the codes are dense)."""
    if len(cell) == 0:
        return np.zeros(0, dtype=np.int64)
    top = int(cell.max()) + 1
    if top > 8 * len(cell) + 1024:
        return np.argsort(cell, kind="stable")
    pos = np.full(top, -1, dtype=np.int64)
    pos[cell] = np.arange(len(cell), dtype=np.int64)
    return pos[pos >= 0]


def _arrow(frame: pd.DataFrame) -> pa.Table:
    return pa.Table.from_pandas(frame, preserve_index=False)


def _group_students(ws: Any) -> pd.DataFrame:
    """Enrolled students in at least one group, with an integer code `sid` for the set work."""

    def build() -> pd.DataFrame:
        m = _memberships(ws)
        m = m[m["group_count"] > 0].reset_index(drop=True)
        return m.assign(sid=np.arange(len(m), dtype=np.int64))

    return cached(ws, "mentoring_group_students", build)


def _group_mentors(ws: Any) -> np.ndarray:
    """Active mentors (distinct teacher_key of the active pairs) of each row of _group_students(ws)."""

    def build() -> np.ndarray:
        gs = _group_students(ws)
        p = _pairs_frame(ws)
        sid = _sid(p["student_key"], gs)
        keep = (sid >= 0) & p["active"].to_numpy(dtype=bool)
        tcode, teachers = pd.factorize(p["teacher_key"].to_numpy()[keep])
        width = max(len(teachers), 1)
        distinct = pd.unique(sid[keep] * width + tcode.astype(np.int64))
        return np.bincount(distinct // width, minlength=len(gs)).astype(np.int64)

    return cached(ws, "mentoring_group_mentors", build)


def _sid(keys: pd.Series, students: pd.DataFrame) -> np.ndarray:
    """Position of each key in students['student_key'] (unique), -1 when absent; an Arrow hash lookup."""
    arr = pa.array(keys.astype("string"), from_pandas=True).cast(pa.large_string())
    values = pa.array(students["student_key"].astype("string"), from_pandas=True).cast(pa.large_string())
    idx = pc.index_in(arr, value_set=values)
    return pc.fill_null(idx, -1).to_numpy(zero_copy_only=False).astype(np.int64)


def coverage_grid(ws: Any) -> dict[str, pd.DataFrame]:
    """The expected (student, week) and (student, month) grids of the group students with a pair, with the number
    of matching records: {'weekly' | 'monthly': [student_key, school, town, period, period_start, period_end,
    first_day, records, present, sid, pid]}."""

    def build() -> dict[str, pd.DataFrame]:
        rules = mentoring_rules()
        _, weeks, months = _calendar_frames(ws)
        gs = _group_students(ws)
        p = _pairs_frame(ws)
        p = pd.DataFrame({"sid": _sid(p["student_key"], gs), "start_date": p["start_date"],
                          "end_date": p["end_date"]})
        p = p[p["sid"] >= 0]
        a = _activities_frame(ws)
        a_sid = _sid(a["student_key"], gs)
        a_date = a["date"].to_numpy()
        a_ok = (a_sid >= 0) & a["date"].notna().to_numpy()
        con = _duckdb()
        try:
            con.register("pairs", _arrow(p))
            out = {}
            specs = (
                ("weekly", "week", weeks.rename(columns={"week": "period", "monday": "period_start",
                                                         "sunday": "period_end"})),
                ("monthly", "month", months.rename(columns={"month": "period", "month_start": "period_start",
                                                            "last_day": "period_end"})),
            )
            for name, unit, periods in specs:
                rule = rules.get(name, {})
                periods = periods[["period", "period_start", "period_end", "first_day"]].reset_index(drop=True)
                periods["pid"] = np.arange(len(periods), dtype=np.int64)
                n_periods = max(len(periods), 1)
                mine = a_ok & (a["activity"] == str(rule.get("activity"))).fillna(False).to_numpy(dtype=bool)
                acts = pd.DataFrame({"sid": a_sid[mine], "date": a_date[mine]})
                con.register("acts", _arrow(acts))
                con.register("periods", _arrow(periods[["pid", "period_start", "first_day"]]))
                res = con.execute(GRID_SQL.replace("{unit}", unit).replace("{periods}", str(n_periods))).fetchnumpy()
                con.unregister("periods")
                con.unregister("acts")
                cell = np.asarray(res["cell"], dtype=np.int64)
                order = _cell_order(cell)  # by student, then period
                cell = cell[order]
                sid = cell // n_periods
                pid = cell % n_periods
                grid = pd.DataFrame({
                    "student_key": gs["student_key"].array.take(sid),
                    "school": gs["school"].array.take(sid),
                    "town": gs["town"].array.take(sid),
                    "period": periods["period"].array.take(pid),
                    "period_start": periods["period_start"].to_numpy()[pid],
                    "period_end": periods["period_end"].to_numpy()[pid],
                    "first_day": periods["first_day"].to_numpy()[pid],
                    "records": np.asarray(res["records"], dtype=np.int64)[order],
                    "sid": sid, "pid": pid,
                })
                grid["present"] = grid["records"] >= int(rule.get("min", 1))
                out[name] = grid
            return out
        finally:
            con.close()

    return cached(ws, "mentoring_grid", build)


def _teacher_rollup(ws: Any) -> dict[str, pd.DataFrame]:
    """Per teacher of the pairs list (row tid of 'teachers': teacher_key, teacher_name, teacher_school): for
    'weekly' / 'monthly', the grid cells their pairs cover ({which}_expected), the distinct students of those cells
    ({which}_students) and the cells present ({which}_present); a teacher without cells has zeros."""

    def build() -> dict[str, Any]:
        gs = _group_students(ws)
        p = _pairs_frame(ws)
        tid, _teachers = pd.factorize(p["teacher_key"])
        info = p.assign(tid=tid).drop_duplicates("tid").set_index("tid").sort_index()[
            ["teacher_key", "teacher_name", "teacher_school"]]
        pairs_ = pd.DataFrame({"tid": tid.astype(np.int64), "sid": _sid(p["student_key"], gs),
                               "start_date": p["start_date"], "end_date": p["end_date"]})
        pairs_ = pairs_[(pairs_["sid"] >= 0).to_numpy() & (pairs_["tid"] >= 0).to_numpy()]
        n = len(info)
        out: dict[str, Any] = {"teachers": info}
        con = _duckdb()
        try:
            con.register("pairs", _arrow(pairs_))
            for which, grid in coverage_grid(ws).items():
                con.register("grid", _arrow(grid[["sid", "pid", "first_day", "present"]]))
                res = con.execute(TEACHER_ROLLUP_SQL).fetchnumpy()
                con.unregister("grid")
                t = np.asarray(res["tid"], dtype=np.int64)
                rolled = {}
                for c in ("students", "expected", "present"):
                    col = np.zeros(n, dtype=np.int64)
                    col[t] = np.asarray(res[c], dtype=np.int64)
                    rolled[f"{which}_{c}"] = col
                out[which] = pd.DataFrame(rolled)
        finally:
            con.close()
        return out

    return cached(ws, "mentoring_teacher_rollup", build)


# --------------------------------------------------------------------------------------------------- findings


def _finding_id(keys: pd.Series) -> pd.Series:
    """A finding's id_number: the person key unless it is a name-only placeholder."""
    k = keys.astype("string")
    return k.mask(k.str.startswith("nm:").fillna(False), pd.NA)


def _teacher_text(p: pd.DataFrame, keys: pd.Series) -> pd.Series:
    """student_key -> '教师甲、教师乙' (teachers of the student's pairs), for the given keys only."""
    a = p[isin(p["student_key"], keys.drop_duplicates()) & p["teacher_name"].notna().to_numpy()]
    a = a.sort_values(["student_key", "teacher_name"], kind="stable").drop_duplicates(["student_key", "teacher_key"])
    a = a.assign(n=a.groupby("student_key").cumcount())
    wide = a.pivot(index="student_key", columns="n", values="teacher_name")
    if wide.empty:
        return pd.Series(dtype="string")
    text = wide[0].astype("string")
    for k in wide.columns[1:]:
        more = wide[k].astype("string")
        text = text.where(more.isna(), text + "、" + more)
    return text


def _gap_teachers(ws: Any) -> pd.Series:
    """_teacher_text of the students with a weekly or monthly gap (both finding kinds use it)."""

    def build() -> pd.Series:
        keys = [g.loc[~g["present"].to_numpy(dtype=bool), "student_key"] for g in coverage_grid(ws).values()]
        return _teacher_text(_pairs_frame(ws), pd.concat(keys, ignore_index=True))

    return cached(ws, "mentoring_gap_teachers", build)


def findings(ws: Any) -> pd.DataFrame:
    """mentor_missing, weekly_record_gap, home_visit_gap and pair_stale, in the findings table's shape."""
    # the rows of each kind, brought into the findings shape once (as combine() would do to each kind's table)
    return combine(_mentor_missing_rows(ws), _record_gap_rows(ws, "weekly"), _record_gap_rows(ws, "monthly"),
                   _pair_stale_rows(ws))


def _shaped(rows: pd.DataFrame | None) -> pd.DataFrame:
    return empty_findings() if rows is None else as_findings(rows)


def mentor_missing(ws: Any) -> pd.DataFrame:
    """Enrolled group students with fewer than min_mentors (default 1) active mentors."""
    return _shaped(_mentor_missing_rows(ws))


def _mentor_missing_rows(ws: Any) -> pd.DataFrame | None:
    rules = mentoring_rules()
    need = int(rules.get("min_mentors", 1))
    m = _group_students(ws)  # enrolled students in at least one group
    allp = _pairs_frame(ws)
    m = m.assign(mentors=_group_mentors(ws))
    m = m[m["mentors"] < need]
    if m.empty:
        return None
    listed = isin(m["student_key"], allp["student_key"])
    why = np.where(m["mentors"] > 0,
                   "；结对教师" + m["mentors"].astype("string") + "名，少于要求的" + str(need) + "名",
                   np.where(listed, "；结对已结束或尚未开始，目前无帮扶教师", "；师生结对名单中无该生"))
    detail = "五类特殊群体：" + m["groups"] + "；" + m["school"].fillna("") + why
    out = pd.DataFrame({
        "kind": "mentor_missing", "systems": "registry,pairs", "id_number": _finding_id(m["student_key"]),
        "name": m["name"], "town": m["town"], "school": m["school"], "detail": detail,
        "suggestion": finding_kinds()["mentor_missing"]["hint"],
    })
    return out


def _month_day(dates: pd.Series) -> pd.Series:
    """`9月16日` (portable: no platform-specific strftime flags)."""
    return dates.dt.month.astype("string") + "月" + dates.dt.day.astype("string") + "日"


def record_gaps(ws: Any, which: str = "weekly") -> pd.DataFrame:
    """weekly_record_gap (which='weekly') or home_visit_gap ('monthly'): one row per student and period."""
    return _shaped(_record_gap_rows(ws, which))


def _record_gap_rows(ws: Any, which: str) -> pd.DataFrame | None:
    grid = coverage_grid(ws)[which]
    gaps = grid[~grid["present"]]
    if gaps.empty:
        return None
    kind = "weekly_record_gap" if which == "weekly" else "home_visit_gap"
    rule = mentoring_rules().get(which, {})
    gs = _group_students(ws)  # the grid's sid is the row here
    sid = gaps["sid"].to_numpy()
    keys = gaps["student_key"]
    teachers = keys.map(_gap_teachers(ws)).fillna("")
    start = gaps["period_start"]
    if which == "weekly":
        what = gaps["period"] + "（" + _month_day(start) + "—" + _month_day(gaps["period_end"]) + "）"
    else:
        what = start.dt.year.astype("string") + "年" + start.dt.month.astype("string") + "月"
    records = gaps["records"].astype("string")
    activity = str(rule.get("activity"))
    need = int(rule.get("min", 1))
    detail = what + np.where(gaps["records"] == 0, "无" + activity, activity + records + "次，少于" + str(need) + "次") \
        + "；结对教师：" + teachers
    out = pd.DataFrame({
        "kind": kind, "systems": "pairs,activities", "id_number": _finding_id(keys),
        **{c: pd.Series(gs[c].array.take(sid), index=gaps.index) for c in ("name", "town", "school")},
        "period": gaps["period"], "detail": detail, "suggestion": finding_kinds()[kind]["hint"],
    })
    return out


def _registry_trace(ws: Any, keys: pd.Series) -> pd.Series:
    """Evidence for a student not enrolled now: the latest registry row of the person (any term), e.g.
    `学籍最近记录：2019春 旬阳县…小学（在读）`, else `学籍中无此人`."""
    reg = linked_tables(ws).get("registry")
    out = pd.Series("学籍中无此人", index=keys.index, dtype="string")
    if reg is None or reg.empty:
        return out
    rk = record_keys(reg)
    mine = isin(rk, keys)
    rows = reg[[c for c in ("term", "status", "school_name") if c in reg.columns]][mine].assign(_key=rk[mine])
    if rows.empty:
        return out
    term = _col(rows, "term").astype("string").fillna("")
    # 2019秋 sorts after 2019春 (秋 > 春 as text), as the school year runs
    rows = rows.assign(_term=term).sort_values(["_key", "_term"], kind="stable").drop_duplicates("_key", keep="last")
    status = _col(rows, "status").astype("string").fillna("在读")
    text = ("学籍最近记录：" + rows["_term"] + " " + _col(rows, "school_name").astype("string").fillna("")
            + "（" + status + "）")
    found = keys.map(pd.Series(text.to_numpy(), index=rows["_key"].to_numpy()))
    return found.fillna(out).astype("string")


def _school_aliases(p: pd.DataFrame, known: pd.DataFrame) -> dict[str, str]:
    """School names as a pair list writes them (蜀河中心小学) -> the registry's name (蜀河镇中心小学), learnt from the
    list's own students: a list school whose enrolled students are mostly (over half, at least 2) in one registry
    school is that school. Registry names map to themselves."""
    reg_names = set(known["school_norm"].dropna().unique())
    listed = p[["student_key", "school_name"]].assign(list_norm=norm_school(p["school_name"].astype("string")))
    listed = listed.dropna(subset=["list_norm"])
    listed = listed[~isin(listed["list_norm"], known["school_norm"])]
    if listed.empty:
        return {}
    both = listed.merge(known, on="student_key", how="inner").drop_duplicates(["student_key", "list_norm"])
    if both.empty:
        return {}
    counts = both.groupby(["list_norm", "school_norm"]).size().rename("n").reset_index()
    totals = counts.groupby("list_norm")["n"].transform("sum")
    best = counts.assign(share=counts["n"] / totals).sort_values(["list_norm", "n"], ascending=[True, False])
    best = best.drop_duplicates("list_norm")
    best = best[(best["share"] > 0.5) & (best["n"] >= 2) & ~best["list_norm"].isin(reg_names)]
    return dict(zip(best["list_norm"], best["school_norm"]))


def pair_stale(ws: Any) -> pd.DataFrame:
    """Active pairs whose student is not enrolled in the as-of term, or whose teacher's school is none of the
    student's registry schools; one finding per student."""
    return _shaped(_pair_stale_rows(ws))


def _pair_stale_rows(ws: Any) -> pd.DataFrame | None:
    p = _pairs_frame(ws)
    p = p[["pair_no", "student_key", "student_name", "school_name", "town", "teacher_name", "teacher_school",
           "teacher_school_norm"]][p["active"].to_numpy(dtype=bool)]
    reg = enrolled_registry(ws)
    p["enrolled"] = isin(p["student_key"], reg["student_key"])
    known = reg[["student_key", "school_norm"]].dropna(subset=["school_norm"]).drop_duplicates()
    alias = _school_aliases(_pairs_frame(ws), known)
    if alias:
        ts = p["teacher_school_norm"].astype("string")
        p["teacher_school_norm"] = ts.map(alias).astype("string").fillna(ts)
    hit = pair_isin(p["student_key"], p["teacher_school_norm"], known["student_key"], known["school_norm"])
    comparable = isin(p["student_key"], known["student_key"]) & p["teacher_school_norm"].notna().to_numpy()
    p["same_school"] = ~comparable | hit
    bad = p[~p["enrolled"] | ~p["same_school"]].copy()
    if bad.empty:
        return None
    first = reg[["student_key", "name", "town", "school"]].drop_duplicates("student_key").set_index("student_key")
    reg_school = bad["student_key"].map(first["school"])
    reason = np.where(
        ~bad["enrolled"],
        "学生在本学期学籍中无在读记录（结对学校：" + bad["school_name"].fillna("未填写") + "；"
        + _registry_trace(ws, bad["student_key"]) + "）",
        "帮扶教师所在学校（" + bad["teacher_school"].fillna("未填写") + "）与学生学籍学校（" + reg_school.fillna("")
        + "）不同",
    )
    bad["detail"] = "教师" + bad["teacher_name"].fillna("（未填写）") + "：" + pd.Series(reason, index=bad.index)
    bad["fid"] = _finding_id(bad["student_key"]).fillna(
        "row:" + bad["pair_no"].astype("string"))
    detail = bad.groupby("fid", sort=False)["detail"].agg(lambda s: "；".join(dict.fromkeys(s)))
    one = bad.drop_duplicates("fid").set_index("fid")
    enrolled_one = one["enrolled"]
    out = pd.DataFrame({
        "kind": "pair_stale", "systems": "pairs,registry",
        "id_number": _finding_id(one["student_key"]),
        "name": np.where(enrolled_one, one["student_key"].map(first["name"]), one["student_name"]),
        "town": np.where(enrolled_one, one["student_key"].map(first["town"]), one["town"]),
        "school": np.where(enrolled_one, one["student_key"].map(first["school"]), one["school_name"]),
        "detail": detail.reindex(one.index).to_numpy(),
        "suggestion": finding_kinds()["pair_stale"]["hint"],
    }).reset_index(drop=True)
    for c in ("name", "town", "school"):
        out[c] = out[c].astype("string")
    return out


# --------------------------------------------------------------------------------------------------- rates

def _rate(num: pd.Series, den: pd.Series) -> pd.Series:
    den = den.astype("float64")
    return (num.astype("float64") / den.where(den > 0)).astype("Float64")


def _rollup(code: np.ndarray, n: int, sid: np.ndarray, present: np.ndarray, prefix: str,
            student_code: np.ndarray | None = None) -> pd.DataFrame:
    """Per group code 0..n-1 of the grid cells: distinct students, expected cells and present cells (numpy
    counting). student_code: the code of each student (sid) when a student belongs to one group only (school,
    town): distinct students are then the grid's students of that code; None: (code, sid) pairs are counted."""
    code = code.astype(np.int64)
    expected = np.bincount(code, minlength=n)
    pres = np.bincount(code, weights=present.astype(np.int64), minlength=n).round().astype(np.int64)
    if student_code is not None:
        seen = np.zeros(len(student_code), dtype=bool)
        seen[sid] = True
        students = np.bincount(student_code[seen], minlength=n)
    else:
        width = int(sid.max()) + 1 if len(sid) else 1
        pairs_ = pd.unique(code * width + sid.astype(np.int64))  # a hash pass: much faster than np.unique's
        students = np.bincount(pairs_ // width, minlength=n)
    return pd.DataFrame({f"{prefix}_students": students, f"{prefix}_expected": expected,
                         f"{prefix}_present": pres})


def compliance(ws: Any, level: str = "school") -> pd.DataFrame:
    """Reporting completeness (like DHIS2): expected vs present weekly records and monthly visits, with rates,
    per school, town, teacher, week or month. School / town rows also carry the group students, those with a
    mentor and the mentor rate. A teacher's expected cells are the weeks / months their pairs cover; a cell is
    present when the student has the record (from any of their mentors), as in the findings."""
    if level not in LEVELS:
        raise ValueError(f"level 只能是 {'、'.join(LEVELS)} 之一，而不是 {level!r}")
    keys = LEVEL_KEYS[level]
    whiches = {"week": ["weekly"], "month": ["monthly"]}.get(level, ["weekly", "monthly"])
    grids = coverage_grid(ws)
    parts = []
    if level == "teacher":
        tr = _teacher_rollup(ws)
        labels = tr["teachers"].reset_index(drop=True)
        parts.extend(tr[which] for which in whiches)
    elif level in ("week", "month"):
        which = whiches[0]
        g = grids[which]
        labels = g.drop_duplicates("pid").sort_values("pid")[["pid", "period"]]
        n = int(labels["pid"].max()) + 1 if len(labels) else 0
        labels = labels.set_index("pid").reindex(range(n)).reset_index(drop=True).rename(columns={"period": level})
        parts.append(_rollup(g["pid"].to_numpy(), n, g["sid"].to_numpy(), g["present"].to_numpy(), which))
    else:
        gs = _group_students(ws)
        gcode = gs.groupby(keys, dropna=False, sort=False).ngroup().to_numpy()
        labels = gs.assign(_code=gcode).drop_duplicates("_code").sort_values("_code")[keys].reset_index(drop=True)
        for which in whiches:
            g = grids[which]
            sid = g["sid"].to_numpy()
            parts.append(_rollup(gcode[sid], len(labels), sid, g["present"].to_numpy(), which, student_code=gcode))
    base = None
    if level in ("school", "town"):
        # every label (group students' school / town) is a row, with or without expected cells
        need = int(mentoring_rules().get("min_mentors", 1))
        paired = (_group_mentors(ws) >= need).astype(np.int64)
        base = pd.DataFrame({"group_students": np.bincount(gcode, minlength=len(labels)).astype(np.int64),
                             "paired_students": np.bincount(gcode, weights=paired, minlength=len(labels))
                             .round().astype(np.int64)})
        out = pd.concat([labels, base] + parts, axis=1)
    else:
        out = pd.concat([labels] + parts, axis=1)
        out = out[sum(out[f"{w}_expected"] for w in whiches) > 0] if level != "teacher" else out
    for which in whiches:
        for c in ("students", "expected", "present"):
            col = f"{which}_{c}"
            out[col] = out[col].fillna(0).astype("int64")
        out[f"{which}_rate"] = _rate(out[f"{which}_present"], out[f"{which}_expected"])
    exp = sum(out[f"{w}_expected"] for w in whiches)
    pres = sum(out[f"{w}_present"] for w in whiches)
    out["rate"] = _rate(pd.Series(pres, index=out.index), pd.Series(exp, index=out.index))
    if base is not None:
        out["group_students"] = out["group_students"].fillna(0).astype("int64")
        out["paired_students"] = out["paired_students"].fillna(0).astype("int64")
        out["mentor_rate"] = _rate(out["paired_students"], out["group_students"])
    for k in keys:
        out[k] = out[k].astype("string")
    out = out[keys + [c for c in out.columns if c not in keys]]
    return out.sort_values(keys, kind="stable", na_position="last").reset_index(drop=True)


def weakest(ws: Any, level: str = "school", n: int = 10) -> pd.DataFrame:
    """The n rows of compliance(ws, level) with the lowest overall rate (most expected first on ties);
    rows with nothing expected are left out."""
    c = compliance(ws, level)
    c = c[c["rate"].notna()]
    exp = sum(c[col] for col in c.columns if col.endswith("_expected"))
    c = c.assign(_exp=exp).sort_values(["rate", "_exp"], ascending=[True, False], kind="stable")
    return c.drop(columns="_exp").head(n).reset_index(drop=True)


# --------------------------------------------------------------------------------------------------- drill-down


def timeline(ws: Any, person_id: str) -> pd.DataFrame:
    """One student's story, sorted by date: groups (undated, first), pairs, activities and the gaps found.
    Columns: date, event, teacher, school, detail."""
    key = str(person_id).strip()
    rows: list[pd.DataFrame] = []
    m = _memberships(ws)
    me = m[(m["student_key"] == key) | (m["person_id"] == key) | (m["id_number"] == key)]
    if len(me):
        key = str(me["student_key"].iloc[0])
        r = me.iloc[0]
        rows.append(pd.DataFrame({
            "date": [pd.NaT], "event": ["五类特殊群体"], "teacher": [pd.NA], "school": [r["school"]],
            "detail": [(r["groups"] or "不属于五类特殊群体") + f"（{r['school'] or ''} {r['stage'] or ''}"
                       f"{'' if pd.isna(r['grade']) else str(r['grade']) + '年级'}）"],
        }))
    p = _pairs_frame(ws)
    p = p[p["student_key"] == key]
    if len(p):
        rows.append(pd.DataFrame({
            "date": p["start_date"], "event": "结对",
            "teacher": p["teacher_name"], "school": p["teacher_school"],
            "detail": ("帮扶类别：" + p["group_raw"].astype("string").fillna("未填写")
                       + np.where(p["end_date"].notna(), "；结对结束：" + p["end_date"].dt.strftime("%Y-%m-%d")
                                  .fillna(""), "")),
        }))
    a = _activities_frame(ws)
    a = a[a["student_key"] == key]
    if len(a):
        rows.append(pd.DataFrame({
            "date": a["date"], "event": a["activity"].fillna(a["activity_raw"].astype("string")),
            "teacher": a["teacher_name"], "school": a["school_name"],
            "detail": a["content"].astype("string"),
        }))
    for which, label in (("weekly", "周帮扶记录缺失"), ("monthly", "月家访缺失")):
        g = coverage_grid(ws)[which]
        g = g[(g["student_key"] == key) & ~g["present"]]
        if len(g):
            rows.append(pd.DataFrame({"date": g["period_start"], "event": label, "teacher": pd.NA,
                                      "school": pd.NA, "detail": g["period"]}))
    if not rows:
        return pd.DataFrame({"date": pd.Series(dtype="datetime64[us]"),
                             **{c: pd.Series(dtype="string") for c in ("event", "teacher", "school", "detail")}})
    out = pd.concat(rows, ignore_index=True)
    out["date"] = pd.to_datetime(out["date"]).astype("datetime64[us]")
    for c in ("event", "teacher", "school", "detail"):
        out[c] = out[c].astype("string")
    return out.sort_values("date", kind="stable", na_position="first").reset_index(drop=True)
