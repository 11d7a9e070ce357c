"""Declared schemas of the source systems (rules/systems.yaml, codes.yaml, schools.yaml) and header matching."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import cache

import pandas as pd

from ..rules import load_yaml

SYSTEM_KEYS = ["registry", "aid", "roster", "ledger", "pairs", "activities", "struggling", "suspects"]
SOURCE_COLUMNS = ["source_file", "source_sheet", "source_row"]
ID_CHECK_COLUMNS = ["id_valid", "id_reason"]

# columns computed by the loader (not read from a header): name -> (dtype, insert after)
DERIVED = {
    "registry": {"stage": ("string", "grade_label"), "grade": ("Int64", "stage")},
    "aid": {"term": ("string", None), "item": ("string", "item_raw"), "stage": ("string", "grade_label"),
            "grade": ("Int64", "stage")},
    "roster": {"stage": ("string", "school_status_raw"), "grade": ("Int64", "stage")},
    "struggling": {"stage": ("string", "grade_label"), "grade": ("Int64", "stage")},
    "suspects": {"category_key": ("string", "category"), "extra": ("object", None)},
}
# source columns used only to compute others, not kept in the canonical table
DROPPED = {"aid": {"school_year_raw", "semester_raw"}}

TYPE_DTYPES = {"date": "datetime64[ns]", "amount": "float64", "int": "Int64", "bool": "boolean"}

_HEADER_FOLD = str.maketrans({"（": "(", "）": ")", "【": "(", "】": ")", "[": "(", "]": ")", "：": ":", "，": ",",
                              "、": ",", "／": "/", "－": "-", "—": "-"})
_HEADER_DROP = re.compile(r"[\s\u3000\u00a0★☆*＊※●▲△#＃:]+|\((?:必填|选填|必填项|选填项|可选|可空)\)|必填")


def normalize_header(text) -> str:
    """Header text -> matching key: no spaces / line breaks / markers, unified parentheses, folded width."""
    if text is None:
        return ""
    t = str(text)
    if not t or t.lower() == "nan":
        return ""
    t = unicodedata.normalize("NFKC", t).translate(_HEADER_FOLD)
    t = _HEADER_DROP.sub("", t)
    return t.upper()


@dataclass
class SystemSpec:
    key: str
    label: str
    title: str
    columns: dict[str, dict]                   # source column key -> {type, aliases, canonical?}
    person: list[str]
    required_any: list[str]
    must_parse: list[str]
    sig_all: list[str]
    sig_any: list[list[str]]
    sig_none: list[str]
    min_matched: int
    keep_extra: bool
    alias_to_column: dict[str, str] = field(default_factory=dict)

    def canonical_name(self, col: str) -> str:
        return self.columns[col].get("canonical", col)

    def col_type(self, col: str) -> str:
        return self.columns[col]["type"]


@cache
def systems() -> dict[str, SystemSpec]:
    raw = load_yaml("systems.yaml")["systems"]
    out: dict[str, SystemSpec] = {}
    for key in SYSTEM_KEYS:
        spec = raw[key]
        sig = spec.get("signature") or {}
        s = SystemSpec(
            key=key,
            label=spec["label"],
            title=spec.get("title", spec["label"]),
            columns=spec["columns"],
            person=list(spec.get("person") or []),
            required_any=list((spec.get("required") or {}).get("any_of") or []),
            must_parse=list(spec.get("must_parse") or []),
            sig_all=list(sig.get("all") or []),
            sig_any=[list(x) for x in (sig.get("any") or [])],
            sig_none=list(sig.get("none") or []),
            min_matched=int(spec.get("min_matched", 2)),
            keep_extra=bool(spec.get("keep_extra", False)),
        )
        for col, cdef in s.columns.items():
            for alias in [col, *cdef.get("aliases", [])]:
                k = normalize_header(alias)
                if k and k not in s.alias_to_column:
                    s.alias_to_column[k] = col
        out[key] = s
    return out


@cache
def all_aliases() -> dict[str, set[tuple[str, str]]]:
    """Normalised header -> {(system, source column)} over every system (for header-row scoring)."""
    out: dict[str, set[tuple[str, str]]] = {}
    for key, spec in systems().items():
        for alias, col in spec.alias_to_column.items():
            out.setdefault(alias, set()).add((key, col))
    return out


_PAREN_TAIL = re.compile(r"\([^()]*\)$")
_PAREN_ANY = re.compile(r"\([^()]*\)")


def resolve_key(key: str) -> str:
    """A normalised header as a known alias: itself, else without a trailing note in parentheses
    (出生日期(YYYYMMDD), 资助金额(元)), else without any parenthesised part; unchanged when none is known."""
    if not key or key in all_aliases():
        return key
    for candidate in (_PAREN_TAIL.sub("", key), _PAREN_ANY.sub("", key)):
        if candidate and candidate in all_aliases():
            return candidate
    return key


@cache
def qualifier_prefixes() -> tuple[str, ...]:
    return tuple(normalize_header(x) for x in load_yaml("systems.yaml").get("qualifier_prefixes", []))


@cache
def ignored_headers() -> frozenset[str]:
    return frozenset(normalize_header(x) for x in load_yaml("systems.yaml").get("ignore", []))


def canonical_columns(system: str) -> dict[str, str]:
    """Canonical columns of a system's table -> pandas dtype (source and ID-check columns included)."""
    spec = systems()[system]
    cols: dict[str, str] = {}
    for col, cdef in spec.columns.items():
        if col in DROPPED.get(system, set()):
            continue
        name = cdef.get("canonical", col)
        t = cdef["type"]
        cols[name] = TYPE_DTYPES.get(t, "string")
    for name, (dtype, after) in DERIVED.get(system, {}).items():
        if name in cols:
            continue
        if after and after in cols:
            items = list(cols.items())
            i = [k for k, _ in items].index(after) + 1
            items.insert(i, (name, dtype))
            cols = dict(items)
        else:
            cols[name] = dtype
    if system == "pairs" and "town" not in cols:
        cols["town"] = "string"
    for c in SOURCE_COLUMNS:
        cols[c] = "Int64" if c == "source_row" else "string"
    if "id_number" in cols:
        cols["id_valid"] = "boolean"
        cols["id_reason"] = "string"
    return cols


