"""Pre-triage of a suspected-error list (疑似问题预核查): each item matched to the county's own data.

For every item: how it was matched (by the listed ID, by a linked candidate, or 本地未找到), what each local system
says about the person (学籍 / 建档立卡 / 资助 / 控辍保学台账: present, name, school, stage), the likely cause, a
suggested correction with its evidence in Chinese, the responsible town and school, and whether the local findings
already contain the same problem. A pure function of DataFrames: `triage(suspects, ws, findings=None)`.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

import numpy as np
import pandas as pd

from ..engine import unpack as _unpack
from .config import category_kinds, followup_rules, normalize_ids, normalize_names, resolve_category_keys

SYSTEMS = ["registry", "roster", "aid", "ledger"]
SYSTEM_LABELS = {"registry": "学籍", "roster": "建档立卡", "aid": "资助", "ledger": "控辍保学台账",
                 "registry_prev": "上学期学籍"}
ID_REASON_LABELS = {
    "empty": "为空", "bad_length": "位数不对", "bad_chars": "含非法字符", "bad_region": "地区码不存在",
    "bad_birthdate": "出生日期部分无效", "bad_checksum": "校验位错误", "precision_lost": "被Excel截断（末几位已丢失）",
}
ENROLLED_STATUSES = {"在读", "转入", "在校"}
NOT_FOUND = "本地未找到"
ENROLMENT_CATEGORIES = ("not_enrolled", "not_in_registry", "missing_from_registry")

TRIAGE_COLUMNS = [
    "match", "person_id", "in_registry", "in_roster", "in_aid", "in_ledger", "local_name", "local_school",
    "local_stage", "local_says", "cause", "cause_label", "likely_result", "suggestion", "suggested_id",
    "suggested_field", "suggested_value", "responsible_town", "responsible_school", "local_finding",
    "local_finding_kinds",
]
TRIAGE_LABELS = {
    "match": "匹配方式", "person_id": "本地身份证号", "in_registry": "学籍", "in_roster": "建档立卡",
    "in_aid": "资助", "in_ledger": "控辍保学台账", "local_name": "本地姓名", "local_school": "本地学校",
    "local_stage": "本地学段", "local_says": "本地数据情况", "cause_label": "可能原因", "likely_result": "预判结果",
    "suggestion": "处理建议", "suggested_id": "建议身份证号", "suggested_value": "建议更正值",
    "responsible_town": "责任乡镇", "responsible_school": "责任学校", "local_finding": "本地问题清单已有",
}

_CN_NUM = {1: "一", 2: "二", 3: "三", 4: "四", 5: "五", 6: "六"}


def _previous_term(term: str) -> str:
    try:
        from .. import terms

        return terms.previous_term(term)
    except (ImportError, AttributeError):
        year, season = int(term[:4]), term[4:]
        return f"{year}春" if season == "秋" else f"{year - 1}秋"


def _check_ids(values: pd.Series, as_of: dt.date) -> pd.DataFrame:
    """ids.check when available: id_number (normalised), valid, reason, birth_date, sex."""
    try:
        from .. import ids

        out = ids.check(values.astype("string"), as_of=as_of)
        out.index = values.index
        return out
    except ImportError:  # pragma: no cover - ids is part of the package
        norm = normalize_ids(values)
        ok = norm.str.fullmatch(r"\d{17}[\dX]").fillna(False)
        return pd.DataFrame({"id_number": norm, "valid": ok, "reason": ok.map({True: "ok", False: "bad_checksum"}),
                             "birth_date": pd.to_datetime(norm.str[6:14], format="%Y%m%d", errors="coerce"),
                             "sex": pd.NA}, index=values.index)


def _col(df: pd.DataFrame, name: str, dtype: str = "string") -> pd.Series:
    if name in df.columns:
        return df[name].astype(dtype) if dtype else df[name]
    return pd.Series(pd.NA, index=df.index, dtype=dtype or "object")


def _linked_tables(ws: Any, tables: dict[str, pd.DataFrame], as_of: dt.date) -> dict[str, pd.DataFrame]:
    """Every system frame with person_id (workbench.link when it works, else the record's own valid ID)."""
    try:
        from .. import link

        linked = link.attach_person_ids(ws, as_of) if not isinstance(ws, dict) else \
            link.attach_person_ids(tables, as_of)
        if all(s in linked for s in SYSTEMS if s in tables):
            return linked
    except Exception:  # noqa: BLE001 - linking is an improvement, not a requirement
        pass
    out = {}
    for s in SYSTEMS:
        df = tables.get(s)
        if df is None or "id_number" not in df.columns:
            continue
        chk = _check_ids(df["id_number"], as_of)
        out[s] = df.assign(person_id=chk["id_number"].where(chk["valid"]), link_method="id",
                           suggested_id=pd.NA, link_evidence=pd.NA)
    return out


def local_records(ws: Any, as_of: dt.date | None = None) -> pd.DataFrame:
    """One long table of the county's records of people (学籍 of the as-of term and the previous term, 建档立卡,
    资助, 控辍保学台账): system, pkey (person_id, else ``rec:<ID as recorded>``), person_id, rec_id, id_reason,
    link_evidence, name, sex, birth_date, school, town, village, stage, grade, status, reason, item, term."""
    tables, as_of, term = _unpack(ws, as_of)
    linked = _linked_tables(ws, tables, as_of)
    parts = []
    prev = _previous_term(term) if term else None
    for system in SYSTEMS:
        df = linked.get(system)
        if df is None or not len(df):
            continue
        chk = _check_ids(_col(df, "id_number"), as_of)
        rec = pd.DataFrame({
            "system": system,
            "person_id": _col(df, "person_id").fillna(chk["id_number"].where(chk["valid"].astype(bool))),
            "rec_id": chk["id_number"],
            "id_reason": chk["reason"].astype("string"),
            "link_evidence": _col(df, "link_evidence"),
            "name": normalize_names(_col(df, "name")),
            "sex": _col(df, "sex"),
            "birth_date": pd.to_datetime(_col(df, "birth_date", None), errors="coerce"),
            "school": _col(df, "school_name"),
            "town": _col(df, "town"),
            "village": _col(df, "village"),
            "stage": _col(df, "stage"),
            "grade": pd.to_numeric(_col(df, "grade", None), errors="coerce").astype("Int64"),
            "status": _col(df, "status"),
            "reason": _col(df, "reason"),
            "item": _item_labels(_col(df, "item")).fillna(_col(df, "item_raw")),
            "difficulty_type": _col(df, "difficulty_type"),
            "term": _col(df, "term"),
            "school_status_raw": _col(df, "school_status_raw"),
        }, index=df.index)
        if system == "registry" and rec["term"].notna().any():
            terms_present = set(rec["term"].dropna())
            current = term if term in terms_present else max(terms_present, key=_term_sort)
            previous = prev if prev in terms_present else None
            if previous:
                parts.append(rec[rec["term"] == previous].assign(system="registry_prev"))
            rec = rec[rec["term"] == current]
        parts.append(rec)
    if not parts:
        cols = ["system", "person_id", "rec_id", "id_reason", "link_evidence", "name", "sex", "birth_date",
                "school", "town", "village", "stage", "grade", "status", "reason", "item", "difficulty_type", "term",
                "school_status_raw"]
        return pd.DataFrame({c: pd.Series(dtype="string") for c in cols}).assign(pkey=pd.Series(dtype="string"))
    out = pd.concat(parts, ignore_index=True)
    out["person_id"] = out["person_id"].astype("string")
    # records the linker left without a person (or when it is unavailable): same name and birth date, ID close
    todo = out["person_id"].isna() & out["rec_id"].notna()
    if todo.any():
        cand = out.loc[out["person_id"].notna(), ["person_id", "name"]].drop_duplicates()
        found = nearby_person(out.loc[todo, "rec_id"], out.loc[todo, "name"], out.loc[todo, "birth_date"], cand)
        out.loc[found.index, "person_id"] = found["person_id"]
        out.loc[found.index, "link_evidence"] = out.loc[found.index, "link_evidence"].fillna(found["evidence"])
    out["pkey"] = out["person_id"].fillna("rec:" + out["rec_id"].fillna(""))
    return out


def _id_matrix(values: pd.Series) -> np.ndarray:
    """(n, 18) uint8 matrix of the first 18 characters (short values padded with spaces)."""
    text = values.fillna("").astype(str).str.slice(0, 18).str.ljust(18).to_numpy(dtype="U18")
    return np.frombuffer(text.astype("S18").tobytes(), dtype=np.uint8).reshape(len(text), 18)


def nearby_person(rec_ids: pd.Series, names: pd.Series, births: pd.Series, cand: pd.DataFrame) -> pd.DataFrame:
    """For records with a wrong ID: the unique known person (cand: person_id, name) with the same name and birth
    date (the record's, else the date in its ID) whose ID differs in one character, two adjacent characters
    swapped, or only in the last three digits of a number Excel truncated. Index: the records found;
    columns person_id, evidence. Vectorised (a merge on name and birth date, then an ID comparison)."""
    if not len(rec_ids) or not len(cand):
        return pd.DataFrame({"person_id": pd.Series(dtype="string"), "evidence": pd.Series(dtype="string")})
    id_birth = pd.to_datetime(rec_ids.str.slice(6, 14), format="%Y%m%d", errors="coerce")
    birth = pd.to_datetime(births, errors="coerce").fillna(id_birth)
    recs = pd.DataFrame({"_r": rec_ids.index, "rec_id": rec_ids.to_numpy(), "name": names.to_numpy(),
                         "birth": birth.to_numpy()}).dropna(subset=["name", "birth"])
    c = cand.dropna().copy()
    c["birth"] = pd.to_datetime(c["person_id"].str.slice(6, 14), format="%Y%m%d", errors="coerce")
    pairs = recs.merge(c.dropna(subset=["birth"]), on=["name", "birth"], how="inner")
    if not len(pairs):
        return pd.DataFrame({"person_id": pd.Series(dtype="string"), "evidence": pd.Series(dtype="string")})
    a, b = _id_matrix(pairs["rec_id"]), _id_matrix(pairs["person_id"])
    diff = a != b
    n_diff = diff.sum(axis=1)
    swapped = (n_diff == 2) & np.array([
        bool(np.any(d[:-1] & d[1:] & (x[:-1] == y[1:]) & (x[1:] == y[:-1]))) for d, x, y in zip(diff, a, b)
    ], dtype=bool) if len(pairs) else np.zeros(0, bool)
    truncated = (a[:, :15] == b[:, :15]).all(axis=1) & (a[:, 15:] == ord("0")).all(axis=1)
    close = (n_diff == 1) | swapped | truncated
    pairs = pairs[close].assign(how=np.where(truncated[close], "前15位相同（Excel截断）",
                                             np.where(swapped[close], "相邻两位颠倒", "相差1位")))
    unique = pairs.groupby("_r")["person_id"].transform("nunique") == 1
    pairs = pairs[unique].drop_duplicates("_r")
    out = pd.DataFrame({
        "person_id": pairs["person_id"].astype("string").to_numpy(),
        "evidence": ("同名同出生日期的人员身份证号为" + pairs["person_id"] + "，与所记身份证号" + pairs["how"]).to_numpy(),
    }, index=pairs["_r"].to_numpy())
    out["evidence"] = out["evidence"].astype("string")
    return out


def _item_labels(items: pd.Series) -> pd.Series:
    """Aid item keys -> their Chinese names from the policy in force (workbench.aid), keys kept otherwise."""
    try:
        from ..aid import item_labels

        labels = item_labels()
    except Exception:  # noqa: BLE001 - labels are cosmetic
        return items
    return items.map(lambda v: labels.get(v, v) if isinstance(v, str) else v).astype("string")


def _term_sort(term: str) -> tuple[int, int]:
    try:
        return int(str(term)[:4]), 1 if str(term).endswith("秋") else 0
    except ValueError:
        return 0, 0


def stage_label(stage: Any, grade: Any) -> str | None:
    """小学4年级, 初中1年级 …; the roster's own words are given by `roster_status_label`."""
    if stage is None or stage is pd.NA or (isinstance(stage, float) and pd.isna(stage)):
        return None
    if grade is None or grade is pd.NA or pd.isna(grade):
        return str(stage)
    return f"{stage}{int(grade)}年级"


def roster_status_label(stage: Any, grade: Any) -> str | None:
    """The 在校生状况 value that matches a registry stage/grade (小学, 七年级, 高中一年级, 中职二年级 …)."""
    if stage is None or stage is pd.NA or (isinstance(stage, float) and pd.isna(stage)):
        return None
    stage = str(stage)
    if stage == "小学":
        return "小学"
    if stage == "学前":
        return "学前教育"
    if grade is None or grade is pd.NA or pd.isna(grade):
        return stage
    g = int(grade)
    if stage == "初中":
        return {1: "七年级", 2: "八年级", 3: "九年级"}.get(g, f"初中{g}年级")
    if stage in ("高中", "中职", "高职"):
        return f"{stage}{_CN_NUM.get(g, g)}年级"
    return stage


def _present(v: Any) -> bool:
    return not (v is None or v is pd.NA or (isinstance(v, float) and pd.isna(v)) or v is pd.NaT or v == "")


def _match_items(items: pd.DataFrame, local: pd.DataFrame, ws: Any, listed: pd.DataFrame,
                 as_of: dt.date) -> pd.DataFrame:
    """Per item: pkey (into `local`), match (身份证号 / 关联候选 / 本地未找到), person_id, match_evidence."""
    rec_to_person = (local.dropna(subset=["rec_id"]).sort_values("person_id", na_position="last")
                     .drop_duplicates("rec_id").set_index("rec_id")["person_id"])
    known_people = set(local["person_id"].dropna())
    known_recs = set(local["rec_id"].dropna())
    norm = listed["id_number"]
    person = norm.map(rec_to_person).astype("string")
    person = person.where(person.notna(), norm.where(norm.isin(known_people)))
    by_id = norm.isin(known_recs) | norm.isin(known_people)
    pkey = person.fillna(("rec:" + norm).where(by_id))
    out = pd.DataFrame({"pkey": pkey, "person_id": person, "match": pd.Series(pd.NA, index=items.index,
                                                                             dtype="string"),
                        "match_evidence": pd.Series(pd.NA, index=items.index, dtype="string")})
    out.loc[by_id, "match"] = "身份证号"
    # evidence of a link made by the linker for the listed (wrong) ID
    ev = local.dropna(subset=["rec_id", "link_evidence"]).drop_duplicates("rec_id").set_index("rec_id")
    linked_ev = norm.map(ev["link_evidence"]) if len(ev) else pd.Series(pd.NA, index=items.index)
    out["match_evidence"] = linked_ev.astype("string")
    # the rest (not found by ID, or found only as a record without a person): the linker, in one batch
    todo = items.index[out["person_id"].isna()]
    if len(todo):
        linked = _link_items(items.loc[todo], listed.loc[todo], ws, as_of)
        if linked is not None:
            hit = linked["person_id"].notna() & linked["person_id"].isin(known_people)
            for i in linked.index[hit]:  # the few items the linker settled
                out.at[i, "person_id"] = linked.at[i, "person_id"]
                out.at[i, "pkey"] = linked.at[i, "person_id"]
                if pd.isna(out.at[i, "match"]):
                    out.at[i, "match"] = "关联候选"
                if _present(linked.at[i, "link_evidence"]):
                    out.at[i, "match_evidence"] = linked.at[i, "link_evidence"]
    todo = items.index[out["person_id"].isna() & norm.notna()]
    if len(todo):
        cand = local.loc[local["person_id"].notna(), ["person_id", "name"]].drop_duplicates()
        births = items["birth_date"] if "birth_date" in items.columns else pd.Series(pd.NaT, index=items.index)
        found = nearby_person(norm.loc[todo], normalize_names(items.loc[todo, "name"].astype("string")),
                              births.loc[todo], cand)
        for i in found.index:
            out.at[i, "person_id"] = out.at[i, "pkey"] = found.at[i, "person_id"]
            if pd.isna(out.at[i, "match"]):
                out.at[i, "match"] = "关联候选"
            if pd.isna(out.at[i, "match_evidence"]):
                out.at[i, "match_evidence"] = found.at[i, "evidence"]
    out["match"] = out["match"].fillna(NOT_FOUND)
    return out


def _link_items(items: pd.DataFrame, listed: pd.DataFrame, ws: Any, as_of: dt.date) -> pd.DataFrame | None:
    """person_id and link_evidence for list items from workbench.link: the Workspace's own linkage when the
    items are its suspects table, else one linkage run with the items as the suspects system."""
    try:
        from .. import link
    except ImportError:  # pragma: no cover
        return None
    tables = ws if isinstance(ws, dict) else ws.tables
    own = tables.get("suspects")
    try:
        if own is not None and len(own) and not isinstance(ws, dict) and _same_items(own, items):
            frame = link.attach_person_ids(ws)["suspects"]
            frame = frame.loc[items.index] if frame.index.equals(own.index) else None
            if frame is not None:
                return frame[["person_id", "link_evidence"]]
        sub = items.copy()
        sub["id_number"] = listed["id_number"]
        sub["id_valid"] = listed["valid"].astype("boolean")
        sub["id_reason"] = listed["reason"].astype("string")
        if "extra" in sub.columns:
            sub = sub.drop(columns=["extra"])
        batch = {**{k: v for k, v in tables.items() if k != "suspects"}, "suspects": sub.reset_index(drop=True)}
        frame = link.attach_person_ids(batch, as_of)["suspects"]
        frame.index = items.index
        return frame[["person_id", "link_evidence"]]
    except Exception:  # noqa: BLE001 - without the linker the items stay unmatched
        return None


def _same_items(own: pd.DataFrame, items: pd.DataFrame) -> bool:
    """The items are (a subset of) the workspace's suspects rows, unchanged and with the same index."""
    if not items.index.isin(own.index).all():
        return False
    a = own.loc[items.index, ["name", "id_number"]].astype("string").fillna("")
    b = items[["name", "id_number"]].astype("string").fillna("")
    return bool((a.to_numpy() == b.to_numpy()).all())


def triage(suspects: pd.DataFrame, ws: Any, findings: pd.DataFrame | None = None,
           as_of: dt.date | None = None) -> pd.DataFrame:
    """The list with the triage columns (TRIAGE_COLUMNS) added, one row per item, same order."""
    _, as_of, _ = _unpack(ws, as_of)
    items = suspects.reset_index(drop=True).drop(columns=TRIAGE_COLUMNS, errors="ignore")
    for col in ("name", "id_number", "town", "village", "school_name", "category", "description"):
        if col not in items.columns:
            items[col] = pd.NA
    items["category_key"] = resolve_category_keys(items)
    if "extra" in items.columns and "birth_date" not in items.columns:
        births = items["extra"].map(lambda e: _extra_value(e, ("出生日期", "出生年月")))
        if births.notna().any():
            try:
                from ..dates import parse_dates

                items["birth_date"] = parse_dates(births)
            except ImportError:  # pragma: no cover
                items["birth_date"] = pd.to_datetime(births, errors="coerce")
    listed = _check_ids(items["id_number"], as_of)
    local = local_records(ws, as_of)
    match = _match_items(items, local, ws, listed, as_of)
    if findings is None:
        findings = _local_findings(ws, as_of)
    facts = _facts(match, local)
    items["_name_norm"] = normalize_names(items["name"].astype("string"))
    item_recs = _records(items.drop(columns=["extra"], errors="ignore"))
    listed_recs = _records(listed)
    match_recs = _records(match)
    rows = [_assess(it, li, ma, facts.get(i), as_of)  # the Chinese evidence, per list item
            for i, it, li, ma in zip(items.index, item_recs, listed_recs, match_recs)]
    items = items.drop(columns=["_name_norm"])
    assessed = pd.DataFrame(rows, index=items.index)
    out = pd.concat([items, assessed], axis=1)
    out = _attach_findings(out, listed, findings)
    for col in TRIAGE_COLUMNS:
        if col not in out.columns:
            out[col] = pd.NA
    for col in ("in_registry", "in_roster", "in_aid", "in_ledger"):
        out[col] = out[col].astype("boolean")
    text_cols = [c for c in TRIAGE_COLUMNS if not c.startswith("in_")]
    out[text_cols] = out[text_cols].astype("string")
    return out


def _extra_value(extra: Any, keys: tuple[str, ...]) -> Any:
    if isinstance(extra, dict):
        for k in keys:
            if _present(extra.get(k)):
                return extra[k]
    return None


def _local_findings(ws: Any, as_of: dt.date | None = None) -> pd.DataFrame | None:
    """findings.all_findings(ws) when present, else whatever the analyses that have landed return. A plain dict
    of canonical frames is analysed as a Workspace of those frames on the triage's as-of date."""
    import importlib

    if isinstance(ws, dict):
        try:
            from ..workspace import Workspace

            ws = Workspace.from_tables(ws, as_of)
        except Exception:  # noqa: BLE001, S110 - frames that do not make a Workspace are analysed as they are
            pass
    try:
        fn = getattr(importlib.import_module("workbench.findings"), "all_findings", None)
        if fn is not None:
            return fn(ws)
    except Exception:  # noqa: BLE001 - triage works without the local findings
        pass
    parts = []
    for name in ("reconcile", "dropout", "aid"):
        try:
            parts.append(importlib.import_module(f"workbench.{name}").findings(ws))
        except Exception:  # noqa: BLE001, S112 - an analysis that is missing or fails is skipped
            continue
    if not any(len(p) and p["kind"].astype(str).str.startswith("aid_").any() for p in parts if p is not None):
        # the aid rules on frames whose person_id this module attached (valid IDs when the linker fails)
        try:
            tables, as_of, _ = _unpack(ws, None)
            frames: dict[str, Any] = dict(_linked_tables(ws, tables, as_of))
            frames["as_of"] = as_of
            parts.append(importlib.import_module("workbench.aid").findings(frames))
        except Exception:  # noqa: BLE001, S110 - without the aid rules the aid items stay undecided
            pass
    parts = [p for p in parts if p is not None and len(p)]
    return pd.concat(parts, ignore_index=True) if parts else None


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as plain dicts with None for missing values (fast per-item work on small groups)."""
    if not len(frame):
        return []
    obj = frame.astype(object)
    return obj.where(frame.notna(), None).to_dict("records")


def _facts(match: pd.DataFrame, local: pd.DataFrame) -> dict[int, list[dict[str, Any]]]:
    """Local records of each matched item's person (item index -> list of records)."""
    keyed = match[["pkey"]].dropna().reset_index(names="_item")
    if not len(keyed) or not len(local):
        return {}
    joined = keyed.merge(local, on="pkey", how="inner")
    out: dict[int, list[dict[str, Any]]] = {}
    for rec in _records(joined):
        out.setdefault(int(rec["_item"]), []).append(rec)
    return out


def _first(rows: list[dict[str, Any]] | None, field: str) -> Any:
    if not rows:
        return None
    return next((r[field] for r in rows if _present(r.get(field))), None)


def _distinct(rows: list[dict[str, Any]] | None, field: str) -> list[Any]:
    if not rows:
        return []
    return list(dict.fromkeys(r[field] for r in rows if _present(r.get(field))))


def _assess(item: dict[str, Any], listed: dict[str, Any], match: dict[str, Any],
            rows: list[dict[str, Any]] | None, as_of: dt.date) -> dict[str, Any]:
    """Cause, suggestion and local picture of one item."""
    cat = item.get("category_key") if _present(item.get("category_key")) else None
    listed_id = listed["id_number"] if _present(listed["id_number"]) else None
    listed_name = item.get("_name_norm")
    res: dict[str, Any] = {"match": match["match"], "person_id": match["person_id"]}
    if not rows:
        res.update({
            "in_registry": False, "in_roster": False, "in_aid": False, "in_ledger": False,
            "local_says": "学籍、建档立卡、资助、控辍保学台账中均未找到此人（按身份证号及姓名、出生日期、学校关联）",
            "cause": "not_found", "cause_label": NOT_FOUND, "likely_result": NOT_FOUND,
            "suggestion": "本地未找到：请核实此人是否为本县学生或户籍人口，必要时联系上级核对身份证号",
            "responsible_town": item.get("town"), "responsible_school": item.get("school_name"),
        })
        if listed_id is not None and not bool(listed["valid"]):
            res["suggestion"] += f"；所列身份证号{ID_REASON_LABELS.get(listed['reason'], '无效')}"
        return res
    by_sys: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_sys.setdefault(r["system"], []).append(r)
    reg, ros = by_sys.get("registry"), by_sys.get("roster")
    aid, led = by_sys.get("aid"), by_sys.get("ledger")
    person = match["person_id"] if _present(match["person_id"]) else None
    enrolled = reg is not None and any((r["status"] or "在读") in ENROLLED_STATUSES for r in reg)
    res.update({"in_registry": reg is not None, "in_roster": ros is not None, "in_aid": aid is not None,
                "in_ledger": led is not None})
    # what each system says
    says = []
    for s in ["registry", "roster", "aid", "ledger", "registry_prev"]:
        g = by_sys.get(s)
        if g is None:
            if s != "registry_prev":
                says.append(f"{SYSTEM_LABELS[s]}：无")
            continue
        parts = [_first(g, "name") or "（无姓名）"]
        if s in ("registry", "registry_prev", "aid"):
            schools = _distinct(g, "school")
            if schools:
                parts.append("、".join(schools))
            st = stage_label(_first(g, "stage"), _first(g, "grade"))
            if st:
                parts.append(st)
            status = _first(g, "status")
            if s == "registry" and status and status not in ENROLLED_STATUSES:
                parts.append(f"学籍状态{status}")
            if s == "aid" and _distinct(g, "item"):
                parts.append("资助项目" + "、".join(_distinct(g, "item")))
        elif s == "roster":
            parts += [v for v in (_first(g, "town"), _first(g, "village")) if v]
            raw = _first(g, "school_status_raw") or stage_label(_first(g, "stage"), _first(g, "grade"))
            parts.append(f"在校生状况{raw or '未填'}")
        elif s == "ledger" and _first(g, "reason"):
            parts.append(f"未在校原因{_first(g, 'reason')}")
        wrong = [r["rec_id"] for r in g if person and r["rec_id"] and r["rec_id"] != person]
        if wrong:
            parts.append(f"身份证号记为{wrong[0]}")
        says.append(f"{SYSTEM_LABELS[s]}：" + "，".join(str(p) for p in parts))
    res["local_says"] = "；".join(says)
    res["local_name"] = _first(reg, "name") or _first(ros, "name") or _first(rows, "name")
    res["local_school"] = _first(reg, "school") or _first(aid, "school")
    if reg is not None:
        res["local_stage"] = stage_label(_first(reg, "stage"), _first(reg, "grade"))
    elif ros is not None:
        res["local_stage"] = _first(ros, "school_status_raw") or stage_label(_first(ros, "stage"),
                                                                            _first(ros, "grade"))
    res["responsible_school"] = res["local_school"] or item.get("school_name")
    res["responsible_town"] = (_first(reg, "town") or _first(ros, "town") or _first(led, "town")
                               or _first(aid, "town") or item.get("town"))

    problems = _detect(item, listed, listed_id, listed_name, person, match, by_sys, enrolled, as_of)
    wanted = category_kinds(cat)
    chosen = next((p for k in wanted for p in problems if p["cause"] == k), None)
    if chosen is None and cat in ENROLMENT_CATEGORIES:
        # the province found no enrolment because the registry holds the pupil under a wrong ID
        chosen = next((p for p in problems if p["cause"] in ("id_invalid", "id_precision_lost")
                       and "registry" in p.get("_systems", [])), None)
    if chosen is None and not wanted and problems:
        chosen = problems[0]
    if chosen is None and cat in ENROLMENT_CATEGORIES:
        chosen = _enrolment_answer(reg, led, enrolled) or None
    if chosen is None:
        others = [p for p in problems if p["cause"] not in wanted]
        agree = _agreement(wanted, by_sys, listed, person)
        note = "本地数据未发现所列问题" + (f"（{agree}）" if agree else "") + (
            "；另发现：" + "；".join(p["cause_label"] for p in others) if others else "")
        chosen = {"cause": "不属实", "cause_label": "本地数据未发现所列问题", "likely_result": "不属实",
                  "suggestion": note + "。请核对后按不属实反馈，并附学籍等系统截图"}
    res.update({k: v for k, v in chosen.items() if not k.startswith("_")})
    return res


def _agreement(wanted: list[str], by_sys: dict[str, list[dict[str, Any]]], listed: dict[str, Any],
               person: str | None) -> str:
    """What the local data says for the listed problem when it does not confirm it (for the 不属实 answer)."""
    reg, ros = by_sys.get("registry"), by_sys.get("roster")
    bits = []
    if "stage_mismatch" in wanted and reg and ros:
        raw = _first(ros, "school_status_raw") or stage_label(_first(ros, "stage"), _first(ros, "grade"))
        bits.append(f"建档立卡在校生状况为{raw}，学籍为{stage_label(_first(reg, 'stage'), _first(reg, 'grade'))}，一致")
    if "name_mismatch" in wanted:
        names = _distinct([r for s, g in by_sys.items() if s != "registry_prev" for r in g], "name")
        if len(names) == 1:
            bits.append(f"各系统姓名均为{names[0]}")
    if {"sex_mismatch", "birthdate_mismatch"} & set(wanted) and person:
        bits.append("性别、出生日期与身份证号一致")
    if {"id_invalid", "id_precision_lost"} & set(wanted) and bool(listed.get("valid")):
        bits.append("所列身份证号校验通过，与本地登记一致")
    return "；".join(bits)


def _enrolment_answer(reg, led, enrolled: bool) -> dict[str, Any]:
    if enrolled:
        school = _first(reg, "school")
        st = stage_label(_first(reg, "stage"), _first(reg, "grade"))
        return {"cause": "不属实", "cause_label": "本地学籍在读", "likely_result": "不属实",
                "suggestion": f"不属实：本县学籍显示在{school}{st or ''}就读，请附学籍截图反馈"}
    if led is not None:
        reason = _first(led, "reason") or "已登记"
        return {"cause": "不属实", "cause_label": "已登记控辍保学台账", "likely_result": "不属实",
                "suggestion": f"不属实：控辍保学台账已登记，未在校原因为{reason}，请附佐证材料反馈"}
    return {}


def _detect(item, listed, listed_id, listed_name, person, match, by_sys, enrolled, as_of) -> list[dict[str, Any]]:
    """Problems the local data shows for this person, each with cause, Chinese label, suggestion and correction."""
    out: list[dict[str, Any]] = []
    reg, ros, led = by_sys.get("registry"), by_sys.get("roster"), by_sys.get("ledger")
    prev = by_sys.get("registry_prev")
    current = [r for s, g in by_sys.items() if s != "registry_prev" for r in g]

    # 1. the ID: the listed one or one recorded locally is not the person's
    wrong_sys = list(dict.fromkeys((r["system"], r["rec_id"], r["id_reason"]) for r in current
                                   if person is not None and r["rec_id"] and r["rec_id"] != person))
    listed_wrong = person is not None and listed_id is not None and listed_id != person
    if person is None and listed_id is not None and not bool(listed["valid"]):
        kind = "id_precision_lost" if listed["reason"] == "precision_lost" else "id_invalid"
        where = "、".join(SYSTEM_LABELS.get(s, s) for s in by_sys if s != "registry_prev")
        what = f"所列身份证号{ID_REASON_LABELS.get(listed['reason'], '无效')}，{where}中也登记为此号"
        guess, why = _repair_guess(listed_id, listed["reason"], current, as_of)
        problem = {"cause": kind, "cause_label": "身份证号错误" if kind == "id_invalid" else "身份证号被Excel截断",
                   "likely_result": "属实", "suggested_field": "身份证号", "_systems": list(by_sys),
                   "suggestion": f"{what}；本地其他系统中未找到此人的正确身份证号，请按户口簿或身份证核对后更正"}
        if guess:
            problem.update(suggested_id=guess, suggested_value=guess,
                           suggestion=f"建议核对为 {guess}：{what}；{why}，请按户口簿或身份证核对后更正")
        out.append(problem)
    if person is not None and (listed_wrong or wrong_sys or (listed_id is not None and not bool(listed["valid"]))):
        reason = listed["reason"] if listed_wrong else (wrong_sys[0][2] if wrong_sys else listed["reason"])
        kind = "id_precision_lost" if reason == "precision_lost" else "id_invalid"
        where = [SYSTEM_LABELS.get(s, s) for s, _, _ in wrong_sys]
        evidence = match.get("match_evidence")
        evidence = evidence if _present(evidence) else _id_evidence(by_sys, person, listed_name)
        what = f"所列身份证号{ID_REASON_LABELS.get(listed['reason'], '与本地不一致')}" if listed_wrong else \
            f"{'、'.join(where)}中身份证号{ID_REASON_LABELS.get(reason, '有误')}"
        systems = "、".join(dict.fromkeys(where)) or "学籍"
        out.append({"cause": kind, "cause_label": "身份证号错误" if kind == "id_invalid" else "身份证号被Excel截断",
                    "likely_result": "属实", "suggested_id": person, "suggested_field": "身份证号",
                    "_systems": [s for s, _, _ in wrong_sys], "suggested_value": person,
                    "suggestion": f"建议核对为 {person}：{evidence}；{what}，请在{systems}中按户口簿更正"})
    # 2. the same person enrolled twice in the term, or registered twice in the roster
    reg_schools = _distinct(reg, "school")
    ros_ids = [r["rec_id"] for r in ros or [] if r["rec_id"]]
    if len(reg_schools) > 1:
        right, why = _right_school(reg_schools, reg, by_sys)
        keep = f"建议保留{right}的学籍（{why}），注销其余" if right else "请核实实际就读学校，保留正确学籍并注销其余"
        out.append({"cause": "duplicate_record", "cause_label": "身份证件号重复（一人多籍）", "likely_result": "属实",
                    "suggested_field": "学校", "suggested_value": right,
                    "suggestion": f"学籍中同一身份证号在{'、'.join(reg_schools)}重复在籍；{keep}"})
    elif reg is not None and len(reg) > 1:
        out.append({"cause": "duplicate_record", "cause_label": "重复记录", "likely_result": "属实",
                    "suggestion": f"学籍中同一人在{reg_schools[0] if reg_schools else '同一学校'}有{len(reg)}条记录，"
                                  "请删除多余记录"})
    elif len(ros_ids) > len(set(ros_ids)):
        villages = _distinct(ros, "village")
        out.append({"cause": "duplicate_record", "cause_label": "重复记录", "likely_result": "属实",
                    "suggestion": f"建档立卡系统中同一身份证号登记多次（{'、'.join(villages)}），请核实户籍所在户，"
                                  "删除多余记录"})
    # 3. names
    names = {s: _first(g, "name") for s, g in by_sys.items() if s != "registry_prev" and _first(g, "name")}
    if len(set(names.values())) > 1 or (listed_name and names and listed_name not in names.values()
                                        and "name_mismatch" in category_kinds(item.get("category_key"))):
        right, why = _right_name(names)
        wrong = {s: n for s, n in names.items() if n != right}
        detail = "、".join(f"{SYSTEM_LABELS[s]}为{n}" for s, n in names.items())
        fix = "、".join(SYSTEM_LABELS[s] for s in wrong) or "上级名单"
        out.append({"cause": "name_mismatch", "cause_label": "姓名不一致", "likely_result": "属实",
                    "suggested_field": "姓名", "suggested_value": right,
                    "suggestion": f"建议姓名更正为 {right}：{detail}（{why}）；请在{fix}中按户口簿更正"})
    # 4. sex and birth date against the ID
    if person is not None and person[:17].isdigit():
        id_sex = "男" if int(person[16]) % 2 == 1 else "女"
        id_birth = pd.to_datetime(person[6:14], format="%Y%m%d", errors="coerce")
        for s, g in by_sys.items():
            if s in ("registry_prev", "aid"):
                continue
            sexes = [x for x in _distinct(g, "sex") if x != id_sex]
            if sexes:
                out.append({"cause": "sex_mismatch", "cause_label": "性别与身份证号不符", "likely_result": "属实",
                            "suggested_field": "性别", "suggested_value": id_sex,
                            "suggestion": f"建议性别更正为 {id_sex}：{SYSTEM_LABELS[s]}登记为{'、'.join(sexes)}，"
                                          f"身份证号第17位表示{id_sex}；请在{SYSTEM_LABELS[s]}中更正"})
                break
        for s, g in by_sys.items():
            if s in ("registry_prev", "aid") or pd.isna(id_birth):
                continue
            births = [b for b in _distinct(g, "birth_date") if pd.Timestamp(b) != id_birth]
            if births:
                shown = "、".join(sorted(pd.Timestamp(b).strftime("%Y-%m-%d") for b in births))
                right = id_birth.strftime("%Y-%m-%d")
                out.append({"cause": "birthdate_mismatch", "cause_label": "出生日期与身份证号不符",
                            "likely_result": "属实", "suggested_field": "出生日期", "suggested_value": right,
                            "suggestion": f"建议出生日期更正为 {right}：{SYSTEM_LABELS[s]}登记为{shown}，"
                                          f"与身份证号第7-14位不符；请在{SYSTEM_LABELS[s]}中更正"})
                break
    # 5. the roster's school status against the registry
    if ros is not None and reg is not None and enrolled:
        r_stage, r_grade = _first(reg, "stage"), _first(reg, "grade")
        p_stage, p_grade = _first(ros, "stage"), _first(ros, "grade")
        differs = r_stage != p_stage or (p_grade is not None and r_grade is not None and int(p_grade) != int(r_grade))
        if r_stage and differs:
            words = roster_status_label(r_stage, r_grade)
            right = stage_label(r_stage, r_grade)
            raw = _first(ros, "school_status_raw") or stage_label(p_stage, p_grade) or "未填"
            out.append({"cause": "stage_mismatch", "cause_label": "在校生状况与学籍不一致", "likely_result": "属实",
                        "suggested_field": "在校生状况", "suggested_value": right,
                        "suggestion": f"建议在校生状况更正为 {words}：建档立卡为{raw}，学籍显示"
                                      f"{_first(reg, 'school')}{right}；请在扶贫系统更新"})
    # 6. aid records: paid twice, or paid to a pupil not enrolled / claimed 建档立卡 but not in the roster
    aid = by_sys.get("aid")
    if aid:
        paid = Counter((r["item"], r["term"]) for r in aid if r["item"])
        twice = [(it, t, n) for (it, t), n in paid.items() if n > 1]
        if twice:
            it, t, n = twice[0]
            out.append({"cause": "aid_duplicate", "cause_label": "重复资助", "likely_result": "属实",
                        "suggestion": f"属实：{t or '本学期'}{it}发放{n}次（{'、'.join(_distinct(aid, 'school'))}），"
                                      "请核实并追回多发资金"})
        items = "、".join(_distinct(aid, "item"))
        if not enrolled:
            out.append({"cause": "aid_ineligible", "cause_label": "不符合条件的受资助对象", "likely_result": "属实",
                        "suggestion": f"属实：资助名单中有此人（{items}），但本学期学籍中无在读记录；请核实后停发并追回"})
        elif any(r.get("difficulty_type") == "建档立卡" for r in aid) and ros is None:
            out.append({"cause": "aid_ineligible", "cause_label": "不符合条件的受资助对象", "likely_result": "属实",
                        "suggestion": f"属实：资助名单困难类型为建档立卡（{items}），但建档立卡人员中无此人；"
                                      "请核实认定依据，不符合条件的停发并追回"})
    # 7. out of school
    if not enrolled and ros is not None and led is None and _school_age(person, ros, as_of):
        out.append({"cause": "not_enrolled", "cause_label": "适龄未入学（疑似辍学）", "likely_result": "属实",
                    "suggestion": "属实：建档立卡适龄儿童未在本县学籍中，也未登记在控辍保学台账；请立即核查去向，"
                                  "劝返复学或按实际情况登记台账并补充佐证材料"})
    if not enrolled and prev is not None and led is None:
        out.append({"cause": "missing_from_registry", "cause_label": "学籍异常减少", "likely_result": "属实",
                    "suggestion": f"属实：上学期在{_first(prev, 'school')}在籍，本学期学籍中查无此人，且无转学、"
                                  "毕业或台账记录；请核查去向并办理学籍变动或登记台账"})
    return out


def _repair_guess(listed_id: str, reason: str, rows: list[dict[str, Any]], as_of: dt.date) -> tuple[str | None, str]:
    """A likely right ID when nobody in the county holds it: the birth date the records give (bad birth date), or
    the county's own address code one digit or one adjacent swap away (address code that never existed); the
    check character recomputed. None unless exactly one valid candidate results."""
    if not listed_id or len(listed_id) != 18 or not listed_id[:17].isdigit():
        return None, ""
    cands: dict[str, str] = {}
    if reason == "bad_birthdate":
        for b in _distinct(rows, "birth_date"):
            ymd = pd.Timestamp(b).strftime("%Y%m%d")
            cands[listed_id[:6] + ymd + listed_id[14:17]] = f"本地登记的出生日期为{pd.Timestamp(b):%Y-%m-%d}，按此重算校验位"
    elif reason == "bad_region":
        from ..rules import settings

        region = listed_id[:6]
        county = str(settings().get("county_code") or "")
        variants = {region[:i] + region[i + 1] + region[i] + region[i + 2:] for i in range(5)}
        variants |= {region[:i] + d + region[i + 1:] for i in range(6) for d in "0123456789"}
        if county in variants:
            cands[county + listed_id[6:17]] = f"地区码{region}与本县代码{county}仅差一位或两位颠倒，按本县代码重算校验位"
    if len(cands) != 1:
        return None, ""
    (first17, why), = cands.items()
    try:
        from .. import ids

        full = first17 + str(ids.check_char(pd.Series([first17])).iloc[0])
        if not bool(ids.is_valid(pd.Series([full]), as_of=as_of).iloc[0]):
            return None, ""
    except ImportError:  # pragma: no cover
        return None, ""
    return full, why


def _right_school(schools: list[str], reg, by_sys) -> tuple[str | None, str]:
    """The school a doubly enrolled pupil most likely attends: last term's school, else the aid list's school,
    else the school in the town where the household is registered."""
    for system, why in (("registry_prev", "上学期在该校在籍"), ("aid", "资助名单中为该校")):
        hits = [x for x in _distinct(by_sys.get(system), "school") if x in schools]
        if len(hits) == 1:
            return hits[0], why
    town = _first(by_sys.get("roster"), "town")
    if town:
        hits = list(dict.fromkeys(r["school"] for r in reg if r["town"] == town and r["school"]))
        if len(hits) == 1:
            return hits[0], f"户籍在{town}"
    return None, ""


def _school_age(person: str | None, ros, as_of: dt.date) -> bool:
    birth = pd.to_datetime(person[6:14], format="%Y%m%d", errors="coerce") if person else pd.NaT
    if pd.isna(birth):
        birth = _first(ros, "birth_date")
    if birth is None or pd.isna(birth):
        return True
    try:
        from .. import terms

        first, last = terms.school_age_bounds(as_of)
    except (ImportError, AttributeError):
        y = as_of.year if as_of.month >= 9 else as_of.year - 1
        first, last = dt.date(y - 15, 9, 1), dt.date(y - 6, 8, 31)
    return pd.Timestamp(first) <= pd.Timestamp(birth) <= pd.Timestamp(last)


def _right_name(names: dict[str, str]) -> tuple[str, str]:
    """The name most systems agree on; a tie goes to the system the rules trust most (建档立卡: 户籍)."""
    order = followup_rules().get("name_trust") or ["roster", "registry", "ledger", "aid"]
    counts = Counter(names.values())
    best = max(counts.values())
    tied = [n for n, c in counts.items() if c == best]
    if len(tied) == 1 and best > 1:
        agree = "、".join(SYSTEM_LABELS[s] for s, n in names.items() if n == tied[0])
        return tied[0], f"{agree}一致"
    for s in order:
        if s in names and names[s] in tied:
            return names[s], f"以{SYSTEM_LABELS[s]}为准"
    return tied[0], "多数系统一致"


def _id_evidence(by_sys, person: str, listed_name: str | None) -> str:
    for s in ("registry", "roster", "aid", "ledger"):
        row = next((r for r in by_sys.get(s) or [] if r["rec_id"] == person), None)
        if row is not None:
            bits = ["同名" if listed_name and row["name"] == listed_name else "姓名相近"]
            if row["birth_date"] is not None:
                bits.append("同出生日期")
            if row["school"]:
                bits.append("同学校")
            return f"{SYSTEM_LABELS[s]}中{''.join(bits)}的学生身份证号为{person}"
    return f"本地关联到身份证号{person}"


def _attach_findings(out: pd.DataFrame, listed: pd.DataFrame, findings: pd.DataFrame | None) -> pd.DataFrame:
    """local_finding / local_finding_kinds: the local findings that describe the same problem for this person;
    for aid categories (and items without a cause yet) the finding also gives the cause and suggestion."""
    out["local_finding"] = "否"
    out["local_finding_kinds"] = pd.NA
    if findings is None or not len(findings):
        out.loc[out["likely_result"].isna(), ["cause", "cause_label", "likely_result", "suggestion"]] = \
            ["不属实", "本地数据未发现所列问题", "不属实", "本地数据未发现所列问题，请核对后反馈"]
        return out
    f = findings.copy()
    f["id_number"] = f["id_number"].astype("string")
    keys = pd.DataFrame({
        "row": out.index,
        "ids": [[v for v in (a, b, c) if _present(v)] for a, b, c in
                zip(listed["id_number"], out["person_id"], out.get("suggested_id", pd.Series(pd.NA, index=out.index)))],
    }).explode("ids").dropna(subset=["ids"])
    hits = keys.merge(f, left_on="ids", right_on="id_number", how="inner")
    if "suggested_id" in f.columns:
        by_sugg = keys.merge(f.dropna(subset=["suggested_id"]), left_on="ids", right_on="suggested_id",
                             how="inner", suffixes=("", "_f"))
        hits = pd.concat([hits, by_sugg[hits.columns.intersection(by_sugg.columns)]], ignore_index=True)
    if not len(hits):
        return out
    hits["category_key"] = hits["row"].map(out["category_key"])
    hits["same"] = [kind in category_kinds(cat) if _present(cat) else False
                    for kind, cat in zip(hits["kind"], hits["category_key"])]
    same = hits[hits["same"]].drop_duplicates(["row", "kind", "item", "period"])
    labels = same.groupby("row")["label"].agg(lambda s: "、".join(dict.fromkeys(s.dropna())))
    kinds = same.groupby("row")["kind"].agg(lambda s: ",".join(dict.fromkeys(s)))
    out.loc[labels.index, "local_finding"] = "是：" + labels
    out.loc[kinds.index, "local_finding_kinds"] = kinds
    # categories the triage does not decide itself (aid rules) take the finding's verdict
    undecided = out["likely_result"].isna() | (out["cause"] == "不属实")
    for row, g in same.groupby("row"):
        if not undecided.get(row, False):
            continue
        top = g.iloc[0]
        out.at[row, "cause"] = top["kind"]
        out.at[row, "cause_label"] = top.get("label")
        out.at[row, "likely_result"] = "属实"
        text = "；".join(v for v in (top.get("detail"), top.get("suggestion")) if _present(v))
        out.at[row, "suggestion"] = f"本地问题清单已有（{top.get('label')}）：{text}"
        if _present(top.get("suggested_id")):
            out.at[row, "suggested_id"] = top["suggested_id"]
    still = out["likely_result"].isna()
    out.loc[still, ["cause", "cause_label", "likely_result", "suggestion"]] = \
        ["不属实", "本地数据未发现所列问题", "不属实", "本地数据及问题清单均未发现所列问题，请核对后反馈"]
    return out
