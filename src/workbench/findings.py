"""The one findings table (问题清单): every analysis returns rows in this shape."""

from __future__ import annotations

import pandas as pd

from .rules import finding_kinds

FINDING_COLUMNS = [
    "kind", "label", "systems", "id_number", "name", "town", "village", "school",
    "item", "period", "detail", "suggestion", "suggested_id",
]
SORT_COLUMNS = ["kind", "town", "school", "id_number", "item", "period"]


def empty_findings() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="string") for c in FINDING_COLUMNS})


def as_findings(frame: pd.DataFrame, kind: str | None = None) -> pd.DataFrame:
    """Bring an analysis result into the findings shape: all columns, labels from the rules, one row per grain."""
    df = frame.copy()
    if kind is not None:
        df["kind"] = kind
    kinds = finding_kinds()
    unknown = set(df["kind"].dropna()) - set(kinds)
    if unknown:
        raise ValueError(f"unknown finding kinds: {sorted(unknown)}")
    df["label"] = df["kind"].map({k: v["label"] for k, v in kinds.items()})
    for col in FINDING_COLUMNS:
        if col not in df.columns:
            df[col] = pd.NA
    df = df[FINDING_COLUMNS].astype("string")
    df = df.drop_duplicates(subset=["kind", "id_number", "item", "period"], keep="first")
    return df.sort_values(SORT_COLUMNS, na_position="first", kind="stable").reset_index(drop=True)


def combine(*frames: pd.DataFrame) -> pd.DataFrame:
    parts = [f for f in frames if f is not None and len(f)]
    if not parts:
        return empty_findings()
    return as_findings(pd.concat(parts, ignore_index=True))
