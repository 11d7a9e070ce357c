"""A deterministic set of 身份证号 test values covering every `ids.check` reason, and the comparison with
python-stdnum (`stdnum.cn.ric.is_valid`) used by `benchmarks/bench_ids.py` and `tests/test_ids.py`.

All values are synthetic: random address codes, dates and sequence numbers with a correct check character,
then damaged the ways real exports damage them (typos, transpositions, Excel floats, full-width digits, ...).
"""

from __future__ import annotations

import datetime as _dt
from functools import cache

import numpy as np
import pandas as pd

from . import ids

# case -> share of the generated values
CASE_SHARES = {
    "valid": 0.36,
    "valid_int": 0.02,  # a Python int (exact): normalises to the same digits
    "digit_typo": 0.08,  # one of the first 17 digits replaced by another
    "check_typo": 0.04,  # the check character replaced
    "transposition": 0.05,  # two adjacent different characters swapped
    "bad_date": 0.04,  # month 00/13, day 00/32, 30 Feb, 29 Feb of a common year (check character correct)
    "date_bounds": 0.02,  # a real date before 1900 or after as_of (check character correct)
    "bad_region": 0.04,  # an address code that never existed (check character correct)
    "excel_float": 0.04,  # the float Excel kept: 15 significant digits
    "float64": 0.02,  # the float pandas made of the text: float64 rounding
    "float_text": 0.02,  # the float written back as text by str(): '6.109282008010112e+17', '...1234.0'
    "scientific": 0.03,  # what Excel shows: 6.10928E+17 or 6.10928200801011E+17
    "zeros_text": 0.02,  # the digits of an Excel float kept as text: ...000
    "lowercase_x": 0.03,
    "full_width": 0.03,
    "whitespace": 0.04,  # spaces, tabs, full-width spaces, a leading apostrophe
    "fifteen": 0.03,  # first-generation 15-digit number
    "empty": 0.02,
    "wrong_length": 0.03,
    "letters": 0.03,
}

_FULL_WIDTH = str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")


def _valid_matrix(rng: np.random.Generator, n: int, as_of: _dt.date, lo_year: int = 1930) -> np.ndarray:
    """(n, 18) uint8 matrix of valid IDs: half Shaanxi codes, half any code that ever existed; about 90 % use a
    code in force in the birth year, the rest any code (python-stdnum's birth-year rule rejects some of those)."""
    codes, alive = _codes_in_force()
    shaanxi_code = codes // 10000 == 61
    first = pd.Timestamp(f"{lo_year}-01-01")
    span = (pd.Timestamp(as_of) - first).days
    dates = first + pd.to_timedelta(rng.integers(0, span + 1, n), unit="D")
    years = dates.year.to_numpy()
    # a code per row, uniform within its pool: Shaanxi or anywhere, in force in the birth year or any year
    region = np.empty(n, dtype=np.int64)
    shaanxi = rng.random(n) < 0.5
    in_force = rng.random(n) < 0.9
    for year in np.unique(years):  # a loop over the few distinct birth years
        in_year = alive[min(max(year, _FIRST_YEAR), _LAST_YEAR) - _FIRST_YEAR]
        for sx in (True, False):
            for inf in (True, False):
                sel = (years == year) & (shaanxi == sx) & (in_force == inf)
                if sel.any():
                    ok = (shaanxi_code if sx else np.ones(len(codes), bool)) & (in_year if inf else True)
                    region[sel] = rng.choice(codes[ok], int(sel.sum()))
    return _matrix(ids.compose(region, dates, rng.integers(0, 1000, n)))


_FIRST_YEAR, _LAST_YEAR = 1800, 2100


@cache
def _codes_in_force() -> tuple[np.ndarray, np.ndarray]:
    """(codes, alive[year - 1800, code index]): which address codes were in force in each year 1800-2100."""
    known, start, end = ids._region_data()
    codes = np.flatnonzero(known)
    years = np.arange(_FIRST_YEAR, _LAST_YEAR + 1)[:, None, None]
    alive = ((start[codes][None] <= years) & (years <= end[codes][None])).any(axis=2)
    return codes, alive


def _matrix(values: pd.Series) -> np.ndarray:
    a = np.asarray(values.to_numpy(dtype=str), dtype="S18")
    return np.frombuffer(a.tobytes(), dtype=np.uint8).reshape(len(a), 18).copy()


def _strings(m: np.ndarray) -> np.ndarray:
    width = m.shape[1]
    return (
        np.frombuffer(np.ascontiguousarray(m).tobytes(), dtype=f"S{width}").astype(f"U{width}").astype(object)
    )


def _fix_check(m: np.ndarray) -> np.ndarray:
    m[:, 17] = ids._check_bytes(m[:, :17] - 48)
    return m


