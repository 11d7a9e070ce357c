"""资助 (student aid): the policy table, entitlements, coverage and the four aid finding kinds.

Rules live in `rules/aid_policy_*.csv` (selected by settings()['aid_policy']); the set work (aid records x registry
x roster x policy, anti-joins, rollups) is one SQL query on the Workspace's engine (workbench.engine: the canonical
tables as DuckDB views, person keys from workbench.link.linked_select), so findings never build linked pandas frames
and a lazily loaded parquet Workspace is never read into pandas. The SQL is kept close to what Spark SQL accepts
(DuckDB-only: arg_min_null and MATERIALIZED CTEs); only the few finding rows come back to Python.
Only (item, term) pairs that the loaded aid lists contain, in terms whose 学籍 is loaded, are judged: anything else
is reported as 数据未覆盖 (not covered by the data), never as missed.
"""

from __future__ import annotations

import hashlib
import pickle
import re
import sys
import unicodedata
from collections.abc import Mapping
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from .engine import lit
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
_SPACES = re.compile(r"\s+")
_TRAILING_ZEROS = re.compile(r"\.0+$")
_PAREN = re.compile(r"[(\[【].*?[)\]】]")
_TOKENS = re.compile(r"[、,，;；/|\s]+")
_POLICY_TEXT = ["item", "label", "family", "stage", "boarding", "level", "amount_rule", "terms", "accepted_statuses",
                "entitled_statuses", "aliases"]


# --------------------------------------------------------------------------------------------------- policy table

_POLICY_CACHE: dict[Path, tuple[tuple[int, int], pd.DataFrame]] = {}


def policy(name: str | None = None) -> pd.DataFrame:
    """The aid policy table (资助标准) in force: settings()['aid_policy'], or `name` (a rules file or absolute path)."""
    path = rule_path(name or settings()["aid_policy"])
    if not path.exists():
        raise FileNotFoundError(f"资助标准文件不存在：{path}")
    stat = path.stat()
    stamp = (stat.st_mtime_ns, stat.st_size)
    hit = _POLICY_CACHE.get(path)
    if hit is None or hit[0] != stamp:  # parsed once per file version; callers get their own copy
        hit = _POLICY_CACHE[path] = (stamp, _read_policy(path))
    return hit[1].copy()


def _read_policy(path: Path) -> pd.DataFrame:
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


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _norm_name(value: str | None) -> str | None:
    """Full-width fold (NFKC) and remove every space, for matching item names as written; None when empty."""
    if not isinstance(value, str):
        return None
    return _SPACES.sub("", unicodedata.normalize("NFKC", value)) or None


def _norm_text(values: pd.Series) -> pd.Series:
    """Full-width fold (NFKC) and remove every space, for matching item names as written."""
    return pd.Series([_norm_name(v) for v in values.astype("string").to_numpy(object, na_value=None)],
                     index=values.index, dtype="string")


def _item_lookup(table: pd.DataFrame) -> dict[str, str]:
    lookup: dict[str, str] = {}
    for item, label, aliases in zip(table["item"], table["label"], table["aliases"]):
        names = [item] + ([label] if isinstance(label, str) else [])
        if isinstance(aliases, str):
            names += [a for a in aliases.split(";") if a.strip()]
        for name in names:
            key = _norm_name(name)
            if key is not None:
                lookup.setdefault(key, item)
    return lookup


def _canonical_names(names: list[str | None], table: pd.DataFrame) -> list[str | None]:
    """The policy item key of each distinct 资助项目 as written (None when unknown)."""
    lookup = _item_lookup(table)
    long_names = sorted((k for k in lookup if len(k) >= _MIN_CONTAINED), key=len, reverse=True)
    out: list[str | None] = []
    for raw in names:
        norm = _norm_name(raw)
        if norm is None:
            out.append(None)
            continue
        found = lookup.get(norm)
        # second chance: drop a parenthetical suffix such as 普通高中国家助学金（特别困难） or 一补(寄宿生)
        stripped = _PAREN.sub("", norm)
        if found is None:
            found = lookup.get(stripped)
        # third chance: the longest known name of >= 6 characters contained in it (农村义务教育家庭经济困难寄宿生生活补助);
        # short names such as 国家助学金 are too ambiguous to match inside another name (高职国家助学金)
        if found is None:
            found = next((lookup[k] for k in long_names if k in stripped), None)
        out.append(found)
    return out


def canonical_item(raw_names: pd.Series, table: pd.DataFrame | None = None) -> pd.Series:
    """Map 资助项目 as written to the policy's item keys (through label and aliases); NA when unknown."""
    table = policy() if table is None else table
    raw = pd.Series(raw_names).astype("string")
    distinct = raw.dropna().unique().tolist()
    mapping = dict(zip(distinct, _canonical_names(distinct, table)))
    return pd.Series(raw.map(mapping), index=raw.index, dtype="string", name="item")


def item_labels(table: pd.DataFrame | None = None) -> dict[str, str]:
    """item key -> Chinese label (项目名称)."""
    table = policy() if table is None else table
    labels: dict[str, str] = {}
    for item, label in zip(table["item"], table["label"]):
        labels.setdefault(item, label)
    return labels


def _split(value: Any) -> list[str]:
    return [part.strip() for part in value.split(";")]


