"""Five special groups (五类特殊群体): 残疾、贫困、留守、学困、随迁 for every enrolled student of the as-of term.

Sources (domain.md 3.5, rules in `rules/mentoring.yaml` group_sources): 学籍 残疾人类型 / 随班就读, 建档立卡 roster or
资助 困难类型, 学籍 是否留守儿童, schools' 学困生 lists, 学籍 是否进城务工人员随迁子女. A student can be in several.
People are matched by `person_id` (valid ID or confidently linked ID from `workbench.link`), else by the record's
normalised ID; a list row without a usable ID is matched by name and school when that is unique.
"""

from __future__ import annotations

import warnings
import weakref
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .rules import load_yaml, settings

MEMBERSHIP_COLUMNS = [
    "person_id", "id_number", "name", "school", "town", "stage", "grade", "class_name", "student_key",
]

# --------------------------------------------------------------------------------------------------- rules


def mentoring_rules() -> dict[str, Any]:
    """The mentoring rules in force (settings()['mentoring'], default rules/mentoring.yaml)."""
    return load_yaml(settings().get("mentoring", "mentoring.yaml"))


def group_names() -> list[str]:
    return [str(g) for g in mentoring_rules().get("groups", ["残疾", "贫困", "留守", "学困", "随迁"])]


# --------------------------------------------------------------------------------------------------- cache

_CACHE: dict[int, tuple[Any, dict[str, Any]]] = {}


def cached(ws: Any, name: str, build: Callable[[], Any]) -> Any:
    """Memoise `build()` per Workspace object (and per identity of its tables), for dashboards that ask often."""
    key = id(ws)
    tables = getattr(ws, "tables", {})
    stamp = tuple((k, id(v)) for k, v in sorted(tables.items(), key=lambda kv: kv[0])) + (
        str(getattr(ws, "as_of", None)), str(getattr(ws, "term", None)),
    )
    entry = _CACHE.get(key)
    if entry is not None:
        ref, store = entry
        if ref() is not ws or store.get("__stamp__") != stamp:
            entry = None
    if entry is None:
        try:
            ref = weakref.ref(ws, lambda _r, k=key: _CACHE.pop(k, None))
        except TypeError:  # not weak-referenceable: no caching
            return build()
        store = {"__stamp__": stamp}
        _CACHE[key] = (ref, store)
    else:
        store = entry[1]
    if name not in store:
        store[name] = build()
    return store[name]


# --------------------------------------------------------------------------------------------------- text


def norm_name(values: pd.Series) -> pd.Series:
    """Names for matching: the project's name normaliser (per distinct value) when present, else NFKC fold."""
    s = pd.Series(values).astype("string")
    try:
        from .names import normalize
    except ImportError:
        return _fold(s)
    codes, uniques = pd.factorize(s)
    # names.normalize removes every space already (its class includes \s), so no second pass is needed here
    u = pd.Series(normalize(pd.Series(uniques, dtype="string")), dtype="string").reset_index(drop=True)
    return pd.Series(u.array.take(codes, allow_fill=True), index=s.index, dtype="string")


def _fold(values: pd.Series) -> pd.Series:
    """NFKC fold and remove whitespace; done once per distinct value (columns repeat a lot)."""
    s = pd.Series(values).astype("string")
    codes, uniques = pd.factorize(s)
    u = pd.Series(uniques, dtype="string").str.normalize("NFKC").str.replace(r"\s+", "", regex=True)
    u = u.mask(u == "", pd.NA)
    return pd.Series(u.array.take(codes, allow_fill=True), index=s.index, dtype="string")


def isin(values: pd.Series, members: Any) -> np.ndarray:
    """Boolean array: values (text) found in members (any iterable of text); NA is never found. Uses Arrow."""
    arr = pa.array(pd.Series(values).astype("string"), from_pandas=True).cast(pa.large_string())
    if not isinstance(members, pd.Series):
        members = pd.Series(list(members), dtype="object")
    members = members.dropna().astype("string")  # repeated values are fine in an Arrow value set
    vs = pa.array(members, from_pandas=True).cast(pa.large_string())
    return pc.fill_null(pc.is_in(arr, value_set=vs), False).to_numpy(zero_copy_only=False)


