"""姓名: normalisation (full-width fold, spaces, middle dot) and the pinyin key for homophones."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workbench import names


@pytest.mark.parametrize(
    "raw, expected",
    [
        (" 张 伟 ", "张伟"),
        ("张\u3000伟", "张伟"),
        ("\t欧阳\t娜娜\n", "欧阳娜娜"),
        ("阿依・古丽", "阿依·古丽"),  # katakana middle dot
        ("阿依･古丽", "阿依·古丽"),  # half-width katakana middle dot
        ("阿依•古丽", "阿依·古丽"),  # bullet
        ("阿依‧古丽", "阿依·古丽"),  # hyphenation point
        ("阿依.古丽", "阿依·古丽"),  # a full stop between two Chinese characters
        ("阿依．古丽", "阿依·古丽"),  # full-width full stop
        ("阿依··古丽", "阿依·古丽"),
        ("·张三·", "张三"),
        ("ＡＢＣ张", "ABC张"),
    ],
)
def test_normalize(raw, expected):
    assert names.normalize([raw]).iloc[0] == expected


@pytest.mark.parametrize("empty", [None, np.nan, pd.NA, "", "  ", "\u3000", "·"])
def test_empty_names_are_na(empty):
    assert names.normalize([empty]).iloc[0] is pd.NA


def test_normalize_keeps_index_and_returns_string_dtype():
    s = pd.Series([" 李 四", None], index=["a", "b"])
    out = names.normalize(s)
    assert out.index.tolist() == ["a", "b"] and out.dtype == "string"
    assert out.tolist() == ["李四", pd.NA]


def test_pinyin_key_is_toneless_and_ignores_the_middle_dot():
    keys = names.pinyin_key(["张伟", "张玮", "张 伟", "阿依·古丽", "阿依古丽", None])
    assert keys.tolist() == ["zhang wei", "zhang wei", "zhang wei", "a yi gu li", "a yi gu li", pd.NA]
    assert keys.dtype == "string"


def test_is_homophone():
    assert names.is_homophone("张伟", "张玮")
    assert names.is_homophone("李娜", "李娜")
    assert not names.is_homophone("张伟", "李伟")
    assert not names.is_homophone("张伟", None)


def test_pinyin_key_on_many_rows_repeats_per_distinct_name():
    s = pd.Series(["王芳", "汪芳", "王方", "王芳"] * 5_000)
    keys = names.pinyin_key(s)
    assert len(keys) == 20_000 and keys.nunique() == 1 and keys.iloc[0] == "wang fang"


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.one_of(st.text(alphabet="张王李欧阳娜·・•. \u3000\tＡa", max_size=8), st.none()), max_size=10)
)
def test_property_normalize_is_idempotent(values):
    once = names.normalize(values)
    pd.testing.assert_series_equal(once, names.normalize(once))
