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


def _status_map(types: pd.Series) -> pd.DataFrame:
    """(difficulty_type, status) for each distinct difficulty type as written (建档立卡 claims are dropped here)."""
    types = pd.Series(pd.Series(types, dtype="string").dropna().unique(), dtype="string")
    s = pd.DataFrame({"difficulty_type": types, "token": types.str.split(r"[、,，;；/|\s]+", regex=True)})
    s = s.explode("token")
    s["token"] = s["token"].astype("string").str.strip()
    s = s[~s["token"].isin(_NO_STATUS) & s["token"].notna()]
    status = pd.Series("其他困难", index=s.index, dtype="string")
    for pattern, value in reversed(_STATUS_PATTERNS):
        status = status.mask(s["token"].str.contains(pattern, regex=False), value)
    s["status"] = status
    out = s.loc[s["status"] != POOR, ["difficulty_type", "status"]].drop_duplicates()
    return out.astype("string").reset_index(drop=True)


# --------------------------------------------------------------------------------------------------- SQL
# Every table and view below lives in the Workspace's engine connection (workbench.engine) under an `aid_` prefix;
# the system rows are read through the engine views with the person key of workbench.link (link.linked_select).

_PERSON_KEY = ("coalesce(person_id, CASE WHEN id_reason IN ('precision_lost', 'empty') THEN NULL ELSE id_number END)")

