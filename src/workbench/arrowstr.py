"""Column helpers shared by the vectorised text modules (ids, names, mask): any input as a Series, a Series as
one pyarrow string array, and back."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

STRING = pd.StringDtype("pyarrow")


def as_series(values) -> pd.Series:
    """A Series for a Series, Index, array, list or scalar (objects kept as they are: no type guessing)."""
    if isinstance(values, pd.Series):
        return values
    if isinstance(values, (pd.Index, pd.api.extensions.ExtensionArray, np.ndarray)):
        return pd.Series(values)
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        values = [values]
    values = values if isinstance(values, (list, tuple)) else list(values)
    obj = np.empty(len(values), dtype=object)
    obj[:] = values
    return pd.Series(obj, copy=False)


def to_arrow(s: pd.Series) -> pa.StringArray:
    """The column as one pyarrow string array (nulls for NA); numbers become their Python repr."""
    if not (isinstance(s.dtype, pd.StringDtype) and s.dtype.storage == "pyarrow"):
        s = s.astype(STRING)
    arr = s.array._pa_array
    arr = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
    return arr.cast(pa.string()) if arr.type != pa.string() else arr


def from_arrow(arr: pa.Array, index: pd.Index) -> pd.Series:
    """A pyarrow string array as a pandas string Series with the given index."""
    return pd.Series(pd.arrays.ArrowStringArray(arr), index=index, copy=False)


def isin(values: pd.Series, other: Any) -> np.ndarray:
    """Vectorised membership test (pandas' arrow-string isin converts every probe value in Python)."""
    other = pd.Series(other)
    if pd.api.types.is_string_dtype(values.dtype) and pd.api.types.is_string_dtype(other.dtype) \
            and not (values.dtype == object or other.dtype == object):
        import pyarrow as pa
        import pyarrow.compute as pc

        try:  # string columns: pyarrow's hash-set membership, NA never a member
            left = pa.chunked_array(values.astype("string").array.__arrow_array__())
            right = pa.chunked_array(other.dropna().astype("string").array.__arrow_array__())
            right = right.cast(left.type).unique() if len(right) else pa.array([], left.type)
            return pc.is_in(left, value_set=right, skip_nulls=True).to_numpy(zero_copy_only=False).astype(bool)
        except (AttributeError, TypeError, pa.ArrowException):
            pass
    left = pd.Index(values.astype(object).where(values.notna(), None))
    right = pd.Index(other.dropna().astype(object).unique())
    return right.get_indexer(left) >= 0