def _policy_tables(table: pd.DataFrame, labels: dict[str, str]) -> dict[str, pa.Table]:
    """aid_pol: one row per (policy row, stage, season); aid_pol_status: one row per (policy row,
    accepted/entitled, status); aid_labels: item -> label (arrow tables for the engine)."""
    pol: dict[str, list] = {c: [] for c in ("pid", "item", "label", "stage", "season", "grade_min", "grade_max",
                                              "boarding", "level", "semester_amount", "yearly_amount", "amount_rule",
                                              "once")}
    status: dict[str, list] = {"pid": [], "kind": [], "status": []}
    for pid, row in enumerate(table.to_dict("records")):
        stages = _split(row["stage"]) if isinstance(row["stage"], str) else [None]
        seasons = _split(row["terms"] if isinstance(row["terms"], str) else "秋;春")
        for stage in stages:
            for season in seasons:
                for col, values in pol.items():
                    values.append(row.get(col))
                pol["pid"][-1], pol["stage"][-1], pol["season"][-1] = pid, stage, season
                for col, default in (("grade_min", 0.0), ("grade_max", 99.0)):
                    value = pol[col][-1]
                    pol[col][-1] = default if value is None or pd.isna(value) else float(value)
        for kind, col in (("accepted", "accepted_statuses"), ("entitled", "entitled_statuses")):
            if isinstance(row[col], str):
                for value in _split(row[col]):
                    status["pid"].append(pid)
                    status["kind"].append(kind)
                    status["status"].append(value)
    num = {"pid": pa.int64(), "grade_min": pa.float64(), "grade_max": pa.float64(), "semester_amount": pa.float64(),
           "yearly_amount": pa.float64(), "once": pa.bool_()}

    def arr(col: str, values: list) -> pa.Array:
        kind = num.get(col, pa.string())
        clean = [None if v is None or (not isinstance(v, str) and pd.isna(v)) else v for v in values]
        return pa.array([float(v) if v is not None and kind == pa.float64() else v for v in clean], kind)

    return {
        "aid_pol": pa.table({c: arr(c, v) for c, v in pol.items()}),
        "aid_pol_status": pa.table({"pid": pa.array(status["pid"], pa.int64()),
                                    "kind": pa.array(status["kind"], pa.string()),
                                    "status": pa.array(status["status"], pa.string())}),
        "aid_labels": pa.table({"item": pa.array(list(labels), pa.string()),
                                "label": pa.array([_text(v) for v in labels.values()], pa.string())}),
    }


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


def _status_map(types: list[str | None]) -> pa.Table:
    """(difficulty_type, status) for each distinct difficulty type as written (建档立卡 claims are dropped here):
    the canonical statuses of its tokens, the first matching pattern deciding, else 其他困难."""
    pairs: dict[tuple[str, str], None] = {}
    for written in types:
        if not isinstance(written, str):
            continue
        for token in _TOKENS.split(written):
            token = token.strip()
            if token in _NO_STATUS:
                continue
            status = next((value for pattern, value in _STATUS_PATTERNS if pattern in token), "其他困难")
            if status != POOR:
                pairs[(written, status)] = None
    return pa.table({"difficulty_type": pa.array([p[0] for p in pairs], pa.string()),
                     "status": pa.array([p[1] for p in pairs], pa.string())})


# --------------------------------------------------------------------------------------------------- SQL
# Every table below lives in the Workspace's engine connection (workbench.engine) under an `aid_` prefix and is
# dropped after the run. System rows are read through the engine views with the person key of workbench.link
# (link.linked_select): the linked ID, else the record's own ID unless it is empty or lost its digits in Excel.
# A record's judgement depends only on a few of its columns, so it runs once per distinct combination (signature)
# of them; likewise a student's entitlements per distinct (term, roster, stage, grade, boarding). Text (names,
# schools, towns, villages) is read by row for the finding rows only.

_PERSON_KEY = "coalesce(person_id, CASE WHEN id_reason IN ('precision_lost', 'empty') THEN NULL ELSE id_number END)"

