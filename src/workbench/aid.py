"""资助 (student aid): the policy table, entitlements, coverage and the four aid finding kinds.

Rules live in `rules/aid_policy_*.csv` (selected by settings()['aid_policy']); the set work (aid records x registry
x roster x policy, anti-joins, rollups) is SQL on an in-process DuckDB connection, kept to what Spark SQL accepts.
Only (item, term) pairs that the loaded aid lists contain, in terms whose 学籍 is loaded, are judged: anything else
is reported as 数据未覆盖 (not covered by the data), never as missed.
"""

from __future__ import annotations

import sys
import unicodedata
from collections.abc import Mapping
from datetime import date
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa

from .findings import as_findings, empty_findings
from .rules import finding_kinds, rule_path, settings

NOT_COVERED = "数据未覆盖"
ENROLLED_STATUSES = ("在读", "在校", "转入")  # registry status NA also means 在读
POOR = "建档立卡"
# canonical difficulty statuses of the policy table; free text of 困难类型 / 认定原因 is mapped onto them
_STATUS_PATTERNS = [
    ("建档立卡", POOR), ("低保", "低保"), ("特困", "特困供养"), ("五保", "特困供养"), ("孤儿", "孤儿"),
    ("残疾", "残疾"),
]
_MIN_CONTAINED = 6  # a known item name this long may match inside a longer 资助项目 as written
_NO_STATUS = {"", "无", "否", "非困难", "不困难", "-", "—", "/"}
SYSTEM_COLUMNS = {
    "registry": ["term", "school_code", "school_name", "town", "name", "id_number", "stage", "grade", "boarding",
                 "status", "source_file", "source_row"],
    "aid": ["term", "school_name", "town", "name", "id_number", "item_raw", "item", "amount", "difficulty_level",
            "difficulty_type", "source_file", "source_row"],
    "roster": ["town", "village", "name", "id_number"],
}
_POLICY_NUMERIC = ["grade_min", "grade_max", "semester_amount", "yearly_amount"]
_POLICY_TEXT = ["item", "label", "family", "stage", "boarding", "level", "amount_rule", "terms", "accepted_statuses",
                "entitled_statuses", "aliases"]


# --------------------------------------------------------------------------------------------------- policy table

def policy(name: str | None = None) -> pd.DataFrame:
    """The aid policy table (资助标准) in force: settings()['aid_policy'], or `name` (a rules file or absolute path)."""
    path = rule_path(name or settings()["aid_policy"])
    if not path.exists():
        raise FileNotFoundError(f"资助标准文件不存在：{path}")
    table = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    missing = [c for c in _POLICY_TEXT + _POLICY_NUMERIC + ["once"] if c not in table.columns]
    if missing:
        raise ValueError(f"资助标准文件 {path.name} 缺少列：{'、'.join(missing)}")
    for col in table.columns:
        table[col] = table[col].str.strip().replace("", pd.NA)
    for col in _POLICY_NUMERIC:
        table[col] = pd.to_numeric(table[col], errors="coerce")
    table["once"] = table["once"].fillna("false").str.lower().isin(["true", "1", "是", "yes"])
    table["amount_rule"] = table["amount_rule"].fillna("exact")
    bad = table["item"].isna()
    if bad.any():
        raise ValueError(f"资助标准文件 {path.name} 第 {', '.join(str(i + 2) for i in table.index[bad])} 行缺少项目代码 item")
    return table.reset_index(drop=True)


def _norm_text(values: pd.Series) -> pd.Series:
    """Full-width fold (NFKC) and remove every space, for matching item names as written."""
    s = values.astype("string")
    s = s.map(lambda v: unicodedata.normalize("NFKC", v) if isinstance(v, str) else v, na_action="ignore")
    return s.astype("string").str.replace(r"\s+", "", regex=True).replace("", pd.NA)


def _item_lookup(table: pd.DataFrame) -> dict[str, str]:
    names: list[tuple[str, str]] = []
    for item, label, aliases in table[["item", "label", "aliases"]].itertuples(index=False):
        names.append((item, item))
        if isinstance(label, str):
            names.append((label, item))
        if isinstance(aliases, str):
            names += [(a, item) for a in aliases.split(";") if a.strip()]
    keys = _norm_text(pd.Series([n for n, _ in names], dtype="string"))
    lookup: dict[str, str] = {}
    for key, (_, item) in zip(keys, names):
        if isinstance(key, str):
            lookup.setdefault(key, item)
    return lookup


