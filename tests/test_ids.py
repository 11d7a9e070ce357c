"""身份证号: unit tests per reason, hypothesis properties, and the agreement with python-stdnum."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stdnum.cn import ric

from workbench import id_cases, ids

AS_OF = dt.date(2019, 11, 30)
CODES = sorted(ids.region_codes())
FULL_WIDTH = str.maketrans("0123456789Xx", "０１２３４５６７８９Ｘｘ")
PROPS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def one(value, as_of=AS_OF) -> dict:
    c = ids.check([value], as_of=as_of)
    return {col: c[col].iloc[0] for col in c.columns}


# ------------------------------------------------------------------------------------------------ unit tests
def test_standard_example_is_valid_female_born_1949():
    r = one("11010519491231002X")
    assert r["valid"] and r["reason"] == "ok"
    assert r["id_number"] == "11010519491231002X"
    assert r["birth_date"] == pd.Timestamp("1949-12-31")
    assert r["sex"] == "女"


def test_check_char_of_standard_example_is_x():
    assert ids.check_char(pd.Series(["11010519491231002", "1101051949123100", None])).tolist() == [
        "X",
        pd.NA,
        pd.NA,
    ]


@pytest.mark.parametrize(
    "raw",
    [
        "11010519491231002x",
        " 11010519491231002X ",
        "'11010519491231002X",
        "\t11010519491231002X",
        "\t'11010519491231002X",
        "110105 19491231 002X",
        "\u300011010519491231002X\u3000",
        "１１０１０５１９４９１２３１００２Ｘ",
        "１１０１０５１９４９１２３１００２ｘ",
        "11010519491231002X\u00a0",
        '="11010519491231002X"',
        '"11010519491231002X"',
        "\u200b11010519491231002X",
    ],
)
def test_decorated_forms_normalise_to_the_standard_example(raw):
    assert normalize_one(raw) == "11010519491231002X"
    assert one(raw)["reason"] == "ok"


def normalize_one(value):
    return ids.normalize([value]).iloc[0]


@pytest.mark.parametrize("empty", [None, np.nan, pd.NA, "", "  ", "\t", "\u3000", "'"])
def test_empty_values(empty):
    r = one(empty)
    assert r["reason"] == "empty" and not r["valid"]
    assert r["id_number"] is pd.NA
    assert pd.isna(r["birth_date"]) and r["sex"] is pd.NA


def test_fifteen_digits_upgrade_to_eighteen():
    # 110105491231002 is the first-generation form of 11010519491231002X
    assert normalize_one("110105491231002") == "11010519491231002X"
    assert normalize_one(110105491231002) == "11010519491231002X"  # an exact int is fine
    r = one("110105491231002")
    assert r["valid"] and r["birth_date"] == pd.Timestamp("1949-12-31")


@pytest.mark.parametrize(
    "raw, shown",
    [
        (6.10928200801011e17, "610928200801011000"),  # the float Excel keeps (15 significant digits)
        (610928200801011234.0, "610928200801011200"),  # float64 of the text: shortest repr
        ("6.10928E+17", "610928000000000000"),  # what a General cell shows
        ("6.10928200801011E+17", "610928200801011000"),
        ("6.10928200801011e+17", "610928200801011000"),
        ("６．１０９２８Ｅ＋１７", "610928000000000000"),
        ("110105491231002.0", "11010519491231002X"),  # 15 digits survive a float: upgraded, still flagged
        (110105491231002.0, "11010519491231002X"),
        ("1.10105491231002E+14", "11010519491231002X"),
        (1.5, "1.5"),
    ],
)
def test_floats_and_scientific_text_are_precision_lost_and_never_repaired(raw, shown):
    r = one(raw)
    assert r["reason"] == "precision_lost" and not r["valid"]
    assert r["id_number"] == shown
    assert r["sex"] is pd.NA


def test_normalize_is_idempotent_on_float_inputs():
    values = [110105491231002.0, 6.10928200801011e17, "6.10928E+17", 1.5, float("inf")]
    once = ids.normalize(values)
    pd.testing.assert_series_equal(once, ids.normalize(once))


def test_precision_lost_keeps_the_birth_date_that_survived():
    r = one(6.10928200801011e17)
    assert r["birth_date"] == pd.Timestamp("2008-01-01")


def test_a_float_column_is_precision_lost_throughout():
    s = pd.Series([6.10928200801011e17, np.nan, 4.30112198511079e17])
    assert ids.check(s)["reason"].tolist() == ["precision_lost", "empty", "precision_lost"]


def test_trailing_zero_rule_only_when_the_check_fails():
    many = ids.compose(["610928"] * 1000, ["2008-01-01"] * 1000, range(1000))
    # 18 digits ending in "00" whose check fails: the tail was zeroed by a float (documented rule)
    assert one("610928200801011000")["reason"] == "precision_lost"  # Excel: digits 16-18 zeroed
    ends_00_bad = next(v[:16] + "00" for v in many if not v.endswith("0") and v[15] != "0")
    assert one(ends_00_bad)["reason"] == "precision_lost"
    # a value ending in "00" that passes the check is a valid ID
    ends_00_ok = next(v for v in many if v.endswith("00"))
    assert one(ends_00_ok)["reason"] == "ok"
    # a single trailing zero with a failing check is a plain checksum error
    ends_0_bad = next(v[:17] + "0" for v in many if v[17] != "0" and v[16] != "0")
    assert one(ends_0_bad)["reason"] == "bad_checksum"


@pytest.mark.parametrize(
    "raw, reason",
    [
        ("11010519491231002A", "bad_chars"),
        ("110105X9491231002X", "bad_chars"),
        ("11010519491231-02X", "bad_chars"),
        ("abc", "bad_chars"),
        ("11010519491231002X'", "bad_chars"),  # an apostrophe that is not leading
        ("1101051949123100", "bad_length"),
        ("1101051949123100211", "bad_length"),
        ("12345", "bad_length"),
        ("999999194912310020", "bad_region"),
        ("000000194912310020", "bad_region"),
        ("110105194913310020", "bad_birthdate"),  # month 13
        ("110105194902300020", "bad_birthdate"),  # 30 February
        ("110105190002290020", "bad_birthdate"),  # 1900 is not a leap year
        ("110105189912310020", "bad_birthdate"),  # before 1900
        ("110105201912010020", "bad_birthdate"),  # after as_of 2019-11-30
        ("110105194912310021", "bad_checksum"),
    ],
)
def test_reasons(raw, reason):
    value = raw
    if reason in ("bad_region", "bad_birthdate"):  # give these a correct check character
        value = raw[:17] + ids.check_char(pd.Series([raw[:17]])).iloc[0]
    r = one(value)
    assert r["reason"] == reason and not r["valid"]


def test_leap_day_and_as_of_boundary_are_valid():
    a = ids.compose(["110105", "110105"], ["2000-02-29", "2019-11-30"], [1, 2])
    assert ids.check(a, as_of=AS_OF)["valid"].tolist() == [True, True]
    assert ids.check(a, as_of=dt.date(2019, 11, 29))["reason"].tolist() == ["ok", "bad_birthdate"]


def test_reason_precedence():
    # letters beat length, a float beats everything but empty
    assert one("11010X1949")["reason"] == "bad_chars"
    assert one("1101051949X")["reason"] == "bad_length"  # a final X is a legal character
    assert one("6.1E+17")["reason"] == "precision_lost"
    # region before birth date before checksum
    assert one("999999194913310029")["reason"] == "bad_region"
    assert one("110105194913310029")["reason"] in ("bad_birthdate",)


def test_sex_from_seventeenth_digit_and_na_when_unusable():
    c = ids.check(ids.compose(["610928"] * 2, ["2008-01-01"] * 2, [123, 124]))
    assert c["sex"].tolist() == ["男", "女"]
    assert ids.check(["1101051949", "6.10928E+17"])["sex"].isna().all()


def test_output_is_aligned_with_the_input_index_and_typed():
    s = pd.Series(["11010519491231002X", None, "x"], index=[10, 5, 7])
    c = ids.check(s)
    assert list(c.index) == [10, 5, 7]
    assert list(c.columns) == ["id_number", "valid", "reason", "birth_date", "sex"]
    assert c["id_number"].dtype == "string" and c["reason"].dtype == "string" and c["sex"].dtype == "string"
    assert c["valid"].dtype == bool
    assert str(c["birth_date"].dtype).startswith("datetime64")
    assert ids.normalize(s).index.tolist() == [10, 5, 7]
    assert ids.is_valid(s).tolist() == [True, False, False]


def test_accepts_numpy_arrays_lists_and_string_series():
    values = ["11010519491231002X", "110105194912310021"]
    for v in (
        values,
        np.array(values),
        pd.Series(values, dtype="string"),
        pd.Series(values, dtype=object),
        pd.Series(values, dtype=pd.StringDtype("pyarrow", na_value=np.nan)),
    ):
        assert ids.check(v)["reason"].tolist() == ["ok", "bad_checksum"]


def test_int_input_is_exact():
    assert one(610928200801011232)["reason"] == "ok"
    assert normalize_one(np.int64(610928200801011232)) == "610928200801011232"


def test_region_birth_year_anomaly_is_a_note_not_an_error():
    # 旬阳县 610928 exists from 2000 in GB/T 2260; an adult born 1985 carries it (stdnum rejects it)
    born_1985 = ids.compose(["610928"], ["1985-06-01"], [11]).iloc[0]
    assert one(born_1985)["valid"]
    assert not ric.is_valid(born_1985)
    born_2008 = ids.compose(["610928"], ["2008-06-01"], [11]).iloc[0]
    old_code = ids.compose(["612429"], ["1985-06-01"], [11]).iloc[0]  # 旬阳县 before 2000
    flags = ids.region_birth_year_anomaly([born_1985, born_2008, old_code, None, "999999198506010011"])
    assert flags.tolist() == [True, False, False, False, False]


def test_region_codes_cover_xunyang_and_its_old_code():
    codes = ids.region_codes()
    assert {"610928", "612429", "610981", "110105"} <= codes
    assert "999999" not in codes and len(codes) > 6000


def test_compose_builds_valid_ids_with_sex_parity():
    c = ids.check(ids.compose(["610928", "612429"], ["2008-01-01", "1990-05-05"], [1, 2]))
    assert c["valid"].all() and c["sex"].tolist() == ["男", "女"]


def test_large_mixed_column_has_every_reason():
    cases = id_cases.generate_cases(5_000, seed=7)
    reasons = set(ids.check(cases["value"].tolist(), as_of=AS_OF)["reason"])
    assert reasons == set(ids.REASONS)
    assert set(ids.REASON_LABELS) == set(ids.REASONS)


# ------------------------------------------------------------------------------------------------ properties
valid_parts = st.tuples(
    st.sampled_from(CODES),
    st.dates(min_value=dt.date(1900, 1, 1), max_value=AS_OF),
    st.integers(0, 999),
)


def _compose(parts):
    region, born, seq = parts
    return ids.compose([region], [born], [seq]).iloc[0]


@PROPS
@given(st.lists(valid_parts, min_size=1, max_size=30))
def test_property_generated_ids_are_valid(parts):
    values = ids.compose([p[0] for p in parts], [p[1] for p in parts], [p[2] for p in parts])
    c = ids.check(values, as_of=AS_OF)
    assert c["valid"].all()
    assert (c["birth_date"].dt.date == [p[1] for p in parts]).all()
    assert c["sex"].tolist() == ["男" if p[2] % 2 else "女" for p in parts]
    # python-stdnum agrees, except for its birth-year rule on address codes
    anomaly = ids.region_birth_year_anomaly(values)
    assert [ric.is_valid(v) for v in values] == (~anomaly).tolist()


@PROPS
@given(valid_parts, st.integers(0, 17), st.integers(1, 10))
def test_property_any_single_substitution_is_invalid(parts, pos, shift):
    value = _compose(parts)
    alphabet = "0123456789X" if pos == 17 else "0123456789"
    new = alphabet[(alphabet.index(value[pos]) + shift) % len(alphabet)]
    if new == value[pos]:
        new = alphabet[(alphabet.index(value[pos]) + 1) % len(alphabet)]
    typo = value[:pos] + new + value[pos + 1 :]
    assert not ids.is_valid([typo], as_of=AS_OF).iloc[0]


decorated = st.one_of(
    valid_parts.map(_compose),
    st.text(alphabet="0123456789xX ｘＸ０１２３４５６７８９\t'\u3000.eE+-", max_size=22),
    st.integers(0, 10**18),
    st.floats(allow_nan=True),
    st.none(),
)


@PROPS
@given(st.lists(decorated, min_size=1, max_size=20))
def test_property_normalize_is_idempotent(values):
    once = ids.normalize(values)
    twice = ids.normalize(once)
    pd.testing.assert_series_equal(once, twice)


@PROPS
@given(valid_parts.filter(lambda p: 1900 <= p[1].year <= 1999))
def test_property_fifteen_to_eighteen_round_trip(parts):
    value = _compose(parts)
    old = value[:6] + value[8:17]
    assert ids.normalize([old]).iloc[0] == value
    assert ids.check([old], as_of=AS_OF)["valid"].iloc[0]


@PROPS
@given(
    valid_parts,
    st.lists(st.sampled_from([" ", "\t", "\u3000", "\u00a0"]), max_size=3),
    st.booleans(),
    st.booleans(),
    st.booleans(),
)
def test_property_full_width_and_whitespace_variants_normalise_alike(parts, spaces, full, lower, apostrophe):
    value = _compose(parts)
    v = value.lower() if lower else value
    v = v.translate(FULL_WIDTH) if full else v
    pad = "".join(spaces)
    v = pad + ("'" if apostrophe else "") + v[:6] + pad + v[6:] + pad
    assert ids.normalize([v]).iloc[0] == value


@PROPS
@given(st.lists(st.floats(), min_size=1, max_size=20))
def test_property_every_float_input_is_precision_lost(values):
    c = ids.check(values)
    nan = np.isnan(values)
    assert (c["reason"][~nan] == "precision_lost").all()
    assert (c["reason"][nan] == "empty").all()
    # as a float column too
    c2 = ids.check(pd.Series(values, dtype=float))
    assert (c2["reason"][~nan] == "precision_lost").all()


# ------------------------------------------------------------------------------------------------ oracle
def test_agreement_with_stdnum_outside_documented_rules():
    """The benchmark's check on 20,000 generated values: no disagreement beyond the documented rules."""
    cases = id_cases.generate_cases(20_000, seed=20191130, as_of=AS_OF)
    cmp = id_cases.compare_with_stdnum(cases["value"].tolist(), as_of=AS_OF)
    other = cmp[cmp["category"] == "other"]
    assert other.empty, other.head(20).to_string()
    counts = cmp["category"].value_counts()
    assert counts["agree"] > 0.9 * len(cmp)
    assert counts.get("birth_year_rule", 0) > 0  # the test set does exercise stdnum's birth-year rule
    # every reason appears in the set
    assert set(cmp["reason"]) == set(ids.REASONS)


def test_local_region_codes_file_adds_codes(tmp_path, monkeypatch):
    extra = tmp_path / "region_codes.txt"
    extra.write_text("# local additions\n999998 [2030-] 测试县\n", encoding="utf-8")
    monkeypatch.setattr(ids, "rule_path", lambda name: extra)
    ids._region_data.cache_clear()
    try:
        assert "999998" in ids.region_codes()
        value = ids.compose(["999998"], ["2008-01-01"], [1]).iloc[0]
        assert one(value)["reason"] == "ok"
        assert ids.region_birth_year_anomaly([value]).tolist() == [True]  # in force from 2030 only
    finally:
        monkeypatch.undo()
        ids._region_data.cache_clear()
    assert "999998" not in ids.region_codes()
