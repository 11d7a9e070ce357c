"""A minimal, fast .xlsx writer for the sample exports: whole columns at once (pyarrow string kernels), inline
strings, real Excel dates, numbers, title rows and merged cells. Only what the sample county needs; the one
Excel writer for reports is `workbench.reports`.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '{sheets}'
    '<Override PartName="/xl/styles.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
    '</Types>')
_SHEET_CT = ('<Override PartName="/xl/worksheets/sheet{i}.xml" '
             'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>')
_RELS = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
         '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
         '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
         'officeDocument" Target="xl/workbook.xml"/></Relationships>')
_WB = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
       '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
       'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>{sheets}</sheets>'
       '</workbook>')
_WB_RELS = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">{rels}'
            '<Relationship Id="rIdS" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
            'styles" Target="styles.xml"/></Relationships>')
_STYLES = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
           '<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
           '<numFmts count="1"><numFmt numFmtId="164" formatCode="yyyy-mm-dd"/></numFmts>'
           '<fonts count="2"><font><sz val="11"/><name val="宋体"/></font><font><b/><sz val="11"/><name val="宋体"/>'
           '</font></fonts><fills count="2"><fill><patternFill patternType="none"/></fill>'
           '<fill><patternFill patternType="gray125"/></fill></fills>'
           '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
           '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
           '<cellXfs count="4"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
           '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
           '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/>'
           '<xf numFmtId="49" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/></cellXfs>'
           '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
           '</styleSheet>')
EXCEL_EPOCH = np.datetime64("1899-12-30")


def _join(*parts) -> pa.Array:
    """Element-wise concatenation of arrays and literal strings (all as large_string)."""
    conv = [pa.scalar(p, pa.large_string()) if isinstance(p, str) else
            (p if isinstance(p, pa.Array) else pa.array(p)).cast(pa.large_string()) for p in parts]
    return pc.binary_join_element_wise(*conv, pa.scalar("", pa.large_string()))


def col_letter(i: int) -> str:
    s = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        s = chr(65 + r) + s
    return s


def _escape(arr: pa.Array) -> pa.Array:
    if not pc.any(pc.match_substring_regex(arr, "[&<>]")).as_py():
        return arr
    arr = pc.replace_substring(arr, "&", "&amp;")
    arr = pc.replace_substring(arr, "<", "&lt;")
    return pc.replace_substring(arr, ">", "&gt;")


@dataclass
class Sheet:
    """One worksheet: free rows above the header (titles), one or two header rows, then the data columns.

    `columns`: list of (header, values) where values is a pandas Series of text (str/NA), numbers, datetimes
    (written as real Excel dates) or objects mixing text and floats (floats written as number cells)."""
    name: str
    columns: list
    titles: list = field(default_factory=list)          # each: text (merged over the table width) or list of cells
    group_header: list | None = None                    # two-level header: [(label, n_columns), ...]


def _cells(values: pd.Series, letter: str, rows: pa.Array) -> pa.Array:
    """The XML of one column's cells (empty string where the value is missing)."""
    n = len(values)
    ref = _join(letter, rows)
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        d = values.to_numpy("datetime64[D]")
        ok = ~np.isnat(d)
        serial = pa.array(np.where(ok, (d - EXCEL_EPOCH).astype("int64"), 0)).cast(pa.string())
        out = _join('<c r="', ref, '" s="1"><v>', serial, "</v></c>")
        return pc.if_else(pa.array(ok), out, pa.scalar("", pa.large_string()))
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        f = values.astype("float64").to_numpy()
        ok = ~np.isnan(f)
        f0 = np.where(ok, f, 0.0)
        whole = f0 == np.floor(f0)
        txt = pc.if_else(pa.array(whole), pa.array(f0.astype(np.int64)).cast(pa.string()),
                         pa.array(f0).cast(pa.string()))
        out = _join('<c r="', ref, '"><v>', txt, "</v></c>")
        return pc.if_else(pa.array(ok), out, pa.scalar("", pa.large_string()))
    isnum = np.zeros(n, dtype=bool)
    if values.dtype == object and pd.api.types.infer_dtype(values, skipna=True) not in ("string", "empty"):
        obj = values.to_numpy()
        isnum = np.fromiter((isinstance(v, float) and not np.isnan(v) for v in obj), dtype=bool, count=n)
        if isnum.any():
            num = np.where(isnum, [repr(v) if isinstance(v, float) else "" for v in obj], "")
            values = values.where(~isnum, None)
        values = values.where(values.notna(), None).map(lambda v: v if v is None else str(v))
    arr = pa.array(values.astype("string[pyarrow]"))
    out = _join('<c r="', ref, '" t="inlineStr"><is><t xml:space="preserve">', _escape(arr), "</t></is></c>")
    out = pc.fill_null(out, pa.scalar("", pa.large_string()))
    if isnum.any():
        nout = _join('<c r="', ref, '"><v>', pa.array(num), "</v></c>")
        out = pc.if_else(pa.array(isnum), nout, out)
    return out