def generate_cases(
    n: int = 100_000, seed: int = 20191130, as_of: _dt.date = _dt.date(2019, 11, 30)
) -> pd.DataFrame:
    """n test values: columns `value` (object: str, int, float, None), `case` (see CASE_SHARES), `true_id`
    (the valid ID the value was made from; NA for values made up from nothing)."""
    rng = np.random.default_rng(seed)
    names = list(CASE_SHARES)
    counts = (np.array([CASE_SHARES[k] for k in names]) / sum(CASE_SHARES.values()) * n).astype(int)
    counts[0] += n - counts.sum()
    parts = []
    for case, k in zip(names, counts):
        m = _valid_matrix(rng, k, as_of)
        value, true = _make(case, m, rng, as_of)
        parts.append(pd.DataFrame({"value": pd.Series(value, dtype=object), "case": case, "true_id": true}))
    out = pd.concat(parts, ignore_index=True)
    out = out.iloc[rng.permutation(len(out))].reset_index(drop=True)
    out["true_id"] = out["true_id"].astype("string")
    return out


def _make(
    case: str, m: np.ndarray, rng: np.random.Generator, as_of: _dt.date
) -> tuple[np.ndarray, np.ndarray]:
    """(values, the valid IDs they were made from; None where they were not made from one)."""
    k = len(m)
    rows = np.arange(k)
    true = _strings(m)
    if case in ("valid_int", "excel_float", "float64", "float_text", "scientific", "zeros_text"):
        # numbers: IDs ending in X stay text in Excel, so these are made from IDs ending in a digit
        pool = np.concatenate([m, _valid_matrix(rng, 2 * k + 20, as_of)])
        m = pool[pool[:, 17] != 88][:k]
        true = _strings(m)
        return _numeric(case, m, true), true
    if case == "valid":
        return true, true
    if case == "digit_typo":
        pos = rng.integers(0, 17, k)
        m[rows, pos] = 48 + (m[rows, pos] - 48 + rng.integers(1, 10, k)) % 10
        return _strings(m), true
    if case == "check_typo":
        chars = np.frombuffer(b"0123456789X", dtype=np.uint8)
        shift = rng.integers(1, 11, k)
        m[:, 17] = chars[(np.searchsorted(chars, m[:, 17]) + shift) % 11]
        return _strings(m), true
    if case == "transposition":
        pos = rng.integers(0, 17, k)
        a, b = m[rows, pos].copy(), m[rows, pos + 1].copy()
        equal = a == b  # nudge one so that the swap changes the value
        b[equal] = 48 + (b[equal] - 48 + 1) % 10
        m[rows, pos], m[rows, pos + 1] = b, a
        return _strings(m), true
    if case == "bad_date":
        kinds = rng.integers(0, 5, k)
        mmdd = np.array([b"0012", b"1315", b"0100", b"0132", b"0230"], dtype="S4")[kinds]
        m[:, 10:14] = np.frombuffer(mmdd.tobytes(), dtype=np.uint8).reshape(k, 4)
        feb29 = (kinds == 4) & (rng.random(k) < 0.5)  # 29 Feb of a common year
        m[feb29, 6:14] = np.frombuffer(b"20190229" * int(feb29.sum()), dtype=np.uint8).reshape(-1, 8)
        return _strings(_fix_check(m)), true
    if case == "date_bounds":
        years = np.where(
            rng.random(k) < 0.5, rng.integers(1800, 1900, k), rng.integers(as_of.year + 1, 2100, k)
        )
        y = np.char.zfill(years.astype("U4"), 4).astype("S4")
        m[:, 6:10] = np.frombuffer(y.tobytes(), dtype=np.uint8).reshape(k, 4)
        return _strings(_fix_check(m)), true
    if case == "bad_region":
        reg = rng.choice(np.flatnonzero(~ids._region_data()[0]), k)
        r = np.char.zfill(reg.astype("U6"), 6).astype("S6")
        m[:, :6] = np.frombuffer(r.tobytes(), dtype=np.uint8).reshape(k, 6)
        return _strings(_fix_check(m)), np.full(k, None, dtype=object)
    if case == "lowercase_x":
        for _ in range(12):  # vary digit 16 until the check character is X
            bad = m[:, 17] != 88
            if not bad.any():
                break
            m[bad, 16] = 48 + (m[bad, 16] - 48 + 1) % 10
            m[bad, 17] = ids._check_bytes(m[bad, :17] - 48)
        true = _strings(m)
        return np.array([t.lower() for t in true], dtype=object), true
    if case == "full_width":
        return np.array([t.translate(_FULL_WIDTH) for t in true], dtype=object), true
    if case == "whitespace":
        forms = ["'{}", " {} ", "\t{}", "{}\t", "\u3000{}\u3000", "{} ", "'{}  ", "{}\u00a0", "\t'{}"]
        pick = rng.integers(0, len(forms), k)
        inner = rng.random(k) < 0.25
        out = [
            t[:6] + " " + t[6:14] + " " + t[14:] if i else forms[p].format(t)
            for p, t, i in zip(pick, true, inner)
        ]
        return np.array(out, dtype=object), true
    if case == "fifteen":
        old = _valid_matrix(rng, k, _dt.date(1999, 12, 31), lo_year=1900)
        true = _strings(old)
        return np.array([t[:6] + t[8:17] for t in true], dtype=object), true
    if case == "empty":
        forms = [None, np.nan, "", " ", "\t", "\u3000", pd.NA]
        return np.array([forms[i] for i in rng.integers(0, len(forms), k)], dtype=object), np.full(
            k, None, object
        )
    if case == "wrong_length":
        cut = rng.integers(1, 21, k)
        return np.array(
            [t[:c] if c < 15 else t + "1" * (c - 14) for t, c in zip(true, cut)], dtype=object
        ), true
    if case == "letters":
        letters = np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ-", dtype=np.uint8)
        pos = rng.integers(0, 17, k)
        m[rows, pos] = letters[rng.integers(0, len(letters), k)]
        return _strings(m), true
    raise ValueError(case)