_SQL_PEOPLE = """
CREATE OR REPLACE TEMP TABLE aid_poor AS
SELECT DISTINCT pkey FROM (SELECT {person_key} AS pkey FROM ({ros}) r) r WHERE pkey IS NOT NULL;

-- aid records with a known item (the item the policy in force gives the name as written), the term (the as-of
-- term when the list has none), the person key and roster membership; rid = the record's row in the aid table
CREATE OR REPLACE TEMP TABLE aid_a AS
SELECT a.*, p.pkey IS NOT NULL AS in_roster
FROM (SELECT t._rn AS rid, {aid_term} AS term, {person_key} AS pkey, coalesce(m.item, t.item) AS item, t.amount,
             t.difficulty_level, t.difficulty_type
      FROM ({aid}) t LEFT JOIN aid_item_map m ON m.item_raw = t.item_raw) a
LEFT JOIN aid_poor p ON p.pkey = a.pkey
WHERE a.item IS NOT NULL;

-- the (item, term) pairs the data can judge: in a loaded aid list, in a term whose registry is loaded
CREATE OR REPLACE TEMP TABLE aid_covered AS
SELECT DISTINCT item, term, right(term, 1) AS season FROM aid_a WHERE term IN (SELECT term FROM aid_reg_terms);

-- the first enrolled registry row (rn) of each person and term ({scope}), with roster membership; {restrict_note}
CREATE OR REPLACE TEMP TABLE aid_enr AS
SELECT term, right(term, 1) AS season, pkey, MIN(_rn) AS rn, arg_min_null(stage, _rn) AS stage,
       arg_min_null(grade, _rn) AS grade, arg_min_null(boarding, _rn) AS boarding, bool_or(in_roster) AS in_roster
FROM (SELECT r.term, r.stage, r.grade, r.boarding, r._rn, r.pkey, p.pkey IS NOT NULL AS in_roster
      FROM (SELECT term, stage, grade, boarding, _rn, {person_key} AS pkey FROM ({reg}) r) r
      LEFT JOIN aid_poor p ON p.pkey = r.pkey
      WHERE r.pkey IS NOT NULL) r
{restrict}
GROUP BY term, pkey;

-- judged: a record of a person, in a term whose registry is loaded; with the person's enrolment
CREATE OR REPLACE TEMP TABLE aid_rec AS
SELECT a.rid, a.term, right(a.term, 1) AS season, a.pkey, a.item, a.amount, a.difficulty_level, a.difficulty_type,
       a.pkey IS NOT NULL AND a.term IN (SELECT term FROM aid_reg_terms) AS judged,
       e.rn, e.pkey IS NOT NULL AS enrolled, e.stage, e.grade, e.boarding, a.in_roster
FROM aid_a a LEFT JOIN aid_enr e ON e.term = a.term AND e.pkey = a.pkey;

-- one row per distinct signature of the judged records (everything the judgement reads)
CREATE OR REPLACE TEMP TABLE aid_sig AS
SELECT row_number() OVER () AS sid, s.*,
       CASE WHEN s.in_roster THEN '特别困难' ELSE s.difficulty_level END AS person_level
FROM (SELECT DISTINCT item, season, enrolled, stage, grade, boarding, in_roster, difficulty_level, difficulty_type,
                      amount FROM aid_rec WHERE judged) s;
"""

_SQL_JUDGE = """
CREATE OR REPLACE TEMP TABLE aid_sig_judged AS
WITH
-- every policy row a record could be paid under (same item, season, stage and grade)
m AS (
  SELECT r.sid, p.pid, p.level, p.semester_amount, p.yearly_amount, p.amount_rule,
         (p.boarding IS NULL OR r.boarding IS NULL OR p.boarding = r.boarding) AS boarding_ok,
         (p.level IS NULL OR r.person_level IS NULL OR p.level = r.person_level) AS level_ok
  FROM aid_sig r
  JOIN aid_pol p ON p.item = r.item AND p.season = r.season AND p.stage = r.stage
            AND (r.grade IS NULL OR (r.grade >= p.grade_min AND r.grade <= p.grade_max))
),
-- the matched rows whose accepted statuses the record meets (difficulty types as written; 建档立卡 = roster)
ac AS (
  SELECT DISTINCT m.sid, m.pid
  FROM m
  JOIN aid_sig r ON r.sid = m.sid
  JOIN aid_pol_status ps ON ps.pid = m.pid AND ps.kind = 'accepted'
  LEFT JOIN aid_status_map sm ON sm.difficulty_type = r.difficulty_type AND sm.status = ps.status
  WHERE m.boarding_ok AND (ps.status = '全体' OR sm.status IS NOT NULL OR (ps.status = '建档立卡' AND r.in_roster))
),
-- standards for an eligible record: accepted rows of its level (any level when none of them has its level)
std AS (
  SELECT m.sid, m.semester_amount, m.yearly_amount, m.amount_rule, m.level_ok
  FROM m JOIN ac ON ac.sid = m.sid AND ac.pid = m.pid
),
am AS (
  SELECT s.sid,
         MAX(CASE WHEN s.amount_rule = 'none' THEN 1
                  WHEN r.amount IS NULL THEN 0
                  WHEN s.amount_rule = 'max'
                       THEN CASE WHEN r.amount <= COALESCE(s.semester_amount, s.yearly_amount) + 0.005
                                 THEN 1 ELSE 0 END
                  WHEN ABS(r.amount - s.semester_amount) < 0.005 THEN 1 ELSE 0 END) = 1 AS amount_ok,
         MIN(CASE WHEN s.amount_rule = 'max' THEN COALESCE(s.semester_amount, s.yearly_amount)
                  ELSE s.semester_amount END) AS std_min,
         MAX(CASE WHEN s.amount_rule = 'max' THEN COALESCE(s.semester_amount, s.yearly_amount)
                  ELSE s.semester_amount END) AS std_max,
         MAX(s.amount_rule) AS amount_rule
  FROM std s
  JOIN aid_sig r ON r.sid = s.sid
  JOIN (SELECT sid, MAX(CASE WHEN level_ok THEN 1 ELSE 0 END) AS any_level FROM std GROUP BY sid) l ON l.sid = s.sid
  WHERE s.level_ok OR l.any_level = 0
  GROUP BY s.sid
),
x AS (
  SELECT r.*, COALESCE(s.season_ok, FALSE) AS season_ok, COALESCE(f.stage_ok, FALSE) AS stage_ok,
         COALESCE(f.boarding_ok, FALSE) AS boarding_ok, COALESCE(f.status_ok, FALSE) AS status_ok,
         am.amount_ok, am.std_min, am.std_max, am.amount_rule
  FROM aid_sig r
  LEFT JOIN (SELECT DISTINCT item, season, TRUE AS season_ok FROM aid_pol) s
    ON s.item = r.item AND s.season = r.season
  LEFT JOIN (
    SELECT m.sid, TRUE AS stage_ok, MAX(CASE WHEN m.boarding_ok THEN 1 ELSE 0 END) = 1 AS boarding_ok,
           MAX(CASE WHEN ac.sid IS NOT NULL THEN 1 ELSE 0 END) = 1 AS status_ok
    FROM m LEFT JOIN ac ON ac.sid = m.sid AND ac.pid = m.pid
    GROUP BY m.sid
  ) f ON f.sid = r.sid
  LEFT JOIN am ON am.sid = r.sid
)
SELECT x.*, NOT (x.enrolled AND x.season_ok AND x.stage_ok AND x.boarding_ok AND x.status_ok) AS ineligible FROM x;

-- who is entitled (应助) to which item, per distinct (term, roster, stage, grade, boarding) ({scope})
CREATE OR REPLACE TEMP TABLE aid_ent_sig AS
SELECT s.term, s.in_roster, s.stage, s.grade, s.boarding, p.item, MIN(p.semester_amount) AS std_amount,
       MAX(CASE WHEN ps.status = '全体' THEN 0 ELSE 1 END) AS by_roster
FROM (SELECT DISTINCT term, season, in_roster, stage, grade, boarding FROM aid_enr) s
JOIN aid_pol p ON p.season = s.season AND p.stage = s.stage
          AND (s.grade IS NULL OR (s.grade >= p.grade_min AND s.grade <= p.grade_max))
          AND (p.boarding IS NULL OR s.boarding IS NULL OR p.boarding = s.boarding)
JOIN aid_pol_status ps ON ps.pid = p.pid AND ps.kind = 'entitled'
{covered_join}
WHERE ps.status = '全体' OR (ps.status = '建档立卡' AND s.in_roster)
GROUP BY s.term, s.in_roster, s.stage, s.grade, s.boarding, p.item;
"""

