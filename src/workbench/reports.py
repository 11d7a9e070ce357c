"""The one Excel writer (报表): IDs as text, frozen header, widths, autofilter, formula neutralising.

`write_workbook` writes any dict of DataFrames; `findings_report` writes the 问题清单 workbook in the county's
style (汇总 by town x kind, then one sheet per kind with Chinese headers). Written with xlsxwriter; every text cell
is written as a string (never a formula, never a number), and text starting with = + - @ (or a tab / CR) gets a
leading apostrophe so that Excel, WPS and LibreOffice never evaluate it.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Mapping
from os import PathLike
from typing import IO, Any

import numpy as np
import pandas as pd
import xlsxwriter

from .rules import finding_kinds, load_yaml

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
# column names (canonical or Chinese) whose values are identifiers: always written as text
ID_NAME_PATTERN = re.compile(
    r"(^|_)(id_number|suggested_id|person_id|true_id|student_no|household_no|person_no|school_code|phone|"
    r"teacher_id_number|record_id_number|candidate_id|id)$|身份证|证件号|学籍号|编号|标识码|号码|电话|代码",
)
SYSTEM_LABELS = {
    "registry": "学籍", "aid": "资助", "roster": "建档立卡", "ledger": "控辍保学台账", "pairs": "师生结对",
    "activities": "帮扶活动记录", "struggling": "学困生名单", "suspects": "疑似问题清单",
}
FINDING_HEADERS = {
    "label": "类型", "systems": "系统", "id_number": "身份证号", "name": "姓名", "town": "乡镇", "village": "村",
    "school": "学校", "item": "项目", "period": "期间", "detail": "问题说明", "suggestion": "处理建议",
    "suggested_id": "建议身份证号",
}
SUMMARY_SHEET = "汇总"
UNKNOWN_TOWN = "（乡镇不明）"
TOTAL = "合计"
MAX_WIDTH = 60
_SHEET_BAD = re.compile(r"[\[\]:*?/\\]")
_WIDE = re.compile(r"[^\x00-\xff]")


def neutralize(values: pd.Series) -> pd.Series:
    """Text that a spreadsheet would evaluate (= + - @, tab, CR first) gets a leading apostrophe."""
    s = values.astype("string")
    risky = s.str[:1].isin(FORMULA_PREFIXES).fillna(False)
    return s.mask(risky, "'" + s)


def is_id_column(name: Any) -> bool:
    return bool(ID_NAME_PATTERN.search(str(name)))


def _id_text(values: pd.Series) -> pd.Series:
    """An ID-like column as text: integers and whole floats without a decimal point or exponent."""
    if pd.api.types.is_bool_dtype(values.dtype):
        return values.astype("string")
    if pd.api.types.is_integer_dtype(values.dtype):
        return values.astype("Int64").astype("string")
    if pd.api.types.is_float_dtype(values.dtype):
        v = values.astype("float64")
        whole = v.notna() & np.isfinite(v) & (v == np.floor(v))
        out = v.astype("string")
        out[whole] = v[whole].map(lambda x: f"{x:.0f}")
        return out

    def one(x: Any) -> Any:
        if isinstance(x, float) and x.is_integer():
            return f"{x:.0f}"
        return str(x)
    return values.astype(object).map(one, na_action="ignore").astype("string")


def _display_width(values: pd.Series) -> int:
    s = values.astype("string").dropna()
    if not len(s):
        return 0
    first_line = s.str.split("\n").str[0]
    width = first_line.str.len() + first_line.str.count(_WIDE.pattern)
    return int(width.max())


def _sheet_name(name: str, used: set[str]) -> str:
    base = _SHEET_BAD.sub("_", str(name)).strip("'") or "Sheet"
    base = base[:31]
    candidate, n = base, 2
    while candidate.lower() in used:
        suffix = f"({n})"
        candidate, n = base[: 31 - len(suffix)] + suffix, n + 1
    used.add(candidate.lower())
    return candidate


def _column_values(values: pd.Series, as_id: bool) -> tuple[list[Any], str]:
    """Python values for one column and its kind: 'text', 'number', 'date' or 'bool'."""
    dtype = values.dtype
    if as_id:
        return neutralize(_id_text(values)).astype(object).where(lambda s: s.notna(), None).tolist(), "text"
    if pd.api.types.is_bool_dtype(dtype):
        return values.astype("boolean").map({True: "是", False: "否"}).astype(object).where(
            values.notna(), None).tolist(), "text"
    if pd.api.types.is_numeric_dtype(dtype):
        v = values.astype("float64")
        return v.astype(object).where(np.isfinite(v), None).tolist(), "number"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        v = pd.to_datetime(values)
        return [None if pd.isna(x) else x.to_pydatetime() for x in v], "date"
    obj = values.astype(object)
    if len(obj.dropna()) and obj.dropna().map(lambda x: isinstance(x, (int, float, np.number))
                                              and not isinstance(x, bool)).all():
        v = pd.to_numeric(obj, errors="coerce").astype("float64")
        return v.astype(object).where(np.isfinite(v), None).tolist(), "number"
    text = obj.map(lambda x: x.isoformat() if hasattr(x, "isoformat") else str(x), na_action="ignore")
    return neutralize(text.astype("string")).astype(object).where(lambda s: s.notna(), None).tolist(), "text"


def write_workbook(path_or_buffer: str | PathLike | IO[bytes] | None, sheets: Mapping[str, pd.DataFrame],
                   id_columns: Iterable[str] | None = None, title: str | None = None) -> bytes | None:
    """Write DataFrames to one .xlsx, one sheet each (sheet names made valid, <= 31 chars).

    ID-like columns are text cells: the columns named in `id_columns`, or when it is None every column recognised by
    its name (身份证号, id_number, 学籍号, 编号, 电话 …); header row frozen and styled; widths fit the content (CJK characters count double); autofilter on;
    text that a spreadsheet would evaluate is neutralised. Returns the file's bytes when `path_or_buffer` is None.
    """
    target: Any = io.BytesIO() if path_or_buffer is None else path_or_buffer
    if isinstance(target, PathLike):
        target = str(target)
    explicit = None if id_columns is None else set(id_columns)
    wb = xlsxwriter.Workbook(target, {
        "in_memory": True, "strings_to_formulas": False, "strings_to_numbers": False, "strings_to_urls": False,
        "nan_inf_to_errors": True, "default_date_format": "yyyy-mm-dd",
    })
    if title:
        wb.set_properties({"title": title, "comments": "教育扶贫数据工作台"})
    header_fmt = wb.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1, "valign": "vcenter",
                                "text_wrap": True})
    text_fmt = wb.add_format({"num_format": "@"})
    date_fmt = wb.add_format({"num_format": "yyyy-mm-dd"})
    used: set[str] = set()
    if not sheets:
        sheets = {"Sheet1": pd.DataFrame()}
    for name, frame in sheets.items():
        ws = wb.add_worksheet(_sheet_name(name, used))
        frame = frame if isinstance(frame, pd.DataFrame) else pd.DataFrame(frame)
        columns = [str(c) for c in frame.columns]
        for j, col in enumerate(columns):
            as_id = is_id_column(col) if explicit is None else col in explicit
            values, kind = _column_values(frame.iloc[:, j], as_id)
            ws.write_string(0, j, str(neutralize(pd.Series([col])).iloc[0]), header_fmt)
            if kind == "text":
                for i, v in enumerate(values, start=1):
                    if v is not None:
                        ws.write_string(i, j, v)
                fmt = text_fmt if as_id else None
            elif kind == "date":
                for i, v in enumerate(values, start=1):
                    if v is not None:
                        ws.write_datetime(i, j, v, date_fmt)
                fmt = None
            else:
                for i, v in enumerate(values, start=1):
                    if v is not None:
                        ws.write_number(i, j, v)
                fmt = None
            sample = pd.Series(values[:5000], dtype=object)
            width = max(_display_width(pd.Series([col])), _display_width(sample.map(
                lambda x: x.strftime("%Y-%m-%d") if hasattr(x, "strftime") else x, na_action="ignore")), 10 if
                kind == "date" else 4)
            ws.set_column(j, j, min(width + 2, MAX_WIDTH), fmt)
        ws.freeze_panes(1, 0)
        if columns:
            ws.autofilter(0, 0, max(len(frame), 1), len(columns) - 1)
    wb.close()
    if path_or_buffer is None:
        return target.getvalue()
    return None


# --------------------------------------------------------------------------------------------------- findings

def _item_labels() -> dict[str, str]:
    try:
        from .aid import item_labels
        return item_labels()
    except (ImportError, OSError, ValueError, KeyError):  # the policy table is optional for a report
        return {}


def _town_order() -> list[str]:
    """The county's towns in their official order (rules/schools.yaml `towns`), if the rule file is there."""
    try:
        return [str(t) for t in load_yaml("schools.yaml").get("towns", [])]
    except (OSError, ValueError, AttributeError):
        return []