_SQL_BASE = """
CREATE OR REPLACE TEMP TABLE aid_reg_terms AS SELECT DISTINCT term FROM ({reg_terms}) r WHERE term IS NOT NULL;

-- aid records with a known item: the item the policy in force gives the name as written, term (as-of term when
-- the list has none), person key; rid = the record's row in the aid table
CREATE OR REPLACE TEMP TABLE aid_a AS
SELECT a._rn AS rid, a.term, right(a.term, 1) AS season, a.pkey, a.item, a.amount, a.difficulty_level,
       a.difficulty_type, a.name, a.school_name, a.town
FROM (SELECT t._rn, {aid_term} AS term, {person_key} AS pkey, coalesce(m.item, t.item) AS item, t.amount,
             t.difficulty_level, t.difficulty_type, t.name, t.school_name, t.town
      FROM ({aid}) t LEFT JOIN aid_item_map m ON m.item_raw = t.item_raw) a
WHERE a.item IS NOT NULL;

-- the first enrolled registry row of each person and term ({enr_scope})
CREATE OR REPLACE TEMP TABLE aid_enr AS
SELECT term, right(term, 1) AS season, pkey, arg_min_null(stage, _rn) AS stage, arg_min_null(grade, _rn) AS grade,
       arg_min_null(boarding, _rn) AS boarding, arg_min_null(school_name, _rn) AS school_name,
       arg_min_null(town, _rn) AS town, arg_min_null(name, _rn) AS name
FROM (SELECT term, stage, grade, boarding, school_name, town, name, _rn, {person_key} AS pkey FROM ({reg}) r) r
WHERE pkey IS NOT NULL
GROUP BY term, pkey;

CREATE OR REPLACE TEMP TABLE aid_poor AS
SELECT pkey, MIN(town) AS town, MIN(village) AS village
FROM (SELECT town, village, {person_key} AS pkey FROM ({ros}) r) r WHERE pkey IS NOT NULL GROUP BY pkey;

-- the (item, term) pairs the data can judge: in a loaded aid list, in a term whose registry is loaded
CREATE OR REPLACE TEMP TABLE aid_covered AS
SELECT DISTINCT a.item, a.term, a.season FROM aid_a a JOIN aid_reg_terms t ON t.term = a.term;

-- the records that can be judged, with the person's enrolment and roster membership (narrow: keys and flags)
CREATE OR REPLACE TEMP TABLE aid_rec AS
SELECT a.rid, a.term, a.season, a.pkey, a.item, a.amount,
       e.pkey IS NOT NULL AS enrolled, e.stage, e.grade, e.boarding, p.pkey IS NOT NULL AS in_roster,
       CASE WHEN p.pkey IS NOT NULL THEN '特别困难' ELSE a.difficulty_level END AS person_level
FROM aid_a a
JOIN aid_reg_terms t ON t.term = a.term
LEFT JOIN aid_enr e ON e.term = a.term AND e.pkey = a.pkey
LEFT JOIN aid_poor p ON p.pkey = a.pkey
WHERE a.pkey IS NOT NULL;

-- every policy row a record could be paid under (same item, season, stage and grade)
CREATE OR REPLACE TEMP TABLE aid_rec_match AS
SELECT r.rid, p.pid, p.level, p.semester_amount, p.yearly_amount, p.amount_rule,
       (p.boarding IS NULL OR r.boarding IS NULL OR p.boarding = r.boarding) AS boarding_ok,
       (p.level IS NULL OR r.person_level IS NULL OR p.level = r.person_level) AS level_ok
FROM aid_rec r
JOIN aid_pol p ON p.item = r.item AND p.season = r.season AND p.stage = r.stage
          AND (r.grade IS NULL OR (r.grade >= p.grade_min AND r.grade <= p.grade_max));

-- the matched policy rows whose accepted statuses the record meets (written difficulty types, roster membership)
CREATE OR REPLACE TEMP TABLE aid_rec_accept AS
SELECT DISTINCT m.rid, m.pid
FROM aid_rec_match m
JOIN aid_pol_status ps ON ps.pid = m.pid AND ps.kind = 'accepted'
JOIN aid_a a ON a.rid = m.rid
LEFT JOIN aid_status_map sm ON sm.difficulty_type = a.difficulty_type AND sm.status = ps.status
JOIN aid_rec r ON r.rid = m.rid
WHERE m.boarding_ok AND (ps.status = '全体' OR sm.status IS NOT NULL OR (ps.status = '建档立卡' AND r.in_roster));

CREATE OR REPLACE TEMP TABLE aid_judged AS
SELECT r.rid, r.term, r.pkey, r.item, r.enrolled,
       COALESCE(s.season_ok, FALSE) AS season_ok,
       COALESCE(m.stage_ok, FALSE) AS stage_ok,
       COALESCE(m.boarding_ok, FALSE) AS boarding_ok,
       COALESCE(m.status_ok, FALSE) AS status_ok
FROM aid_rec r
LEFT JOIN (SELECT DISTINCT item, season, TRUE AS season_ok FROM aid_pol) s ON s.item = r.item AND s.season = r.season
LEFT JOIN (
  SELECT m.rid, TRUE AS stage_ok, MAX(CASE WHEN m.boarding_ok THEN 1 ELSE 0 END) = 1 AS boarding_ok,
         MAX(CASE WHEN ac.rid IS NOT NULL THEN 1 ELSE 0 END) = 1 AS status_ok
  FROM aid_rec_match m LEFT JOIN aid_rec_accept ac ON ac.rid = m.rid AND ac.pid = m.pid
  GROUP BY m.rid
) m ON m.rid = r.rid;

-- standards for an eligible record: accepted rows of its level (any level when none of them has its level)
CREATE OR REPLACE TEMP TABLE aid_amount AS
WITH std AS (
  SELECT m.rid, m.semester_amount, m.yearly_amount, m.amount_rule, m.level_ok
  FROM aid_rec_match m JOIN aid_rec_accept ac ON ac.rid = m.rid AND ac.pid = m.pid
)
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
FROM std s
JOIN aid_rec r ON r.rid = s.rid
JOIN (SELECT rid, MAX(CASE WHEN level_ok THEN 1 ELSE 0 END) AS any_level FROM std GROUP BY rid) l ON l.rid = s.rid
WHERE s.level_ok OR l.any_level = 0
GROUP BY s.rid;

-- who is entitled (应助) to each item in each term ({scope})
CREATE OR REPLACE TEMP TABLE aid_ent AS
SELECT e.term, e.pkey, p.item, MIN(p.semester_amount) AS std_amount,
       MAX(CASE WHEN ps.status = '全体' THEN 0 ELSE 1 END) AS by_roster
FROM aid_enr e
JOIN aid_pol p ON p.season = e.season AND p.stage = e.stage
          AND (e.grade IS NULL OR (e.grade >= p.grade_min AND e.grade <= p.grade_max))
          AND (p.boarding IS NULL OR e.boarding IS NULL OR p.boarding = e.boarding)
JOIN aid_pol_status ps ON ps.pid = p.pid AND ps.kind = 'entitled'
{covered_join}
LEFT JOIN aid_poor r ON r.pkey = e.pkey
WHERE ps.status = '全体' OR (ps.status = '建档立卡' AND r.pkey IS NOT NULL)
GROUP BY e.term, e.pkey, p.item;
"""