def _sheet_xml(sh: Sheet) -> list:
    width = len(sh.columns)
    last = col_letter(width - 1)
    head: list[str] = []
    merges: list[str] = []
    r = 0

    def text_row(r: int, cells: list, style: int = 0) -> str:
        cs = "".join(f'<c r="{col_letter(j)}{r}" t="inlineStr" s="{style}"><is><t>{_esc(str(c))}</t></is></c>'
                     for j, c in enumerate(cells) if c not in (None, ""))
        return f'<row r="{r}">{cs}</row>'

    for t in sh.titles:
        r += 1
        if isinstance(t, str):
            head.append(text_row(r, [t], 2))
            if width > 1:
                merges.append(f"A{r}:{last}{r}")
        else:
            head.append(text_row(r, list(t)))
    if sh.group_header:
        r += 1
        cells, j = [], 0
        for label, k in sh.group_header:
            cells += [label] + [None] * (k - 1)
            if k > 1:
                merges.append(f"{col_letter(j)}{r}:{col_letter(j + k - 1)}{r}")
            j += k
        head.append(text_row(r, cells, 2))
    r += 1
    head.append(text_row(r, [h for h, _ in sh.columns], 2))
    n = len(sh.columns[0][1]) if sh.columns else 0
    rows = pa.array(np.arange(r + 1, r + 1 + n, dtype=np.int64)).cast(pa.string())
    parts = [_cells(pd.Series(v).reset_index(drop=True), col_letter(j), rows) for j, (_, v) in enumerate(sh.columns)]
    body = _join('<row r="', rows, '">', *parts, "</row>\n") if n else None
    xml = [('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>')]
    xml += head
    tail = "</sheetData>"
    if merges:
        tail += f'<mergeCells count="{len(merges)}">' + "".join(f'<mergeCell ref="{m}"/>' for m in merges) + \
                "</mergeCells>"
    tail += "</worksheet>"
    if n:   # the rows' bytes straight from the Arrow buffer (no Python string per row)
        body = body.combine_chunks() if isinstance(body, pa.ChunkedArray) else body
        offsets = np.frombuffer(body.buffers()[1], dtype=np.int64)[body.offset: body.offset + n + 1]
        data = memoryview(body.buffers()[2])[int(offsets[0]): int(offsets[-1])]
    else:
        data = memoryview(b"")
    return ["".join(xml).encode("utf-8"), data, tail.encode("utf-8")]


def _esc(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _info(name: str) -> zipfile.ZipInfo:
    """A zip entry with a fixed timestamp, so the same county gives the same bytes."""
    zi = zipfile.ZipInfo(name, date_time=(2019, 11, 30, 0, 0, 0))
    zi.compress_type = zipfile.ZIP_DEFLATED
    zi._compresslevel = 1   # Python 3.11/3.12 name (3.13: compress_level)
    return zi


def write_xlsx(path: Path, sheets: list[Sheet]) -> Path:
    """Write the sheets to `path` (deflate level 1: fast, still small; fixed timestamps: reproducible bytes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        z.writestr(_info("[Content_Types].xml"), _CONTENT_TYPES.format(
            sheets="".join(_SHEET_CT.format(i=i + 1) for i in range(len(sheets)))))
        z.writestr(_info("_rels/.rels"), _RELS)
        z.writestr(_info("xl/workbook.xml"), _WB.format(sheets="".join(
            f'<sheet name="{_esc(s.name)}" sheetId="{i + 1}" r:id="rId{i + 1}"/>' for i, s in enumerate(sheets))))
        z.writestr(_info("xl/_rels/workbook.xml.rels"), _WB_RELS.format(rels="".join(
            f'<Relationship Id="rId{i + 1}" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
            f'relationships/worksheet" Target="worksheets/sheet{i + 1}.xml"/>' for i in range(len(sheets)))))
        z.writestr(_info("xl/styles.xml"), _STYLES)
        for i, s in enumerate(sheets):
            with z.open(_info(f"xl/worksheets/sheet{i + 1}.xml"), "w", force_zip64=True) as fh:
                for chunk in _sheet_xml(s):
                    fh.write(chunk)
    return path