def findings_summary(findings: pd.DataFrame) -> pd.DataFrame:
    """汇总: counts by town (rows) x kind (columns, Chinese labels in the rules' order), with 合计."""
    kinds = finding_kinds()
    order = [v["label"] for k, v in kinds.items() if k in set(findings["kind"].dropna())]
    if not len(findings):
        return pd.DataFrame({"乡镇": pd.Series(dtype="string"), TOTAL: pd.Series(dtype="int64")})
    town = findings["town"].astype("string").fillna(UNKNOWN_TOWN)
    label = findings["kind"].map({k: v["label"] for k, v in kinds.items()})
    table = pd.crosstab(town, label).reindex(columns=order, fill_value=0)
    order_of = {t: i for i, t in enumerate(_town_order())}  # the county's official order, then others by name
    table = table.sort_index(key=lambda s: s.map(lambda t: (t == UNKNOWN_TOWN, order_of.get(t, len(order_of)), t)))
    table[TOTAL] = table.sum(axis=1)
    table.loc[TOTAL] = table.sum(axis=0)
    table.index.name = "乡镇"
    table.columns.name = None
    return table.reset_index().astype({c: "int64" for c in table.columns})


def findings_sheets(findings: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """One frame per kind (in the rules' order), keyed by the kind's Chinese label, with Chinese headers."""
    kinds = finding_kinds()
    items = _item_labels()
    out: dict[str, pd.DataFrame] = {}
    present = set(findings["kind"].dropna())
    for kind, spec in kinds.items():
        if kind not in present:
            continue
        sub = findings[findings["kind"] == kind].copy()
        sub["label"] = spec["label"]
        sub["systems"] = sub["systems"].astype("string").map(
            lambda s: "、".join(SYSTEM_LABELS.get(x.strip(), x.strip()) for x in s.split(",") if x.strip()),
            na_action="ignore")
        sub["item"] = sub["item"].astype("string").map(lambda i: items.get(i, i), na_action="ignore")
        out[spec["label"]] = sub[list(FINDING_HEADERS)].rename(columns=FINDING_HEADERS).reset_index(drop=True)
    return out


def findings_report(findings: pd.DataFrame, path: str | PathLike | IO[bytes] | None,
                    title: str = "问题清单") -> bytes | None:
    """The 问题清单 workbook: 汇总 (town x kind counts), then one sheet per kind named by its Chinese label."""
    sheets = {SUMMARY_SHEET: findings_summary(findings), **findings_sheets(findings)}
    return write_workbook(path, sheets, id_columns=["身份证号", "建议身份证号"], title=title)
