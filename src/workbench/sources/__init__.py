"""Read one export file of any source system (学籍, 资助, 建档立卡, 控辍保学, 结对, 帮扶记录, 学困生, 疑似问题).

`read_file(path, root=None, as_of=None) -> list[SheetResult]`, one per sheet. The system is recognised from the
headers (never from the file name); every data row is either loaded or rejected (rows_read = rows_loaded +
rows_rejected, each reject with a Chinese reason). A file that cannot be placed yields a report line with
system None and a Chinese message; nothing raises out of `read_file` for a bad file.

`parse_file` does the as-of-independent work (cached by the workspace); `finalize` applies the as-of date
(default term, grades from CNEMIS 年级, IDs born after the as-of date).
"""

from __future__ import annotations

import datetime as _dt
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .. import ids as _ids
from ..dates import as_date, parse_dates, parse_year_month
from ..terms import grade_from_label, parse_term_text, roster_school_status, term_of
from .decode import (
    code_default,
    decode_bool,
    decode_code,
    map_unique,
    parse_amount,
    parse_int,
    suspect_category_key,
    town_from_school,
)
from .headers import Header, find_header, header_texts, recognize
from .readers import SUPPORTED_EXTS, RawSheet, SourceError, number_cells, read_raw
from .schema import (
    SYSTEM_KEYS,
    SystemSpec,
    canonical_columns,
    conform,
    empty_table,
    normalize_header,
    systems,
)

__all__ = [
    "REJECT_COLUMNS",
    "REPORT_COLUMNS",
    "SUPPORTED_EXTS",
    "SYSTEM_KEYS",
    "SheetResult",
    "canonical_columns",
    "conform",
    "empty_table",
    "finalize",
    "parse_file",
    "read_file",
    "read_sheets",
    "system_labels",
]

LOADER_VERSION = "1"
REPORT_COLUMNS = ["file", "sheet", "system", "system_label", "term", "header_row", "rows_read", "rows_loaded",
                  "rows_rejected", "message"]
REJECT_COLUMNS = ["file", "sheet", "row", "column", "value", "reason"]

_TOTAL = re.compile(r"^(合计|小计|总计|共计|总合计|合\s*计|小\s*计|总\s*计)")


def system_labels() -> dict[str, str]:
    return {k: s.label for k, s in systems().items()}


@dataclass
class SheetResult:
    """One sheet of one file: its system (or None), canonical frame, report line and rejected rows."""

    system: str | None
    frame: pd.DataFrame
    report: dict
    rejects: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=REJECT_COLUMNS))
    warnings: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=REJECT_COLUMNS))


_EMPTY_REJECTS = pd.DataFrame({c: pd.Series(dtype="Int64" if c == "row" else "string") for c in REJECT_COLUMNS})


def _empty_rejects() -> pd.DataFrame:
    return _EMPTY_REJECTS.copy()


def _report(file: str, sheet: str, system: str | None, message: str, **kw) -> dict:
    rep = {c: None for c in REPORT_COLUMNS}
    rep.update(file=file, sheet=sheet, system=system,
               system_label=systems()[system].label if system else None,
               rows_read=0, rows_loaded=0, rows_rejected=0, message=message)
    rep.update(kw)
    return rep


def _unplaced(file: str, sheet: str, message: str) -> SheetResult:
    return SheetResult(None, pd.DataFrame(), _report(file, sheet, None, message), _empty_rejects(), _empty_rejects())


def _where(file: str, sheet: str) -> str:
    return f"文件「{file}」" + (f"工作表「{sheet}」" if sheet else "")


def _rel(path: Path, root: Path | None) -> str:
    if root is not None:
        try:
            return path.resolve().relative_to(Path(root).resolve()).as_posix()
        except ValueError:
            pass
    return path.name


# ------------------------------------------------------------------------------------------------ public
def read_file(path, root=None, as_of=None) -> list[SheetResult]:
    """Read one export file (every sheet) into canonical frames; see the module docstring."""
    return finalize(parse_file(path, root), as_of)


def read_sheets(path) -> list[RawSheet] | SourceError:
    """The raw sheets of a file, or the SourceError explaining why it cannot be read (never raises)."""
    path = Path(path)
    try:
        if not path.exists():
            return SourceError("不存在")
        if path.stat().st_size == 0:
            return SourceError("是空文件（0 字节），没有可读取的数据")
        return read_raw(path)
    except SourceError as exc:
        return SourceError(f"无法读取：{exc}")
    except Exception as exc:  # noqa: BLE001 - never raise out for a bad file
        return SourceError(f"无法读取：{type(exc).__name__}: {str(exc)[:200]}")


