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
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pandas as pd

from . import engine, link
from .findings import as_findings, empty_findings

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
REGISTRY_COLUMNS = ["term", "person_id", "id_number", "id_valid", "id_reason", "id_type", "link_method",
                    "suggested_id", "link_evidence", "name", "sex", "birth_date", "town", "school_name",
                    "student_no", "stage", "grade", "boarding", "status"]
LABEL = link.SYSTEM_LABELS


# --------------------------------------------------------------------------------------------- context
@dataclass
class Context:
    """What every analysis needs from a Workspace: the SQL engine (with the link map), as-of date and terms.
    The linked pandas frames (`frame`, `registry`, `enrolled`) are built only when asked for."""

    ws: Any
    eng: engine.Engine
    as_of: dt.date
    term: str
    previous_term: str
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def tables(self) -> dict[str, pd.DataFrame]:
        return engine.unpack(self.ws, self.as_of)[0]

    @property
    def linked(self) -> dict[str, pd.DataFrame]:
        return link.attach_person_ids(self.ws, self.as_of)

    def frame(self, system: str) -> pd.DataFrame:
        df = self.linked.get(system)
        if df is None:
            return pd.DataFrame({c: pd.Series(dtype="string") for c in ["id_number", "person_id", "name"]})
        return df

    def registry(self, term: str | None = None) -> pd.DataFrame:
        """Linked registry rows of one term (default the as-of term), REGISTRY_COLUMNS only."""
        term = term or self.term
        key = ("registry", term)
        if key not in self.extra:
            reg = self.frame("registry")
            reg = reg[[c for c in REGISTRY_COLUMNS if c in reg.columns]]   # only what the analyses read
            if "term" not in reg.columns:
                self.extra[key] = reg if term == self.term else reg.iloc[:0]
            else:
                self.extra[key] = reg[reg["term"].astype("string").eq(term).fillna(False).to_numpy(bool)]
        return self.extra[key]

    def enrolled(self, term: str | None = None) -> pd.DataFrame:
        """Registry rows of a term whose status means enrolled (NA / 在读 / 转入)."""
        reg = self.registry(term)
        if "status" not in reg.columns:
            return reg
        st = reg["status"].astype("string")
        return reg[(st.isna() | st.isin(ENROLLED_STATUSES)).to_numpy(bool)]

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


def _s(df: pd.DataFrame, col: str) -> pd.Series:
    """A column as a string Series (NA when the frame lacks it)."""
    if col in df.columns:
        return df[col].astype("string")
    return pd.Series(pd.NA, index=df.index, dtype="string")


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
    eng = ctx.eng
    if not ctx.extra.get("views"):
        for system in ID_SYSTEMS:
            cols = SQL_COLUMNS.get(system, _OTHER_COLUMNS)
            eng.execute(f"CREATE OR REPLACE TEMP VIEW {system} AS {link.linked_select(eng, system, cols)}")
            eng.execute(f"CREATE OR REPLACE TEMP VIEW {system}_invalid AS "
                        f"{link.linked_select(eng, system, cols, rows='invalid')}")
        ctx.extra["views"] = True
    return eng.con


def _ids_table(ctx: Context, ids: pd.Series, name: str = "wanted_ids") -> str:
    """Register the distinct non-empty values of `ids` as a one-column table `name` (column id)."""
    vals = pd.Series(ids.dropna().astype("string").unique(), dtype="string")
    ctx.eng.register(name, pd.DataFrame({"id": vals}))
    return name