def norm_school(values: pd.Series) -> pd.Series:
    """School names for comparison: NFKC fold, no whitespace, county prefix (旬阳县) removed."""
    values = pd.Series(values).astype("string")
    codes, uniques = pd.factorize(values)  # once per distinct name: columns repeat a lot
    s = _fold(pd.Series(uniques, dtype="string"))
    prefixes = [str(p) for p in mentoring_rules().get("county_prefixes", [])]
    county = settings().get("county")
    if county:
        prefixes.append(str(county))
    for p in sorted(set(prefixes), key=len, reverse=True):
        s = s.str.removeprefix(p)
    s = s.mask(s == "", pd.NA)
    return pd.Series(s.array.take(codes, allow_fill=True), index=values.index, dtype="string")


# --------------------------------------------------------------------------------------------------- people


def _check_ids(values: pd.Series) -> pd.Series:
    """Validity of already normalised IDs (fallback when a frame has no id_valid column)."""
    try:
        from .ids import check

        return pd.Series(check(values)["valid"].to_numpy(dtype=bool), index=values.index)
    except ImportError:
        s = values.astype("string").fillna("")
        ok = s.str.fullmatch(r"\d{17}[\dX]").fillna(False).to_numpy(dtype=bool)
        out = np.zeros(len(s), dtype=bool)
        if ok.any():
            arr = np.array([list(x) for x in s[ok]])
            digits = arr[:, :17].astype(int)
            w = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2])
            check_chars = np.array(list("10X98765432"))[(digits * w).sum(axis=1) % 11]
            out[ok] = check_chars == arr[:, 17]
        return pd.Series(out, index=values.index)


def linked_tables(ws: Any) -> dict[str, pd.DataFrame]:
    """Every system frame with `person_id` (from workbench.link when present; else the valid normalised ID)."""

    def build() -> dict[str, pd.DataFrame]:
        try:
            from .link import attach_person_ids
        except ImportError:
            attach_person_ids = None
        if attach_person_ids is not None:
            try:
                return dict(attach_person_ids(ws, ws.as_of))
            except Exception as exc:  # noqa: BLE001  keep the analyses usable: match by valid ID only, say so
                warnings.warn(f"人员关联（workbench.link）失败，改为仅按有效身份证号匹配：{exc}", stacklevel=2)
        out = {}
        for system, frame in ws.tables.items():
            df = frame.copy()
            if "id_number" in df.columns and "person_id" not in df.columns:
                ids = df["id_number"].astype("string")
                valid = (
                    df["id_valid"].fillna(False).astype(bool)
                    if "id_valid" in df.columns
                    else _check_ids(ids)
                )
                df["person_id"] = ids.where(valid.to_numpy(), pd.NA)
            out[system] = df
        return out

    return cached(ws, "linked_tables", build)


def _col(df: pd.DataFrame, name: str) -> pd.Series:
    if name in df.columns:
        return df[name]
    return pd.Series(pd.NA, index=df.index, dtype="object")


def record_keys(df: pd.DataFrame) -> pd.Series:
    """Person key of each record: person_id, else the record's normalised id_number, else NA."""
    pid = _col(df, "person_id").astype("string")
    missing = pid.isna().to_numpy()
    if not missing.any():  # usual after linking: no ID text to clean
        return pid
    raw = _col(df, "id_number").astype("string")[missing].str.strip()  # only where the person key is missing
    raw = raw.mask(raw == "", pd.NA)
    out = pid.array.copy()
    out[missing] = raw.array
    return pd.Series(out, index=pid.index, name=pid.name, dtype="string")


def _enrolled_mask(reg: pd.DataFrame) -> pd.Series:
    statuses = {str(s) for s in mentoring_rules().get("enrolled_statuses", ["在读", "转入"])}
    status = _col(reg, "status").astype("string").str.strip()
    return (status.isna() | status.isin(statuses)).fillna(True).astype(bool)