# judging only: entitlements of people outside the roster matter only for items everyone (全体) is entitled to
_RESTRICT = """WHERE in_roster OR pkey IN (SELECT pkey FROM aid_a WHERE pkey IS NOT NULL)
   OR EXISTS (SELECT 1 FROM aid_covered c JOIN aid_pol p ON p.item = c.item
              JOIN aid_pol_status ps ON ps.pid = p.pid AND ps.kind = 'entitled' AND ps.status = '全体')"""
_SIG_COLUMNS = ["item", "season", "enrolled", "stage", "grade", "boarding", "in_roster", "difficulty_level",
                "difficulty_type", "amount"]
_SIG_JOIN = " AND ".join(f"j.{c} IS NOT DISTINCT FROM r.{c}" for c in _SIG_COLUMNS)
_ENT_JOIN = ("x.term = e.term AND x.in_roster = e.in_roster AND x.stage = e.stage"
             " AND x.grade IS NOT DISTINCT FROM e.grade AND x.boarding IS NOT DISTINCT FROM e.boarding")

# the finding rows (few): entitled but not paid, ineligible or wrong-amount records, repeated payments
_SQL_FINDING_ROWS = f"""
CREATE OR REPLACE TEMP TABLE aid_missed AS
SELECT e.term, e.pkey, x.item, x.std_amount, x.by_roster, e.stage, e.grade, e.boarding, e.rn
FROM aid_enr e JOIN aid_ent_sig x ON {_ENT_JOIN}
WHERE NOT EXISTS (SELECT 1 FROM aid_a a WHERE a.term = e.term AND a.pkey = e.pkey AND a.item = x.item);

CREATE OR REPLACE TEMP TABLE aid_flagged AS
SELECT r.rid, r.term, r.pkey, r.rn, j.*
FROM aid_rec r
JOIN (SELECT * FROM aid_sig_judged WHERE ineligible OR NOT amount_ok) j ON {_SIG_JOIN}
WHERE r.judged;

CREATE OR REPLACE TEMP TABLE aid_dups AS
SELECT a.rid, a.term, a.pkey, a.item, a.amount, a.rn
FROM (SELECT term, pkey, item FROM aid_rec WHERE pkey IS NOT NULL AND term IS NOT NULL
      GROUP BY term, pkey, item HAVING COUNT(*) > 1) d
JOIN aid_rec a ON a.term = d.term AND a.pkey = d.pkey AND a.item = d.item;
"""
_FINDING_KEYS = {
    "rn": "SELECT rn FROM aid_missed UNION ALL SELECT rn FROM aid_flagged UNION ALL SELECT rn FROM aid_dups",
    "rid": "SELECT rid FROM aid_flagged UNION ALL SELECT rid FROM aid_dups",
    "pkey": "SELECT pkey FROM aid_missed UNION ALL SELECT pkey FROM aid_flagged UNION ALL SELECT pkey FROM aid_dups",
}

