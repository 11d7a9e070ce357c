"""Raw readers: one file -> sheets as grids of text (every cell a string, nothing guessed as a number).

A grid is a DataFrame with integer columns 0..n-1 and index 0..m-1 where index i is Excel row i + 1 (leading
empty rows kept, so row numbers are the ones Excel shows). Cells are pandas strings (pyarrow), stripped, NA when
empty. `numeric_cells` says whether the source could hold number cells (xlsx / xls): only then can an ID have
gone through a float.
"""

from __future__ import annotations

import codecs
import csv
import datetime as _dt
import io
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

STRING = pd.StringDtype("pyarrow")

EXCEL_EXTS = {".xlsx", ".xlsm", ".xls", ".xlsb", ".ods"}
TEXT_EXTS = {".csv", ".txt", ".tsv"}
SUPPORTED_EXTS = EXCEL_EXTS | TEXT_EXTS


class SourceError(Exception):
    """A file that cannot be read at all; the message is Chinese and meant for the report."""


@dataclass
class RawSheet:
    name: str
    grid: Grid | None
    numeric_cells: bool
    message: str = ""
    xlsx_path: Path | None = None   # the workbook, when it is an xlsx (number cells can be told from text)
    xml: bytes | None = None        # its worksheet XML, when already read (number_cells reads it otherwise)


# ------------------------------------------------------------------------------------------------ helpers
_TRIM = " \t\r\n\u3000\u00a0\ufeff"