def places(ctx: Context, ids: pd.Series | None = None) -> pd.DataFrame:
    """Per person ID: town, village (roster, else ledger) and school (as-of registry), for filling findings.
    With `ids`, only those people (the findings' few), else everyone."""
    sql(ctx)
    where = ""
    if ids is not None:
        where = f" AND pid IN (SELECT id FROM {_ids_table(ctx, ids, 'place_ids')})"
    allp = ctx.df(f"""
        SELECT pid, town, village, CAST(NULL AS VARCHAR) AS school, 0 AS p, _rn FROM roster
        WHERE pid IS NOT NULL{where}
        UNION ALL
        SELECT pid, town, CAST(NULL AS VARCHAR), school_name, 1, _rn FROM registry
        WHERE pid IS NOT NULL AND term = ?{where}
        UNION ALL
        SELECT pid, town, village, CAST(NULL AS VARCHAR), 2, _rn FROM ledger WHERE pid IS NOT NULL{where}
        ORDER BY p, _rn""", [ctx.term])
    if not len(allp):
        return pd.DataFrame({c: pd.Series(dtype="string") for c in ["town", "village", "school"]})
    g = allp.groupby("pid", sort=False)
    return pd.DataFrame({"town": g["town"].first(), "village": g["village"].first(), "school": g["school"].first()})


def _fill_places(out: pd.DataFrame, ctx: Context, key: str = "id_number") -> pd.DataFrame:
    if out.empty:
        return out
    keys = out[key]
    if "suggested_id" in out.columns:
        keys = pd.concat([keys, out["suggested_id"]], ignore_index=True)
    pl = places(ctx, keys)
    for col in ("town", "village", "school"):
        if col not in out.columns:
            out[col] = pd.NA
        out[col] = out[col].astype("string").fillna(out[key].map(pl[col]).astype("string"))
        if "suggested_id" in out.columns:
            out[col] = out[col].fillna(out["suggested_id"].map(pl[col]).astype("string"))
    return out


# --------------------------------------------------------------------------------------------- ID kinds
def _id_rows(ctx: Context) -> pd.DataFrame:
    """Every record with an invalid ID of the ID-carrying systems (registry: as-of term) with system, id,
    reason, name, place, link suggestion; in system order, then row order."""
    sql(ctx)
    parts = []
    for i, system in enumerate(ID_SYSTEMS):
        if not ctx.eng.has(system, "id_number"):
            continue
        name = "name" if system in SQL_COLUMNS or ctx.eng.has(system, "name") else "student_name"
        if system == "registry":
            required, where = "coalesce(id_type = '居民身份证', false) AND id_number IS NULL", f"AND term = '{ctx.term}'"
        elif system == "roster":
            required, where = "id_number IS NULL", ""
        else:
            required, where = "false", ""
        cols = SQL_COLUMNS.get(system, _OTHER_COLUMNS)
        village = "village" if "village" in cols else "CAST(NULL AS VARCHAR)"
        school = "school_name" if "school_name" in cols else "CAST(NULL AS VARCHAR)"
        parts.append(f"""
            SELECT '{system}' AS system, id_number, id_reason AS reason, {required} AS empty_required,
                   {name} AS name, town, {village} AS village, {school} AS school, suggested_id, link_evidence,
                   {i} AS o, _rn
            FROM {system}_invalid WHERE true {where}""")
    parts = [ctx.df("SELECT * EXCLUDE (o, _rn) FROM (" + " UNION ALL ".join(parts) + ") ORDER BY o, _rn")] \
        if parts else []
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame(columns=["system", "id_number", "reason", "empty_required", "name", "town", "village",
                                     "school", "suggested_id", "link_evidence"])
    out = pd.concat(parts, ignore_index=True)
    out["empty_required"] = out["empty_required"].fillna(False).astype(bool)
    return out


