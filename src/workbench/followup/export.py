"""The county's answer to a suspected-error list (疑似问题核查反馈表).

The list's own columns (as the province sent them) followed by the response columns of `rules/followup.yaml`
(default 核查结果, 原因说明, 整改情况, 是否整改到位, 整改时间, 佐证材料, 责任单位, 核查人, 核查时间), filled from the
ledger's events. One row per item; IDs as text; frozen header (workbench.reports.write_workbook).
"""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

import pandas as pd

from .config import followup_rules, response_columns

LOCAL_TZ = "Asia/Shanghai"


def _date_text(values: pd.Series) -> pd.Series:
    """UTC timestamps or dates -> YYYY-MM-DD (Beijing time for timestamps)."""
    s = pd.to_datetime(values, errors="coerce", utc=True) if len(values) else pd.Series(dtype="datetime64[ns, UTC]")
    return s.dt.tz_convert(LOCAL_TZ).dt.strftime("%Y-%m-%d").astype("string")


def _payload_field(items: pd.DataFrame, key: str) -> pd.Series:
    return items["payload"].map(lambda p: (p or {}).get(key) if isinstance(p, dict) else None).astype("string")


def list_columns(items: pd.DataFrame) -> pd.DataFrame:
    """The list's own columns for each item: the known headers (序号, 乡镇, 姓名, 身份证号, 问题类型 …) from the
    canonical fields or the original columns (`extra`), then every other original column."""
    rules = followup_rules()
    headers: dict[str, str] = rules.get("canonical_headers") or {}
    order: list[str] = rules.get("list_columns") or []
    extras = items["payload"].map(lambda p: (p or {}).get("extra") if isinstance(p, dict) else None)
    extras = extras.map(lambda e: e if isinstance(e, dict) else {})
    out: dict[str, pd.Series] = {}
    by_header = {h: c for c, h in headers.items()}
    extra_headers = list(dict.fromkeys(h for e in extras for h in e))
    for header in order + [h for h in extra_headers if h not in order]:
        from_extra = extras.map(lambda e, h=header: e.get(h)).astype("string")
        canonical = by_header.get(header)
        values = from_extra
        if canonical is not None:
            field = _payload_field(items, canonical)
            if canonical in ("issued_date", "deadline"):
                field = field.str[:10]
            values = field.fillna(from_extra)
        if header == "序号":
            values = values.fillna(items["seq"].astype("string"))
        if values.notna().any() or header in ("姓名", "身份证号", "问题类型"):
            out[header] = values
    return pd.DataFrame(out, index=items.index)


def response_frame(items: pd.DataFrame) -> pd.DataFrame:
    """The response columns for each item (rules/followup.yaml response_columns), from the derived item state."""
    result = items["result"].astype("string")
    corrected = (items["correction"].notna() | items["corrected_at"].notna()).to_numpy(dtype=bool)
    confirmed = (result == "属实").fillna(False).to_numpy(dtype=bool)
    rejected = (result == "不属实").fillna(False).to_numpy(dtype=bool)
    corrected_ok = pd.Series(pd.NA, index=items.index, dtype="string")
    corrected_ok = corrected_ok.mask(confirmed, "否").mask(corrected, "是").mask(rejected & ~corrected, "无需整改")
    correction = items["correction"].astype("string")
    where = items["corrected_system"].astype("string")
    correction = correction.where(where.isna(), correction.fillna("已更正") + "（" + where + "）")
    triage_reason = _payload_field(items, "cause_label")
    reason = items["check_note"].astype("string").fillna(triage_reason.where(result.notna()))
    unit = items["assigned_unit"].astype("string")
    unit = unit.fillna(_payload_field(items, "responsible_school")).fillna(_payload_field(items, "responsible_town"))
    corrected_at = items["corrected_date"].astype("string").str[:10].fillna(_date_text(items["corrected_at"]))
    fields = {
        "result": result,
        "reason": reason,
        "correction": correction,
        "corrected_ok": corrected_ok,
        "corrected_at": corrected_at,
        "evidence": items["evidence_files"].astype("string"),
        "unit": unit,
        "checker": items["checked_by"].astype("string"),
        "phone": items["checker_phone"].astype("string").fillna(items["assigned_phone"].astype("string")),
        "checked_at": _date_text(items["checked_at"]),
        "status": items["status"].astype("string"),
        "suggestion": _payload_field(items, "suggestion"),
        "blank": pd.Series(pd.NA, index=items.index, dtype="string"),
    }
    out = {}
    for spec in response_columns():
        field = spec.get("field", "blank")
        if field not in fields:
            raise ValueError(f"反馈表列「{spec.get('header')}」的取值字段未知：{field}")
        out[str(spec["header"])] = fields[field]
    return pd.DataFrame(out, index=items.index)


def response_table(items: pd.DataFrame) -> pd.DataFrame:
    """The whole answer as a DataFrame: list columns, then response columns."""
    items = items.reset_index(drop=True)
    own = list_columns(items)
    answer = response_frame(items)
    dup = [c for c in answer.columns if c in own.columns]
    own = own.drop(columns=dup)  # a list that already carries e.g. 核查结果: the county's answer wins
    return pd.concat([own, answer], axis=1)


def export_response(ledger: Any, path: str | os.PathLike | Any, town: str | None = None,
                    list_id: str | None = None, as_of: dt.date | None = None) -> pd.DataFrame:
    """Write the response workbook for the whole county or one town (a town's items: the list's 乡镇, else the
    responsible town found by the triage). Returns the table written (row count = number of items)."""
    items = ledger.items(as_of=as_of, list_id=list_id)
    if town is not None:
        eff_town = items["town"].astype("string").fillna(_payload_field(items, "responsible_town"))
        items = items[(eff_town == town).fillna(False).to_numpy(dtype=bool)]
    table = response_table(items)
    title = f"疑似问题核查反馈表（{town}）" if town else "疑似问题核查反馈表"
    _write(path, {"反馈表": table}, title)
    return table


def _write(path: Any, sheets: dict[str, pd.DataFrame], title: str) -> None:
    id_cols = [c for c in next(iter(sheets.values())).columns if "身份证" in c or "证件号" in c]
    try:
        from ..reports import write_workbook
    except ImportError:  # pragma: no cover - reports is part of the package
        write_workbook = None
    if write_workbook is not None:
        write_workbook(path, sheets, id_columns=id_cols, title=title)
        return
    from openpyxl import Workbook  # pragma: no cover

    wb = Workbook()  # pragma: no cover
    ws = wb.active
    name, frame = next(iter(sheets.items()))
    ws.title = name
    ws.append(list(frame.columns))
    for row in frame.astype(object).where(frame.notna(), None).itertuples(index=False):
        ws.append([None if v is None else str(v) for v in row])
    ws.freeze_panes = "A2"
    wb.save(path)