def parse_file(path, root=None, raw: list[RawSheet] | SourceError | None = None) -> list[SheetResult]:
    """The as-of-independent part of `read_file` (what the workspace caches). `raw`: sheets already read by
    `read_sheets` (the workspace reads the next file while this one is parsed)."""
    path = Path(path)
    file = _rel(path, Path(root) if root else None)
    if raw is None:
        raw = read_sheets(path)
    if isinstance(raw, SourceError):
        return [_unplaced(file, "", f"{_where(file, '')}{raw}")]
    if not raw:
        return [_unplaced(file, "", f"{_where(file, '')}没有可读取的数据：没有任何工作表")]
    results: list[SheetResult] = []
    empty_sheets = [s for s in raw if s.grid is None]
    if len(empty_sheets) == len(raw):
        what = "所有工作表均为空" if len(raw) > 1 or raw and raw[0].name else "没有任何数据"
        return [_unplaced(file, raw[0].name if len(raw) == 1 else "", f"{_where(file, '')}没有可读取的数据：{what}")]
    for sheet in raw:
        if sheet.grid is None:
            results.append(SheetResult(None, pd.DataFrame(), _report(file, sheet.name, None,
                           f"{_where(file, sheet.name)}为空，已跳过", skipped=True), _empty_rejects(),
                           _empty_rejects()))
            continue
        try:
            results.append(_parse_sheet(path, file, sheet))
        except Exception as exc:  # noqa: BLE001 - one bad sheet must not stop the folder
            results.append(_unplaced(file, sheet.name,
                                     f"{_where(file, sheet.name)}读取出错：{type(exc).__name__}: {str(exc)[:200]}"))
        sheet.xml = None   # the read-ahead sheet XML is not needed any more
    return results


def finalize(results: list[SheetResult], as_of=None) -> list[SheetResult]:
    """Apply the as-of date: default term, stage/grade from 年级 where the term was unknown, IDs born after it."""
    as_of_date = as_date(as_of) if as_of is not None else None
    default_term = term_of(as_of_date) if as_of_date else None
    for r in results:
        if r.system is None or r.frame.empty:
            continue
        f = r.frame
        if "term" in f.columns and default_term:
            missing = f["term"].isna()
            if missing.any():
                f.loc[missing, "term"] = default_term
                if "grade_label" in f.columns and "stage" in f.columns:
                    sub = f.loc[missing]
                    for term, idx in sub.groupby("term").groups.items():
                        labels = _grade_source(f.loc[idx], r.system)
                        sg = grade_from_label(labels, term)
                        f.loc[idx, "stage"] = sg["stage"].fillna(f.loc[idx, "stage"]).to_numpy()
                        f.loc[idx, "grade"] = sg["grade"].to_numpy()
                if r.report.get("term") in (None, "") and f["term"].notna().any():
                    r.report["term"] = ",".join(sorted(f["term"].dropna().unique()))
        if as_of_date and "id_reason" in f.columns:
            _born_after(f, as_of_date)
        r.frame = f
    return results


# ------------------------------------------------------------------------------------------------ sheets
def _born_after(f: pd.DataFrame, as_of: _dt.date) -> None:
    ok = _np_bool(pc.equal(_arr(f["id_reason"]), "ok"))
    if not ok.any():
        return
    # digits 7-14 of a valid ID are its birth date: compare as YYYYMMDD text
    birth = pc.utf8_slice_codeunits(_arr(f["id_number"]), 6, 14)
    late = ok & _np_bool(pc.greater(birth, as_of.strftime("%Y%m%d")))
    if late.any():
        f.loc[late, "id_valid"] = False
        f.loc[late, "id_reason"] = "bad_birthdate"


def _grade_source(f: pd.DataFrame, system: str) -> pd.Series:
    labels = f["grade_label"].astype("string")
    if system == "aid" and "stage_raw" in f.columns:
        stage = f["stage_raw"].astype("string")
        has_stage = labels.str.contains(r"小学|初中|高中|中职|高职|初[一二三]|高[一二三]|\d{4}级", regex=True).fillna(False)
        labels = labels.where(has_stage | stage.isna(), stage.fillna("") + labels.fillna(""))
        labels = labels.fillna(stage)
    return labels