def _id_findings(ctx: Context) -> pd.DataFrame:
    rows = _id_rows(ctx)
    invalid = rows["reason"].isin(INVALID_REASONS).fillna(False) | (
        rows["reason"].eq("empty").fillna(False) & rows["empty_required"])
    lost = rows["reason"].eq("precision_lost").fillna(False)
    out = []
    for kind, mask in (("id_invalid", invalid), ("id_precision_lost", lost)):
        sub = rows[mask.to_numpy(bool)]
        if sub.empty:
            continue
        sub = sub.assign(order=sub["system"].map({s: i for i, s in enumerate(ID_SYSTEMS)}))
        sub = sub.sort_values(["order"], kind="stable")
        key = sub["id_number"].fillna("").rename("_key")
        g = sub.groupby(key, sort=False)
        first = g.first()
        systems = g["system"].agg(lambda s: ",".join(dict.fromkeys(s)))
        sugg = g["suggested_id"].first()
        evid = g["link_evidence"].first()
        f = pd.DataFrame({
            "kind": kind,
            "systems": systems,
            "id_number": first["id_number"].where(first.index != "", pd.NA),
            "name": first["name"], "town": first["town"], "village": first["village"], "school": first["school"],
            "suggested_id": sugg,
        })
        labels = systems.map(lambda s: "、".join(LABEL.get(x, x) for x in s.split(",")))
        reason_txt = first["reason"].map(ID_REASON_LABELS).fillna("身份证号无效")
        f["detail"] = ("身份证号" + first["id_number"].fillna("（空）") + "：" + reason_txt + "；出现在：" + labels)
        f["suggestion"] = ("建议核对为 " + sugg + "：" + evid.fillna(""))
        if kind == "id_invalid":
            f["suggestion"] = f["suggestion"].fillna("未找到可信的候选人，请核对原始证件后更正")
        else:
            f["suggestion"] = f["suggestion"].fillna("请按原始证件重新录入（设置为文本格式）")
        out.append(f.reset_index(drop=True))
    return pd.concat(out, ignore_index=True) if out else empty_findings()


# --------------------------------------------------------------------------------------------- duplicates
def _duplicates(ctx: Context) -> pd.DataFrame:
    sql(ctx)
    out = []
    if ctx.eng.has("registry", "id_number"):
        d = ctx.df("""
            WITH v AS (SELECT id_number, coalesce(term, ?) AS term, school_name AS school, name, town, _rn
                       FROM registry WHERE coalesce(id_valid, false)),
                 k AS (SELECT id_number, term FROM v GROUP BY id_number, term HAVING count(*) > 1)
            SELECT v.* FROM v JOIN k ON v.id_number = k.id_number AND v.term = k.term ORDER BY v._rn""",
                   [ctx.term])
        if len(d):
            g = d.groupby(["id_number", "term"], sort=True)
            agg = g.agg(name=("name", "first"), town=("town", "first"), school=("school", "first"),
                        n=("school", "size"), schools=("school", lambda s: "、".join(s.fillna("（无学校）"))))
            agg = agg.reset_index()
            agg["detail"] = ("学籍" + agg["term"] + "中出现" + agg["n"].astype(str) + "次：" + agg["schools"])
            agg["systems"] = "registry"
            out.append(agg[["id_number", "name", "town", "school", "detail", "systems"]])
    if ctx.eng.has("roster", "id_number"):
        d = ctx.df("""
            WITH v AS (SELECT id_number, name, town, village, household_no, _rn FROM roster
                       WHERE coalesce(id_valid, false)),
                 k AS (SELECT id_number FROM v GROUP BY id_number HAVING count(*) > 1)
            SELECT v.* FROM v JOIN k ON v.id_number = k.id_number ORDER BY v._rn""")
        if len(d):
            g = d.groupby("id_number", sort=True)
            agg = g.agg(name=("name", "first"), town=("town", "first"), village=("village", "first"),
                        n=("name", "size"),
                        where=("village", lambda s: "、".join(s.fillna("（无村）")))).reset_index()
            agg["detail"] = "建档立卡中出现" + agg["n"].astype(str) + "次：" + agg["where"]
            agg["systems"] = "roster"
            out.append(agg[["id_number", "name", "town", "village", "detail", "systems"]])
    if not out:
        return empty_findings()
    f = pd.concat(out, ignore_index=True)
    g = f.groupby("id_number", sort=False)
    f = pd.DataFrame({
        "systems": g["systems"].agg(lambda s: ",".join(dict.fromkeys(s))),
        "name": g["name"].first(), "town": g["town"].first(),
        "village": g["village"].first() if "village" in f.columns else pd.NA,
        "school": g["school"].first() if "school" in f.columns else pd.NA,
        "detail": g["detail"].agg("；".join),
    }).reset_index()
    f["kind"] = "duplicate_record"
    f["suggestion"] = "请核实该人实际就读/所在位置，保留正确记录并删除多余记录"
    return f