def enrolled_registry(ws: Any) -> pd.DataFrame:
    """Registry rows of the as-of term whose status counts as enrolled, with `student_key`, `school`,
    `school_norm` (one row per enrolment: a student enrolled twice keeps both rows)."""

    def build() -> pd.DataFrame:
        reg = linked_tables(ws).get("registry")
        if reg is None or reg.empty:
            cols = ["student_key", "person_id", "id_number", "name", "school", "town", "stage", "grade",
                    "class_name", "school_norm"]
            return pd.DataFrame({c: pd.Series(dtype="string") for c in cols})
        term = getattr(ws, "term", None)
        keep = _enrolled_mask(reg).to_numpy(dtype=bool, copy=True)
        if term is not None and "term" in reg.columns:
            keep &= (reg["term"].astype("string") == str(term)).fillna(False).to_numpy(dtype=bool)
        reg = reg[keep].copy()  # one row selection of the wide frame
        key = record_keys(reg)
        school = _col(reg, "school_name").astype("string")
        reg["school_norm"] = norm_school(school)
        reg["student_key"] = key
        no_key = key.isna().to_numpy()
        if no_key.any():  # no usable ID: the student is known by name and school only
            nm = norm_name(_col(reg, "name")[no_key].astype("string")).fillna("")
            reg.loc[no_key, "student_key"] = "nm:" + nm + "|" + reg.loc[no_key, "school_norm"].fillna("")
        reg["school"] = school
        reg["id_linked"] = _col(reg, "person_id").notna().to_numpy()
        reg["person_id"] = key
        for c in ("town", "stage", "grade", "class_name", "id_number", "name"):
            if c not in reg.columns:
                reg[c] = pd.NA
        return reg.reset_index(drop=True)

    return cached(ws, "enrolled_registry", build)


