"""身份证号 (resident ID number, GB 11643-1999): normalise and check whole columns at once.

Everything here is vectorised: text clean-up runs as pyarrow compute kernels, and the check (characters, address
code, birth date, check character) runs with numpy on a fixed-width uint8 matrix of the 18-character values.

Reasons (`check()['reason']`), in order of precedence:

- ``empty``: nothing left after clean-up.
- ``precision_lost``: the value went through a floating-point number (what Excel does to an ID typed as a number):
  the input was a float, or text that looks like a float (``6.10928E+17``, ``610928200801011.0``), or an 18-digit
  value that fails the check *and* ends in ``"00"``. Excel keeps 15 significant digits, so it zeroes digits 16-18
  (``...000``); a float64 round trip (pandas reading a numeric column) keeps 16-17 digits, and its shortest
  repr ends in ``"00"`` for most IDs. The rule therefore takes ``"00"`` (which includes ``"000"``); the price is
  that about 1 % of plain typos (those ending in ``"00"``) are reported as precision_lost instead of
  bad_checksum, invalid either way. Such values are shown, never repaired.
- ``bad_chars``: anything but digits, with an optional final ``X``.
- ``bad_length``: not 18 characters (15-digit numbers were already upgraded to 18 by `normalize`).
- ``bad_region``: the first 6 digits are not an address code that ever existed in GB/T 2260 (python-stdnum's
  ``cn/loc.dat``, any year, plus local additions in ``rules/region_codes.txt``). The birth-year rule of python-stdnum is *not* applied: see
  `region_birth_year_anomaly`.
- ``bad_birthdate``: digits 7-14 are not a real date, or the date is before 1900-01-01 or after ``as_of``.
- ``bad_checksum``: the check character does not match.
- ``ok``.
"""

from __future__ import annotations

import datetime as _dt
from functools import cache
from importlib import resources

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .arrowstr import as_series, from_arrow, to_arrow
from .rules import rule_path

__all__ = [
    "REASONS",
    "REASON_LABELS",
    "check",
    "check_char",
    "compose",
    "is_valid",
    "normalize",
    "region_birth_year_anomaly",
    "region_codes",
]

REASONS = (
    "ok",
    "empty",
    "bad_length",
    "bad_chars",
    "bad_region",
    "bad_birthdate",
    "bad_checksum",
    "precision_lost",
)
# Chinese labels for reports and reject tables.
REASON_LABELS = {
    "ok": "正确",
    "empty": "身份证号为空",
    "bad_length": "身份证号位数不对",
    "bad_chars": "身份证号含非法字符",
    "bad_region": "身份证号地址码不存在",
    "bad_birthdate": "身份证号出生日期不合理",
    "bad_checksum": "身份证号校验码错误",
    "precision_lost": "身份证号被Excel按数字保存，末位已丢失",
}
_REASON_CODE = {r: i for i, r in enumerate(REASONS)}

WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)
CHECK_CHARS = np.frombuffer(b"10X98765432", dtype=np.uint8)  # indexed by (sum of digit * weight) mod 11
_CHECKSTRINGS = np.array(list("10X98765432"), dtype=object)
_DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)
_EARLIEST = 19000101

# Removed anywhere: whitespace incl. full-width / no-break spaces and zero-width characters. Removed at the start:
# apostrophes (typed to force text in Excel) and backquotes mixed with leading whitespace.
_JUNK = r"^[\s\p{Z}'‘’`]+|[\s\p{Z}\x{200B}-\x{200D}\x{2060}\x{FEFF}]+"
# a number written as text by Excel or str(float): 6.10928E+17, 6.109282008010112e+17, 610928200801011.0
_FLOAT_TEXT = r"^(?P<s>[+-]?)(?P<i>[0-9]*)(?:\.(?P<f>[0-9]*))?(?:[eE](?P<e>[+-]?[0-9]{1,3}))?$"
_FLOAT_WORDS = r"^[+-]?(?i:inf|infinity|nan)$"  # str() of float('inf'); NaN itself is NA