# --------------------------------------------------------------------------------------------- identity
def _identity(ctx: Context) -> pd.DataFrame:
    """name_mismatch, sex_mismatch, birthdate_mismatch over the valid-ID records of registry (as-of term),
    roster, aid and ledger (DuckDB SQL; names normalised once per distinct name)."""
    con = sql(ctx)
    selects = []
    for system in IDENTITY_SYSTEMS:
        cols = SQL_COLUMNS[system]
        village = "village" if "village" in cols else "CAST(NULL AS VARCHAR)"
        school = "school_name" if "school_name" in cols else "CAST(NULL AS VARCHAR)"
        sex = "sex" if system != "aid" else "CAST(NULL AS VARCHAR)"
        birth = "birth_date" if system != "aid" else "CAST(NULL AS DATE)"
        where = "coalesce(id_valid, false)" + (f" AND term = '{ctx.term}'" if system == "registry" else "")
        selects.append(f"""SELECT '{system}' AS system, id_number, name AS name_raw, {sex} AS sex,
            {birth} AS birth_date, town, {village} AS village, {school} AS school FROM {system} WHERE {where}""")
    ident = " UNION ALL ".join(selects)
    order = "CASE system " + " ".join(f"WHEN '{s}' THEN {i}" for i, s in enumerate(IDENTITY_SYSTEMS)) + " END"
    id_sex = "CASE WHEN substr(id_number, 17, 1) IN ('1','3','5','7','9') THEN '男' ELSE '女' END"
    id_birth = ("make_date(CAST(substr(id_number, 7, 4) AS INTEGER), CAST(substr(id_number, 11, 2) AS INTEGER), "
                "CAST(substr(id_number, 13, 2) AS INTEGER))")
    # (valid IDs only: digits 7-14 are a date; compared as a number, no date built for every row)
    birth_differs = ("(year(i.birth_date) * 10000 + month(i.birth_date) * 100 + day(i.birth_date)) "
                     "<> CAST(substr(i.id_number, 7, 8) AS INTEGER)")
    sex_differs = "i.sex <> CASE WHEN substr(i.id_number, 17, 1) IN ('1','3','5','7','9') THEN '男' ELSE '女' END"
    # the few rows worth a closer look: IDs written with more than one name, sex or birth date contradicting the ID
    con.execute(f"""CREATE OR REPLACE TEMP TABLE ident_suspect AS
        WITH i AS ({ident}),
             multi AS (SELECT id_number FROM i WHERE name_raw IS NOT NULL GROUP BY id_number
                       HAVING min(hash(name_raw)) <> max(hash(name_raw)))
        SELECT i.*, i.id_number IN (SELECT id_number FROM multi) AS multi_name,
               coalesce(i.sex IS NOT NULL AND {sex_differs}, false) AS sex_bad,
               coalesce(i.birth_date IS NOT NULL AND {birth_differs}, false) AS birth_bad
        FROM i WHERE i.id_number IN (SELECT id_number FROM multi)
           OR (i.sex IS NOT NULL AND {sex_differs}) OR (i.birth_date IS NOT NULL AND {birth_differs})""")
    written = con.execute("SELECT DISTINCT name_raw FROM ident_suspect WHERE name_raw IS NOT NULL").df()["name_raw"]
    written = written.astype("string")
    con.register("nm", pd.DataFrame({"name_raw": written, "name": link._normalize_names(written)}))
    names_bad = con.execute(f"""
        WITH n AS (SELECT u.id_number, u.system, {order.replace('system', 'u.system')} AS o, nm.name, u.town,
                          u.village, u.school
                   FROM ident_suspect u JOIN nm ON u.name_raw = nm.name_raw WHERE u.multi_name AND nm.name IS NOT NULL),
             bad AS (SELECT id_number FROM n GROUP BY id_number HAVING count(DISTINCT name) > 1)
        SELECT DISTINCT n.* FROM n JOIN bad ON n.id_number = bad.id_number ORDER BY id_number, o, name
    """).df()
    sex_bad = con.execute(f"""
        SELECT i.* EXCLUDE (multi_name, sex_bad, birth_bad), nm.name, {id_sex} AS id_sex
        FROM ident_suspect i LEFT JOIN nm ON i.name_raw = nm.name_raw
        WHERE i.sex_bad ORDER BY id_number, {order}""").df()
    birth_bad = con.execute(f"""
        SELECT i.* EXCLUDE (multi_name, sex_bad, birth_bad), nm.name, {id_birth} AS id_birth
        FROM ident_suspect i LEFT JOIN nm ON i.name_raw = nm.name_raw
        WHERE i.birth_bad ORDER BY id_number, {order}""").df()
    con.unregister("nm")
    out = []
    if len(names_bad):
        d = names_bad.assign(pair=names_bad["system"].map(LABEL) + "：" + names_bad["name"])
        g = d.groupby("id_number", sort=True)
        f = pd.DataFrame({
            "systems": g["system"].agg(lambda s: ",".join(dict.fromkeys(s))),
            "name": g["name"].first(),
            "detail": "同一身份证号姓名不同：" + g["pair"].agg("；".join),
        }).reset_index()
        f["kind"] = "name_mismatch"
        f["suggestion"] = "请以户籍（身份证）登记的姓名为准，在有误的系统中更正"
        out.append(f)
    for kind, sub in (("sex_mismatch", sex_bad), ("birthdate_mismatch", birth_bad)):
        if sub.empty:
            continue
        label = sub["system"].map(LABEL)
        if kind == "sex_mismatch":
            text = label + "登记性别为" + sub["sex"] + "，身份证号第17位表示" + sub["id_sex"]
        else:
            text = (label + "登记出生日期为" + pd.to_datetime(sub["birth_date"]).dt.strftime("%Y-%m-%d")
                    + "，身份证号第7-14位为" + pd.to_datetime(sub["id_birth"]).dt.strftime("%Y-%m-%d"))
        sub = sub.assign(text=text)
        g = sub.groupby("id_number", sort=True)
        f = pd.DataFrame({
            "systems": g["system"].agg(lambda s: ",".join(dict.fromkeys(s))),
            "name": g["name"].first(), "town": g["town"].first(), "village": g["village"].first(),
            "school": g["school"].first(),
            "detail": g["text"].agg(lambda s: "；".join(dict.fromkeys(s))),
        }).reset_index()
        f["kind"] = kind
        f["suggestion"] = ("请核对身份证件，更正登记的性别" if kind == "sex_mismatch"
                           else "请核对身份证件，更正登记的出生日期")
        out.append(f)
    return pd.concat(out, ignore_index=True) if out else empty_findings()


