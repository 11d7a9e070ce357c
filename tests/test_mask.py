"""脱敏: masking of IDs, names, phones, IDs quoted in text, and whole frames."""

from __future__ import annotations

import warnings

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workbench import mask


def test_mask_id_18_and_other_lengths():
    out = mask.mask_id(["61092820080101123X", "610928800101123", "G610928200801011234", "12345", None])
    assert out.tolist() == ["610928********123X", "610**********23", "G61**************34", "*****", pd.NA]


def test_mask_name():
    out = mask.mask_name(["张三", "欧阳娜娜", "阿依·古丽", None])
    assert out.tolist() == ["张*", "欧***", "阿****", pd.NA]


def test_mask_phone():
    assert mask.mask_phone(["13812345678", None]).tolist() == ["138****5678", pd.NA]


def test_mask_text_masks_ids_and_mobiles_but_not_longer_numbers():
    text = "建议核对为 610928200801011234：学籍 61092820080101123X，旧号 610928800101123，电话 13812345678"
    out = mask.mask_text([text, "单号 12345678901234567890", None]).tolist()
    assert out[0] == (
        "建议核对为 610928********1234：学籍 610928********123X，旧号 610**********23，电话 138****5678"
    )
    assert out[1] == "单号 12345678901234567890"
    assert out[2] is pd.NA


def frame():
    return pd.DataFrame(
        {
            "id_number": ["610928200801011234", None],
            "teacher_id_number": ["61092819800101123X", None],
            "suggested_id": ["610928200801011242", None],
            "name": ["张三", "欧阳娜娜"],
            "student_name": ["李四", None],
            "teacher_name": ["王老师", "赵六"],
            "school_name": ["旬阳县中学", "蜀河镇中心小学"],
            "phone": ["13812345678", None],
            "detail": ["学籍姓名张三，资助 610928200801011234", None],
            "amount": [500.0, 625.0],
        }
    )


def test_mask_frame_masks_person_columns_and_leaves_the_rest():
    df = frame()
    out = mask.mask_frame(df)
    assert out["id_number"].tolist() == ["610928********1234", pd.NA]
    assert out["teacher_id_number"].iloc[0] == "610928********123X"
    assert out["suggested_id"].iloc[0] == "610928********1242"
    assert out["name"].tolist() == ["张*", "欧***"]
    assert out["student_name"].iloc[0] == "李*" and out["teacher_name"].iloc[0] == "王**"
    assert out["phone"].iloc[0] == "138****5678"
    assert out["detail"].iloc[0] == "学籍姓名张*，资助 610928********1234"
    assert out["school_name"].tolist() == df["school_name"].tolist()
    assert out["amount"].tolist() == [500.0, 625.0]
    assert df["id_number"].iloc[0] == "610928200801011234"  # the input is untouched


def test_mask_frame_explicit_columns():
    out = mask.mask_frame(frame(), id_columns=["id_number"], name_columns=[])
    assert out["name"].iloc[0] == "张三" and out["id_number"].iloc[0] == "610928********1234"
    assert out["teacher_id_number"].iloc[0] == "61092819800101123X"


def test_unmask_needs_both_the_setting_and_the_request(monkeypatch):
    df = frame()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        refused = mask.mask_frame(df, allow_unmask=True)  # settings.yaml: allow_unmask false
    assert refused["name"].iloc[0] == "张*"
    assert any("mask.allow_unmask" in str(w.message) for w in caught)
    monkeypatch.setattr(mask, "unmask_allowed", lambda: True)
    assert mask.mask_frame(df, allow_unmask=True)["name"].iloc[0] == "张三"
    assert mask.mask_frame(df)["name"].iloc[0] == "张*"  # allowed, but not asked


@pytest.mark.parametrize("n", [0, 1])
def test_empty_and_tiny_frames(n):
    df = frame().head(n)
    assert len(mask.mask_frame(df)) == n


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(st.text(alphabet="0123456789XG", min_size=0, max_size=22), st.none()), max_size=10))
def test_property_mask_id_keeps_length_and_hides_the_middle(values):
    out = mask.mask_id(values)
    for raw, masked in zip(values, out):
        if raw is None:
            assert masked is pd.NA
            continue
        assert len(masked) == len(raw)
        if len(raw) == 18:
            assert masked[:6] == raw[:6] and masked[6:14] == "*" * 8 and masked[14:] == raw[14:]
        elif len(raw) > 5:
            assert masked[:3] == raw[:3] and masked[-2:] == raw[-2:] and set(masked[3:-2]) == {"*"}
        else:
            assert set(masked) <= {"*"}


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.one_of(st.text(alphabet="张王欧阳娜·古丽", min_size=1, max_size=6), st.none()), max_size=10)
)
def test_property_mask_name_keeps_only_the_first_character(values):
    out = mask.mask_name(values)
    for raw, masked in zip(values, out):
        if raw is None:
            assert masked is pd.NA
        else:
            assert masked == raw[0] + "*" * (len(raw) - 1)
