"""Reading a province list file (疑似问题清单) into the canonical suspects frame, through workbench.sources."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pandas as pd

from .ledger import LedgerError


def read_list(path: str | os.PathLike, as_of: dt.date | None = None) -> pd.DataFrame:
    """Every suspects sheet of one file (xlsx, xls, csv …) as one canonical frame (docs/design.md: list_id, seq,
    town, village, school_name, name, id_number, category, category_key, description, issued_date, deadline, extra,
    source_row …). Raises LedgerError (Chinese) when the file holds no suspects list."""
    from ..sources import read_file

    path = Path(path)
    if not path.exists():
        raise LedgerError(f"文件不存在：{path}")
    results = read_file(path, root=path.parent, as_of=as_of)
    frames = [r.frame for r in results if r.system == "suspects" and len(r.frame)]
    if not frames:
        messages = "；".join(str(r.report.get("message") or "") for r in results if r.report.get("message"))
        raise LedgerError(f"文件「{path.name}」中没有识别到疑似问题清单（需有问题类型或问题描述列）"
                          + (f"：{messages}" if messages else ""))
    frame = pd.concat(frames, ignore_index=True)
    if "list_id" not in frame.columns or frame["list_id"].isna().all():
        frame["list_id"] = path.stem
    return frame