def _path_term(path: Path) -> str | None:
    for part in [path.stem, *[p.name for p in path.parents][:3]]:
        t = parse_term_text(part)
        if t:
            return t
    return None


def _parse_sheet(path: Path, file: str, sheet: RawSheet) -> SheetResult:
    grid = sheet.grid
    where = _where(file, sheet.name)
    header = find_header(grid)
    if header is None:
        found = header_texts(grid)
        rec = recognize([normalize_header(h) for h in found])
        return _unplaced(file, sheet.name, _unknown_message(where, found, rec.scores))
    rec = recognize(header.keys)
    if rec.system is None:
        found = [t for t in header.texts if t]
        return _unplaced(file, sheet.name, _unknown_message(where, found, rec.scores))
    spec = systems()[rec.system]
    start = header.rows[-1] + 1
    positions = np.flatnonzero(grid.nonempty(start))   # fully empty rows below the header are not data rows
    rows = (positions + start + 1).astype("int64")       # Excel row numbers
    data = _Data(grid, start, positions)
    title_term = None
    for t in header.title + ([sheet.name] if sheet.name else []):
        title_term = parse_term_text(t)
        if title_term:
            break
    path_term = _path_term(path)
    frame, rejects, warnings = _build_frame(spec, data, rows, header, rec.mapping, file, sheet,
                                            title_term or path_term)
    rows_read = len(rows)
    n_rej = int(rejects["row"].nunique()) if len(rejects) else 0
    terms = sorted(frame["term"].dropna().unique()) if "term" in frame.columns and len(frame) else []
    unmapped = [t for j, t in enumerate(header.texts) if t and j not in rec.mapping]
    msg = f"{where}识别为「{spec.label}」：读取 {rows_read} 行，载入 {len(frame)} 行，拒绝 {n_rej} 行"
    if sheet.message:
        msg += f"；{sheet.message}"
    if len(warnings):
        msg += f"；{len(warnings)} 个值无法识别（已置空）"
    report = _report(file, sheet.name, spec.key, msg, term=",".join(terms) or None,
                     header_row=header.rows[-1] + 1, rows_read=rows_read, rows_loaded=len(frame),
                     rows_rejected=n_rej, title=" / ".join(header.title)[:200] or None,
                     unmapped_columns="、".join(unmapped)[:500] or None)
    assert rows_read == len(frame) + n_rej, (rows_read, len(frame), n_rej)
    return SheetResult(spec.key, frame, report, rejects, warnings)


class _Data:
    """The data rows of a sheet (below the header, empty rows dropped), column by column on demand."""

    def __init__(self, grid, start: int, positions: np.ndarray):
        self.grid, self.start, self.positions = grid, start, positions
        self.columns = list(range(grid.ncols))
        self._cache: dict[int, pd.Series] = {}

    def __getitem__(self, j: int) -> pd.Series:
        if j not in self._cache:
            self._cache[j] = self.grid.column(j, self.start, self.positions)
        return self._cache[j]

    def __len__(self) -> int:
        return len(self.positions)


def grid_ncols(data: _Data) -> int:
    return data.grid.ncols


def _unknown_message(where: str, found: list[str], scores: dict[str, int]) -> str:
    heads = "、".join(found[:15]) + ("…" if len(found) > 15 else "") if found else "（未找到表头）"
    best = max(scores, key=lambda k: scores[k]) if scores and max(scores.values()) > 0 else None
    close = f"；最接近「{systems()[best].label}」（匹配 {scores[best]} 列）" if best else "；与任何已知系统都不匹配"
    return f"{where}无法识别数据类型（表头不符合任何已知系统）。找到的表头：{heads}{close}"


# column types parsed from text, with the Chinese problem named when a non-empty value cannot be read
_PARSED = {
    "date": (parse_dates, "日期无法识别"),
    "year_month": (parse_year_month, "年月无法识别"),
    "amount": (parse_amount, "金额无法识别"),
}