def canonical_item(raw_names: pd.Series, table: pd.DataFrame | None = None) -> pd.Series:
    """Map 资助项目 as written to the policy's item keys (through label and aliases); NA when unknown."""
    table = policy() if table is None else table
    lookup = _item_lookup(table)
    raw = pd.Series(raw_names).astype("string")
    distinct = pd.Series(raw.dropna().unique(), dtype="string")
    norm = _norm_text(distinct)
    found = norm.map(lookup)
    # second chance: drop a parenthetical suffix such as 普通高中国家助学金（特别困难） or 一补(寄宿生)
    stripped = norm.str.replace(r"[(\[【].*?[)\]】]", "", regex=True)
    found = found.fillna(stripped.map(lookup))
    # third chance: the longest known name of >= 6 characters contained in it (农村义务教育家庭经济困难寄宿生生活补助);
    # short names such as 国家助学金 are too ambiguous to match inside another name (高职国家助学金)
    long_names = sorted((k for k in lookup if len(k) >= _MIN_CONTAINED), key=len, reverse=True)
    for i in found.index[found.isna() & stripped.notna()]:  # a loop over the few distinct unknown names
        hit = next((k for k in long_names if k in stripped[i]), None)
        if hit is not None:
            found[i] = lookup[hit]
    mapping = dict(zip(distinct, found))
    return pd.Series(raw.map(mapping), index=raw.index, dtype="string", name="item")


def item_labels(table: pd.DataFrame | None = None) -> dict[str, str]:
    """item key -> Chinese label (项目名称)."""
    table = policy() if table is None else table
    return dict(table.drop_duplicates("item")[["item", "label"]].itertuples(index=False))