_SQL_MISSED = """
SELECT e.term, e.pkey, e.item, e.std_amount, e.by_roster, n.stage, n.grade, n.boarding, n.school_name, n.town,
       n.name, p.village
FROM aid_ent e
JOIN aid_enr n ON n.term = e.term AND n.pkey = e.pkey
LEFT JOIN aid_poor p ON p.pkey = e.pkey
WHERE NOT EXISTS (SELECT 1 FROM aid_a a WHERE a.term = e.term AND a.pkey = e.pkey AND a.item = e.item)
ORDER BY e.term, e.item, e.pkey
"""

# the records that are ineligible or paid a wrong amount (few rows), with the text the findings show
_SQL_RECORDS = """
SELECT j.rid, j.term, r.season, j.pkey, j.item, r.amount, a.difficulty_level, a.difficulty_type, a.name,
       a.school_name, a.town AS aid_town, j.enrolled, r.stage, r.grade, r.boarding, e.school_name AS reg_school,
       e.town AS reg_town, e.name AS reg_name, r.in_roster, p.town AS roster_town, p.village, r.person_level,
       j.season_ok, j.stage_ok, j.boarding_ok, j.status_ok, am.amount_ok, am.std_min, am.std_max, am.amount_rule,
       j.ineligible
FROM (SELECT *, NOT (enrolled AND season_ok AND stage_ok AND boarding_ok AND status_ok) AS ineligible
      FROM aid_judged) j
LEFT JOIN aid_amount am ON am.rid = j.rid
JOIN aid_rec r ON r.rid = j.rid
JOIN aid_a a ON a.rid = j.rid
LEFT JOIN aid_enr e ON e.term = j.term AND e.pkey = j.pkey
LEFT JOIN aid_poor p ON p.pkey = j.pkey
WHERE j.ineligible OR NOT am.amount_ok
ORDER BY j.rid
"""

# the records of every (person, item, term) paid more than once (few rows; aggregated in pandas)
_SQL_DUPLICATES = """
SELECT a.rid, a.term, a.pkey, a.item, a.name, a.town, a.school_name, a.amount, p.village, e.town AS reg_town
FROM (SELECT term, pkey, item FROM aid_a
      WHERE pkey IS NOT NULL AND term IS NOT NULL
      GROUP BY term, pkey, item HAVING COUNT(*) > 1) d
JOIN aid_a a ON a.term = d.term AND a.pkey = d.pkey AND a.item = d.item
LEFT JOIN aid_poor p ON p.pkey = a.pkey
LEFT JOIN aid_enr e ON e.term = a.term AND e.pkey = a.pkey
ORDER BY a.rid
"""

# per (person, item, term): entitled and/or received, with every coverage flag (full runs only)
_SQL_COVERAGE = """
CREATE OR REPLACE TEMP TABLE aid_rec_flags AS
SELECT j.term, j.pkey, j.item, COUNT(*) AS n_records,
       MAX(CASE WHEN j.enrolled AND j.season_ok AND j.stage_ok AND j.boarding_ok AND j.status_ok THEN 0 ELSE 1 END)
           AS ineligible,
       MAX(CASE WHEN j.enrolled AND j.season_ok AND j.stage_ok AND j.boarding_ok AND j.status_ok
                     AND NOT COALESCE(am.amount_ok, TRUE) THEN 1 ELSE 0 END) AS amount_mismatch,
       MIN(COALESCE(e.name, a.name)) AS name, MIN(COALESCE(e.school_name, a.school_name)) AS school,
       MIN(COALESCE(e.town, a.town)) AS town,
       MIN(e.stage) AS stage, MIN(e.grade) AS grade, MIN(e.boarding) AS boarding
FROM aid_judged j
JOIN aid_a a ON a.rid = j.rid
LEFT JOIN aid_enr e ON e.term = j.term AND e.pkey = j.pkey
LEFT JOIN aid_amount am ON am.rid = j.rid
GROUP BY j.term, j.pkey, j.item;

CREATE OR REPLACE TEMP TABLE aid_ent_full AS
SELECT e.term, e.pkey, e.item, e.by_roster, e.std_amount, n.name, n.school_name AS school, n.town, n.stage,
       n.grade, n.boarding
FROM aid_ent e JOIN aid_enr n ON n.term = e.term AND n.pkey = e.pkey;

CREATE OR REPLACE TEMP TABLE aid_cov AS
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
  FROM aid_ent_full e
  FULL OUTER JOIN aid_rec_flags f ON f.term = e.term AND f.pkey = e.pkey AND f.item = e.item
  LEFT JOIN aid_covered c ON c.item = COALESCE(e.item, f.item) AND c.term = COALESCE(e.term, f.term)
) x
LEFT JOIN aid_labels l ON l.item = x.item;
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
FROM aid_cov ORDER BY term, item, person_id
"""
_SQL_ROLLUP = {
    "school": f"SELECT town, school, {_COUNTS} FROM aid_cov GROUP BY town, school ORDER BY town, school",
    "town": f"SELECT town, {_COUNTS} FROM aid_cov GROUP BY town ORDER BY town",
    # every policy item x loaded registry term, so that items no list contains show as 数据未覆盖
    "item": f"""
SELECT g.item, g.label AS item_label, g.term,
       CASE WHEN c.item IS NOT NULL THEN '已覆盖' ELSE '数据未覆盖' END AS status,
       {", ".join(f"COALESCE(k.{f}, 0) AS {f}" for f in _FLAGS)}
FROM (SELECT l.item, l.label, t.term FROM aid_labels l CROSS JOIN aid_reg_terms t) g
LEFT JOIN aid_covered c ON c.item = g.item AND c.term = g.term
LEFT JOIN (SELECT item, term, {_COUNTS} FROM aid_cov GROUP BY item, term) k ON k.item = g.item AND k.term = g.term
ORDER BY g.item, g.term
""",
}
_TABLES = ["aid_reg_terms", "aid_a", "aid_enr", "aid_poor", "aid_covered", "aid_rec", "aid_rec_match",
           "aid_rec_accept", "aid_judged", "aid_amount", "aid_ent", "aid_rec_flags", "aid_ent_full", "aid_cov"]