def _numeric(case: str, m: np.ndarray, text: np.ndarray) -> np.ndarray:
    """IDs that went through a number, the ways exports show them."""
    if case == "valid_int":
        return np.array(np.frombuffer(m.tobytes(), dtype="S18").astype(np.int64).tolist(), dtype=object)
    if case == "excel_float":  # Excel keeps 15 significant digits
        return np.array([float(t[:15] + "000") for t in text], dtype=object)
    if case == "float64":  # pandas read the text column as float64
        return np.array([float(t) for t in text], dtype=object)
    if case == "float_text":  # a float written back as text; half of them 15-digit old numbers
        return np.array(
            [str(float(t)) if i % 2 else str(float(t[:15])) for i, t in enumerate(text)], dtype=object
        )
    if case == "scientific":  # what Excel shows in a General cell
        return np.array(
            [
                f"{t[0]}.{t[1:6]}E+17" if i % 2 else f"{t[0]}.{t[1:15].rstrip('0')}E+17"
                for i, t in enumerate(text)
            ],
            dtype=object,
        )
    if case == "zeros_text":  # the digits of an Excel float, kept as text
        return np.array([t[:15] + "000" for t in text], dtype=object)
    raise ValueError(case)


# ------------------------------------------------------------------------------------------ stdnum comparison
def _stdnum_verdict(value) -> tuple[bool, str]:
    """(is_valid, why) from python-stdnum; `why` is 'birth_place' when only its birth-year address rule fails."""
    from stdnum.cn import ric
    from stdnum.exceptions import ValidationError

    if value is None or value is pd.NA:
        return False, "empty"
    try:
        ric.validate(value)
        return True, "ok"
    except ValidationError as exc:
        if type(exc).__name__ == "InvalidComponent":
            try:
                ric.get_birth_date(value)
            except ValidationError:
                return False, "birth_date"
            return False, "birth_place"
        return False, type(exc).__name__
    except KeyError:  # stdnum 2.x: a province without this county code raises KeyError; counts as invalid
        return False, "no_county"


def compare_with_stdnum(values, as_of: _dt.date = _dt.date(2019, 11, 30)) -> pd.DataFrame:
    """Our verdict on the raw values against stdnum's on the normalised values, one row per value.

    Columns: id_number, reason, ours, stdnum, category (agree / birth_year_rule / workbench_stricter / other).
    birth_year_rule: the code existed, but not in the birth year (stdnum rejects, domain.md section 2).
    workbench_stricter: rules python-stdnum does not have: the value went through a float (precision_lost even
    when the surviving digits pass the check), or a real birth date before 1900 or after as_of."""
    res = ids.check(values, as_of=as_of)
    normalised = res["id_number"].astype(object).where(res["id_number"].notna(), None)
    verdicts = [_stdnum_verdict(v) for v in normalised]  # the oracle: one call per value by nature
    out = pd.DataFrame(
        {
            "id_number": res["id_number"],
            "reason": res["reason"],
            "ours": res["valid"].to_numpy(),
            "stdnum": [v[0] for v in verdicts],
            "stdnum_why": [v[1] for v in verdicts],
        },
        index=res.index,
    )
    agree = out["ours"] == out["stdnum"]
    birth_year = ~agree & out["ours"] & (out["stdnum_why"] == "birth_place")
    stricter = ~agree & ~out["ours"] & out["stdnum"] & (out["reason"] == "precision_lost")
    bounds = ~agree & ~out["ours"] & out["stdnum"] & (out["reason"] == "bad_birthdate")
    for i in np.flatnonzero(bounds.to_numpy()):  # confirm: a real date, out of [1900-01-01, as_of]
        born = _dt.datetime.strptime(out["id_number"].iat[i][6:14], "%Y%m%d").date()
        bounds.iat[i] = born < _dt.date(1900, 1, 1) or born > as_of
    stricter |= bounds
    out["category"] = np.select(
        [agree, birth_year, stricter], ["agree", "birth_year_rule", "workbench_stricter"], default="other"
    )
    return out