# --------------------------------------------------------------------------------------------------- regions
@cache
def _region_data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(known[1_000_000] bool, start[1_000_000, K], end[1_000_000, K]) from python-stdnum's GB/T 2260 list.

    start/end hold the validity years of each name a code had (0 / 9999 when open); unused slots are -1 / -2.
    """
    text = (resources.files("stdnum") / "cn" / "loc.dat").read_text(encoding="utf-8")
    spans: dict[int, list[tuple[int, int]]] = {}
    province = None
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        key, _, props = line.strip().partition(" ")
        if not line.startswith(" "):
            province = key
            continue
        code = int(province + key)
        county = props.split("county=", 1)[1].strip().strip('"') if "county=" in props else ""
        for part in county.split(","):
            if part.startswith("[") and "]" in part:
                start, _, end = part[1:].split("]", 1)[0].partition("-")
                spans.setdefault(code, []).append((int(start or 0), int(end or 9999)))
            else:
                spans.setdefault(code, []).append((0, 9999))
    for line in rule_path("region_codes.txt").read_text(encoding="utf-8").splitlines():  # local additions
        parts = line.split("#", 1)[0].split()
        if parts and len(parts[0]) == 6 and parts[0].isdigit():
            a, b = 0, 9999
            if len(parts) > 1 and parts[1].startswith("[") and parts[1].endswith("]"):
                lo, _, hi = parts[1][1:-1].partition("-")
                a, b = int(lo or 0), int(hi or 9999)
            spans.setdefault(int(parts[0]), []).append((a, b))
    k = max(len(v) for v in spans.values())
    known = np.zeros(1_000_000, dtype=bool)
    start = np.full((1_000_000, k), -1, dtype=np.int16)
    end = np.full((1_000_000, k), -2, dtype=np.int16)
    for code, vals in spans.items():
        known[code] = True
        for j, (a, b) in enumerate(vals):
            start[code, j], end[code, j] = a, b
    return known, start, end


def region_codes() -> frozenset[str]:
    """Every 6-digit address code that ever existed (GB/T 2260 as shipped by python-stdnum, plus
    rules/region_codes.txt)."""
    return frozenset(f"{c:06d}" for c in np.flatnonzero(_region_data()[0]))


# --------------------------------------------------------------------------------------------------- helpers
def _np_mask(arr: pa.Array) -> np.ndarray:
    """Boolean pyarrow array -> numpy bool (null -> False)."""
    return pc.fill_null(arr, False).to_numpy(zero_copy_only=False)


def _char_matrix(arr: pa.StringArray, rows: np.ndarray, width: int) -> np.ndarray:
    """uint8 matrix (len(rows), width) of the bytes of arr[rows]; every selected value has exactly `width` bytes."""
    k = len(rows)
    if k == 0:
        return np.zeros((0, width), dtype=np.uint8)
    sub = arr if k == len(arr) else arr.take(pa.array(rows))
    bufs = sub.buffers()
    first = int(np.frombuffer(bufs[1], dtype=np.int32, count=1, offset=4 * sub.offset)[0])
    data = np.frombuffer(bufs[2], dtype=np.uint8, count=k * width, offset=first)
    return data.reshape(k, width)


def _fixed_strings(mat: np.ndarray) -> pa.StringArray:
    """uint8 matrix (n, w) of ASCII bytes -> pyarrow string array of n values, without a Python loop."""
    n, w = mat.shape
    offsets = np.arange(0, (n + 1) * w, w, dtype=np.int32)
    return pa.StringArray.from_buffers(
        n, pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(mat).tobytes())
    )


def _check_bytes(d17: np.ndarray) -> np.ndarray:
    """Check characters (uint8 ASCII) for an (n, 17) matrix of digit values 0-9."""
    return CHECK_CHARS[(d17.astype(np.int64) @ WEIGHTS) % 11]


def _replace(arr: pa.Array, rows: np.ndarray, new_values: pa.Array) -> pa.Array:
    mask = np.zeros(len(arr), dtype=bool)
    mask[rows] = True
    return pc.replace_with_mask(arr, pa.array(mask), new_values)


# --------------------------------------------------------------------------------------------------- normalize
def _clean(arr: pa.StringArray, flt: np.ndarray) -> tuple[pa.StringArray, np.ndarray]:
    """The clean-up of `normalize` on a string array; flt (went through a float) is updated."""
    len(arr)
    # full-width digits / Ｘ / spaces -> ASCII, only where needed (NFKC is the slow part)
    nonascii = np.flatnonzero(~_np_mask(pc.string_is_ascii(arr)) & ~_np_mask(pc.is_null(arr)))
    if len(nonascii):
        arr = _replace(arr, nonascii, pc.utf8_normalize(arr.take(pa.array(nonascii)), form="NFKC"))
    arr = pc.replace_substring_regex(arr, _JUNK, "")
    quoted = np.flatnonzero(_np_mask(pc.match_substring(arr, '"')))
    if len(quoted):  # ="610928…" (the CSV way to force text) or "610928…"
        sub = pc.replace_substring_regex(arr.take(pa.array(quoted)), r'^=?"([^"]*)"$', r"\1")
        arr = _replace(arr, quoted, pc.replace_substring_regex(sub, r"^'+", ""))
    arr = pc.replace_substring(arr, "x", "X")
    arr = pc.if_else(pc.equal(arr, ""), pa.scalar(None, pa.string()), arr)

    # numbers that went through a float: 6.10928E+17, 610928200801011.0 -> their integer digits, flagged
    maybe = np.flatnonzero(_np_mask(pc.match_substring_regex(arr, r"[.eEnN]")))
    if len(maybe):
        sub = arr.take(pa.array(maybe))
        parts = pc.extract_regex(sub, _FLOAT_TEXT)
        matched = _np_mask(pc.is_valid(parts))
        i_part = pc.struct_field(parts, "i")
        has_digit = _np_mask(pc.greater(pc.binary_length(i_part), 0)) | _np_mask(
            pc.greater(pc.binary_length(pc.struct_field(parts, "f")), 0)
        )
        matched &= has_digit
        unsigned = _np_mask(pc.equal(pc.struct_field(parts, "s"), ""))
        flt[maybe[_np_mask(pc.match_substring_regex(sub, _FLOAT_WORDS))]] = True
        flt[maybe[matched]] = True
        frac = pc.utf8_rtrim(pc.struct_field(parts, "f"), characters="0")
        exp_txt = pc.utf8_ltrim(pc.struct_field(parts, "e"), characters="+")
        exp = pc.cast(pc.if_else(pc.equal(exp_txt, ""), "0", exp_txt), pa.int64())
        zeros = pc.subtract(exp, pc.binary_length(frac))
        zeros_np = pc.fill_null(zeros, -1).to_numpy()
        integral = matched & unsigned & (zeros_np >= 0) & (zeros_np <= 30)  # else keep the text as written
        if integral.any():
            rows = np.flatnonzero(integral)
            take = pa.array(rows)
            digits = pc.binary_join_element_wise(
                i_part.take(take), frac.take(take), pc.binary_repeat("0", zeros.take(take)), ""
            )
            digits = pc.utf8_ltrim(digits, characters="0")
            digits = pc.if_else(pc.equal(digits, ""), "0", digits)
            arr = _replace(arr, maybe[rows], digits)

    # 15-digit numbers (first-generation IDs) -> 18: insert "19" after the address code, add the check character.
    # Also when they went through a float: 15 digits survive a float exactly (so normalize stays idempotent);
    # check() still reports them as precision_lost, as every float.
    lens = pc.fill_null(pc.binary_length(arr), -1).to_numpy()
    rows15 = np.flatnonzero(lens == 15)
    if len(rows15):
        m15 = _char_matrix(arr, rows15, 15)
        digit = ((m15 >= 48) & (m15 <= 57)).all(axis=1)
        rows15, m15 = rows15[digit], m15[digit]
        if len(rows15):
            m18 = np.empty((len(rows15), 18), dtype=np.uint8)
            m18[:, :6] = m15[:, :6]
            m18[:, 6:8] = np.frombuffer(b"19", dtype=np.uint8)
            m18[:, 8:17] = m15[:, 6:15]
            m18[:, 17] = _check_bytes(m18[:, :17] - 48)
            arr = _replace(arr, rows15, _fixed_strings(m18))
    return arr, flt


def _normalize_arrow(
    values,
) -> tuple[pd.Index, pa.StringArray, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """(index, normalised IDs, went-through-a-float flag, rows of 18 bytes, their digit fields (see _fields))."""
    s = as_series(values)
    index = s.index
    float_input = pd.api.types.is_float_dtype(s.dtype) and not isinstance(s.dtype, pd.StringDtype)
    flt = s.notna().to_numpy().copy() if float_input else np.zeros(len(s), dtype=bool)
    arr = to_arrow(s)
    # fast path: 18 bytes of digits with a final digit or X are already normal; clean the rest
    lens = pc.fill_null(pc.binary_length(arr), -1).to_numpy()
    rows = np.flatnonzero(lens == 18)
    f = _fields(_char_matrix(arr, rows, 18))
    keep = f["chars_ok"] & ~flt[rows]
    normal = np.zeros(len(arr), dtype=bool)
    normal[rows[keep]] = True
    dirty = np.flatnonzero(~normal & (lens >= 0))
    if len(dirty) == 0:
        return index, arr, flt, rows, f
    if len(dirty) == len(arr):
        sub, sub_flt = _clean(arr, flt)
        arr = sub
    else:
        sub, sub_flt = _clean(arr.take(pa.array(dirty)), flt[dirty])
        arr = _replace(arr, dirty, sub)
    flt[dirty] = sub_flt
    # fields of the cleaned values that are now 18 bytes long, merged with the untouched ones
    sub_lens = pc.fill_null(pc.binary_length(sub), -1).to_numpy()
    sub_rows = np.flatnonzero(sub_lens == 18)
    f2 = _fields(_char_matrix(sub, sub_rows, 18))
    rows = np.concatenate([rows[keep], dirty[sub_rows]])
    f = {k: np.concatenate([f[k][keep], f2[k]]) for k in f}
    return index, arr, flt, rows, f



def normalize(values) -> pd.Series:
    """Normalised ID column (pandas string, NA when empty): spaces, tabs, a leading apostrophe, ="…" quoting and
    full-width forms removed, x -> X, 15 digits upgraded to 18; a number that went through a float is shown as its
    integer digits (6.10928E+17 -> 610928000000000000), never repaired."""
    index, arr = _normalize_arrow(values)[:2]
    return from_arrow(arr, index)


# --------------------------------------------------------------------------------------------------- check
def _as_of_int(as_of) -> int:
    d = _dt.date.today() if as_of is None else pd.Timestamp(as_of).date()
    return d.year * 10000 + d.month * 100 + d.day


def _horner(t: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """The number (int32) written by digit rows lo..hi-1 of an (18, k) digit matrix."""
    out = t[lo].astype(np.int32)
    for j in range(lo + 1, hi):
        out *= 10
        out += t[j]
    return out


def _fields(m: np.ndarray) -> dict[str, np.ndarray]:
    """Parts of (k, 18) uint8 ID matrices: chars17 (first 17 are digits), chars_ok, check_ok, region, y/m/d.

    Works on the transposed digit matrix so that every step is a contiguous numpy vector operation."""
    t = np.ascontiguousarray((m - 48).T)  # uint8: non-digits wrap to values >= 10
    chars17 = t[:17].max(axis=0) < 10
    last = m[:, 17]
    last_digit = t[17] < 10
    if not chars17.all():
        t[:, ~chars17] = 0  # keep the arithmetic in range for rows that fail anyway
    total = np.zeros(len(m), dtype=np.int16)  # at most 9 * 100
    for j, w in enumerate(WEIGHTS):
        total += t[j] * np.int16(w)
    return {
        "last_digit": last_digit,
        "chars17": chars17,
        "chars_ok": chars17 & (last_digit | (last == 88)),
        "check_ok": CHECK_CHARS[total % 11] == last,
        "region": _horner(t, 0, 6),
        "year": _horner(t, 6, 10),
        "month": _horner(t, 10, 12),
        "day": _horner(t, 12, 14),
        "sex_digit": t[16],  # digit 17 (0 where the first 17 are not all digits)
        "last": last,
    }


def _date_ok(year: np.ndarray, month: np.ndarray, day: np.ndarray, as_of_int: int) -> np.ndarray:
    """A real calendar date within [1900-01-01, as_of]."""
    year, month, day = (np.asarray(a, dtype=np.int32) for a in (year, month, day))
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    month_ok = (month >= 1) & (month <= 12)
    dim = _DAYS_IN_MONTH[np.where(month_ok, month, 0)] + ((month == 2) & leap)
    ymd = year * 10000 + month * 100 + day
    return month_ok & (day >= 1) & (day <= dim) & (ymd >= _EARLIEST) & (ymd <= min(as_of_int, 22611231))


def _epoch_days(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 of valid Gregorian dates (H. Hinnant's days_from_civil), vectorised."""
    year, month, day = (np.asarray(a, dtype=np.int32) for a in (year, month, day))
    y = year - (month <= 2)
    era = y // 400
    yoe = y - era * 400
    doy = (153 * ((month + 9) % 12) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return (era * 146097 + doe - 719468).astype(np.int64)


def check(values, as_of=None) -> pd.DataFrame:
    """Check a column of IDs. Columns: id_number (normalised), valid (bool), reason (see module doc),
    birth_date (datetime64, NaT unless digits 7-14 are a date in [1900-01-01, as_of]), sex (男/女 from digit 17,
    NA unless the first 17 characters are digits and the value is not precision_lost). Index as the input's."""
    index, arr, flt, rows, f = _normalize_arrow(values)
    n = len(arr)
    as_of_int = _as_of_int(as_of)
    reason = np.full(n, _REASON_CODE["bad_length"], dtype=np.int8)
    lens = pc.fill_null(pc.binary_length(arr), -1).to_numpy()
    null = lens < 0

    # values that are not 18 bytes long: bad_chars or bad_length
    other = np.flatnonzero((lens != 18) & ~null)
    if len(other):
        ok_chars = _np_mask(pc.match_substring_regex(arr.take(pa.array(other)), r"^[0-9]+X?$"))
        reason[other[~ok_chars]] = _REASON_CODE["bad_chars"]

    chars_ok, check_ok = f["chars_ok"], f["check_ok"]
    region_ok = _region_data()[0][f["region"]]
    date_ok = _date_ok(f["year"], f["month"], f["day"], as_of_int)
    truncated = chars_ok & f["last_digit"] & (f["sex_digit"] == 0) & (f["last"] == 48) & ~check_ok

    r18 = np.full(len(rows), _REASON_CODE["ok"], dtype=np.int8)
    r18[~check_ok] = _REASON_CODE["bad_checksum"]
    r18[~date_ok] = _REASON_CODE["bad_birthdate"]
    r18[~region_ok] = _REASON_CODE["bad_region"]
    r18[~chars_ok] = _REASON_CODE["bad_chars"]
    r18[truncated] = _REASON_CODE["precision_lost"]
    reason[rows] = r18
    reason[flt] = _REASON_CODE["precision_lost"]
    reason[null] = _REASON_CODE["empty"]

    # birth date and sex
    birth = np.full(n, np.iinfo(np.int64).min, dtype=np.int64)  # NaT
    good = np.flatnonzero(f["chars17"] & date_ok)
    birth[rows[good]] = _epoch_days(f["year"][good], f["month"][good], f["day"][good]) * 86_400_000_000_000
    sex_code = np.full(n, -1, dtype=np.int8)
    sex_rows = f["chars17"] & ~flt[rows] & (r18 != _REASON_CODE["precision_lost"])
    sex_code[rows[sex_rows]] = f["sex_digit"][sex_rows] % 2
    sex = pc.take(pa.array(["女", "男"]), pa.array(sex_code, mask=sex_code < 0))

    return pd.DataFrame(
        {
            "id_number": from_arrow(arr, index),
            "valid": pd.Series(reason == _REASON_CODE["ok"], index=index),
            "reason": from_arrow(pc.take(pa.array(REASONS), pa.array(reason)), index),
            "birth_date": pd.Series(birth.view("datetime64[ns]"), index=index),
            "sex": from_arrow(sex, index),
        },
        index=index,
    )


def is_valid(values, as_of=None) -> pd.Series:
    """Boolean Series: the ID is well-formed, has an existing address code, a real birth date and its check."""
    return check(values, as_of=as_of)["valid"]


def check_char(first17) -> pd.Series:
    """The check character (0-9 or X) for each 17-digit string (NA where the value is not 17 digits)."""
    s = as_series(first17)
    arr = to_arrow(s)
    lens = pc.fill_null(pc.binary_length(arr), -1).to_numpy()
    rows = np.flatnonzero(lens == 17)
    m = _char_matrix(arr, rows, 17)
    ok = ((m >= 48) & (m <= 57)).all(axis=1)
    rows, m = rows[ok], m[ok]
    out = np.full(len(arr), -1, dtype=np.int16)
    out[rows] = (m.astype(np.int64) - 48) @ WEIGHTS % 11
    res = pc.take(pa.array(list("10X98765432")), pa.array(out, mask=out < 0))
    return from_arrow(res, s.index)


def _digits(numbers: np.ndarray, width: int) -> np.ndarray:
    """(n, width) uint8 ASCII digits of non-negative integers, zero-padded."""
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    return ((numbers[:, None] // powers) % 10 + 48).astype(np.uint8)


def compose(region, birth_date, seq) -> pd.Series:
    """Build valid 18-character IDs from address codes (6 digits), birth dates and 3-digit sequence numbers
    (odd = male, even = female); scalars broadcast. Vectorised; used by the sample generator and the tests."""
    reg = np.atleast_1d(np.asarray(pd.to_numeric(pd.Series(np.atleast_1d(region))), dtype=np.int64))
    born = pd.to_datetime(pd.Series(np.atleast_1d(birth_date)))
    ymd = (born.dt.year * 10000 + born.dt.month * 100 + born.dt.day).to_numpy(dtype=np.int64)
    seqs = np.atleast_1d(np.asarray(seq, dtype=np.int64))
    reg, ymd, seqs = np.broadcast_arrays(reg, ymd, seqs)
    n = len(reg)
    m = np.empty((n, 18), dtype=np.uint8)
    m[:, :6] = _digits(reg, 6)
    m[:, 6:14] = _digits(ymd, 8)
    m[:, 14:17] = _digits(seqs, 3)
    m[:, 17] = _check_bytes(m[:, :17] - 48)
    return from_arrow(_fixed_strings(m), pd.RangeIndex(n))


def region_birth_year_anomaly(ids) -> pd.Series:
    """True where the address code exists but did not exist in the birth year (python-stdnum's birth-year rule).

    Not an error: the code is the one in force when the number was issued, so adults born before a code was
    created carry it (旬阳县 610928 from 2000). Report at most as a note. False where not applicable."""
    index, arr, flt, rows, f = _normalize_arrow(ids)
    out = np.zeros(len(arr), dtype=bool)
    usable = ~flt[rows]
    rows, f = rows[usable], {k: v[usable] for k, v in f.items()}
    known, start, end = _region_data()
    region, year = f["region"], f["year"]
    in_span = ((start[region] <= year[:, None]) & (year[:, None] <= end[region])).any(axis=1)
    real = f["chars17"] & _date_ok(year, f["month"], f["day"], 99991231)
    out[rows] = real & known[region] & ~in_span
    return pd.Series(out, index=index)