_FRAMES = ["aid_item_map", "aid_status_map", "aid_pol", "aid_pol_status", "aid_labels"]
_COLUMNS = {
    "registry": {"term": "VARCHAR", "stage": "VARCHAR", "grade": "BIGINT", "boarding": "VARCHAR",
                 "school_name": "VARCHAR", "town": "VARCHAR", "name": "VARCHAR"},
    "aid": {"term": "VARCHAR", "item_raw": "VARCHAR", "item": "VARCHAR", "amount": "DOUBLE",
            "difficulty_level": "VARCHAR", "difficulty_type": "VARCHAR", "name": "VARCHAR", "school_name": "VARCHAR",
            "town": "VARCHAR"},
    "roster": {"town": "VARCHAR", "village": "VARCHAR"},
}


def _sources(ws: Any) -> tuple[Any, str, bool]:
    """(engine, person_id mode, owned) for an input: the engine of workbench.link with its link map (mode
    "link"); frames that already carry person_id (mode "column"); or, when linking fails, the ID where it is
    valid (mode "valid"). owned: a fresh engine over plain frames, to be closed after use."""
    from . import engine, link

    as_of = _as_of(ws)
    workspace = hasattr(ws, "tables") and not isinstance(ws, Mapping)
    if workspace:
        eng = engine.of(ws, as_of)
        present = [s for s in SYSTEM_COLUMNS if eng.has(s)]
        if present and all(eng.has(s, "person_id") for s in present):
            return eng, "column", False
    else:
        frames = {k: v for k, v in _frames(ws).items() if k in SYSTEM_COLUMNS and isinstance(v, pd.DataFrame)}
        if frames and all("person_id" in df.columns for df in frames.values()):
            return engine.Engine(frames, as_of), "column", True
    try:
        return link.link_state(ws, as_of)["engine"], "link", False
    except Exception as exc:  # noqa: BLE001 - the aid check still runs on valid IDs
        print(f"警告：跨系统人员关联失败（{type(exc).__name__}），资助核查仅按有效身份证号匹配", file=sys.stderr)
    if workspace:
        return engine.of(ws, as_of), "valid", False
    return engine.Engine(frames, as_of), "valid", True


def _select(eng: Any, system: str, mode: str, where: str = "") -> str:
    """A system's rows with the columns aid reads, `_rn`, `id_number`, `id_reason` and `person_id`."""
    from . import link

    cols = {**_COLUMNS[system], "id_number": "VARCHAR", "id_reason": "VARCHAR"}
    if mode == "link":
        return link.linked_select(eng, system, cols, where)
    c = eng.col
    if mode == "column":
        person = c(system, "person_id")
    elif eng.has(system, "id_valid"):
        person = f"CASE WHEN coalesce({c(system, 'id_valid', 'BOOLEAN')}, false) THEN {c(system, 'id_number')} END"
    else:
        person = c(system, "id_number")
    sel = ", ".join(f"{c(system, col, typ)} AS {col}" for col, typ in cols.items())
    return (f"SELECT {sel}, t._rn, {person} AS person_id FROM {eng.src(system)} t"
            + (f" WHERE {where}" if where else ""))