# text of the finding rows: registry row (rn), aid record (rid), roster person (pkey)
_SQL_TEXT = """
CREATE OR REPLACE TEMP TABLE aid_keys AS SELECT DISTINCT pkey FROM ({pkey_keys}) k WHERE pkey IS NOT NULL;
CREATE OR REPLACE TEMP TABLE aid_reg_text AS
SELECT {reg_cols}, t._rn AS rn FROM {reg_src} t WHERE t._rn IN ({rn_keys});
CREATE OR REPLACE TEMP TABLE aid_aid_text AS
SELECT {aid_cols}, t._rn AS rid FROM {aid_src} t WHERE t._rn IN ({rid_keys});
CREATE OR REPLACE TEMP TABLE aid_poor_text AS
SELECT pkey, MIN(town) AS town, MIN(village) AS village
FROM (SELECT town, village, {person_key} AS pkey FROM ({ros}) r) r
WHERE pkey IN (SELECT pkey FROM aid_keys)
GROUP BY pkey;
"""

_OUT_TYPES = {
    "rid": "BIGINT", "term": "VARCHAR", "season": "VARCHAR", "pkey": "VARCHAR", "item": "VARCHAR", "amount": "DOUBLE",
    "std_amount": "DOUBLE", "std_min": "DOUBLE", "std_max": "DOUBLE", "amount_rule": "VARCHAR", "by_roster": "INTEGER",
    "difficulty_level": "VARCHAR", "difficulty_type": "VARCHAR", "name": "VARCHAR", "school_name": "VARCHAR",
    "town": "VARCHAR", "aid_town": "VARCHAR", "reg_school": "VARCHAR", "reg_town": "VARCHAR", "reg_name": "VARCHAR",
    "roster_town": "VARCHAR", "village": "VARCHAR", "enrolled": "BOOLEAN", "stage": "VARCHAR", "grade": "BIGINT",
    "boarding": "VARCHAR", "in_roster": "BOOLEAN", "season_ok": "BOOLEAN", "stage_ok": "BOOLEAN",
    "boarding_ok": "BOOLEAN", "status_ok": "BOOLEAN", "amount_ok": "BOOLEAN", "ineligible": "BOOLEAN",
}
# part 0: entitled but not paid; 1: ineligible or wrong-amount records; 2: records of repeated payments. o1..o5
# order each part (missed by term, item, person; records by row; repeated payments as the detail lists them)
_OUT_PARTS = [
    ({"term": "m.term", "pkey": "m.pkey", "item": "m.item", "std_amount": "m.std_amount", "by_roster": "m.by_roster",
      "stage": "m.stage", "grade": "m.grade", "boarding": "m.boarding", "school_name": "g.school_name",
      "town": "g.town", "name": "g.name", "village": "p.village"},
     ["m.term", "m.item", "m.pkey", None, None],
     "aid_missed m LEFT JOIN aid_reg_text g ON g.rn = m.rn LEFT JOIN aid_poor_text p ON p.pkey = m.pkey"),
    ({**{c: f"f.{c}" for c in ("rid", "term", "season", "pkey", "item", "amount", "difficulty_level",
                               "difficulty_type", "enrolled", "stage", "grade", "boarding", "in_roster", "season_ok",
                               "stage_ok", "boarding_ok", "status_ok", "amount_ok", "std_min", "std_max",
                               "amount_rule", "ineligible")},
      "name": "a.name", "school_name": "a.school_name", "aid_town": "a.town", "reg_school": "g.school_name",
      "reg_town": "g.town", "reg_name": "g.name", "roster_town": "p.town", "village": "p.village"},
     [None, None, None, None, "f.rid"],
     ("aid_flagged f LEFT JOIN aid_aid_text a ON a.rid = f.rid LEFT JOIN aid_reg_text g ON g.rn = f.rn "
      "LEFT JOIN aid_poor_text p ON p.pkey = f.pkey")),
    ({"rid": "d.rid", "term": "d.term", "pkey": "d.pkey", "item": "d.item", "name": "a.name", "town": "a.town",
      "school_name": "a.school_name", "amount": "d.amount", "village": "p.village", "reg_town": "g.town"},
     ["d.term", "d.pkey", "d.item", "a.school_name", "d.rid"],
     ("aid_dups d LEFT JOIN aid_aid_text a ON a.rid = d.rid LEFT JOIN aid_reg_text g ON g.rn = d.rn "
      "LEFT JOIN aid_poor_text p ON p.pkey = d.pkey")),
]
_ORDER_TYPES = ["VARCHAR", "VARCHAR", "VARCHAR", "VARCHAR", "BIGINT"]
_SQL_OUT = "\nUNION ALL\n".join(
    "SELECT {part} AS part, {cols}, {order} FROM {src}".format(
        part=i, src=src,
        cols=", ".join(f"CAST({exprs.get(c, 'NULL')} AS {t}) AS {c}" for c, t in _OUT_TYPES.items()),
        order=", ".join(f"CAST({o or 'NULL'} AS {t}) AS o{k}" for k, (o, t) in enumerate(zip(order, _ORDER_TYPES))))
    for i, (exprs, order, src) in enumerate(_OUT_PARTS)) + "\nORDER BY part, o0, o1, o2, o3 NULLS LAST, o4"