def empty_table(system: str) -> pd.DataFrame:
    """An empty canonical table of a system."""
    return pd.DataFrame({c: pd.Series(dtype=d) for c, d in canonical_columns(system).items()})


def conform(frame: pd.DataFrame, system: str) -> pd.DataFrame:
    """Add the missing canonical columns (NA) and cast the present ones to their canonical dtypes."""
    cols = canonical_columns(system)
    out = frame.copy(deep=False)   # copy-on-write: the caller's frame is never changed
    n = len(out)
    for c, d in cols.items():
        if c not in out.columns:
            if d == "object":
                out[c] = pd.Series([None] * n, index=out.index, dtype=object)
            else:
                out[c] = pd.Series(pd.NA if d not in ("float64", "datetime64[ns]") else None, index=out.index,
                                   dtype=d)
        elif str(out[c].dtype) != d and d != "object":
            try:
                out[c] = out[c].astype(d)
            except (TypeError, ValueError):
                pass
    order = list(cols) + [c for c in out.columns if c not in cols]
    return out[order]


# ------------------------------------------------------------------------------------------------ codes
@cache
def code_sets() -> dict[str, dict]:
    raw = load_yaml("codes.yaml")
    sets = dict(raw.get("sets") or {})
    try:  # activity variants are declared once, in the mentoring rules
        acts = load_yaml("mentoring.yaml").get("activities") or {}
        if acts and "activity" in sets:
            labels = {k: list(v) for k, v in (sets["activity"].get("labels") or {}).items()}
            for canon, variants in acts.items():
                labels.setdefault(canon, [])
                labels[canon] = list(dict.fromkeys([*labels[canon], *variants]))
            sets["activity"] = {**sets["activity"], "labels": labels}
    except FileNotFoundError:
        pass
    return sets


@cache
def bool_values() -> tuple[frozenset[str], frozenset[str]]:
    raw = load_yaml("codes.yaml").get("bool") or {}
    yes = frozenset(normalize_value(str(v)).upper() for v in raw.get("yes", []))
    no = frozenset(normalize_value(str(v)).upper() for v in raw.get("no", []))
    return yes, no


@cache
def suspect_categories() -> list[tuple[str, str]]:
    raw = load_yaml("codes.yaml").get("suspect_categories") or []
    return [(str(x["contains"]), str(x["key"])) for x in raw]


_VALUE_FOLD = str.maketrans({"（": "(", "）": ")", "　": " "})


def normalize_value(text: str) -> str:
    return unicodedata.normalize("NFKC", str(text)).translate(_VALUE_FOLD).strip()


@cache
def schools_rule() -> dict:
    try:
        return load_yaml("schools.yaml")
    except FileNotFoundError:
        return {}
