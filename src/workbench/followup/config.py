"""The follow-up rules (`rules/followup.yaml`) and small helpers shared by the ledger, triage and export."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import re
import unicodedata
from functools import cache
from typing import Any

import pandas as pd

from ..rules import load_yaml, settings


@cache
def followup_rules() -> dict[str, Any]:
    """The rules in force: settings()['followup']['rules'] if given, else `rules/followup.yaml`."""
    name = (settings().get("followup") or {}).get("rules") or "followup.yaml"
    return load_yaml(name)


def categories() -> dict[str, dict[str, Any]]:
    return followup_rules()["categories"]


def category_label(key: str | None) -> str | None:
    if key is None or key not in categories():
        return None
    return categories()[key]["label"]


def event_kinds() -> dict[str, str | None]:
    """kind -> status label after it (None: the event does not change the status)."""
    return followup_rules()["events"]


def response_columns() -> list[dict[str, str]]:
    return followup_rules()["response_columns"]


_PUNCT = re.compile(r"[\s\u3000/\\|,，、;；:：()（）\[\]【】\"'“”‘’·.。\-—_]+")


def _squash(text: str) -> str:
    return _PUNCT.sub("", unicodedata.normalize("NFKC", text))


@cache
def _alias_table() -> list[tuple[str, str]]:
    """(squashed alias, key), longest alias first."""
    pairs = []
    for key, spec in categories().items():
        for alias in [spec.get("label"), key, *(spec.get("aliases") or [])]:
            if alias:
                pairs.append((_squash(str(alias)), key))
    return sorted(set(pairs), key=lambda p: -len(p[0]))


def category_keys(values: pd.Series) -> pd.Series:
    """问题类型 as written -> category key (NA when unknown): exact alias first, then the longest contained alias."""
    table = _alias_table()
    exact = dict(table[::-1])  # longest-first order reversed so the first (longest) wins on clashes

    def one(text: Any) -> Any:
        if text is None or (isinstance(text, float) and math.isnan(text)) or text is pd.NA:
            return pd.NA
        s = _squash(str(text))
        if not s:
            return pd.NA
        if s in exact:
            return exact[s]
        for alias, key in table:
            if alias and alias in s:
                return key
        return pd.NA

    uniques = pd.Series(values.astype("object").unique())
    mapping = dict(zip(uniques, uniques.map(one)))
    return values.astype("object").map(mapping).astype("string")


def resolve_category_keys(frame: pd.DataFrame) -> pd.Series:
    """The category key of each list row: from the 问题类型 text by this file's aliases; where that finds nothing,
    the key the loader gave (which may be a finding kind, e.g. name_mismatch)."""
    given = frame["category_key"].astype("string") if "category_key" in frame.columns else \
        pd.Series(pd.NA, index=frame.index, dtype="string")
    if "category" not in frame.columns:
        return given
    return category_keys(frame["category"]).fillna(given)


def category_kinds(key: str | None) -> list[str]:
    """The finding kinds that describe a category's problem (a finding kind used as key stands for itself)."""
    if key is None or key is pd.NA:
        return []
    spec = categories().get(str(key))
    if spec is not None:
        return list(spec.get("kinds") or [])
    from ..rules import finding_kinds

    return [str(key)] if str(key) in finding_kinds() else []


_FULLWIDTH = str.maketrans("０１２３４５６７８９ＸｘＸ", "0123456789XXX")


def normalize_ids(values: pd.Series) -> pd.Series:
    """ID numbers as listed -> normalised text (workbench.ids.normalize when present)."""
    try:
        from .. import ids  # type: ignore[attr-defined]

        return pd.Series(ids.normalize(values), index=values.index).astype("string")
    except (ImportError, AttributeError):
        pass
    s = values.astype("string").str.translate(_FULLWIDTH)
    s = s.str.replace(r"[\s\u3000'`‘’\t]", "", regex=True).str.upper()
    return s.mask(s == "", pd.NA)


def normalize_names(values: pd.Series) -> pd.Series:
    """Names -> normalised text (workbench.names.normalize when present)."""
    try:
        from .. import names  # type: ignore[attr-defined]

        return pd.Series(names.normalize(values), index=values.index).astype("string")
    except (ImportError, AttributeError):
        pass
    s = values.astype("string").map(
        lambda v: unicodedata.normalize("NFKC", v) if isinstance(v, str) else v, na_action="ignore"
    ).astype("string")
    s = s.str.replace(r"[\s\u3000]", "", regex=True).str.replace("•", "·").str.replace("．", "·")
    return s.mask(s == "", pd.NA)


def stable_hash(text: str, length: int = 20) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]


def json_safe(value: Any) -> Any:
    """A value that json.dumps accepts: NA -> None, timestamps -> ISO text, numpy scalars -> Python."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat() if value == value.normalize() else value.isoformat()
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        try:
            return json_safe(value.item())
        except (ValueError, TypeError):
            pass
    if isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def to_json(value: Any) -> str:
    return json.dumps(json_safe(value), ensure_ascii=False, sort_keys=True)