def _build_frame(spec: SystemSpec, data: pd.DataFrame, rows: np.ndarray, header: Header, mapping: dict[int, str],
                 file: str, sheet: RawSheet, default_term: str | None):
    n = len(data)
    idx = pd.RangeIndex(n)
    raw: dict[str, pd.Series] = {}
    for j, col in mapping.items():
        raw[col] = data[j].reset_index(drop=True)
    rej_rows: dict[int, tuple[str, str, str]] = {}   # position -> (column header, value, reason)
    warn: list[tuple[int, str, str, str]] = []
    col_header = {col: header.texts[j] or col for j, col in mapping.items()}

    # 1. repeated header rows (a header pasted again between blocks)
    if mapping:
        hits = np.zeros(n, dtype=np.int64)
        last = header.rows[-1]
        last_row = sheet.grid.head(last + 1)[last]
        for j, col in mapping.items():
            cell = last_row[j] if j < len(last_row) else ""
            texts = [str(x) for x in {header.texts[j], cell} if x]
            if texts:
                hits += _np_bool(pc.is_in(_arr(raw[col]), value_set=pa.array(texts, type=pa.string())))
        rep = hits >= max(2, (len(mapping) + 1) // 2)
        for p in np.flatnonzero(rep):
            rej_rows.setdefault(int(p), ("表头", "", "重复的表头行"))

    # 2. total / subtotal rows: a cell in the first columns starting with 合计/小计/总计
    first_cols = list(range(min(6, grid_ncols(data))))
    for j in first_cols:
        s = data[j]
        hit = _np_bool(pc.match_substring_regex(_arr(s), r"^\s*(合\s*计|小\s*计|总\s*计|共\s*计|总合计)"))
        for p in np.flatnonzero(hit):
            if int(p) not in rej_rows:
                h = header.texts[j] if j < len(header.texts) and header.texts[j] else f"第{j + 1}列"
                rej_rows[int(p)] = (h, str(s.iloc[p]), f"合计/小计行（列「{h}」为“{s.iloc[p]}”）")

    # 3. neither name nor ID
    person_cols = [c for c in spec.person if c in raw]
    if person_cols:
        has_person = np.zeros(n, dtype=bool)
        for c in person_cols:
            has_person |= raw[c].notna().to_numpy()
        names = "、".join(col_header[c] for c in person_cols)
        for p in np.flatnonzero(~has_person):
            rej_rows.setdefault(int(p), (names, "", f"缺少身份信息：「{names}」均为空"))

    out: dict[str, pd.Series] = {}
    for col, s in raw.items():
        ctype = spec.col_type(col)
        name = spec.canonical_name(col)
        if ctype in ("text", "name"):
            out[name] = s.astype("string")
        elif ctype == "id":
            out[name] = _clean_id_text(s)
        elif ctype == "id_number":
            out[name] = s.astype("string")
        elif ctype in _PARSED:
            parse, problem = _PARSED[ctype]
            parsed = parse(s)
            bad = s.notna().to_numpy() & parsed.isna().to_numpy()
            _flag(bad, col, s, spec, rej_rows, warn, col_header, problem)
            out[name] = parsed
        elif ctype == "int":
            out[name] = parse_int(s)
        elif ctype == "bool":
            b = decode_bool(s)
            bad = s.notna().to_numpy() & b.isna().to_numpy()
            _flag(bad, col, s, spec, rej_rows, warn, col_header, "是否值无法识别")
            out[name] = b
        elif ctype.startswith("code:"):
            set_name = ctype.split(":", 1)[1]
            v = decode_code(s, set_name)
            dflt = code_default(set_name)
            if dflt:
                v = v.fillna(dflt)
            out[name] = v
        elif ctype in ("grade_label", "term_text"):
            out[name] = s.astype("string")
        else:
            out[name] = s.astype("string")
    # required-but-empty parse columns (e.g. an activity without a date cannot be used)
    for col in spec.must_parse:
        if col in raw:
            empty = raw[col].isna().to_numpy()
            for p in np.flatnonzero(empty):
                rej_rows.setdefault(int(p), (col_header[col], "", f"「{col_header[col]}」为空"))

    frame = pd.DataFrame(out, index=idx)
    _derive(spec.key, frame, raw, default_term, file, sheet, header, data, mapping)

    # IDs: check (as_of applied in finalize); float cells of xlsx/xls are shown as what Excel kept
    if "id_number" in frame.columns:
        _check_ids(frame, spec.key, sheet, rows)
    frame["source_file"] = pd.Series(file, index=idx, dtype="string")
    frame["source_sheet"] = pd.Series(sheet.name, index=idx, dtype="string")
    frame["source_row"] = pd.Series(rows, index=idx, dtype="Int64")

    keep = np.ones(n, dtype=bool)
    if rej_rows:
        keep[list(rej_rows)] = False
    frame = conform(frame[keep].reset_index(drop=True), spec.key)
    rejects = pd.DataFrame(
        {
            "file": file, "sheet": sheet.name,
            "row": [int(rows[p]) for p in sorted(rej_rows)],
            "column": [rej_rows[p][0] for p in sorted(rej_rows)],
            "value": [rej_rows[p][1] for p in sorted(rej_rows)],
            "reason": [rej_rows[p][2] for p in sorted(rej_rows)],
        },
        columns=REJECT_COLUMNS,
    ) if rej_rows else _empty_rejects()
    warn = [w for w in warn if w[0] not in rej_rows]
    warnings = pd.DataFrame(
        {"file": file, "sheet": sheet.name, "row": [int(rows[p]) for p, *_ in warn],
         "column": [w[1] for w in warn], "value": [w[2] for w in warn], "reason": [w[3] for w in warn]},
        columns=REJECT_COLUMNS,
    ) if warn else _empty_rejects()
    for df in (rejects, warnings):
        df["row"] = df["row"].astype("Int64")
    return frame, rejects, warnings


def _flag(bad: np.ndarray, col: str, s: pd.Series, spec: SystemSpec, rej_rows: dict, warn: list,
          col_header: dict, what: str) -> None:
    """Unparseable values: a reject when the column must parse, else a warning (value set to NA)."""
    if not bad.any():
        return
    h = col_header[col]
    for p in np.flatnonzero(bad):
        v = str(s.iloc[p])
        if col in spec.must_parse:
            rej_rows.setdefault(int(p), (h, v, f"「{h}」{what}：{v}"))
        else:
            warn.append((int(p), h, v, f"「{h}」{what}：{v}，已置空"))


_ID_TEXT = re.compile(r'^="?(.*?)"?$')


def _arr(s: pd.Series) -> pa.Array:
    """The pyarrow string array behind a string Series (converted when needed)."""
    a = s.array
    if isinstance(a, pd.arrays.ArrowStringArray) or isinstance(s.dtype, pd.ArrowDtype):
        arr = a._pa_array
    else:
        arr = pa.array(s.astype(object).where(s.notna(), None).to_numpy(dtype=object), type=pa.string(),
                       from_pandas=True)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    return arr if pa.types.is_string(arr.type) else arr.cast(pa.string())


def _np_bool(arr) -> np.ndarray:
    return pc.fill_null(arr, False).to_numpy(zero_copy_only=False).astype(bool)


def _clean_id_text(s: pd.Series) -> pd.Series:
    """ID-like text columns (学籍号, 户编号 …): no apostrophe / ="…" wrapper / spaces, full width folded."""
    arr = _arr(s)
    nonascii = np.flatnonzero(~_np_bool(pc.string_is_ascii(arr)) & _np_bool(pc.is_valid(arr)))
    if len(nonascii):
        fixed = pc.utf8_normalize(arr.take(pa.array(nonascii)), form="NFKC")
        full = arr.to_pylist()
        for i, v in zip(nonascii, fixed.to_pylist()):
            full[i] = v
        arr = pa.array(full, type=pa.string())
    if pc.any(pc.match_substring_regex(arr, r"[^0-9A-Za-z._-]")).as_py():
        arr = pc.replace_substring_regex(arr, r'^=?"(.*)"$', r"\1")
        arr = pc.replace_substring_regex(arr, r"^['`‘’]+|\s+", "")
        arr = pc.if_else(pc.equal(arr, ""), pa.scalar(None, pa.string()), arr)
    return pd.Series(pd.arrays.ArrowStringArray(arr), index=s.index, copy=False)


def _float_candidates(vals: pd.Series) -> np.ndarray:
    """Positions of values that are the exact integer digits of a float64 (what a reader shows of a number
    cell): 16-20 digits, equal to the float64 they parse to."""
    arr = _arr(vals)
    digits = _np_bool(pc.match_substring_regex(arr, r"^[0-9]{16,19}$"))
    pos = np.flatnonzero(digits)
    if not len(pos):
        return pos
    sub = arr.take(pa.array(pos))
    as_int = pc.cast(sub, pa.uint64(), safe=False).to_numpy(zero_copy_only=False)
    as_float = pc.cast(sub, pa.float64()).to_numpy(zero_copy_only=False)
    exact = (as_float < 1.8e19) & (as_float.astype(np.uint64) == as_int)
    return pos[exact]


def _check_ids(frame: pd.DataFrame, system: str, sheet: RawSheet, rows: np.ndarray) -> None:
    arr = _arr(frame["id_number"])
    if pc.any(pc.match_substring(arr, '"')).as_py():
        arr = pc.replace_substring_regex(arr, r'^=?"(.*)"$', r"\1")
    vals = pd.Series(pd.arrays.ArrowStringArray(arr), index=frame.index, copy=False)
    chk = _ids.check(vals)
    if sheet.xlsx_path is not None:
        # an xlsx tells number cells from text: every ID cell stored as a number is precision_lost
        cand = _float_candidates(vals)
        if len(cand):
            # Excel keeps 15 significant digits of a typed number (the float is the nearest to them); other
            # writers keep more, and then the check fails: only such values are looked up in the sheet XML
            bad = (chk["reason"] != "ok").to_numpy(dtype=bool)
            texts = arr.take(pa.array(cand, type=pa.int64())).to_pylist()   # the few candidates only
            floats = [float(t) for t in texts]
            keep = [bool(bad[p]) or float(f"{x:.15g}") == x for p, x in zip(cand, floats)]
            floats = [x for x, k in zip(floats, keep) if k]
            cand = cand[np.array(keep, dtype=bool)].astype(np.int64)
        if len(cand):
            values = {int(r): x for r, x in zip(rows[cand], floats)}
            hits = number_cells(sheet.xlsx_path, sheet.name, values, sheet.xml)
            is_hit = [int(r) in hits for r in rows[cand]]
            pos = cand[np.array(is_hit, dtype=bool)]
            if len(pos):
                re_chk = _ids.check(pd.Series([repr(x) for x, h in zip(floats, is_hit) if h], dtype="string"))
                chk = chk.copy()
                for c in ("id_number", "valid", "reason"):
                    col = chk[c].copy()
                    col.iloc[pos] = re_chk[c].to_numpy()
                    chk[c] = col
    elif sheet.numeric_cells:
        # a number cell of an xlsx/xls: the reader shows the float's integer digits; where the check fails and
        # the text is exactly a float64 value, it was a number in Excel -> check its float form (precision_lost)
        cand = np.flatnonzero(chk["reason"].isin(["bad_checksum", "bad_birthdate", "bad_region"]).to_numpy(bool))
        if len(cand):
            sub = chk["id_number"].iloc[cand]
            floats = {}
            for p, v in zip(cand, sub):  # a loop over the few failing IDs only
                if isinstance(v, str) and v.isdigit() and 16 <= len(v) <= 20 and int(float(v)) == int(v):
                    floats[p] = float(v)
            if floats:
                pos = np.array(list(floats))
                # the float's shortest repr (6.10928200801011e+17): ids treats float-looking text as precision_lost
                re_chk = _ids.check(pd.Series([repr(x) for x in floats.values()], dtype="string"))
                chk = chk.copy()
                for c in ("id_number", "valid", "reason"):
                    col = chk[c].copy()
                    col.iloc[pos] = re_chk[c].to_numpy()
                    chk[c] = col
    if system == "suspects":
        frame["id_number"] = vals.str.strip()  # as listed, not repaired
    else:
        frame["id_number"] = chk["id_number"].astype("string").to_numpy()
    frame["id_valid"] = chk["valid"].astype("boolean").to_numpy()
    frame["id_reason"] = chk["reason"].astype("string").to_numpy()


def _derive(system: str, f: pd.DataFrame, raw: dict[str, pd.Series], default_term: str | None, file: str,
            sheet: RawSheet, header: Header, data: pd.DataFrame, mapping: dict[int, str]) -> None:
    n = len(f)
    if system in ("registry", "aid"):
        term = pd.Series(pd.NA, index=f.index, dtype="string")
        if system == "aid" and ("school_year_raw" in raw or "semester_raw" in raw):
            combo = (raw.get("school_year_raw", pd.Series("", index=f.index)).fillna("").astype(str) + " "
                     + raw.get("semester_raw", pd.Series("", index=f.index)).fillna("").astype(str))
            term = map_unique(combo.str.strip().replace("", pd.NA), _term_of_text, "string")
        elif "term" in f.columns:
            term = map_unique(f["term"], _term_of_text, "string")
        if default_term:
            term = term.fillna(default_term)
        f["term"] = term
        for c in ("school_year_raw", "semester_raw"):
            if c in f.columns:
                del f[c]
    if system in ("registry", "aid", "struggling") and "grade_label" in f.columns:
        labels = _grade_source(f, system)
        if "term" in f.columns:
            stage = pd.Series(pd.NA, index=f.index, dtype="string")
            grade = pd.Series(pd.NA, index=f.index, dtype="Int64")
            for term, idx in f.groupby(f["term"].fillna("")).groups.items():
                sg = grade_from_label(labels.loc[idx], term or None)
                stage.loc[idx] = sg["stage"].to_numpy()
                grade.loc[idx] = sg["grade"].to_numpy()
        else:
            sg = grade_from_label(labels, None)
            stage, grade = sg["stage"], sg["grade"]
        f["stage"] = stage
        f["grade"] = grade
    elif system == "aid" and "stage_raw" in f.columns:
        f["stage"] = grade_from_label(f["stage_raw"], None)["stage"]
    if system == "roster" and "school_status_raw" in f.columns:
        sg = roster_school_status(f["school_status_raw"])
        f["stage"] = sg["stage"]
        f["grade"] = sg["grade"]
    if system in ("registry", "aid", "pairs") and "school_name" in f.columns:
        f["town"] = town_from_school(f["school_name"], f["town"] if "town" in f.columns else None)
    if system == "pairs" and "school_name" in f.columns:
        ts = f["teacher_school"] if "teacher_school" in f.columns else pd.Series(pd.NA, index=f.index, dtype="string")
        f["teacher_school"] = ts.fillna(f["school_name"])
    if system == "aid" and "item_raw" in f.columns:
        f["item"] = _aid_items(f["item_raw"])
    if system == "ledger" and "reason" in f.columns:
        raw_reason = raw["reason"].astype("string")
        status = raw_reason.str.extract(r"(劝返中|已劝返)", expand=False).astype("string")
        if "dropout_status" in f.columns:
            f["dropout_status"] = f["dropout_status"].fillna(status)
        else:
            f["dropout_status"] = status
    if system == "suspects":
        if "category" in f.columns:
            f["category_key"] = suspect_category_key(f["category"])
        if "list_id" not in f.columns or f["list_id"].isna().all():
            f["list_id"] = pd.Series(Path(file).stem + (f"/{sheet.name}" if sheet.name else ""), index=f.index,
                                     dtype="string")
        extra_cols = [(j, header.texts[j]) for j in data.columns if j not in mapping and j < len(header.texts)
                      and header.texts[j]]
        if extra_cols:
            vals = {h: data[j].to_numpy(dtype=object) for j, h in extra_cols}
            f["extra"] = [
                {h: (None if v[i] is pd.NA or v[i] is None else str(v[i])) for h, v in vals.items()}
                for i in range(n)
            ]
        else:
            f["extra"] = [{} for _ in range(n)]


def _term_of_text(v: str):
    return parse_term_text(v)


def _aid_items(raw: pd.Series) -> pd.Series:
    try:
        from ..aid import canonical_item
    except Exception:  # noqa: BLE001 - aid module not available: items stay unknown
        return pd.Series(pd.NA, index=raw.index, dtype="string")
    codes, uniques = pd.factorize(raw, use_na_sentinel=True)
    if len(uniques) == 0:
        return pd.Series(pd.NA, index=raw.index, dtype="string")
    mapped = canonical_item(pd.Series(list(uniques), dtype="string")).to_numpy(dtype=object)
    arr = np.array([*mapped, pd.NA], dtype=object)
    codes = np.where(codes < 0, len(mapped), codes)
    return pd.Series(arr[codes], index=raw.index, dtype="string")


def extra_to_json(frame: pd.DataFrame) -> pd.DataFrame:
    """Suspects' `extra` dicts -> JSON text (for parquet)."""
    if "extra" in frame.columns:
        frame = frame.copy()
        frame["extra"] = pd.Series([json.dumps(x, ensure_ascii=False) if isinstance(x, dict) else None
                                    for x in frame["extra"]], index=frame.index, dtype="string")
    return frame


def extra_from_json(frame: pd.DataFrame) -> pd.DataFrame:
    if "extra" in frame.columns:
        frame = frame.copy()
        frame["extra"] = pd.Series([json.loads(x) if isinstance(x, str) else {} for x in frame["extra"]],
                                   index=frame.index, dtype=object)
    return frame