def arrow_text(arr) -> pa.Array:
    """A column as a pyarrow string array, trimmed, empty -> null."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if not pa.types.is_string(arr.type):
        arr = arr.cast(pa.string())
    arr = pc.utf8_trim(arr, characters=_TRIM)
    return pc.if_else(pc.equal(arr, ""), pa.scalar(None, pa.string()), arr)


def text_series(arr: pa.Array, index=None) -> pd.Series:
    """Zero-copy pandas string Series over a pyarrow string array."""
    return pd.Series(pd.arrays.ArrowStringArray(arr), index=index, copy=False)


class Grid:
    """A sheet's cells as text columns (pyarrow string arrays); row i is Excel row i + 1. Cleaning (trim,
    blank -> NA) is done per column on demand, so unused columns cost nothing."""

    def __init__(self, columns: list[pa.Array], nrows: int, blank_is_null: bool = False):
        self.columns = [c.combine_chunks() if isinstance(c, pa.ChunkedArray) else c for c in columns]
        self.columns = [c if pa.types.is_string(c.type) else c.cast(pa.string()) for c in self.columns]
        self.nrows = nrows
        self.ncols = len(columns)
        self.blank_is_null = blank_is_null  # blank cells are already null (fastexcel whitespace_as_null)

    def __len__(self) -> int:
        return self.nrows

    def head(self, n: int) -> list[list[str]]:
        """First n rows as lists of trimmed text ("" when empty)."""
        n = min(n, self.nrows)
        cols = [arrow_text(c.slice(0, n)).to_pylist() for c in self.columns]
        return [[(col[r] or "") for col in cols] for r in range(n)]

    def nonempty(self, start: int) -> np.ndarray:
        """Rows from `start` on that have at least one non-blank cell."""
        out = np.zeros(max(self.nrows - start, 0), dtype=bool)
        for c in self.columns:
            part = c.slice(start)
            if part.null_count == len(part):
                continue
            if self.blank_is_null:
                out |= pc.is_valid(part).to_numpy(zero_copy_only=False)
            else:
                out |= pc.fill_null(pc.invert(pc.match_substring_regex(part, r"^[\s\x{3000}\x{a0}\x{feff}]*$")),
                                    False).to_numpy(zero_copy_only=False)
        return out

    def column(self, j: int, start: int, rows: np.ndarray | None = None) -> pd.Series:
        """Column j from row `start`, only the given row positions (relative to start), cleaned."""
        part = self.columns[j].slice(start)
        if rows is not None and not (len(rows) == len(part) and (not len(rows) or rows[-1] == len(rows) - 1)):
            part = part.take(pa.array(rows, type=pa.int64()))
        return text_series(arrow_text(part))

    def is_empty(self) -> bool:
        return self.nrows == 0 or not self.nonempty(0).any()


def grid_from_arrays(columns: list, nrows: int, blank_is_null: bool = False) -> Grid | None:
    g = Grid(columns, nrows, blank_is_null)
    return None if g.is_empty() else g


def clean_grid(df: pd.DataFrame) -> pd.DataFrame:
    """Columns 0..n-1, strings (pyarrow), stripped of spaces / full-width spaces / tabs, NA when empty."""
    out = {}
    for j, col in enumerate(df.columns):
        s = df[col]
        if isinstance(s.dtype, pd.StringDtype) and s.dtype.storage == "pyarrow" or isinstance(s.dtype, pd.ArrowDtype):
            arr = s.array._pa_array
        else:
            arr = pa.array(s.astype(object).where(s.notna(), None).to_numpy(dtype=object), type=pa.string(),
                           from_pandas=True)
        out[j] = text_series(arrow_text(arr))
    return pd.DataFrame(out, index=pd.RangeIndex(len(df)))


def _from_arrow(tbl: pa.Table) -> Grid | None:
    return grid_from_arrays([tbl.column(j) for j in range(tbl.num_columns)], tbl.num_rows, blank_is_null=True)


def _cell_text(v) -> object:
    """A python cell value (calamine / xlrd / openpyxl) -> the same text fastexcel would give."""
    if v is None or v == "":
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        if np.isfinite(v) and v == int(v) and abs(v) < 1e21:
            return str(int(v))
        return repr(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, _dt.datetime):
        return v.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(v, _dt.date):
        return v.strftime("%Y-%m-%d")
    if isinstance(v, _dt.time):
        return v.strftime("%H:%M:%S")
    return str(v)


def _grid_from_rows(rows: list[list]) -> Grid | None:
    width = max((len(r) for r in rows), default=0)
    cols = [pa.array([(_cell_text(r[j]) if j < len(r) else None) for r in rows], type=pa.string())
            for j in range(width)]
    return grid_from_arrays(cols, len(rows))


# ------------------------------------------------------------------------------------------------ Excel
def _looks_like_zip(head: bytes) -> bool:
    return head[:4] == b"PK\x03\x04"


def _looks_like_ole(head: bytes) -> bool:
    return head[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def sheet_xml(path: Path, sheet_name: str) -> bytes | None:
    """The worksheet XML of `sheet_name` in an xlsx (decompressed), or None when it cannot be found."""
    import re
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            wb = z.read("xl/workbook.xml").decode("utf-8", "replace")
            rels = z.read("xl/_rels/workbook.xml.rels").decode("utf-8", "replace")
            rid = None
            for m in re.finditer(r"<(?:\w+:)?sheet\b([^>]*)/?>", wb):
                attrs = m.group(1)
                name = re.search(r'\bname="([^"]*)"', attrs)
                if name and _xml_unescape(name.group(1)) == sheet_name:
                    r = re.search(r'\br:id="([^"]*)"|\bid="([^"]*)"', attrs)
                    rid = r.group(1) or r.group(2) if r else None
                    break
            if rid is None:
                return None
            target = None
            for m in re.finditer(r"<Relationship\b([^>]*)/?>", rels):
                if re.search(rf'\bId="{re.escape(rid)}"', m.group(1)):
                    tg = re.search(r'\bTarget="([^"]*)"', m.group(1))
                    target = tg.group(1) if tg else None
                    break
            if not target:
                return None
            target = target.lstrip("/")
            member = target if target.startswith("xl/") else "xl/" + target
            return z.read(member)
    except (KeyError, OSError, zipfile.BadZipFile, EOFError, ValueError):
        return None


def number_cells(path: Path, sheet_name: str, candidates: dict[int, float], data: bytes | None = None) -> set[int]:
    """Rows (Excel numbers) among `candidates` whose cell holding that value is a number cell in the xlsx
    sheet XML (not text): an ID Excel stored as a number. Reads the sheet XML once (or uses `data`, the XML
    already read), only for these rows."""
    import re

    found: set[int] = set()
    if data is None:
        data = sheet_xml(path, sheet_name)
    if data is None:
        return found
    cell = re.compile(rb"<(?:\w+:)?c\b([^>]*)>(?:<(?:\w+:)?f[^>]*>.*?</(?:\w+:)?f>|<(?:\w+:)?f[^>]*/>)?"
                      rb"<(?:\w+:)?v>([^<]*)</(?:\w+:)?v>")
    pos = 0
    for r in sorted(candidates):
        i = data.find(b'<row r="%d"' % r, pos)
        if i < 0:
            i = data.find(b':row r="%d"' % r, pos)
            if i < 0:
                continue
        j = data.find(b"row>", i + 10)
        seg = data[i: j if j > 0 else len(data)]
        for m in cell.finditer(seg):
            attrs = m.group(1)
            if re.search(rb'\bt="(?:s|str|inlineStr|b|e)"', attrs):
                continue
            try:
                if float(m.group(2)) == candidates[r]:
                    found.add(r)
                    break
            except ValueError:
                continue
        pos = max(pos, j if j > 0 else pos)
    return found


def _xml_unescape(s: str) -> str:
    return s.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"').replace("&apos;", "'").replace(
        "&amp;", "&")


def read_excel(path: Path) -> list[RawSheet]:
    """Every sheet of a workbook: fastexcel first, python-calamine, then xlrd (.xls) / openpyxl (.xlsx)."""
    head = path.read_bytes()[:8]
    if not (_looks_like_zip(head) or _looks_like_ole(head)):
        # some systems write HTML or text and name it .xls: read it as such when it decodes as text
        html = read_html_table(path)
        if html is not None:
            return html
        try:
            sheets = read_text(path)
        except SourceError:
            raise SourceError("文件已损坏、被截断或不是有效的 Excel 文件") from None
        for s in sheets:
            s.message = "该文件扩展名为 Excel，但内容是文本，已按文本读取"
        return sheets
    errors = []
    try:
        return _read_fastexcel(path)
    except Exception as exc:  # noqa: BLE001 - every reader failure falls through to the next reader
        errors.append(f"fastexcel: {exc}")
    try:
        return _read_calamine(path)
    except Exception as exc:  # noqa: BLE001
        errors.append(f"calamine: {exc}")
    try:
        if _looks_like_ole(head):
            return _read_xlrd(path)
        return _read_openpyxl(path)
    except Exception as exc:  # noqa: BLE001
        errors.append(f"{'xlrd' if _looks_like_ole(head) else 'openpyxl'}: {exc}")
    raise SourceError("文件已损坏、被截断或不是有效的 Excel 文件（" + "；".join(e[:120] for e in errors) + "）")


def _read_fastexcel(path: Path) -> list[RawSheet]:
    import fastexcel

    reader = fastexcel.read_excel(str(path))
    out = []
    for i, name in enumerate(reader.sheet_names):
        try:
            sheet = reader.load_sheet(i, header_row=None, skip_rows=0, dtypes="string", whitespace_as_null=True)
            tbl = sheet.to_arrow()
        except Exception as exc:  # noqa: BLE001
            msg = str(exc)
            if "empty" in msg.lower() or "no data" in msg.lower():
                out.append(RawSheet(str(name), None, True))
                continue
            # one bad sheet: try calamine for that sheet only
            try:
                rows = _calamine_rows(path, i)
            except Exception:  # noqa: BLE001
                raise exc from None
            out.append(RawSheet(str(name), _grid_from_rows(rows) if rows else None, True))
            continue
        out.append(RawSheet(str(name), _from_arrow(tbl) if tbl.num_rows else None, True,
                            xlsx_path=path if _looks_like_zip(path.read_bytes()[:4]) else None))
    return out


def _calamine_rows(path: Path, index: int) -> list[list]:
    from python_calamine import CalamineWorkbook

    wb = CalamineWorkbook.from_path(str(path))
    sheet = wb.get_sheet_by_index(index)
    return sheet.to_python(skip_empty_area=False)


def _read_calamine(path: Path) -> list[RawSheet]:
    from python_calamine import CalamineWorkbook

    wb = CalamineWorkbook.from_path(str(path))
    out = []
    for i, name in enumerate(wb.sheet_names):
        rows = wb.get_sheet_by_index(i).to_python(skip_empty_area=False)
        out.append(RawSheet(str(name), _grid_from_rows(rows) if rows else None, True))
    return out


def _read_xlrd(path: Path) -> list[RawSheet]:
    import xlrd

    book = xlrd.open_workbook(str(path))
    out = []
    for sh in book.sheets():
        rows = []
        for r in range(sh.nrows):
            row = []
            for c in range(sh.ncols):
                cell = sh.cell(r, c)
                if cell.ctype == xlrd.XL_CELL_DATE:
                    try:
                        row.append(xlrd.xldate.xldate_as_datetime(cell.value, book.datemode))
                    except Exception:  # noqa: BLE001
                        row.append(cell.value)
                elif cell.ctype == xlrd.XL_CELL_BOOLEAN:
                    row.append(bool(cell.value))
                elif cell.ctype in (xlrd.XL_CELL_EMPTY, xlrd.XL_CELL_BLANK):
                    row.append(None)
                else:
                    row.append(cell.value)
            rows.append(row)
        out.append(RawSheet(sh.name, _grid_from_rows(rows) if rows else None, True))
    return out


def _read_openpyxl(path: Path) -> list[RawSheet]:
    import openpyxl

    wb = openpyxl.load_workbook(str(path), read_only=True, data_only=True)
    out = []
    for ws in wb.worksheets:
        rows = [list(r) for r in ws.iter_rows(values_only=True)]
        out.append(RawSheet(ws.title, _grid_from_rows(rows) if rows else None, True))
    wb.close()
    return out


# ------------------------------------------------------------------------------------------------ HTML
class _TableParser(HTMLParser):
    """Rows of the first <table> of an HTML page (colspan repeated as empty cells)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.rows: list[list[str]] = []
        self.row: list[str] | None = None
        self.cell: list[str] | None = None
        self.span = 1
        self.depth = 0

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.depth += 1
        elif tag == "tr" and self.depth:
            self.row = []
        elif tag in ("td", "th") and self.row is not None:
            self.cell = []
            try:
                self.span = max(1, int(dict(attrs).get("colspan") or 1))
            except ValueError:
                self.span = 1
        elif tag == "br" and self.cell is not None:
            self.cell.append(" ")

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.row is not None and self.cell is not None:
            self.row.append("".join(self.cell).strip())
            self.row.extend([""] * (self.span - 1))
            self.cell = None
        elif tag == "tr" and self.row is not None:
            self.rows.append(self.row)
            self.row = None
        elif tag == "table":
            self.depth = max(0, self.depth - 1)

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)