def _policy_rows(table: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One row per (policy row, stage, season) and one row per (policy row, accepted/entitled, status)."""
    rows = table.reset_index(drop=True).copy()
    rows["pid"] = rows.index.astype("int64")
    rows["stage"] = rows["stage"].str.split(";")
    rows["season"] = rows["terms"].fillna("秋;春").str.split(";")
    rows = rows.explode("stage").explode("season")
    rows["stage"] = rows["stage"].str.strip()
    rows["season"] = rows["season"].str.strip()
    rows["grade_min"] = rows["grade_min"].fillna(0)
    rows["grade_max"] = rows["grade_max"].fillna(99)
    pol = rows[["pid", "item", "label", "stage", "season", "grade_min", "grade_max", "boarding", "level",
                "semester_amount", "yearly_amount", "amount_rule", "once"]].reset_index(drop=True)
    statuses = []
    for kind, col in (("accepted", "accepted_statuses"), ("entitled", "entitled_statuses")):
        s = table[[col]].reset_index(drop=True).copy()
        s["pid"] = s.index.astype("int64")
        s["status"] = s[col].str.split(";")
        s = s.explode("status").dropna(subset=["status"])
        s["status"] = s["status"].str.strip()
        s["kind"] = kind
        statuses.append(s[["pid", "kind", "status"]])
    return pol, pd.concat(statuses, ignore_index=True)


# --------------------------------------------------------------------------------------------------- inputs

def _frames(ws: Any) -> Mapping[str, pd.DataFrame]:
    if isinstance(ws, Mapping):
        return ws
    for attr in ("frames", "tables", "systems", "data"):
        value = getattr(ws, attr, None)
        if isinstance(value, Mapping):
            return value
    return {key: getattr(ws, key) for key in ("registry", "aid", "roster") if isinstance(getattr(ws, key, None),
                                                                                       pd.DataFrame)}


def _as_of(ws: Any) -> date | None:
    return ws.get("as_of") if isinstance(ws, Mapping) else getattr(ws, "as_of", None)


def _fallback_person_ids(frames: Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The frames aid needs (registry, aid, roster), with person_id = the ID where it is valid when missing."""
    out = {}
    for key in SYSTEM_COLUMNS:
        df = frames.get(key)
        if not isinstance(df, pd.DataFrame):
            continue
        if "person_id" not in df.columns:
            df = df.copy(deep=False)
            if "id_number" in df.columns:
                ids = df["id_number"].astype("string")
                valid = (df["id_valid"].astype("boolean").fillna(False) if "id_valid" in df.columns
                         else ids.notna())
                df["person_id"] = ids.where(valid.astype(bool), pd.NA)
            else:
                df["person_id"] = pd.Series(pd.NA, index=df.index, dtype="string")
        out[key] = df
    return out


def linked_frames(ws: Any) -> dict[str, pd.DataFrame]:
    """System frames with `person_id` (workbench.link when present, else the ID where it is valid)."""
    frames = _frames(ws)
    needed = [frames[k] for k in SYSTEM_COLUMNS if isinstance(frames.get(k), pd.DataFrame)]
    if needed and all("person_id" in df.columns for df in needed):
        return _fallback_person_ids(frames)
    try:
        from . import link
    except ModuleNotFoundError as exc:
        if exc.name != f"{__package__}.link":
            raise
        link = None
    if link is not None and hasattr(link, "attach_person_ids"):
        try:
            return _fallback_person_ids(link.attach_person_ids(ws, _as_of(ws)))
        except Exception as exc:  # noqa: BLE001 - the aid check still runs on valid IDs
            print(f"警告：跨系统人员关联失败（{type(exc).__name__}），资助核查仅按有效身份证号匹配", file=sys.stderr)
    return _fallback_person_ids(frames)


def _prepare(frame: pd.DataFrame | None, system: str) -> pd.DataFrame:
    cols = SYSTEM_COLUMNS[system] + ["person_id", "id_reason"]
    frame = frame if frame is not None else pd.DataFrame()
    df = pd.DataFrame({col: (frame[col].reset_index(drop=True) if col in frame.columns
                             else pd.Series(pd.NA, index=pd.RangeIndex(len(frame)), dtype="object"))
                       for col in cols}, index=pd.RangeIndex(len(frame)))
    for col in cols:
        if col not in ("grade", "amount", "source_row"):
            df[col] = df[col].astype("string")
    if "source_row" in df.columns:
        df["source_row"] = pd.to_numeric(df["source_row"], errors="coerce").astype("Int64")
    # the person key: the canonical ID where linked, else the record's normalised ID (never a truncated or empty one)
    own = df["id_number"].where(~df["id_reason"].isin(["precision_lost", "empty"]).fillna(False), pd.NA)
    df["pkey"] = df["person_id"].fillna(own).astype("string")
    if "grade" in df.columns:
        df["grade"] = pd.to_numeric(df["grade"], errors="coerce").astype("Int64")
    if "term" in df.columns:
        df["season"] = df["term"].str[-1:]
    if "amount" in df.columns:
        df["amount"] = pd.to_numeric(df["amount"], errors="coerce").astype("float64")
    df["rid"] = pd.RangeIndex(len(df)).astype("int64")
    return df


def _record_statuses(aid: pd.DataFrame) -> pd.DataFrame:
    """(rid, status) for the difficulty types written on each aid record (建档立卡 claims are dropped here)."""
    types = pd.Series(aid["difficulty_type"].dropna().unique(), dtype="string")
    s = pd.DataFrame({"difficulty_type": types, "token": types.str.split(r"[、,，;；/|\s]+", regex=True)})
    s = s.explode("token")
    s["token"] = s["token"].astype("string").str.strip()
    s = s[~s["token"].isin(_NO_STATUS) & s["token"].notna()]
    status = pd.Series("其他困难", index=s.index, dtype="string")
    for pattern, value in reversed(_STATUS_PATTERNS):
        status = status.mask(s["token"].str.contains(pattern, regex=False), value)
    s["status"] = status
    s = s.loc[s["status"] != POOR, ["difficulty_type", "status"]].drop_duplicates()
    out = aid[["rid", "difficulty_type"]].dropna().merge(s, on="difficulty_type")
    return out[["rid", "status"]].sort_values(["rid", "status"]).reset_index(drop=True)


# --------------------------------------------------------------------------------------------------- SQL

_SQL_BASE = """
CREATE TEMP TABLE reg_terms AS SELECT DISTINCT term FROM reg WHERE term IS NOT NULL;

CREATE TEMP TABLE enr AS
SELECT r.term, r.season, r.pkey, r.stage, r.grade, r.boarding, r.school_name, r.town, r.name
FROM reg r
JOIN (SELECT MIN(rid) AS rid FROM reg
      WHERE pkey IS NOT NULL AND term IS NOT NULL AND (status IS NULL OR status IN ({enrolled}))
      GROUP BY term, pkey) f ON f.rid = r.rid;

CREATE TEMP TABLE poor AS
SELECT pkey, MIN(town) AS town, MIN(village) AS village FROM ros WHERE pkey IS NOT NULL GROUP BY pkey;

-- the (item, term) pairs the data can judge: in a loaded aid list, in a term whose registry is loaded
CREATE TEMP TABLE covered AS
SELECT DISTINCT a.item, a.term, a.season FROM aid a JOIN reg_terms t ON t.term = a.term WHERE a.item IS NOT NULL;

CREATE TEMP TABLE rec AS
SELECT a.rid, a.term, a.season, a.pkey, a.item, a.amount, a.difficulty_level, a.difficulty_type, a.name, a.school_name,
       a.town AS aid_town,
       e.pkey IS NOT NULL AS enrolled, e.stage, e.grade, e.boarding, e.school_name AS reg_school, e.town AS reg_town,
       e.name AS reg_name, p.pkey IS NOT NULL AS in_roster, p.town AS roster_town, p.village,
       CASE WHEN p.pkey IS NOT NULL THEN '特别困难' ELSE a.difficulty_level END AS person_level
FROM aid a
JOIN reg_terms t ON t.term = a.term
LEFT JOIN enr e ON e.term = a.term AND e.pkey = a.pkey
LEFT JOIN poor p ON p.pkey = a.pkey
WHERE a.item IS NOT NULL AND a.pkey IS NOT NULL;

CREATE TEMP TABLE rec_status AS
SELECT rid, status FROM rstat
UNION
SELECT rid, '建档立卡' AS status FROM rec WHERE in_roster;

-- every policy row a record could be paid under (same item, season, stage and grade)
CREATE TEMP TABLE rec_match AS
SELECT r.rid, p.pid, p.level, p.semester_amount, p.yearly_amount, p.amount_rule,
       (p.boarding IS NULL OR r.boarding IS NULL OR p.boarding = r.boarding) AS boarding_ok,
       (p.level IS NULL OR r.person_level IS NULL OR p.level = r.person_level) AS level_ok
FROM rec r
JOIN pol p ON p.item = r.item AND p.season = r.season AND p.stage = r.stage
          AND (r.grade IS NULL OR (r.grade >= p.grade_min AND r.grade <= p.grade_max));

CREATE TEMP TABLE rec_accept AS
SELECT DISTINCT m.rid, m.pid
FROM rec_match m
JOIN pol_status ps ON ps.pid = m.pid AND ps.kind = 'accepted'
LEFT JOIN rec_status rs ON rs.rid = m.rid AND rs.status = ps.status
WHERE m.boarding_ok AND (ps.status = '全体' OR rs.rid IS NOT NULL);

CREATE TEMP TABLE rec_judged AS
SELECT r.*,
       COALESCE(s.season_ok, FALSE) AS season_ok,
       COALESCE(m.stage_ok, FALSE) AS stage_ok,
       COALESCE(m.boarding_ok, FALSE) AS boarding_ok,
       COALESCE(m.status_ok, FALSE) AS status_ok
FROM rec r
LEFT JOIN (SELECT DISTINCT item, season, TRUE AS season_ok FROM pol) s ON s.item = r.item AND s.season = r.season
LEFT JOIN (
  SELECT m.rid, TRUE AS stage_ok, MAX(CASE WHEN m.boarding_ok THEN 1 ELSE 0 END) = 1 AS boarding_ok,
         MAX(CASE WHEN ac.rid IS NOT NULL THEN 1 ELSE 0 END) = 1 AS status_ok
  FROM rec_match m LEFT JOIN rec_accept ac ON ac.rid = m.rid AND ac.pid = m.pid
  GROUP BY m.rid
) m ON m.rid = r.rid;

-- standards for an eligible record: accepted rows of its level (any level when none of them has its level)
CREATE TEMP TABLE rec_standard AS
SELECT m.rid, m.semester_amount, m.yearly_amount, m.amount_rule, m.level_ok
FROM rec_match m JOIN rec_accept ac ON ac.rid = m.rid AND ac.pid = m.pid;

CREATE TEMP TABLE rec_amount AS
SELECT s.rid,
       MAX(CASE WHEN s.amount_rule = 'none' THEN 1
                WHEN r.amount IS NULL THEN 0
                WHEN s.amount_rule = 'max'
                     THEN CASE WHEN r.amount <= COALESCE(s.semester_amount, s.yearly_amount) + 0.005 THEN 1 ELSE 0 END
                WHEN ABS(r.amount - s.semester_amount) < 0.005 THEN 1 ELSE 0 END) = 1 AS amount_ok,
       MIN(CASE WHEN s.amount_rule = 'max' THEN COALESCE(s.semester_amount, s.yearly_amount)
                ELSE s.semester_amount END) AS std_min,
       MAX(CASE WHEN s.amount_rule = 'max' THEN COALESCE(s.semester_amount, s.yearly_amount)
                ELSE s.semester_amount END) AS std_max,
       MAX(s.amount_rule) AS amount_rule
FROM rec_standard s
JOIN rec r ON r.rid = s.rid
JOIN (SELECT rid, MAX(CASE WHEN level_ok THEN 1 ELSE 0 END) AS any_level FROM rec_standard GROUP BY rid) l
  ON l.rid = s.rid
WHERE s.level_ok OR l.any_level = 0
GROUP BY s.rid;

-- who is entitled (应助) to each item in each term ({scope})
CREATE TEMP TABLE ent AS
SELECT e.term, e.pkey, p.item, MIN(p.semester_amount) AS std_amount,
       MAX(CASE WHEN ps.status = '全体' THEN 0 ELSE 1 END) AS by_roster
FROM enr e
JOIN pol p ON p.season = e.season AND p.stage = e.stage
          AND (e.grade IS NULL OR (e.grade >= p.grade_min AND e.grade <= p.grade_max))
          AND (p.boarding IS NULL OR e.boarding IS NULL OR p.boarding = e.boarding)
JOIN pol_status ps ON ps.pid = p.pid AND ps.kind = 'entitled'
{covered_join}
LEFT JOIN poor r ON r.pkey = e.pkey
WHERE ps.status = '全体' OR (ps.status = '建档立卡' AND r.pkey IS NOT NULL)
GROUP BY e.term, e.pkey, p.item;
"""

_SQL_MISSED = """
SELECT e.term, e.pkey, e.item, e.std_amount, e.by_roster, n.stage, n.grade, n.boarding, n.school_name, n.town,
       n.name, p.village
FROM ent e
JOIN covered c ON c.item = e.item AND c.term = e.term
JOIN enr n ON n.term = e.term AND n.pkey = e.pkey
LEFT JOIN poor p ON p.pkey = e.pkey
LEFT JOIN (SELECT DISTINCT term, pkey, item FROM aid WHERE pkey IS NOT NULL) a
  ON a.term = e.term AND a.pkey = e.pkey AND a.item = e.item
WHERE a.pkey IS NULL
"""

_SQL_RECORDS = """
SELECT j.*, am.amount_ok, am.std_min, am.std_max, am.amount_rule,
       NOT (j.enrolled AND j.season_ok AND j.stage_ok AND j.boarding_ok AND j.status_ok) AS ineligible
FROM rec_judged j LEFT JOIN rec_amount am ON am.rid = j.rid
"""


# the records of every (person, item, term) paid more than once (few rows; aggregated in pandas)
_SQL_DUPLICATES = """
SELECT a.rid, a.term, a.pkey, a.item, a.name, a.town, a.school_name, a.amount, p.village, e.town AS reg_town
FROM (SELECT term, pkey, item FROM aid
      WHERE item IS NOT NULL AND pkey IS NOT NULL AND term IS NOT NULL
      GROUP BY term, pkey, item HAVING COUNT(*) > 1) d
JOIN aid a ON a.term = d.term AND a.pkey = d.pkey AND a.item = d.item
LEFT JOIN poor p ON p.pkey = a.pkey
LEFT JOIN enr e ON e.term = a.term AND e.pkey = a.pkey
"""

# per (person, item, term): entitled and/or received, with every coverage flag (full runs only)
_SQL_COVERAGE = """
CREATE TEMP TABLE rec_flags AS
SELECT j.term, j.pkey, j.item, COUNT(*) AS n_records,
       MAX(CASE WHEN j.enrolled AND j.season_ok AND j.stage_ok AND j.boarding_ok AND j.status_ok THEN 0 ELSE 1 END)
           AS ineligible,
       MAX(CASE WHEN j.enrolled AND j.season_ok AND j.stage_ok AND j.boarding_ok AND j.status_ok
                     AND NOT COALESCE(am.amount_ok, TRUE) THEN 1 ELSE 0 END) AS amount_mismatch,
       MIN(COALESCE(j.reg_name, j.name)) AS name, MIN(COALESCE(j.reg_school, j.school_name)) AS school,
       MIN(COALESCE(j.reg_town, j.aid_town)) AS town,
       MIN(j.stage) AS stage, MIN(j.grade) AS grade, MIN(j.boarding) AS boarding
FROM rec_judged j LEFT JOIN rec_amount am ON am.rid = j.rid
GROUP BY j.term, j.pkey, j.item;

CREATE TEMP TABLE ent_full AS
SELECT e.term, e.pkey, e.item, e.by_roster, e.std_amount, n.name, n.school_name AS school, n.town, n.stage,
       n.grade, n.boarding
FROM ent e JOIN enr n ON n.term = e.term AND n.pkey = e.pkey;

CREATE TEMP TABLE cov AS
SELECT x.*, l.label AS item_label,
       CASE WHEN x.entitled
            THEN x.term || ' ' || COALESCE(x.stage, '学段不明') || COALESCE(CAST(x.grade AS STRING) || '年级', '')
                 || COALESCE('（' || x.boarding || '）', '') || '，'
                 || CASE WHEN x.by_roster = 1 THEN '建档立卡户学生' ELSE '全体学生' END || '，应享受' || l.label
            ELSE '不在应助范围（无在读学籍，或学段、就读方式、身份不符）' END AS reason
FROM (
  SELECT COALESCE(e.pkey, f.pkey) AS person_id, COALESCE(e.name, f.name) AS name,
         COALESCE(e.term, f.term) AS term, COALESCE(e.item, f.item) AS item,
         e.pkey IS NOT NULL AS entitled, e.by_roster, e.std_amount,
         c.item IS NOT NULL AS covered,
         COALESCE(f.n_records, 0) AS n_records, f.pkey IS NOT NULL AS received,
         e.pkey IS NOT NULL AND c.item IS NOT NULL AND f.pkey IS NULL AS missed,
         COALESCE(f.ineligible, 0) = 1 AS ineligible,
         COALESCE(f.n_records, 0) > 1 AS duplicate,
         COALESCE(f.amount_mismatch, 0) = 1 AS amount_mismatch,
         e.pkey IS NOT NULL AND c.item IS NULL AS not_covered,
         COALESCE(e.stage, f.stage) AS stage, COALESCE(e.grade, f.grade) AS grade,
         COALESCE(e.boarding, f.boarding) AS boarding, COALESCE(e.school, f.school) AS school,
         COALESCE(e.town, f.town) AS town
  FROM ent_full e
  FULL OUTER JOIN rec_flags f ON f.term = e.term AND f.pkey = e.pkey AND f.item = e.item
  LEFT JOIN covered c ON c.item = COALESCE(e.item, f.item) AND c.term = COALESCE(e.term, f.term)
) x
LEFT JOIN labels l ON l.item = x.item;
"""

_FLAGS = ["entitled", "received", "missed", "ineligible", "duplicate", "amount_mismatch", "not_covered"]
# rollups count `entitled` only where the data can judge it (entitled AND covered); entitlements no loaded list
# covers are counted in `not_covered`, so (entitled - missed) / entitled is the 应助已助 rate of the judged data
_COUNTS = ", ".join(f"SUM(CASE WHEN {'entitled AND covered' if f == 'entitled' else f} THEN 1 ELSE 0 END) AS {f}"
                    for f in _FLAGS)
_SQL_STUDENT = """
SELECT person_id, name, term, item, item_label, entitled, reason, covered, received, n_records, missed, ineligible,
       duplicate, amount_mismatch, not_covered,
       CASE WHEN covered THEN '已覆盖' ELSE '数据未覆盖' END AS status, stage, grade, boarding, school, town
FROM cov ORDER BY term, item, person_id
"""
_SQL_ROLLUP = {
    "school": f"SELECT town, school, {_COUNTS} FROM cov GROUP BY town, school ORDER BY town, school",
    "town": f"SELECT town, {_COUNTS} FROM cov GROUP BY town ORDER BY town",
    # every policy item x loaded registry term, so that items no list contains show as 数据未覆盖
    "item": f"""
SELECT g.item, g.label AS item_label, g.term,
       CASE WHEN c.item IS NOT NULL THEN '已覆盖' ELSE '数据未覆盖' END AS status,
       {", ".join(f"COALESCE(k.{f}, 0) AS {f}" for f in _FLAGS)}
FROM (SELECT l.item, l.label, t.term FROM labels l CROSS JOIN reg_terms t) g
LEFT JOIN covered c ON c.item = g.item AND c.term = g.term
LEFT JOIN (SELECT item, term, {_COUNTS} FROM cov GROUP BY item, term) k ON k.item = g.item AND k.term = g.term
ORDER BY g.item, g.term
""",
}


_ARROW_TO_PANDAS = {pa.string(): pd.StringDtype(), pa.large_string(): pd.StringDtype(), pa.int64(): pd.Int64Dtype(),
                    pa.int32(): pd.Int64Dtype(), pa.bool_(): pd.BooleanDtype()}


def _fetch(con: duckdb.DuckDBPyConnection, sql: str) -> pd.DataFrame:
    """A query's result as pandas through Arrow (much faster than .df() for text columns)."""
    return con.sql(sql).to_arrow_table().to_pandas(types_mapper=_ARROW_TO_PANDAS.get)


def _analyse(ws: Any, table: pd.DataFrame | None = None, coverage_by: str | None = None) -> dict[str, Any]:
    """Run the aid SQL once and return the results the public functions need, as pandas frames.

    With coverage_by (student, school, town, item) it also builds the coverage table over every loaded term and
    item and returns that view as out["coverage"]; without it entitlements cover the judged pairs only."""
    frames = linked_frames(ws)
    table = policy() if table is None else table
    labels = item_labels(table)
    reg = _prepare(frames.get("registry"), "registry")
    aid = _prepare(frames.get("aid"), "aid")
    ros = _prepare(frames.get("roster"), "roster")
    as_of_term = getattr(ws, "term", None)
    if len(aid) and isinstance(as_of_term, str) and aid["term"].isna().any():  # a list without 学年/学期: as-of term
        aid["term"] = aid["term"].fillna(as_of_term)
        aid["season"] = aid["term"].str[-1:]
    if len(aid):  # the policy in force decides item names (a cached parse may predate an edited alias list)
        aid["item"] = canonical_item(aid["item_raw"], table).fillna(aid["item"]).astype("string")
    pol, pol_status = _policy_rows(table)
    label_frame = pd.DataFrame({"item": list(labels), "label": list(labels.values())}, dtype="string")
    full = coverage_by is not None
    con = duckdb.connect()
    try:
        for name, df in (("reg", reg), ("aid", aid), ("ros", ros), ("pol", pol), ("pol_status", pol_status),
                         ("rstat", _record_statuses(aid)), ("labels", label_frame)):
            con.register(name, pa.Table.from_pandas(df, preserve_index=False))
        con.execute(_SQL_BASE.format(
            enrolled=", ".join(f"'{v}'" for v in ENROLLED_STATUSES),
            scope="every loaded term and item" if full else "judged items only",
            covered_join="" if full else "JOIN covered c ON c.item = p.item AND c.term = e.term"))
        if full:
            con.execute(_SQL_COVERAGE)
            out = {"coverage": _fetch(con, _SQL_STUDENT if coverage_by == "student" else _SQL_ROLLUP[coverage_by])}
        else:
            out = {name: _fetch(con, sql) for name, sql in (
                ("missed", _SQL_MISSED), ("records", _SQL_RECORDS), ("duplicates", _SQL_DUPLICATES))}
    finally:
        con.close()
    out["policy"] = table
    out["labels"] = labels
    return out


# --------------------------------------------------------------------------------------------------- public

def _fmt_amount(values: pd.Series) -> pd.Series:
    v = pd.to_numeric(values, errors="coerce").astype("float64")
    text = v.round(2).astype("string").str.replace(r"\.0+$", "", regex=True)
    return text.fillna("空")


def _stage_text(df: pd.DataFrame) -> pd.Series:
    """学段年级（就读方式）, e.g. 初中2年级（住校）."""
    grade = pd.to_numeric(df["grade"], errors="coerce").astype("Int64").astype("string")
    text = df["stage"].astype("string").fillna("学段不明") + (grade + "年级").fillna("")
    return text + ("（" + df["boarding"].astype("string") + "）").fillna("")


def entitlements(ws: Any, table: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per person, item, term (应助): entitled (bool) with the reason, whether the data covers it, and receipt.

    Rows: every entitlement of an enrolled student in a loaded registry term (covered by the aid lists or not),
    plus every (person, item, term) received without entitlement."""
    cols = ["person_id", "name", "term", "item", "item_label", "entitled", "reason", "covered", "received",
            "n_records", "stage", "grade", "boarding", "school", "town"]
    return coverage(ws, "student", table)[cols]


def coverage(ws: Any, by: str = "student", table: pd.DataFrame | None = None) -> pd.DataFrame:
    """资助 coverage: per student (by="student") or rolled up by "school", "town" or "item".

    Flags / counts: entitled, received, missed (应助未助), ineligible, duplicate, amount_mismatch and not_covered
    (entitled, but no loaded list contains that item and term: 数据未覆盖, never counted as missed). Per student,
    `entitled` is the person's entitlement whether covered or not; in the rollups `entitled` counts only the
    judged (covered) entitlements and `not_covered` the others, so 1 - missed / entitled is the 应助已助 rate. The
    item rollup lists every policy item x loaded registry term with its status (已覆盖 / 数据未覆盖).
    """
    if by not in ("student", "school", "town", "item"):
        raise ValueError("by 只能是 student、school、town 或 item")
    out = _analyse(ws, table, coverage_by=by)["coverage"]
    if by == "student":
        for col in _FLAGS + ["covered"]:
            out[col] = out[col].astype("boolean").fillna(False)
        out["grade"] = out["grade"].astype("Int64")
    else:
        for col in _FLAGS:
            out[col] = out[col].fillna(0).astype("int64")
    return out.reset_index(drop=True)


def not_covered(ws: Any, table: pd.DataFrame | None = None) -> pd.DataFrame:
    """Policy items x loaded terms that no loaded aid list contains (数据未覆盖): they are not judged."""
    items = coverage(ws, by="item", table=table)
    cols = ["item", "item_label", "term", "status", "not_covered"]  # not_covered: entitlements left unjudged
    return items.loc[items["status"] == NOT_COVERED, cols].reset_index(drop=True)


def findings(ws: Any, table: pd.DataFrame | None = None) -> pd.DataFrame:
    """The four aid kinds of rules/findings.yaml: aid_missed, aid_ineligible, aid_duplicate, aid_amount_mismatch.

    id_number is the person's canonical ID (person_id) where linked, else the record's normalised ID."""
    return _findings(_analyse(ws, table))


def _findings(a: dict[str, Any]) -> pd.DataFrame:
    labels = a["labels"]
    hints = {k: v.get("hint") for k, v in finding_kinds().items()}
    missed, rec, dups = a["missed"], a["records"], a["duplicates"]
    parts = []
    if len(missed):
        m = missed
        who = m["by_roster"].map({1: "建档立卡户学生", 0: "在校学生"}).astype("string")
        parts.append(pd.DataFrame({
            "kind": "aid_missed",
            "systems": m["by_roster"].map({1: "registry,roster,aid", 0: "registry,aid"}),
            "id_number": m["pkey"], "name": m["name"], "town": m["town"], "village": m["village"],
            "school": m["school_name"], "item": m["item"], "period": m["term"],
            "detail": (m["term"] + " 在读 " + _stage_text(m) + "，" + who + "，应享受"
                       + m["item"].map(labels).astype("string") + "（标准 " + _fmt_amount(m["std_amount"])
                       + " 元/学期），资助名单中无该项目发放记录"),
            "suggestion": hints["aid_missed"],
        }))
    if len(rec):
        r = rec.copy()
        reason = pd.Series(pd.NA, index=r.index, dtype="string")
        claimed = r["difficulty_type"].astype("string").fillna("未填")
        claimed = claimed.where(~claimed.str.contains(POOR, regex=False) | r["in_roster"].astype(bool),
                                claimed + "，但不在建档立卡名单中")
        reason = reason.mask(~r["status_ok"].astype(bool), "不具备该项目要求的资助身份（困难类型：" + claimed + "）")
        reason = reason.mask(~r["boarding_ok"].astype(bool), "就读方式（" + r["boarding"].astype("string").fillna("不明")
                             + "）不在该项目本学期资助范围")
        reason = reason.mask(~r["stage_ok"].astype(bool), "学段年级（" + _stage_text(r) + "）不在该项目资助范围")
        reason = reason.mask(~r["season_ok"].astype(bool), "该项目" + r["season"].astype("string") + "季学期不发放")
        reason = reason.mask(~r["enrolled"].astype(bool), r["term"] + " 学籍中无此人在读")
        r["reason"] = reason
        town = r["reg_town"].astype("string").fillna(r["aid_town"].astype("string")).fillna(
            r["roster_town"].astype("string"))
        inel = r[r["ineligible"].astype(bool)].assign(town_=town)
        if len(inel):
            parts.append(pd.DataFrame({
                "kind": "aid_ineligible", "systems": "aid,registry", "id_number": inel["pkey"],
                "name": inel["name"].fillna(inel["reg_name"]), "town": inel["town_"], "village": inel["village"],
                "school": inel["school_name"], "item": inel["item"], "period": inel["term"],
                "detail": ("发放" + inel["item"].map(labels).astype("string") + " " + _fmt_amount(inel["amount"])
                           + " 元，" + inel["reason"]),
                "suggestion": hints["aid_ineligible"],
            }))
        bad = r[~r["ineligible"].astype(bool) & ~r["amount_ok"].astype("boolean").fillna(True)].assign(town_=town)
        if len(bad):
            std = _fmt_amount(bad["std_min"]).where(
                (bad["std_min"] == bad["std_max"]) | bad["std_max"].isna(),
                _fmt_amount(bad["std_min"]) + " 或 " + _fmt_amount(bad["std_max"]))
            std = std.where(bad["amount_rule"] != "max", "不超过 " + std)
            who = bad["in_roster"].map({True: "，建档立卡（按特别困难）", False: ""}).astype("string")
            level = bad["difficulty_level"].astype("string").map(lambda v: f"，{v}", na_action="ignore").fillna("")
            parts.append(pd.DataFrame({
                "kind": "aid_amount_mismatch", "systems": "aid,registry", "id_number": bad["pkey"],
                "name": bad["name"].fillna(bad["reg_name"]), "town": bad["town_"], "village": bad["village"],
                "school": bad["school_name"], "item": bad["item"], "period": bad["term"],
                "detail": (bad["item"].map(labels).astype("string") + " 发放 " + _fmt_amount(bad["amount"])
                           + " 元，标准 " + std + " 元/学期（" + _stage_text(bad) + who
                           + level.where(~bad["in_roster"].astype(bool), "") + "）"),
                "suggestion": hints["aid_amount_mismatch"],
            }))
    if len(dups):
        d = dups.sort_values(["term", "pkey", "item", "school_name", "rid"], kind="stable", na_position="last")
        d["paid"] = d["school_name"].fillna("学校不明") + " " + _fmt_amount(d["amount"]) + "元"
        d = d.groupby(["term", "pkey", "item"], as_index=False, sort=True).agg(
            n=("rid", "size"), name=("name", "first"), town=("town", "first"), school=("school_name", "first"),
            village=("village", "first"), reg_town=("reg_town", "first"), schools=("paid", "；".join))
        parts.append(pd.DataFrame({
            "kind": "aid_duplicate", "systems": "aid", "id_number": d["pkey"], "name": d["name"],
            "town": d["reg_town"].fillna(d["town"]), "village": d["village"], "school": d["school"],
            "item": d["item"], "period": d["term"],
            "detail": (d["term"] + " " + d["item"].map(labels).astype("string") + " 发放 "
                       + d["n"].astype("string") + " 次：" + d["schools"].astype("string")),
            "suggestion": hints["aid_duplicate"],
        }))
    parts = [p for p in parts if len(p)]
    if not parts:
        return empty_findings()
    return as_findings(pd.concat(parts, ignore_index=True))