def student_name_index(students: pd.DataFrame) -> pd.DataFrame:
    """(name_norm, school_norm) pairs that name exactly one of `students` (enrolled_registry rows): name_norm,
    school_norm, first (that student's key), id_linked (of the first of its rows), for match_keys."""
    linked = students["id_linked"] if "id_linked" in students.columns else pd.Series(True, index=students.index)
    cand = students[["student_key", "name", "school_norm"]].assign(id_linked=linked.to_numpy(dtype=bool))
    cand = cand[cand["school_norm"].notna().to_numpy()].drop_duplicates(["student_key", "name", "school_norm"])
    cand = cand.assign(name_norm=norm_name(cand["name"].astype("string"))).drop(columns="name")
    cand = cand.dropna(subset=["name_norm", "school_norm"]).reset_index(drop=True)
    # per (name_norm, school_norm): distinct students, and the first row's key and id_linked (integer codes)
    group, _ = pd.factorize(_pair_codes(cand["name_norm"], cand["school_norm"]))  # 0..k-1, first seen first
    student, _ = pd.factorize(cand["student_key"])
    width = int(student.max()) + 1 if len(student) else 1
    distinct = pd.unique(group.astype(np.int64) * width + student)
    nunique = np.bincount(distinct // width, minlength=int(group.max()) + 1 if len(group) else 0)
    _, first = np.unique(group, return_index=True)  # first row of each group, groups in code order
    one = first[nunique == 1]
    return pd.DataFrame({
        "name_norm": cand["name_norm"].array.take(one), "school_norm": cand["school_norm"].array.take(one),
        "first": cand["student_key"].array.take(one), "id_linked": cand["id_linked"].to_numpy(dtype=bool)[one],
    })


def _pair_codes(a: pd.Series, b: pd.Series, *others: pd.Series) -> np.ndarray:
    """One integer per (a, b) pair of values, -1 when either is NA; with others (more pairs of columns: a2, b2,
    ...), their rows' codes follow, on the same scale (equal pairs, equal codes)."""
    firsts = [a, *others[0::2]]
    seconds = [b, *others[1::2]]
    c1, _ = pd.factorize(pd.concat([x.astype("string") for x in firsts], ignore_index=True))
    c2, u2 = pd.factorize(pd.concat([y.astype("string") for y in seconds], ignore_index=True))
    ok = (c1 >= 0) & (c2 >= 0)
    return np.where(ok, c1.astype(np.int64) * (len(u2) + 1) + c2, -1)


def _pair_positions(a: pd.Series, b: pd.Series, in_a: pd.Series, in_b: pd.Series) -> np.ndarray:
    """Row of (in_a, in_b) (pairs unique, no NA) holding each (a, b) pair, -1 when none (always for NA)."""
    code = _pair_codes(a, b, in_a, in_b)
    n = len(a)
    pos = pd.Index(code[n:]).get_indexer(code[:n])
    pos[code[:n] < 0] = -1
    return pos


def pair_isin(a: pd.Series, b: pd.Series, in_a: pd.Series, in_b: pd.Series) -> np.ndarray:
    """Boolean array: the (a, b) pair of each row is one of the (in_a, in_b) pairs; a pair with NA is never found
    (an exact semi-join on integer codes, no merge)."""
    code = _pair_codes(a, b, in_a, in_b)
    n = len(a)
    return (code[:n] >= 0) & np.isin(code[:n], code[n:][code[n:] >= 0])


def enrolled_name_index(ws: Any) -> pd.DataFrame:
    """student_name_index of the Workspace's enrolled registry, built once per Workspace."""
    return cached(ws, "enrolled_name_index", lambda: student_name_index(enrolled_registry(ws)))


def match_keys(df: pd.DataFrame, students: pd.DataFrame, name_col: str, school_col: str | None,
               extra: pd.DataFrame | Callable[[], pd.DataFrame] | None = None, *,
               name_index: pd.DataFrame | None = None) -> pd.Series:
    """Student key of each list row (pairs, activities, 学困生): its person key when that is an enrolled student's
    key. Otherwise the unique enrolled student with the same name and school, when the row has no valid / linked
    ID, or when it has one but that student's registry ID is itself unusable (invalid and not linked); then, via
    `extra` (pairs: student_key, name_norm, teacher_norm), the unique paired student with the same name and
    teacher, for rows without a usable ID. Else the row's own key (possibly NA). `name_index`:
    student_name_index(students) when the caller has it already (e.g. enrolled_name_index(ws))."""
    key = record_keys(df)
    if df.empty:
        return key
    has_pid = _col(df, "person_id").notna().to_numpy()
    need = ~isin(key, students["student_key"])
    if not need.any():
        return key
    out = key.copy()
    if school_col is not None:
        rows = np.flatnonzero(need)
        sub = pd.DataFrame({
            "row": rows,
            "name_norm": norm_name(_col(df, name_col).iloc[rows].astype("string")).to_numpy(),
            "school_norm": norm_school(_col(df, school_col).iloc[rows].astype("string")).to_numpy(),
            "has_pid": has_pid[rows],
        })
        uniq = name_index if name_index is not None else student_name_index(students)
        pos = _pair_positions(sub["name_norm"], sub["school_norm"], uniq["name_norm"], uniq["school_norm"])
        found = pos >= 0
        ok = found.copy()
        ok[found] = ~sub["has_pid"].to_numpy(dtype=bool)[found] | ~uniq["id_linked"].to_numpy(dtype=bool)[pos[found]]
        if ok.any():
            out.iloc[sub["row"].to_numpy()[ok]] = uniq["first"].to_numpy()[pos[ok]]
    if callable(extra):
        still = ~has_pid & ~isin(out, students["student_key"])
        extra = extra() if still.any() else None
    if extra is not None and len(extra):
        still = ~has_pid & ~isin(out, students["student_key"])
        if still.any():
            rows2 = np.flatnonzero(still)
            sub2 = pd.DataFrame({
                "row": rows2,
                "name_norm": norm_name(_col(df, name_col).iloc[rows2].astype("string")).to_numpy(),
                "teacher_norm": norm_name(_col(df, "teacher_name").iloc[rows2].astype("string")).to_numpy(),
            })
            cand = extra[["student_key", "name_norm", "teacher_norm"]].dropna().drop_duplicates()
            uniq = cand.groupby(["name_norm", "teacher_norm"])["student_key"].agg(["first", "nunique"]).reset_index()
            uniq = uniq[uniq["nunique"] == 1]
            hit = sub2.merge(uniq, on=["name_norm", "teacher_norm"], how="inner")
            if len(hit):
                out.iloc[hit["row"].to_numpy()] = hit["first"].to_numpy()
    return out


# --------------------------------------------------------------------------------------------------- groups


def _flag_in(values: pd.Series, accepted: Iterable[str]) -> pd.Series:
    return values.astype("string").str.strip().isin({str(a) for a in accepted}).fillna(False)


def _flag_not_none(values: pd.Series, none_values: Iterable[str]) -> pd.Series:
    s = values.astype("string").str.strip()
    return (s.notna() & (s != "") & ~s.isin({str(a) for a in none_values})).fillna(False)


def _truthy(values: pd.Series) -> pd.Series:
    if pd.api.types.is_bool_dtype(values.dtype):
        return values.fillna(False).astype(bool)
    s = values.astype("string").str.strip()
    return s.isin({"True", "true", "1", "是", "1-是", "随迁"}).fillna(False)


def memberships(ws: Any) -> pd.DataFrame:
    """One row per enrolled student of the as-of term: person_id, id_number, name, school, town, stage, grade,
    class_name, student_key, one boolean column per group (残疾, 贫困, 留守, 学困, 随迁), group_count and `groups`
    (text such as 贫困+留守, "" for none). person_id falls back to the registry's ID when it cannot be linked."""
    return _memberships(ws).copy()


def _memberships(ws: Any) -> pd.DataFrame:
    """The cached memberships frame itself (read-only inside the package: no copy)."""

    def build() -> pd.DataFrame:
        rules = mentoring_rules()
        src = rules.get("group_sources", {})
        names = group_names()
        reg = enrolled_registry(ws)
        tables = linked_tables(ws)
        flags = pd.DataFrame(index=reg.index)
        # 残疾
        dis = src.get("残疾", {})
        flags["残疾"] = _flag_not_none(_col(reg, "disability"), dis.get("disability_none", ["无残疾"])) | \
            _flag_not_none(_col(reg, "inclusive"), dis.get("inclusive_none", ["非随班就读"]))
        # 留守
        flags["留守"] = _flag_in(_col(reg, "left_behind"), src.get("留守", {}).get("left_behind", ["单亲留守", "双亲留守"]))
        # 随迁
        flags["随迁"] = _truthy(_col(reg, "migrant"))
        # 贫困
        poor = [pd.Series([], dtype="string")]
        roster = tables.get("roster")
        if src.get("贫困", {}).get("roster", True) and roster is not None and len(roster):
            poor.append(record_keys(roster))
        aid = tables.get("aid")
        if src.get("贫困", {}).get("aid_difficulty_type", True) and aid is not None and len(aid):
            dt_ = _col(aid, "difficulty_type").astype("string").str.strip()
            has_type = (dt_.notna() & (dt_ != "")).fillna(False).to_numpy()
            poor.append(record_keys(aid)[has_type])
        flags["贫困"] = isin(reg["student_key"], pd.concat(poor, ignore_index=True))
        # 学困
        struggling = tables.get("struggling")
        weak = pd.Series([], dtype="string")
        if struggling is not None and len(struggling):
            weak = match_keys(struggling, reg, "name", "school_name", name_index=enrolled_name_index(ws))
        flags["学困"] = isin(reg["student_key"], weak)

        base = reg[["person_id", "id_number", "name", "school", "town", "stage", "grade", "class_name",
                    "student_key"]].copy()
        for g in names:
            base[g] = flags.get(g, False)
        # one row per student: a student enrolled twice keeps the first school (sorted) and is in a group
        # when any of the rows says so
        # (only the few students with several rows need the sort; the final sort below is a total order)
        several = base["student_key"].duplicated(keep=False).to_numpy()
        out = base[~several]
        if several.any():
            dup = base[several].sort_values(["student_key", "school"], kind="stable", na_position="last")
            agg = dup.groupby("student_key", sort=False)[names].any()
            first = dup.drop_duplicates("student_key", keep="first").set_index("student_key")
            first[names] = agg[names]
            out = pd.concat([out, first.reset_index()[out.columns]], ignore_index=True)
        out = out.reset_index(drop=True)
        for g in names:
            out[g] = out[g].astype("boolean")
        gm = out[names].to_numpy(dtype=bool)
        out["group_count"] = gm.sum(axis=1).astype("int64")
        out["groups"] = _join_flags(gm, names).array
        for c in ("person_id", "id_number", "name", "school", "town", "stage", "class_name", "student_key"):
            out[c] = out[c].astype("string")
        out["grade"] = pd.to_numeric(out["grade"], errors="coerce").astype("Int64")
        cols = MEMBERSHIP_COLUMNS + names + ["group_count", "groups"]
        # by town, school, stage, grade, student_key (NA last in each; one row per student_key, so a total order)
        return out[cols].take(_sort_order(out, ["town", "school", "stage", "grade", "student_key"])) \
            .reset_index(drop=True)

    return cached(ws, "memberships", build)


def _sort_order(df: pd.DataFrame, keys: Sequence[str]) -> np.ndarray:
    """Stable ascending order of the rows by the key columns (text or integer), NA last in each key, as
    sort_values(kind='stable', na_position='last') gives; Arrow compares a later key only on ties."""
    table = pa.table({k: pa.array(df[k].array, from_pandas=True) for k in keys})
    order = pc.sort_indices(table, sort_keys=[(k, "ascending", "at_end") for k in keys])
    return order.to_numpy().astype(np.int64)


def _join_flags(gm: np.ndarray, names: Sequence[str]) -> pd.Series:
    """'+'-joined group names per row, vectorised over the few distinct combinations."""
    if gm.size == 0:
        return pd.Series([], dtype="string")
    codes = (gm.astype(np.int64) * (1 << np.arange(len(names)))).sum(axis=1)
    uniq, pos = np.unique(codes, return_inverse=True)
    text = pd.array(["+".join(n for i, n in enumerate(names) if int(c) >> i & 1) for c in uniq], dtype="string")
    return pd.Series(text.take(pos.ravel()), dtype="string")


def counts(ws: Any, by: Sequence[str] = ("town", "school", "grade")) -> pd.DataFrame:
    """Students per group at the level `by` (stage is added before grade): columns by..., students (enrolled),
    group_students (in at least one group), then one count column per group."""
    m = memberships(ws)
    by = list(by)
    if "grade" in by and "stage" not in by:
        by.insert(by.index("grade"), "stage")
    names = group_names()
    m["group_students"] = m["group_count"] > 0
    m["students"] = 1
    agg = {"students": "sum", "group_students": "sum", **{g: "sum" for g in names}}
    if by:
        out = m.groupby(by, dropna=False, sort=True)[list(agg)].agg(agg).reset_index()
    else:
        out = m[list(agg)].agg(agg).to_frame().T
    for c in agg:
        out[c] = out[c].astype("int64")
    return out


def combinations(ws: Any, by: Sequence[str] = ()) -> pd.DataFrame:
    """Group students by combination of groups (e.g. 贫困+留守): by..., groups, group_count, students;
    most frequent first."""
    m = memberships(ws)
    m = m[m["group_count"] > 0]
    keys = list(by) + ["groups", "group_count"]
    out = m.groupby(keys, dropna=False).size().rename("students").reset_index()
    out["students"] = out["students"].astype("int64")
    return out.sort_values(list(by) + ["students", "groups"], ascending=[True] * len(by) + [False, True],
                           kind="stable").reset_index(drop=True)


def filter_students(memberships: pd.DataFrame, groups: Sequence[str] | None = None, mode: str = "any",
                    town: str | Sequence[str] | None = None, school: str | Sequence[str] | None = None,
                    grade: int | Sequence[int] | None = None, stage: str | Sequence[str] | None = None) -> pd.DataFrame:
    """Rows of `memberships` in the given groups (mode 'any': at least one of them, 'all': every one of them;
    no groups: any of the five groups) and, when given, in the town(s), school(s), stage(s), grade(s)."""
    if mode not in ("any", "all"):
        raise ValueError(f"mode 只能是 any 或 all，而不是 {mode!r}")
    names = [g for g in group_names() if g in memberships.columns]
    chosen = list(groups) if groups else names
    unknown = [g for g in chosen if g not in memberships.columns]
    if unknown:
        raise ValueError(f"未知的群体：{'、'.join(unknown)}（可选：{'、'.join(names)}）")
    gm = memberships[chosen].fillna(False).to_numpy(dtype=bool)
    keep = gm.all(axis=1) if mode == "all" else gm.any(axis=1)
    mask = pd.Series(keep, index=memberships.index)
    for col, value in (("town", town), ("school", school), ("grade", grade), ("stage", stage)):
        if value is None:
            continue
        values = [value] if isinstance(value, (str, int, np.integer)) else list(value)
        mask &= memberships[col].isin(values).fillna(False).to_numpy(dtype=bool)
    return memberships[mask.to_numpy()].reset_index(drop=True)