# per (person, item, term): entitled and/or received, with every coverage flag (full runs only)
_SQL_COVERAGE = f"""
CREATE OR REPLACE TEMP TABLE aid_ent AS
SELECT e.term, e.pkey, x.item, x.std_amount, x.by_roster, e.stage, e.grade, e.boarding, e.rn
FROM aid_enr e JOIN aid_ent_sig x ON {_ENT_JOIN};

CREATE OR REPLACE TEMP TABLE aid_judged AS
SELECT r.rid, r.term, r.pkey, r.item, r.rn, j.ineligible, j.amount_ok, j.stage, j.grade, j.boarding
FROM aid_rec r JOIN aid_sig_judged j ON {_SIG_JOIN}
WHERE r.judged;
"""
_COVERAGE_KEYS = {"rn": "SELECT rn FROM aid_enr", "rid": "SELECT rid FROM aid_judged",
                  "pkey": "SELECT pkey FROM aid_poor WHERE false"}

_SQL_COVERAGE_TABLE = """
CREATE OR REPLACE TEMP TABLE aid_rec_flags AS
SELECT j.term, j.pkey, j.item, COUNT(*) AS n_records,
       MAX(CASE WHEN j.ineligible THEN 1 ELSE 0 END) AS ineligible,
       MAX(CASE WHEN NOT j.ineligible AND NOT COALESCE(j.amount_ok, TRUE) THEN 1 ELSE 0 END) AS amount_mismatch,
       MIN(COALESCE(g.name, a.name)) AS name, MIN(COALESCE(g.school_name, a.school_name)) AS school,
       MIN(COALESCE(g.town, a.town)) AS town,
       MIN(j.stage) AS stage, MIN(j.grade) AS grade, MIN(j.boarding) AS boarding
FROM aid_judged j
LEFT JOIN aid_aid_text a ON a.rid = j.rid
LEFT JOIN aid_reg_text g ON g.rn = j.rn
GROUP BY j.term, j.pkey, j.item;

CREATE OR REPLACE TEMP TABLE aid_ent_full AS
SELECT e.term, e.pkey, e.item, e.by_roster, e.std_amount, g.name, g.school_name AS school, g.town, e.stage,
       e.grade, e.boarding
FROM aid_ent e JOIN aid_reg_text g ON g.rn = e.rn;

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
_COLUMNS = {
    "registry": {"term": "VARCHAR", "stage": "VARCHAR", "grade": "BIGINT", "boarding": "VARCHAR"},
    "aid": {"term": "VARCHAR", "item_raw": "VARCHAR", "item": "VARCHAR", "amount": "DOUBLE",
            "difficulty_level": "VARCHAR", "difficulty_type": "VARCHAR"},
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
        if _carry_person_id(eng):
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
    return (f"SELECT {eng.select_list(system, cols)}, t._rn, {person} AS person_id FROM {eng.src(system)} t"
            + (f" WHERE {where}" if where else ""))


def _text_sql(eng: Any, mode: str, keys: dict[str, str]) -> str:
    """The text of the rows named by `keys` (tables aid_reg_text, aid_aid_text, aid_poor_text)."""
    c = eng.col
    if mode == "column":
        ros = _select(eng, "roster", mode)
    else:  # a valid ID is its own person key: only its rows and the unlinked-ID rows need the link map
        valid = f"coalesce({c('roster', 'id_valid', 'BOOLEAN')}, false)" if eng.has("roster", "id_valid") else "true"
        ros = _select(eng, "roster", mode, f"(NOT {valid} OR {c('roster', 'id_number')} IN (SELECT pkey FROM aid_keys))")
    return _SQL_TEXT.format(
        reg_cols=", ".join(f"{c('registry', col)} AS {col}" for col in ("school_name", "town", "name")),
        reg_src=eng.src("registry"), rn_keys=keys["rn"],
        aid_cols=", ".join(f"{c('aid', col)} AS {col}" for col in ("name", "school_name", "town")),
        aid_src=eng.src("aid"), rid_keys=keys["rid"], pkey_keys=keys["pkey"], person_key=_PERSON_KEY, ros=ros)


_STATEMENT = re.compile(r"CREATE OR REPLACE TEMP TABLE (\w+) AS\s+(.*?);\n", re.DOTALL)


def _with(*scripts: str) -> str:
    """The CREATE TABLE statements of the scripts as one WITH clause of materialized CTEs: one query, whose
    intermediate results never go through DuckDB's table storage."""
    parts = [f"{name} AS MATERIALIZED (\n{body}\n)" for script in scripts for name, body in _STATEMENT.findall(script)]
    return "WITH " + ",\n".join(parts) + "\n"