def _policy_frames(table: pd.DataFrame, labels: dict[str, str]) -> dict[str, pa.Table]:
    pol, pol_status = _policy_rows(table)
    return {
        "aid_pol": pa.Table.from_pandas(pol, preserve_index=False),
        "aid_pol_status": pa.Table.from_pandas(pol_status, preserve_index=False),
        "aid_labels": pa.table({"item": pa.array(list(labels), pa.string()),
                                "label": pa.array(list(labels.values()), pa.string())}),
    }


def _analyse(ws: Any, table: pd.DataFrame | None = None, coverage_by: str | None = None) -> dict[str, Any]:
    """Run the aid SQL once on the engine and return the results the public functions need, as pandas frames.

    With coverage_by (student, school, town, item) it also builds the coverage table over every loaded term and
    item and returns that view as out["coverage"]; without it entitlements cover the judged pairs only, and only
    the finding rows (missed, ineligible / wrong-amount records, duplicates) leave the engine."""
    table = policy() if table is None else table
    labels = item_labels(table)
    eng, mode, owned = _sources(ws)
    full = coverage_by is not None
    as_of_term = getattr(ws, "term", None)
    con = eng.con
    try:
        # the policy in force decides item names (a cached parse may predate an edited alias list): per distinct
        # name as written; likewise the difficulty statuses per distinct 困难类型
        raw = eng.df(f"SELECT DISTINCT {eng.col('aid', 'item_raw')} AS item_raw FROM {eng.src('aid')} t")["item_raw"]
        mapped = canonical_item(raw, table)
        frames = {
            "aid_item_map": pa.table({"item_raw": pa.array(raw[mapped.notna()].tolist(), pa.string()),
                                      "item": pa.array(mapped.dropna().tolist(), pa.string())}),
            "aid_status_map": pa.Table.from_pandas(_status_map(eng.df(
                f"SELECT DISTINCT {eng.col('aid', 'difficulty_type')} AS t FROM {eng.src('aid')} t")["t"]),
                preserve_index=False),
            **_policy_frames(table, labels),
        }
        for name, frame in frames.items():
            eng.register(name, frame)
        aid_term = (f"coalesce(t.term, '{as_of_term.replace(chr(39), chr(39) * 2)}')"
                    if isinstance(as_of_term, str) else "t.term")
        enrolled = ", ".join(f"'{v}'" for v in ENROLLED_STATUSES)
        status = eng.col("registry", "status")
        reg_where = f"{eng.col('registry', 'term')} IS NOT NULL AND ({status} IS NULL OR {status} IN ({enrolled}))"
        if not full:  # only the terms an aid list holds are judged
            reg_where += f" AND {eng.col('registry', 'term')} IN (SELECT DISTINCT term FROM aid_a)"
        reg_terms = f"SELECT {eng.col('registry', 'term')} AS term FROM {eng.src('registry')} t"
        base = _SQL_BASE.format(
            reg_terms=reg_terms, aid=_select(eng, "aid", mode), aid_term=aid_term, person_key=_PERSON_KEY,
            reg=_select(eng, "registry", mode, reg_where), ros=_select(eng, "roster", mode),
            enr_scope="every term" if full else "terms an aid list holds",
            scope="every loaded term and item" if full else "judged items only",
            covered_join="" if full else "JOIN aid_covered c ON c.item = p.item AND c.term = e.term")
        con.execute(base)
        if full:
            con.execute(_SQL_COVERAGE)
            out = {"coverage": eng.df(_SQL_STUDENT if coverage_by == "student" else _SQL_ROLLUP[coverage_by])}
        else:
            out = {name: eng.df(sql) for name, sql in (
                ("missed", _SQL_MISSED), ("records", _SQL_RECORDS), ("duplicates", _SQL_DUPLICATES))}
    finally:
        if owned:
            eng.close()
        else:
            for name in _TABLES:
                con.execute(f"DROP TABLE IF EXISTS {name}")
            for name in _FRAMES:
                try:
                    con.unregister(name)
                except Exception:  # noqa: BLE001 - never registered
                    pass
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

