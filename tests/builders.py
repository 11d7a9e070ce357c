"""Builders for hand-made canonical frames in tests (an independent check-digit computation, not workbench.ids)."""

from __future__ import annotations

import pandas as pd

W = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]


def make_id(first17: str) -> str:
    s = sum(int(c) * w for c, w in zip(first17, W)) % 11
    return first17 + "10X98765432"[s]


def typo(id18: str, pos: int) -> str:
    """Change the character at 1-based position pos (a single-digit typo; the check then fails)."""
    c = id18[pos - 1]
    return id18[: pos - 1] + str((int(c) + 1) % 10) + id18[pos:]


def frame(rows: list[dict], cols: list[str]) -> pd.DataFrame:
    """A canonical-looking frame: dates as datetime, id_valid boolean, grade Int64, text as pandas strings."""
    df = pd.DataFrame(rows, columns=cols)
    for c in df.columns:
        if c == "birth_date":
            df[c] = pd.to_datetime(df[c])
        elif c == "id_valid":
            df[c] = df[c].astype("boolean")
        elif c == "grade":
            df[c] = pd.to_numeric(df[c]).astype("Int64")
        elif df[c].dtype == object or c in ("name", "id_number"):
            df[c] = df[c].astype("string")
    return df