def _inputs(eng: Any, table: pd.DataFrame, labels: dict[str, str], as_of_term: Any, aid_term: str
            ) -> dict[str, pa.Table]:
    """The small tables the aid SQL reads besides the systems: item names as written -> policy items, difficulty
    statuses, the terms the aid lists and the registry hold, and the policy's own tables. None of it depends on the
    person link, so early() makes it while the link runs; kept on the engine per policy content and as-of term."""
    # (the policy's bytes name it: equal bytes, equal policy)
    key = ("aid:inputs", as_of_term, hashlib.sha256(pickle.dumps(table, protocol=5)).hexdigest())
    with eng.lock_for("aid:inputs"):
        if key in eng.memo:
            return eng.memo[key]
        c = eng.col
        # the policy in force decides item names (a cached parse may predate an edited alias list), per distinct
        # name as written; likewise the difficulty statuses per distinct 困难类型
        raw, types, aid_terms, reg_terms = eng.execute(
            f"SELECT a.*, r.* FROM (SELECT list(DISTINCT {c('aid', 'item_raw')}), "
            f"list(DISTINCT {c('aid', 'difficulty_type')}), list(DISTINCT {aid_term}) FROM {eng.src('aid')} t) a, "
            f"(SELECT list(DISTINCT {c('registry', 'term')}) FROM {eng.src('registry')} t) r").fetchall()[0]
        raw = raw or []
        mapped = _canonical_names(raw, table)
        frames = {
            "aid_item_map": pa.table({"item_raw": pa.array([r for r, m in zip(raw, mapped) if m is not None],
                                                           pa.string()),
                                      "item": pa.array([m for m in mapped if m is not None], pa.string())}),
            "aid_status_map": _status_map(types or []),
            "aid_reg_terms": pa.table({"term": pa.array([t for t in reg_terms or [] if t is not None], pa.string())}),
            "aid_terms": pa.table({"term": pa.array([t for t in aid_terms or [] if t is not None], pa.string())}),
            **_policy_tables(table, labels),
        }
        eng.memo[key] = frames
        return frames


def early(ws: Any) -> None:
    """The aid check's inputs that no person link changes (_inputs, for the policy in force), made while the link
    runs: findings.run_analyses calls this on a second thread. A plain dict of frames gets nothing early."""
    if not (hasattr(ws, "tables") and not isinstance(ws, Mapping)):
        return
    from . import engine

    eng = engine.of(ws, _as_of(ws))
    if _carry_person_id(eng):
        return   # _analyse reads the frames' own person_id: no link to wait for
    table = policy()
    as_of_term = getattr(ws, "term", None)
    _inputs(eng, table, item_labels(table), as_of_term, _aid_term(eng, as_of_term))


def _carry_person_id(eng: Any) -> bool:
    """Whether every loaded aid-relevant system already has a person_id column (frames linked elsewhere)."""
    present = [s for s in SYSTEM_COLUMNS if eng.has(s)]
    return bool(present) and all(eng.has(s, "person_id") for s in present)


def _aid_term(eng: Any, as_of_term: Any) -> str:
    """The term of an aid row: its own, else the as-of term."""
    c = eng.col
    return f"coalesce({c('aid', 'term')}, {lit(as_of_term)})" if isinstance(as_of_term, str) else c("aid", "term")


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
    c = eng.col
    aid_term = _aid_term(eng, as_of_term)
    registered: list[str] = []
    try:
        frames = _inputs(eng, table, labels, as_of_term, aid_term)
        for name, frame in frames.items():
            eng.register(name, frame)
            registered.append(name)
        status, term = c("registry", "status"), c("registry", "term")
        enrolled = ", ".join(lit(v) for v in ENROLLED_STATUSES)
        reg_where = f"{term} IS NOT NULL AND ({status} IS NULL OR {status} IN ({enrolled}))"
        if not full:  # judged: the terms an aid list holds
            reg_where += f" AND {term} IN (SELECT term FROM aid_terms)"
        ctes = [_SQL_PEOPLE.format(
            person_key=_PERSON_KEY, ros=_select(eng, "roster", mode), reg=_select(eng, "registry", mode, reg_where),
            aid=_select(eng, "aid", mode), aid_term=aid_term,
            scope="every term" if full else "terms an aid list holds",
            restrict_note="all of them" if full else "only people in the roster or an aid list, unless an item "
                          "every student is entitled to (全体) is covered", restrict="" if full else _RESTRICT),
            _SQL_JUDGE.format(
            scope="every loaded term and item" if full else "judged items only",
            covered_join="" if full else "JOIN aid_covered c ON c.item = p.item AND c.term = s.term")]
        if full:
            query = _with(*ctes, _SQL_COVERAGE, _text_sql(eng, mode, _COVERAGE_KEYS), _SQL_COVERAGE_TABLE)
            out = {"coverage": eng.df(query + (_SQL_STUDENT if coverage_by == "student" else _SQL_ROLLUP[coverage_by]))}
        else:
            query = _with(*ctes, _SQL_FINDING_ROWS, _text_sql(eng, mode, _FINDING_KEYS))
            rows = eng.arrow(query + _SQL_OUT).to_pylist()
            out = {name: [r for r in rows if r["part"] == i]
                   for i, name in enumerate(("missed", "records", "duplicates"))}
    finally:
        if owned:
            eng.close()
        else:
            for name in registered:
                con.unregister(name)
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


def _amount_text(value: Any) -> str:
    """An amount as the findings write it (_fmt_amount for one value): 2 decimals, no trailing .0, 空 when empty."""
    if value is None or pd.isna(value):
        return "空"
    return _number_text(float(value))


@lru_cache(maxsize=4096)
def _number_text(value: float) -> str:
    """_amount_text of a number (amounts repeat: a few standards per policy), rounded as numpy rounds."""
    return _TRAILING_ZEROS.sub("", str(float(np.round(np.float64(value), 2))))


