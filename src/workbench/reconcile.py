"""三一致 (registry, roster, aid and ledger agree): ID, identity and stage findings, per-person status, continuity.

Which function yields which finding kinds (rules in rules/findings.yaml):
    reconcile.findings(ws): id_invalid, id_precision_lost, duplicate_record, name_mismatch, sex_mismatch,
                            birthdate_mismatch, stage_mismatch, missing_from_registry
    dropout.findings(ws):   not_enrolled, exception_unverified
Also: person_status(ws) (one row per person), continuity(ws) (per previous-term student).
Every function takes a Workspace (or a dict of canonical frames plus as_of) and returns pandas frames; the set
work is DuckDB SQL over the linked frames of `workbench.link` (kept to what Spark SQL also accepts).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import duckdb
import pandas as pd

from . import engine, link
from .engine import lit
from .findings import FINDING_COLUMNS, SORT_COLUMNS, empty_findings
from .rules import finding_kinds

ENROLLED_STATUSES = ("在读", "转入")  # plus NA (design.md: NA means 在读)
LEFT_STATUSES = ("转出", "毕业", "死亡")
ID_REASON_LABELS = {
    "empty": "身份证号为空",
    "bad_length": "位数不正确（应为18位）",
    "bad_chars": "含有非法字符",
    "bad_region": "前6位地址码不存在",
    "bad_birthdate": "第7-14位出生日期无效",
    "bad_checksum": "校验位（第18位）不正确",
    "precision_lost": "以数字格式保存，末几位已变为0",
}
INVALID_REASONS = ("bad_length", "bad_chars", "bad_region", "bad_birthdate", "bad_checksum")
ID_SYSTEMS = ["registry", "aid", "roster", "ledger", "pairs", "activities", "struggling"]
IDENTITY_SYSTEMS = ["registry", "roster", "aid", "ledger"]
FINAL_GRADES = {"初中": 3, "高中": 3, "中职": 3}
LABEL = link.SYSTEM_LABELS


# --------------------------------------------------------------------------------------------- context
@dataclass
class Context:
    """What every analysis needs from a Workspace: the SQL engine (with the link map), as-of date and terms."""

    ws: Any
    eng: engine.Engine
    as_of: dt.date
    term: str
    previous_term: str

    def df(self, query: str, params: list | None = None) -> pd.DataFrame:
        """A query over the linked views (see sql()) as pandas."""
        sql(self)
        return self.eng.df(query, params)


def context(ws: Any, as_of: dt.date | None = None) -> Context:
    """Context of a Workspace (or dict of frames): the engine with its link map (workbench.link, computed once),
    terms. Cached on the Workspace object so that reconcile, dropout and person_status share one context."""
    state = link.link_state(ws, as_of)
    cached = getattr(ws, "_reconcile_context", None) if not isinstance(ws, dict) else state.get("context")
    if cached is not None and cached.eng is state["engine"]:
        return cached
    eng = state["engine"]
    ctx = Context(ws=ws, eng=eng, as_of=eng.as_of, term=eng.term, previous_term=eng.previous_term)
    if isinstance(ws, dict):
        state["context"] = ctx
    else:
        try:
            ws._reconcile_context = ctx
        except AttributeError:
            pass
    return ctx


SQL_COLUMNS = {  # columns of the systems the SQL analyses read (missing ones become NULL), per linked view
    "registry": {"term": "VARCHAR", "id_number": "VARCHAR", "id_valid": "BOOLEAN", "id_reason": "VARCHAR",
                 "id_type": "VARCHAR", "name": "VARCHAR", "sex": "VARCHAR", "birth_date": "DATE", "town": "VARCHAR",
                 "school_name": "VARCHAR", "student_no": "VARCHAR", "stage": "VARCHAR", "grade": "DOUBLE",
                 "boarding": "VARCHAR", "status": "VARCHAR"},
    "roster": {"id_number": "VARCHAR", "id_valid": "BOOLEAN", "id_reason": "VARCHAR", "name": "VARCHAR",
               "sex": "VARCHAR", "birth_date": "DATE", "town": "VARCHAR", "village": "VARCHAR", "stage": "VARCHAR",
               "grade": "DOUBLE", "school_status_raw": "VARCHAR", "household_no": "VARCHAR"},
    "ledger": {"id_number": "VARCHAR", "id_valid": "BOOLEAN", "id_reason": "VARCHAR", "name": "VARCHAR",
               "sex": "VARCHAR", "birth_date": "DATE", "town": "VARCHAR", "village": "VARCHAR", "reason": "VARCHAR",
               "dropout_status": "VARCHAR", "evidence": "VARCHAR"},
    "aid": {"id_number": "VARCHAR", "id_valid": "BOOLEAN", "id_reason": "VARCHAR", "term": "VARCHAR",
            "item": "VARCHAR", "item_raw": "VARCHAR", "name": "VARCHAR", "town": "VARCHAR",
            "school_name": "VARCHAR"},
}
_OTHER_COLUMNS = {"id_number": "VARCHAR", "id_valid": "BOOLEAN", "id_reason": "VARCHAR", "name": "VARCHAR",
                  "student_name": "VARCHAR", "town": "VARCHAR", "village": "VARCHAR", "school_name": "VARCHAR"}


def sql(ctx: Context) -> duckdb.DuckDBPyConnection:
    """The engine's connection with views `registry`, `roster`, `ledger`, `aid` (SQL_COLUMNS) and `pairs`,
    `activities`, `struggling` (ID columns) over the canonical tables, each with `_rn` (row position), `person_id`
    (valid ID, else the confidently linked ID), `pid` (person_id, else the record's ID), `suggested_id` and
    `link_evidence` (workbench.link); and `<system>_invalid`, the same over the rows whose ID is not valid."""
    _views(ctx.eng)
    return ctx.eng.con


def _views(eng: engine.Engine) -> None:
    """The linked views, built once per engine and shape of link map (shared by every thread's connection:
    findings.run_analyses). They read table link_map, so they can be built before the link has stored its
    decisions (early does): their SQL changes only with the systems whose valid IDs got suggestions."""
    key = "views:" + ",".join(link.alone_systems(eng))
    if key in eng.ready:
        return
    with eng.lock_for("link:map"):    # not while the link replaces the table the views read
        if key not in eng.ready:
            link.map_table(eng)
            for system in ID_SYSTEMS:
                cols = SQL_COLUMNS.get(system, _OTHER_COLUMNS)
                eng.execute(f"CREATE OR REPLACE VIEW {system} AS {link.linked_select(eng, system, cols)}")
                eng.execute(f"CREATE OR REPLACE VIEW {system}_invalid AS "
                            f"{link.linked_select(eng, system, cols, rows='invalid')}")
            for old in [k for k in list(eng.ready) if k.startswith("views:")]:
                eng.ready.discard(old)
            eng.ready.add(key)


# --------------------------------------------------------------------------------------------- SQL finding parts
# Every finding kind is a SELECT (a "part") with the columns ROW_COLUMNS and `seq` (the row's order within its part);
# _assemble runs the parts as one query, fills places, labels, keeps one row per grain and sorts, so only the
# finished findings leave DuckDB.
ROW_COLUMNS = [c for c in FINDING_COLUMNS if c != "label"]   # (the label is added by _assemble)
_ORD = 4294967296   # (group, _rn) as one BIGINT sort key: group * _ORD + _rn


def _case(expr: str, mapping: dict[str, str], default: str = "NULL") -> str:
    """SQL CASE mapping the values of expr to texts (a label table of the rules or this module)."""
    whens = " ".join(f"WHEN {lit(k)} THEN {lit(v)}" for k, v in mapping.items())
    return f"CASE {expr} {whens} ELSE {default} END"


def _row(seq: str = "0", **cols: str) -> str:
    """The select list of a finding part: ROW_COLUMNS (NULL where not given) and seq."""
    out = [f"CAST({cols[c]} AS VARCHAR) AS {c}" if c in cols else f"CAST(NULL AS VARCHAR) AS {c}"
           for c in ROW_COLUMNS]
    return ", ".join(out + [f"CAST({seq} AS BIGINT) AS seq"])


def _first(col: str, order: str) -> str:
    """The first non-empty value of col in the order of the unique key `order` (as pandas' groupby first)."""
    return f"arg_min({col}, {order}) FILTER (WHERE {col} IS NOT NULL)"


def _stage_sql(stage: str, grade: str) -> str:
    """`初中2年级`, `小学`, `非在校生` (stage empty) for display."""
    return f"(coalesce({stage}, '非在校生') || coalesce(CAST(CAST({grade} AS BIGINT) AS VARCHAR) || '年级', ''))"


def _assemble(ctx: Context, parts: list[str]) -> pd.DataFrame:
    """The findings table (the shape of findings.as_findings) from finding parts, in one query: town, village and
    school filled from the person's rows (roster, then the as-of registry, then the ledger; else the suggested
    person's), labels from rules/findings.yaml, one row per kind, person, item and period (the first), sorted as
    as_findings sorts."""
    if not parts:
        return empty_findings()
    sql(ctx)
    labels = {k: v["label"] for k, v in finding_kinds().items()}
    union = " UNION ALL ".join(f"SELECT *, {i} AS part FROM ({p}) p{i}" for i, p in enumerate(parts))
    first = ", ".join(_first(c, f"p * {_ORD} + _rn") + f" AS {c}" for c in ("town", "village", "school"))
    place = ", ".join(f"coalesce(f.{c}, a.{c}, b.{c}) AS {c}" for c in ("town", "village", "school"))
    order = ", ".join(f"{c} NULLS FIRST" for c in SORT_COLUMNS)
    return ctx.df(f"""
        WITH f AS MATERIALIZED ({union}),
             keys AS MATERIALIZED (SELECT id_number AS k FROM f WHERE id_number IS NOT NULL
                      UNION SELECT suggested_id FROM f WHERE suggested_id IS NOT NULL),
             pr AS (SELECT pid, town, village, CAST(NULL AS VARCHAR) AS school, 0 AS p, _rn FROM roster
                    WHERE pid IN (SELECT k FROM keys)
                    UNION ALL
                    SELECT pid, town, CAST(NULL AS VARCHAR), school_name, 1, _rn FROM registry
                    WHERE term = {lit(ctx.term)} AND pid IN (SELECT k FROM keys)
                    UNION ALL
                    SELECT pid, town, village, CAST(NULL AS VARCHAR), 2, _rn FROM ledger
                    WHERE pid IN (SELECT k FROM keys)),
             pl AS (SELECT pid, {first} FROM pr GROUP BY pid),
             out AS (SELECT f.kind, {_case('f.kind', labels)} AS label, f.systems, f.id_number, f.name, {place},
                            f.item, f.period, f.detail, f.suggestion, f.suggested_id
                     FROM f LEFT JOIN pl a ON a.pid = f.id_number LEFT JOIN pl b ON b.pid = f.suggested_id
                     QUALIFY row_number() OVER (PARTITION BY f.kind, f.id_number, f.item, f.period
                                                ORDER BY f.part, f.seq) = 1)
        SELECT {', '.join(FINDING_COLUMNS)} FROM out ORDER BY {order}""")


# --------------------------------------------------------------------------------------------- ID kinds
def _id_part(ctx: Context) -> list[str]:
    """id_invalid and id_precision_lost: one row per ID (every record without one: one row) over the ID-carrying
    systems (registry: as-of term), with the systems it appears in and the link suggestion."""
    sql(ctx)
    rows = []
    for i, system in enumerate(ID_SYSTEMS):
        if not ctx.eng.has(system, "id_number"):
            continue
        name = "name" if system in SQL_COLUMNS or ctx.eng.has(system, "name") else "student_name"
        if system == "registry":
            required, where = "coalesce(id_type = '居民身份证', false) AND id_number IS NULL", \
                f"AND term = {lit(ctx.term)}"
        elif system == "roster":
            required, where = "id_number IS NULL", ""
        else:
            required, where = "false", ""
        cols = SQL_COLUMNS.get(system, _OTHER_COLUMNS)
        village = "village" if "village" in cols else "CAST(NULL AS VARCHAR)"
        school = "school_name" if "school_name" in cols else "CAST(NULL AS VARCHAR)"
        rows.append(f"""
            SELECT '{system}' AS system, id_number, id_reason AS reason, {required} AS empty_required,
                   {name} AS name, town, {village} AS village, {school} AS school, suggested_id, link_evidence,
                   {i} * {_ORD} + _rn AS ord
            FROM {system}_invalid WHERE true {where}""")
    if not rows:
        return []
    invalid = (f"reason IN ({', '.join(lit(r) for r in INVALID_REASONS)}) "
               "OR (reason = 'empty' AND coalesce(empty_required, false))")
    firsts = ", ".join(f"{_first(c, 'ord')} AS {c}" for c in
                       ("id_number", "name", "town", "village", "school", "suggested_id", "link_evidence", "reason"))
    reason = f"coalesce({_case('g.reason', ID_REASON_LABELS)}, '身份证号无效')"
    fallback = ("CASE g.kind WHEN 'id_invalid' THEN '未找到可信的候选人，请核对原始证件后更正' "
                "ELSE '请按原始证件重新录入（设置为文本格式）' END")
    return [f"""
        WITH r AS ({' UNION ALL '.join(rows)}),
             k AS (SELECT *, coalesce(id_number, '') AS key,
                          CASE WHEN {invalid} THEN 'id_invalid' WHEN reason = 'precision_lost' THEN 'id_precision_lost'
                          END AS kind
                   FROM r),
             sy AS (SELECT kind, key, system, min(ord) AS ord FROM k WHERE kind IS NOT NULL GROUP BY kind, key, system),
             s AS (SELECT kind, key, string_agg(system, ',' ORDER BY ord) AS systems,
                          string_agg({_case('system', LABEL, 'system')}, '、' ORDER BY ord) AS labels
                   FROM sy GROUP BY kind, key),
             g AS (SELECT kind, key, min(ord) AS ord, {firsts} FROM k WHERE kind IS NOT NULL GROUP BY kind, key)
        SELECT {_row(seq='g.ord', kind='g.kind', systems='s.systems',
                     id_number="CASE WHEN g.key = '' THEN NULL ELSE g.id_number END", name='g.name',
                     town='g.town', village='g.village', school='g.school', suggested_id='g.suggested_id',
                     detail=f"'身份证号' || coalesce(g.id_number, '（空）') || '：' || {reason} || '；出现在：' "
                            "|| s.labels",
                     suggestion=f"coalesce('建议核对为 ' || g.suggested_id || '：' || coalesce(g.link_evidence, ''), "
                                f"{fallback})")}
        FROM g JOIN s ON g.kind = s.kind AND g.key = s.key"""]


# --------------------------------------------------------------------------------------------- duplicates
def _duplicates_sql(eng: engine.Engine) -> str:
    """duplicate_record rows: a valid ID twice in one registry term (two schools) or twice in the roster (valid
    IDs only: no person link needed)."""
    reg = _valid_rows(eng, "registry", {"id_number": "VARCHAR", "term": "VARCHAR", "school_name": "VARCHAR",
                                         "name": "VARCHAR", "town": "VARCHAR"})
    ros = _valid_rows(eng, "roster", {"id_number": "VARCHAR", "name": "VARCHAR", "town": "VARCHAR",
                                      "village": "VARCHAR"})
    return f"""
        WITH rv AS (SELECT id_number, coalesce(term, {lit(eng.term)}) AS term, school_name AS school, name, town,
                           _rn FROM ({reg}) r),
             -- the keys written more than once first (a narrow count), then the text of those few groups only
             rk AS (SELECT id_number, term FROM rv GROUP BY id_number, term HAVING count(*) > 1),
             rg AS (SELECT v.id_number, v.term, count(*) AS n, {_first('v.name', 'v._rn')} AS name,
                           {_first('v.town', 'v._rn')} AS town, {_first('v.school', 'v._rn')} AS school,
                           string_agg(coalesce(v.school, '（无学校）'), '、' ORDER BY v._rn) AS schools
                    FROM rv v JOIN rk ON v.id_number = rk.id_number AND v.term = rk.term
                    GROUP BY v.id_number, v.term),
             ov AS (SELECT id_number, name, town, village, _rn FROM ({ros}) o),
             ok AS (SELECT id_number FROM ov GROUP BY id_number HAVING count(*) > 1),
             og AS (SELECT v.id_number, count(*) AS n, {_first('v.name', 'v._rn')} AS name,
                           {_first('v.town', 'v._rn')} AS town, {_first('v.village', 'v._rn')} AS village,
                           string_agg(coalesce(v.village, '（无村）'), '、' ORDER BY v._rn) AS places
                    FROM ov v JOIN ok ON v.id_number = ok.id_number GROUP BY v.id_number),
             d AS (SELECT id_number, 0 AS src, term, name, town, CAST(NULL AS VARCHAR) AS village, school,
                          '学籍' || term || '中出现' || CAST(n AS VARCHAR) || '次：' || schools AS detail FROM rg
                   UNION ALL
                   SELECT id_number, 1, NULL, name, town, village, NULL,
                          '建档立卡中出现' || CAST(n AS VARCHAR) || '次：' || places FROM og),
             o AS (SELECT *, row_number() OVER (PARTITION BY id_number ORDER BY src, term) AS ord FROM d),
             g AS (SELECT id_number, bool_or(src = 0) AS reg, bool_or(src = 1) AS ros,
                          {_first('name', 'ord')} AS name, {_first('town', 'ord')} AS town,
                          {_first('village', 'ord')} AS village, {_first('school', 'ord')} AS school,
                          string_agg(detail, '；' ORDER BY ord) AS detail
                   FROM o GROUP BY id_number)
        SELECT {_row(kind="'duplicate_record'", id_number='id_number', name='name', town='town', village='village',
                     school='school', detail='detail',
                     systems="CASE WHEN reg AND ros THEN 'registry,roster' WHEN reg THEN 'registry' ELSE 'roster' END",
                     suggestion="'请核实该人实际就读/所在位置，保留正确记录并删除多余记录'")}
        FROM g"""


def _valid_rows(eng: engine.Engine, system: str, columns: dict[str, str]) -> str:
    """The rows of a system with a valid ID (its own ID is the person: no link needed), given columns and _rn."""
    return (f"SELECT {eng.select_list(system, columns)}, t._rn FROM {eng.src(system)} t "
            f"WHERE coalesce({eng.col(system, 'id_valid', 'BOOLEAN')}, false)")


# --------------------------------------------------------------------------------------------- identity
def _identity_tables(eng: engine.Engine) -> None:
    """Tables rec_ident_suspect (the valid-ID records of registry (as-of term), roster, aid and ledger worth a
    look: IDs written with more than one name, sex or birth date contradicting the ID) and rec_ident_names (their
    names normalised once per distinct name, in Python). Valid IDs only: no person link needed."""
    con = eng.con
    selects = []
    for i, system in enumerate(IDENTITY_SYSTEMS):
        cols = {"id_number": "VARCHAR", "name": "VARCHAR", "sex": "VARCHAR", "birth_date": "DATE", "town": "VARCHAR",
                "village": "VARCHAR", "school_name": "VARCHAR", "term": "VARCHAR"}
        cols = {k: v for k, v in cols.items() if k in SQL_COLUMNS[system]}
        village = "village" if "village" in cols else "CAST(NULL AS VARCHAR)"
        school = "school_name" if "school_name" in cols else "CAST(NULL AS VARCHAR)"
        sex = "sex" if system != "aid" else "CAST(NULL AS VARCHAR)"
        birth = "birth_date" if system != "aid" else "CAST(NULL AS DATE)"
        where = f"WHERE term = {lit(eng.term)}" if system == "registry" else ""
        selects.append(f"""SELECT '{system}' AS system, id_number, name AS name_raw, {sex} AS sex,
            {birth} AS birth_date, town, {village} AS village, {school} AS school, {i} * {_ORD} + _rn AS ord
            FROM ({_valid_rows(eng, system, cols)}) v {where}""")
    ident = " UNION ALL ".join(selects)
    # (valid IDs only: digits 7-14 are a date; compared as a number, no date built for every row)
    birth_differs = ("(year(i.birth_date) * 10000 + month(i.birth_date) * 100 + day(i.birth_date)) "
                     "<> CAST(substr(i.id_number, 7, 8) AS INTEGER)")
    sex_differs = "i.sex <> CASE WHEN substr(i.id_number, 17, 1) IN ('1','3','5','7','9') THEN '男' ELSE '女' END"
    con.execute(f"""CREATE OR REPLACE TABLE rec_ident_suspect AS
        WITH i AS ({ident}),
             multi AS (SELECT id_number FROM i WHERE name_raw IS NOT NULL GROUP BY id_number
                       HAVING min(hash(name_raw)) <> max(hash(name_raw)))
        SELECT i.*, i.id_number IN (SELECT id_number FROM multi) AS multi_name,
               coalesce(i.sex IS NOT NULL AND {sex_differs}, false) AS sex_bad,
               coalesce(i.birth_date IS NOT NULL AND {birth_differs}, false) AS birth_bad
        FROM i WHERE i.id_number IN (SELECT id_number FROM multi)
           OR (i.sex IS NOT NULL AND {sex_differs}) OR (i.birth_date IS NOT NULL AND {birth_differs})""")
    written = con.execute("SELECT DISTINCT name_raw FROM rec_ident_suspect WHERE name_raw IS NOT NULL").df()
    written = written["name_raw"].astype("string")
    con.register("ident_names_df", pd.DataFrame({"name_raw": written, "name": link._normalize_names(written)}))
    con.execute("CREATE OR REPLACE TABLE rec_ident_names AS SELECT * FROM ident_names_df")
    con.unregister("ident_names_df")


def early(ws: Any, as_of: dt.date | None = None) -> None:
    """The part of 三一致 that needs no person link (duplicates and identity checks read valid IDs only), built
    into the engine: findings.run_analyses runs this on a second thread while the link is being built."""
    if isinstance(ws, dict):   # a plain dict's engine is made by link_state: built with the findings instead
        return
    _early_tables(engine.of(ws, as_of))
    views_early(ws, as_of)


def views_early(ws: Any, as_of: dt.date | None = None) -> None:
    """The linked views, before the link has stored its map (they read table link_map, replaced under a lock);
    nothing for a plain dict, whose engine the link makes."""
    if not isinstance(ws, dict):
        _views(engine.of(ws, as_of))


def _early_tables(eng: engine.Engine) -> None:
    """Tables rec_duplicates, rec_ident_suspect, rec_ident_names and rec_identity (finding rows), built once per
    engine."""
    if "reconcile:early" in eng.ready:
        return
    with eng.lock_for("reconcile:early"):   # not eng.lock: this runs while the link is built under it
        if "reconcile:early" not in eng.ready:
            eng.execute(f"CREATE OR REPLACE TABLE rec_duplicates AS {_duplicates_sql(eng)}")
            _identity_tables(eng)
            # the identity findings' rows (one part: their kinds differ, so the order of the parts is kept)
            eng.execute("CREATE OR REPLACE TABLE rec_identity AS " + " UNION ALL ".join(
                f"SELECT * FROM ({p}) p{i}" for i, p in enumerate(_identity_parts())))
            eng.ready.add("reconcile:early")


def _identity_parts() -> list[str]:
    """name_mismatch, sex_mismatch, birthdate_mismatch over the tables of _identity_tables (valid IDs only: no
    person link needed, so _early_tables builds their rows)."""
    label = _case("system", LABEL, "system")
    names = f"""
        WITH n AS (SELECT DISTINCT u.id_number, u.system, u.ord // {_ORD} AS o, nm.name
                   FROM rec_ident_suspect u JOIN rec_ident_names nm ON u.name_raw = nm.name_raw
                   WHERE u.multi_name AND nm.name IS NOT NULL),
             bad AS (SELECT id_number FROM n GROUP BY id_number HAVING count(DISTINCT name) > 1),
             sy AS (SELECT DISTINCT n.id_number, n.system, n.o FROM n JOIN bad ON n.id_number = bad.id_number),
             s AS (SELECT id_number, string_agg(system, ',' ORDER BY o) AS systems FROM sy GROUP BY id_number),
             g AS (SELECT n.id_number, arg_min(n.name, n.o) AS name,
                          string_agg({_case('n.system', LABEL, 'n.system')} || '：' || n.name, '；' ORDER BY n.o, n.name)
                            AS pairs
                   FROM n JOIN bad ON n.id_number = bad.id_number GROUP BY n.id_number)
        SELECT {_row(kind="'name_mismatch'", systems='s.systems', id_number='g.id_number', name='g.name',
                     detail="'同一身份证号姓名不同：' || g.pairs",
                     suggestion="'请以户籍（身份证）登记的姓名为准，在有误的系统中更正'")}
        FROM g JOIN s ON g.id_number = s.id_number"""
    id_sex = "CASE WHEN substr(i.id_number, 17, 1) IN ('1','3','5','7','9') THEN '男' ELSE '女' END"
    id_birth = "substr(i.id_number, 7, 4) || '-' || substr(i.id_number, 11, 2) || '-' || substr(i.id_number, 13, 2)"
    texts = {
        "sex_mismatch": ("sex_bad", f"{label} || '登记性别为' || i.sex || '，身份证号第17位表示' || {id_sex}",
                         "请核对身份证件，更正登记的性别"),
        "birthdate_mismatch": ("birth_bad", (f"{label} || '登记出生日期为' || strftime(i.birth_date, '%Y-%m-%d') "
                                             f"|| '，身份证号第7-14位为' || {id_birth}"),
                               "请核对身份证件，更正登记的出生日期"),
    }
    parts = [names]
    for kind, (flag, text, hint) in texts.items():
        parts.append(f"""
        WITH t AS (SELECT i.*, nm.name, {text} AS text FROM rec_ident_suspect i
                   LEFT JOIN rec_ident_names nm ON i.name_raw = nm.name_raw WHERE i.{flag}),
             sy AS (SELECT id_number, system, min(ord) AS ord FROM t GROUP BY id_number, system),
             s AS (SELECT id_number, string_agg(system, ',' ORDER BY ord) AS systems FROM sy GROUP BY id_number),
             tx AS (SELECT id_number, text, min(ord) AS ord FROM t GROUP BY id_number, text),
             d AS (SELECT id_number, string_agg(text, '；' ORDER BY ord) AS detail FROM tx GROUP BY id_number),
             g AS (SELECT id_number, {_first('name', 'ord')} AS name, {_first('town', 'ord')} AS town,
                          {_first('village', 'ord')} AS village, {_first('school', 'ord')} AS school
                   FROM t GROUP BY id_number)
        SELECT {_row(kind=lit(kind), systems='s.systems', id_number='g.id_number', name='g.name', town='g.town',
                     village='g.village', school='g.school', detail='d.detail', suggestion=lit(hint))}
        FROM g JOIN s ON g.id_number = s.id_number JOIN d ON g.id_number = d.id_number""")
    return parts


# --------------------------------------------------------------------------------------------- stage
def _stage_part(ctx: Context) -> list[str]:
    """stage_mismatch: the roster's 在校生状况 against the as-of registry's stage and grade (first roster row)."""
    sql(ctx)
    enrolled = ", ".join(lit(x) for x in ENROLLED_STATUSES)
    reg_txt = _stage_sql("r.stage", "r.grade")
    return [f"""
        WITH r AS (SELECT pid, min(school_name) AS school, min(stage) AS stage, min(grade) AS grade
                   FROM registry WHERE pid IN (SELECT pid FROM roster) AND term = {lit(ctx.term)}
                   AND (status IS NULL OR status IN ({enrolled}))
                   GROUP BY pid),
             m AS (SELECT o.pid, o.name, o.town, o.village, o.stage, o.grade, o.school_status_raw, o._rn
                   FROM roster o JOIN r ON o.pid = r.pid
                   WHERE o.stage IS NULL OR o.stage = '学前' OR o.stage <> r.stage
                      OR (o.grade IS NOT NULL AND r.grade IS NOT NULL AND o.grade <> r.grade)
                   QUALIFY row_number() OVER (PARTITION BY o.pid ORDER BY o._rn) = 1)
        SELECT {_row(seq='m._rn', kind="'stage_mismatch'", systems="'roster,registry'", id_number='m.pid',
                     name='m.name', town='m.town', village='m.village', school='r.school',
                     detail=f"'建档立卡在校生状况：' || coalesce(m.school_status_raw, "
                            f"{_stage_sql('m.stage', 'm.grade')}) || '；学籍（' || {lit(ctx.term)} || '）：' || "
                            f"{reg_txt} || '（' || coalesce(r.school, '') || '）'",
                     suggestion=f"'请在扶贫系统将在校生状况更新为' || {reg_txt}")}
        FROM m JOIN r ON m.pid = r.pid"""]


# --------------------------------------------------------------------------------------------- continuity
CONTINUITY_LABELS = {
    "promoted": "升级", "same_grade": "同年级在读", "graduated": "毕业", "transferred": "转出", "died": "死亡",
    "left_with_ledger": "控辍保学台账登记", "missing": "学籍异常减少",
}


def _continuity_sql(ctx: Context, outcomes: list[str] | None = None) -> str:
    """Per previous-term student: the outcome in the as-of term (see continuity); only `outcomes` if given."""
    final = " OR ".join(f"(p.stage = '{s}' AND p.grade >= {g})" for s, g in FINAL_GRADES.items())
    left = ", ".join(lit(s) for s in LEFT_STATUSES)
    enrolled = ", ".join(lit(s) for s in ENROLLED_STATUSES)
    prev_term, term = lit(ctx.previous_term), lit(ctx.term)
    keep = "" if not outcomes else "WHERE outcome IN (" + ", ".join(lit(o) for o in outcomes) + ")"
    # without promoted / same_grade only the students absent from the as-of term are needed: found by an
    # anti-join on the person key before anything is aggregated
    gone = bool(outcomes) and not {"promoted", "same_grade"} & set(outcomes)
    prev = (f"SELECT * FROM registry r WHERE term = {prev_term} AND NOT EXISTS (SELECT 1 FROM registry c "
            f"WHERE c.term = {term} AND c.pid = r.pid)") if gone else f"SELECT * FROM registry WHERE term = {prev_term}"
    return f"""
        SELECT * FROM (
        WITH prev_all AS ({prev}),
             st AS (SELECT pid, max(CASE WHEN status = '死亡' THEN 1 ELSE 0 END) AS died,
                           max(CASE WHEN status = '转出' THEN 1 ELSE 0 END) AS transferred,
                           max(CASE WHEN status = '毕业' THEN 1 ELSE 0 END) AS graduated_status
                    FROM prev_all WHERE status IN ({left}) GROUP BY pid),
             p AS (SELECT pid, min(name) AS name, min(town) AS town, min(school_name) AS school,
                          min(stage) AS stage, min(grade) AS grade, min(status) AS status
                   FROM prev_all WHERE pid IS NOT NULL AND (status IS NULL OR status IN ({enrolled}))
                   GROUP BY pid),
             c AS (SELECT pid, min(school_name) AS school, min(stage) AS stage, min(grade) AS grade
                   FROM registry WHERE term = {term} AND pid IN (SELECT pid FROM p) GROUP BY pid),
             l AS (SELECT DISTINCT pid FROM ledger WHERE pid IS NOT NULL)
        SELECT p.pid AS person_id, p.name, p.town, p.school, p.stage AS prev_stage, p.grade AS prev_grade,
               p.status AS prev_status, c.stage, c.grade, c.school AS current_school,
               CASE WHEN c.pid IS NOT NULL THEN
                      CASE WHEN c.stage = p.stage AND c.grade = p.grade THEN 'same_grade' ELSE 'promoted' END
                    WHEN st.died = 1 THEN 'died'
                    WHEN st.transferred = 1 THEN 'transferred'
                    WHEN st.graduated_status = 1 OR {final} THEN 'graduated'
                    WHEN l.pid IS NOT NULL THEN 'left_with_ledger'
                    ELSE 'missing' END AS outcome
        FROM p LEFT JOIN c ON p.pid = c.pid LEFT JOIN st ON p.pid = st.pid LEFT JOIN l ON p.pid = l.pid
        ) {keep}"""


def continuity(ws: Any, as_of: dt.date | None = None, outcomes: list[str] | None = None) -> pd.DataFrame:
    """Per previous-term student (status NA/在读/转入): outcome in the as-of term (promoted, same_grade,
    graduated, transferred, died, left_with_ledger, missing) with its Chinese label. Empty without last term.
    `outcomes` keeps only those outcomes (computed in SQL, so the rest never leaves DuckDB)."""
    ctx = ws if isinstance(ws, Context) else context(ws, as_of)
    cols = ["person_id", "name", "town", "school", "prev_stage", "prev_grade", "prev_status", "stage", "grade",
            "current_school", "outcome", "outcome_label"]
    con = sql(ctx)
    if not con.execute("SELECT count(*) FROM registry WHERE term = ?", [ctx.previous_term]).fetchall()[0][0]:
        return pd.DataFrame(columns=cols)
    out = con.execute(_continuity_sql(ctx, outcomes) + " ORDER BY person_id").df()
    out["outcome_label"] = out["outcome"].map(CONTINUITY_LABELS)
    return out[cols]


def _missing_part(ctx: Context) -> list[str]:
    """missing_from_registry: last term's students in no as-of term record, graduation, transfer or ledger."""
    sql(ctx)
    prev_term, term = lit(ctx.previous_term), lit(ctx.term)
    return [f"""
        SELECT {_row(kind="'missing_from_registry'", systems="'registry'", id_number='m.person_id', name='m.name',
                     town='m.town', school='m.school',
                     detail=f"{prev_term} || '在' || coalesce(m.school, '') || '就读（' || "
                            f"{_stage_sql('m.prev_stage', 'm.prev_grade')} || '），' || {term} || "
                            "'学籍中查无此人，无毕业、转学、死亡或控辍保学台账记录'",
                     suggestion="'请学校核查该生去向：转学的补办转学手续，辍学的登记控辍保学台账并劝返'")}
        FROM ({_continuity_sql(ctx, ['missing'])}) m"""]


# --------------------------------------------------------------------------------------------- public
def prepare(ws: Any, as_of: dt.date | None = None) -> None:
    """Link people and build the linked views once (findings.run_analyses calls this before the analyses that
    share them run side by side)."""
    sql(context(ws, as_of))


def findings(ws: Any, as_of: dt.date | None = None) -> pd.DataFrame:
    """三一致 findings: id_invalid, id_precision_lost, duplicate_record, name_mismatch, sex_mismatch,
    birthdate_mismatch, stage_mismatch, missing_from_registry (rules/findings.yaml), in the findings shape."""
    ctx = ws if isinstance(ws, Context) else context(ws, as_of)
    _early_tables(ctx.eng)
    parts = (_id_part(ctx) + ["SELECT * FROM rec_duplicates", "SELECT * FROM rec_identity"] + _stage_part(ctx)
             + _missing_part(ctx))
    return _assemble(ctx, parts)


def person_status(ws: Any, as_of: dt.date | None = None) -> pd.DataFrame:
    """One row per person (every roster member and every enrolled student of the as-of term): identity, place,
    presence per system, roster / registry stage and grade, boarding, ledger reason, school-age flag, aid items
    received this term, and a `groups` placeholder (filled by workbench.groups)."""
    ctx = ws if isinstance(ws, Context) else context(ws, as_of)
    from . import terms

    first, last = terms.school_age_bounds(ctx.as_of)
    con = sql(ctx)
    enrolled = ", ".join(f"'{s}'" for s in ENROLLED_STATUSES)
    id_birth = ("TRY_CAST(concat(substr(p.pid, 7, 4), '-', substr(p.pid, 11, 2), '-', substr(p.pid, 13, 2)) "
                "AS DATE)")
    table = con.sql(f"""
        WITH o AS (SELECT pid, min(name) name, min(sex) sex, min(birth_date) birth_date, min(town) town,
                          min(village) village, min(stage) stage, min(grade) grade, min(school_status_raw) raw
                   FROM roster WHERE pid IS NOT NULL GROUP BY pid),
             r AS (SELECT pid, min(name) name, min(sex) sex, min(birth_date) birth_date, min(town) town,
                          min(school_name) school, min(stage) stage, min(grade) grade, min(boarding) boarding
                   FROM registry WHERE pid IS NOT NULL AND term = ? AND (status IS NULL OR status IN ({enrolled}))
                   GROUP BY pid),
             a AS (SELECT pid, string_agg(DISTINCT coalesce(item, item_raw), '、' ORDER BY coalesce(item, item_raw)) items
                   FROM aid WHERE pid IS NOT NULL AND (term IS NULL OR term = ?) GROUP BY pid),
             l AS (SELECT pid, string_agg(DISTINCT reason, '、' ORDER BY reason) reason FROM ledger WHERE pid IS NOT NULL
                   GROUP BY pid),
             people AS (SELECT pid FROM o UNION SELECT pid FROM r)
        SELECT p.pid AS person_id, coalesce(o.name, r.name) AS name, coalesce(r.sex, o.sex) AS sex,
               coalesce({id_birth}, o.birth_date, r.birth_date) AS birth_date, coalesce(o.town, r.town) AS town,
               o.village, r.school,
               o.pid IS NOT NULL AS in_roster, r.pid IS NOT NULL AS in_registry,
               a.pid IS NOT NULL AS in_aid, l.pid IS NOT NULL AS in_ledger,
               coalesce(o.raw, o.stage) AS roster_school_status, o.stage AS roster_stage,
               CAST(o.grade AS INTEGER) AS roster_grade, r.stage AS registry_stage,
               CAST(r.grade AS INTEGER) AS registry_grade,
               r.boarding AS registry_boarding, l.reason AS ledger_reason, a.items AS aid_items
        FROM people p LEFT JOIN o ON p.pid = o.pid LEFT JOIN r ON p.pid = r.pid
             LEFT JOIN a ON p.pid = a.pid LEFT JOIN l ON p.pid = l.pid
        ORDER BY p.pid
    """, params=[ctx.term, ctx.term]).to_arrow_table()
    out = table.to_pandas(types_mapper=engine.arrow_types)
    birth = pd.to_datetime(out["birth_date"])
    out["birth_date"] = birth
    out["school_age"] = ((birth >= pd.Timestamp(first)) & (birth <= pd.Timestamp(last))).astype("boolean")
    out["groups"] = pd.Series(pd.NA, index=out.index, dtype="string")
    return out