# --------------------------------------------------------------------------------------------- stage
def _stage_text(stage: pd.Series, grade: pd.Series) -> pd.Series:
    """`初中2年级`, `小学`, `非在校生` (stage NA) for display."""
    g = pd.Series(pd.to_numeric(grade, errors="coerce"), index=stage.index).astype("Int64").astype("string")
    return stage.astype("string").fillna("非在校生") + (g + "年级").fillna("")


def _stage_mismatch(ctx: Context) -> pd.DataFrame:
    sql(ctx)
    enrolled = ", ".join(f"'{x}'" for x in ENROLLED_STATUSES)
    f = ctx.df(f"""
        WITH r AS (SELECT pid, min(school_name) AS school, min(stage) AS stage, min(grade) AS grade
                   FROM registry WHERE pid IS NOT NULL AND term = ? AND (status IS NULL OR status IN ({enrolled}))
                   GROUP BY pid)
        SELECT o.pid AS id_number, o.name, o.town, o.village, r.school,
               o.stage AS roster_stage, o.grade AS roster_grade, o.school_status_raw AS roster_raw,
               r.stage AS registry_stage, r.grade AS registry_grade
        FROM roster o JOIN r ON o.pid = r.pid
        WHERE o.stage IS NULL OR o.stage = '学前' OR o.stage <> r.stage
           OR (o.grade IS NOT NULL AND r.grade IS NOT NULL AND o.grade <> r.grade)
        ORDER BY o._rn""", [ctx.term])
    if f.empty:
        return empty_findings()
    f = f.drop_duplicates("id_number")
    ros_txt = _s(f, "roster_raw").fillna(_stage_text(_s(f, "roster_stage"), f["roster_grade"]))
    reg_txt = _stage_text(_s(f, "registry_stage"), f["registry_grade"])
    f["detail"] = "建档立卡在校生状况：" + ros_txt + "；学籍（" + ctx.term + "）：" + reg_txt + "（" + \
        _s(f, "school").fillna("") + "）"
    f["suggestion"] = "请在扶贫系统将在校生状况更新为" + reg_txt
    f["systems"] = "roster,registry"
    f["kind"] = "stage_mismatch"
    return f