def _stage_one(stage: str | None, grade: Any, boarding: str | None) -> str:
    """学段年级（就读方式） of one row (_stage_text for one value)."""
    text = (stage if stage is not None else "学段不明") + (f"{int(grade)}年级" if grade is not None else "")
    return text + (f"（{boarding}）" if boarding is not None else "")


def _cat(*parts: str | None) -> str | None:
    """Concatenation that is empty (None) when any part is, as pandas string arithmetic is."""
    return None if any(p is None for p in parts) else "".join(parts)


def _findings(a: dict[str, Any]) -> pd.DataFrame:
    labels = {k: _text(v) for k, v in a["labels"].items()}
    hints = {k: v.get("hint") for k, v in finding_kinds().items()}
    out: list[dict[str, Any]] = []

    def add(kind: str, systems: str, r: dict[str, Any], name: Any, town: Any, school: Any, detail: Any) -> None:
        out.append({"kind": kind, "systems": systems, "id_number": r["pkey"], "name": name, "town": town,
                    "village": r["village"], "school": school, "item": r["item"], "period": r["term"],
                    "detail": detail, "suggestion": hints[kind]})

    for r in a["missed"]:
        roster = r["by_roster"] == 1
        add("aid_missed", "registry,roster,aid" if roster else "registry,aid", r, r["name"], r["town"],
            r["school_name"],
            _cat(r["term"], " 在读 ", _stage_one(r["stage"], r["grade"], r["boarding"]), "，",
                 "建档立卡户学生" if roster else "在校学生", "，应享受", labels.get(r["item"]), "（标准 ",
                 _amount_text(r["std_amount"]), " 元/学期），资助名单中无该项目发放记录"))
    records = a["records"]
    for kind in ("aid_ineligible", "aid_amount_mismatch"):
        for r in records:
            town = next((t for t in (r["reg_town"], r["aid_town"], r["roster_town"]) if t is not None), None)
            name = r["name"] if r["name"] is not None else r["reg_name"]
            stage = _stage_one(r["stage"], r["grade"], r["boarding"])
            if kind == "aid_ineligible" and r["ineligible"]:
                if not r["enrolled"]:
                    reason = _cat(r["term"], " 学籍中无此人在读")
                elif not r["season_ok"]:
                    reason = _cat("该项目", r["season"], "季学期不发放")
                elif not r["stage_ok"]:
                    reason = f"学段年级（{stage}）不在该项目资助范围"
                elif not r["boarding_ok"]:
                    reason = f"就读方式（{r['boarding'] if r['boarding'] is not None else '不明'}）不在该项目本学期资助范围"
                else:
                    claimed = r["difficulty_type"] if r["difficulty_type"] is not None else "未填"
                    if POOR in claimed and not r["in_roster"]:
                        claimed += "，但不在建档立卡名单中"
                    reason = f"不具备该项目要求的资助身份（困难类型：{claimed}）"
                add(kind, "aid,registry", r, name, town, r["school_name"],
                    _cat("发放", labels.get(r["item"]), " ", _amount_text(r["amount"]), " 元，", reason))
            elif kind == "aid_amount_mismatch" and not r["ineligible"] and r["amount_ok"] is False:
                low, high = r["std_min"], r["std_max"]
                std = _amount_text(low)
                if not (high is None or (low is not None and low == high)):
                    std = f"{std} 或 {_amount_text(high)}"
                if r["amount_rule"] == "max":
                    std = "不超过 " + std
                who = "，建档立卡（按特别困难）" if r["in_roster"] else (
                    f"，{r['difficulty_level']}" if r["difficulty_level"] is not None else "")
                add(kind, "aid,registry", r, name, town, r["school_name"],
                    _cat(labels.get(r["item"]), " 发放 ", _amount_text(r["amount"]), " 元，标准 ", std,
                         " 元/学期（", stage, who, "）"))
    for r in _duplicate_groups(a["duplicates"]):
        add("aid_duplicate", "aid", r, r["name"], r["reg_town"] if r["reg_town"] is not None else r["town"],
            r["school"], _cat(r["term"], " ", labels.get(r["item"]), " 发放 ", str(r["n"]), " 次：", r["schools"]))
    if not out:
        return empty_findings()
    return as_findings(pd.DataFrame(out, dtype="string"))


def _duplicate_groups(dups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (term, person, item) paid more than once: n, the first non-empty name / town / school /
    village / registry town, and every payment (学校 金额元) joined by ；. `dups` comes ordered by term, person, item,
    school (empty last) and record."""
    rows = dups
    out: list[dict[str, Any]] = []
    start = 0
    for i in range(1, len(rows) + 1):
        key = (rows[start]["term"], rows[start]["pkey"], rows[start]["item"])
        if i < len(rows) and (rows[i]["term"], rows[i]["pkey"], rows[i]["item"]) == key:
            continue
        group = rows[start:i]
        first = {col: next((r[src] for r in group if r[src] is not None), None) for col, src in (
            ("name", "name"), ("town", "town"), ("school", "school_name"), ("village", "village"),
            ("reg_town", "reg_town"))}
        schools = "；".join(f"{r['school_name'] if r['school_name'] is not None else '学校不明'} "
                           f"{_amount_text(r['amount'])}元" for r in group)
        out.append({"term": key[0], "pkey": key[1], "item": key[2], "n": len(group), **first, "schools": schools})
        start = i
    return out