def read_html_table(path: Path) -> list[RawSheet] | None:
    """An HTML page with a table saved under an Excel name (a common "导出 Excel" of web systems), else None."""
    data = path.read_bytes()
    head = data[:2048].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if not (head.startswith(b"<") and (b"<table" in data[:200000].lower() or b"<html" in head)):
        return None
    try:
        text, _ = decode_bytes(data)
    except SourceError:
        return None
    parser = _TableParser()
    parser.feed(text)
    rows = [[(c or None) for c in r] for r in parser.rows]
    sheet = RawSheet("", _grid_from_rows(rows) if rows else None, False)
    sheet.message = "该文件扩展名为 Excel，但内容是网页表格（HTML），已按网页表格读取"
    return [sheet]


# ------------------------------------------------------------------------------------------------ text
DELIMITERS = [",", "\t", ";", "|"]


def decode_bytes(data: bytes) -> tuple[str, str]:
    """(text, encoding): BOM UTF-8, UTF-16 LE/BE (BOM or NUL pattern), UTF-8, else GB18030; binary -> error."""
    if data.startswith(codecs.BOM_UTF8):
        return data[3:].decode("utf-8", errors="replace"), "utf-8-sig"
    if data.startswith(codecs.BOM_UTF16_LE):
        return data[2:].decode("utf-16-le", errors="replace"), "utf-16-le"
    if data.startswith(codecs.BOM_UTF16_BE):
        return data[2:].decode("utf-16-be", errors="replace"), "utf-16-be"
    head = data[:4096]
    if b"\x00" in head:
        even, odd = head[0::2], head[1::2]
        if odd.count(0) > 0.3 * len(odd) and even.count(0) < 0.05 * len(even):
            return data.decode("utf-16-le", errors="replace"), "utf-16-le"
        if even.count(0) > 0.3 * len(even) and odd.count(0) < 0.05 * len(odd):
            return data.decode("utf-16-be", errors="replace"), "utf-16-be"
        raise SourceError("不是文本文件（含二进制内容），无法按 CSV/文本读取")
    try:
        text, enc = data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        try:
            text, enc = data.decode("gb18030"), "gb18030"
        except UnicodeDecodeError:
            text, enc = data.decode("gb18030", errors="replace"), "gb18030"
            if text.count("\ufffd") > max(3, len(text) // 200):
                raise SourceError("不是文本文件（无法识别的编码或二进制内容）") from None
    sample = text[:20000]
    ctrl = sum(1 for ch in sample if ord(ch) < 32 and ch not in "\t\r\n")
    if ctrl > max(2, len(sample) // 100):
        raise SourceError("不是文本文件（含二进制内容），无法按 CSV/文本读取")
    return text, enc


def sniff_delimiter(lines: list[str]) -> str:
    """The delimiter among , TAB ; | that splits the sample lines most consistently into several fields."""
    best, best_score = ",", -1.0
    sample = [ln for ln in lines if ln.strip()][:50]
    for d in DELIMITERS:
        counts = [ln.count(d) for ln in sample]
        if not counts or max(counts) == 0:
            continue
        top = sorted(counts)[len(counts) // 2:]  # the upper half: header and data rows (title rows have none)
        consistent = sum(1 for c in top if c == max(set(top), key=top.count))
        score = max(counts) * consistent / len(top)
        if score > best_score:
            best, best_score = d, score
    return best


def read_text(path: Path) -> list[RawSheet]:
    """A CSV / TXT export as one sheet (name "")."""
    data = path.read_bytes()
    if not data.strip():
        return [RawSheet("", None, False)]
    text, _enc = decode_bytes(data)
    text = text.lstrip("\ufeff")
    if not text.strip():
        return [RawSheet("", None, False)]
    lines = text.splitlines()
    delim = sniff_delimiter(lines[:200])
    width = 1 + max(ln.count(delim) for ln in lines) if lines else 1
    try:
        df = pd.read_csv(
            io.StringIO(text), sep=delim, header=None, names=list(range(width)), dtype=str,
            keep_default_na=False, na_filter=False, skip_blank_lines=False, engine="c", quotechar='"',
            dtype_backend="pyarrow",
        )
    except Exception:  # noqa: BLE001 - irregular quoting: the csv module is more forgiving
        rows = list(csv.reader(io.StringIO(text), delimiter=delim))
        return [RawSheet("", _grid_from_rows(rows) if rows else None, False)]
    cols = []
    for c in df.columns:
        arr = df[c].array._pa_array if isinstance(df[c].dtype, pd.ArrowDtype) else pa.array(
            df[c].astype(object).to_numpy(dtype=object), type=pa.string(), from_pandas=True)
        cols.append(arr)
    return [RawSheet("", grid_from_arrays(cols, len(df)), False)]


def read_raw(path: Path) -> list[RawSheet]:
    ext = path.suffix.lower()
    if ext in EXCEL_EXTS:
        return read_excel(path)
    if ext in TEXT_EXTS:
        return read_text(path)
    raise SourceError(f"不支持的文件类型（{ext or '无扩展名'}），支持 .xlsx .xlsm .xls .csv .txt")