# --------------------------------------------------------------------------------------------- continuity
CONTINUITY_LABELS = {
    "promoted": "升级", "same_grade": "同年级在读", "graduated": "毕业", "transferred": "转出", "died": "死亡",
    "left_with_ledger": "控辍保学台账登记", "missing": "学籍异常减少",
}


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
    final = " OR ".join(f"(p.stage = '{s}' AND p.grade >= {g})" for s, g in FINAL_GRADES.items())
    left = ", ".join(f"'{s}'" for s in LEFT_STATUSES)
    enrolled = ", ".join(f"'{s}'" for s in ENROLLED_STATUSES)
    keep = "" if not outcomes else "WHERE outcome IN (" + ", ".join(f"'{o}'" for o in outcomes) + ")"
    # without promoted / same_grade only the students absent from the as-of term are needed: found by an
    # anti-join on the person key before anything is aggregated
    gone = bool(outcomes) and not {"promoted", "same_grade"} & set(outcomes)
    prev = ("SELECT * FROM registry r WHERE term = ? AND NOT EXISTS (SELECT 1 FROM registry c "
            "WHERE c.term = ? AND c.pid = r.pid)") if gone else "SELECT * FROM registry WHERE term = ?"
    params = [ctx.previous_term, ctx.term, ctx.term] if gone else [ctx.previous_term, ctx.term]
    out = con.execute(f"""
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
                   FROM registry WHERE term = ? AND pid IS NOT NULL GROUP BY pid),
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
        ) {keep} ORDER BY person_id
    """, params).df()
    out["outcome_label"] = out["outcome"].map(CONTINUITY_LABELS)
    return out[cols]


def _missing_from_registry(ctx: Context) -> pd.DataFrame:
    miss = continuity(ctx, outcomes=["missing"])
    if miss.empty:
        return empty_findings()
    f = pd.DataFrame({
        "kind": "missing_from_registry", "systems": "registry", "id_number": miss["person_id"],
        "name": miss["name"], "town": miss["town"], "school": miss["school"],
        "detail": (ctx.previous_term + "在" + miss["school"].fillna("") + "就读（"
                   + _stage_text(_s(miss, "prev_stage"), miss["prev_grade"]) + "），" + ctx.term
                   + "学籍中查无此人，无毕业、转学、死亡或控辍保学台账记录"),
        "suggestion": "请学校核查该生去向：转学的补办转学手续，辍学的登记控辍保学台账并劝返",
    })
    return f


# --------------------------------------------------------------------------------------------- public
def findings(ws: Any, as_of: dt.date | None = None) -> pd.DataFrame:
    """三一致 findings: id_invalid, id_precision_lost, duplicate_record, name_mismatch, sex_mismatch,
    birthdate_mismatch, stage_mismatch, missing_from_registry (rules/findings.yaml), in the findings shape."""
    ctx = ws if isinstance(ws, Context) else context(ws, as_of)
    parts = [_id_findings(ctx), _duplicates(ctx), _identity(ctx), _stage_mismatch(ctx),
             _missing_from_registry(ctx)]
    parts = [p for p in parts if p is not None and len(p)]
    if not parts:
        return empty_findings()
    f = pd.concat(parts, ignore_index=True)
    f = _fill_places(f, ctx)
    return as_findings(f)


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
