"""脱敏: the one masking function for dashboards and for exports handed to viewers.

身份证号 610928200801011234 -> 610928********1234; 姓名 欧阳娜娜 -> 欧***; 电话 13812345678 -> 138****5678.
`mask_frame` masks the person columns of any canonical or findings table (names from docs/design.md) and the
ID numbers written inside free-text columns (detail, suggestion, ...). Full values are shown only when
settings()['mask']['allow_unmask'] is true *and* the caller asks for them.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .arrowstr import STRING, as_series, from_arrow, to_arrow
from .rules import settings

__all__ = [
    "ID_COLUMNS",
    "NAME_COLUMNS",
    "PHONE_COLUMNS",
    "TEXT_COLUMNS",
    "mask_frame",
    "mask_id",
    "mask_name",
    "mask_phone",
    "mask_text",
    "unmask_allowed",
]

# canonical columns (docs/design.md) that identify a person
ID_COLUMNS = ("id_number", "teacher_id_number", "suggested_id", "true_id", "student_no")
NAME_COLUMNS = ("name", "student_name", "teacher_name")
PHONE_COLUMNS = ("phone",)
# free text that may quote an ID (findings detail / suggestion, ledger note, activity content, suspects)
TEXT_COLUMNS = ("detail", "suggestion", "note", "content", "description", "evidence")

# an ID-like run inside text: 18 characters (17 digits + digit/X) or 15 digits, not part of a longer number
_ID_IN_TEXT = r"(^|[^0-9])([0-9]{6})[0-9]{8}([0-9]{3}[0-9Xx])([^0-9]|$)"
_ID15_IN_TEXT = r"(^|[^0-9])([0-9]{3})[0-9]{10}([0-9]{2})([^0-9]|$)"
_MOBILE_IN_TEXT = r"(^|[^0-9])(1[3-9][0-9])[0-9]{4}([0-9]{4})([^0-9]|$)"


def _keep_ends(arr: pa.Array, head: int, tail: int) -> pa.Array:
    """head chars + one * per hidden char + tail chars (values shorter than head + tail + 1 become all stars)."""
    n = pc.utf8_length(arr)
    hidden = pc.subtract(n, head + tail)
    short = pc.less(hidden, 1)
    stars = pc.binary_repeat("*", pc.max_element_wise(hidden, 0))
    tail_part = pc.utf8_slice_codeunits(arr, -tail) if tail else pc.utf8_slice_codeunits(arr, 0, 0)
    masked = pc.binary_join_element_wise(pc.utf8_slice_codeunits(arr, 0, head), stars, tail_part, "")
    return pc.if_else(short, pc.binary_repeat("*", n), masked)


def mask_id(values) -> pd.Series:
    """610928********123X for 18-character values (first 6, 8 stars, last 4); other lengths keep the first 3 and
    the last 2 with one star per hidden character (5 characters or fewer: all stars). NA stays NA."""
    s = as_series(values)
    arr = to_arrow(s)
    n = pc.utf8_length(arr)
    out = pc.if_else(pc.equal(n, 18), _keep_ends(arr, 6, 4), _keep_ends(arr, 3, 2))
    return from_arrow(out, s.index)


def mask_name(values) -> pd.Series:
    """张* / 欧*** : the first character, then one * per remaining character (a middle dot becomes * too).
    NA stays NA."""
    s = as_series(values)
    arr = to_arrow(s)
    rest = pc.max_element_wise(pc.subtract(pc.utf8_length(arr), 1), 0)
    out = pc.binary_join_element_wise(pc.utf8_slice_codeunits(arr, 0, 1), pc.binary_repeat("*", rest), "")
    return from_arrow(out, s.index)


def mask_phone(values) -> pd.Series:
    """138****5678: the first 3 and the last 4 digits kept (shorter values: first 3 and last 2). NA stays NA."""
    s = as_series(values)
    arr = pc.utf8_trim_whitespace(to_arrow(s))
    n = pc.utf8_length(arr)
    out = pc.if_else(pc.greater_equal(n, 11), _keep_ends(arr, 3, 4), _keep_ends(arr, 3, 2))
    return from_arrow(out, s.index)


def mask_text(values) -> pd.Series:
    """Free text with every ID number (18 or 15 digits) and mobile number (11 digits) written in it masked;
    digits that are part of a longer number are left alone."""
    s = as_series(values)
    arr = to_arrow(s)
    for _ in range(2):  # adjacent IDs share a separator: a second pass catches the second one
        arr = pc.replace_substring_regex(arr, _ID_IN_TEXT, r"\1\2********\3\4")
        arr = pc.replace_substring_regex(arr, _ID15_IN_TEXT, r"\1\2**********\3\4")
        arr = pc.replace_substring_regex(arr, _MOBILE_IN_TEXT, r"\1\2****\3\4")
    return from_arrow(arr, s.index)


def unmask_allowed() -> bool:
    """Whether the settings allow showing full IDs and names (settings.yaml: mask.allow_unmask)."""
    return bool((settings().get("mask") or {}).get("allow_unmask", False))


def mask_frame(
    df: pd.DataFrame,
    id_columns: Iterable[str] | None = None,
    name_columns: Iterable[str] | None = None,
    allow_unmask: bool | None = None,
) -> pd.DataFrame:
    """A copy of df with its person columns masked: ID columns (id_number, teacher_id_number, suggested_id,
    true_id, student_no), name columns (name, student_name, teacher_name), phone, and IDs quoted in free-text
    columns (detail, suggestion, note, content, description, evidence). id_columns / name_columns replace the
    detected lists. allow_unmask=True asks for the full values: granted only when the settings allow it."""
    out = df.copy()
    if allow_unmask:
        if unmask_allowed():
            return out
        warnings.warn("设置未允许显示完整信息（mask.allow_unmask 为 false），已按脱敏显示。", stacklevel=2)
    cols = set(out.columns)
    ids_ = [c for c in (ID_COLUMNS if id_columns is None else id_columns) if c in cols]
    names_ = [c for c in (NAME_COLUMNS if name_columns is None else name_columns) if c in cols]
    for c in ids_:
        out[c] = mask_id(out[c])
    for c in names_:
        out[c] = mask_name(out[c])
    for c in PHONE_COLUMNS:
        if c in cols and c not in ids_ and c not in names_:
            out[c] = mask_phone(out[c])
    texts = [c for c in TEXT_COLUMNS if c in cols and c not in ids_ and c not in names_]
    for c in texts:
        out[c] = mask_text(out[c])
        out[c] = _mask_own_names(out[c], [df[n] for n in names_])
    return out


def _mask_own_names(text: pd.Series, names: list[pd.Series]) -> pd.Series:
    """Each row's own names (from its name columns) masked where the row's text quotes them."""
    if not names or text.isna().all():
        return text
    values = text.astype(object).to_numpy().copy()
    for col in names:
        masked = mask_name(col).astype(object).to_numpy()
        raw = col.astype(object).to_numpy()
        # a loop over the rows of one findings-sized table, only where the text quotes the name
        for i in np.flatnonzero(pd.notna(values) & pd.notna(raw)):
            if len(raw[i]) > 1 and raw[i] in values[i]:
                values[i] = values[i].replace(raw[i], masked[i])
    return pd.Series(values, index=text.index, dtype=STRING)
