"""Synthetic sample county (样例县) shaped like 旬阳县, with an exact answer key.

`generate(out_dir, students=60000, seed=1, fmt="excel")` builds a clean, fully consistent county (no finding at
all), injects defects one victim at a time (each recording the findings it implies: `answer_key.csv`), adds the
province's 疑似问题 list (`suspects_key.csv`) and writes either the exports as analysts receive them
(`fmt="excel"`) or the canonical tables of docs/design.md straight to parquet (`fmt="parquet"`, for scale tests).
Everything is synthetic: names are drawn from common surnames and given-name characters.

Command line: `workbench samples OUT_DIR [--students N] [--seed S] [--format excel|parquet]`.
"""

from __future__ import annotations

import argparse
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

from .. import ids
from .county import AS_OF, PREV_TERM, TERM, build_clean, make_ctx
from .defects import KEY_COLUMNS, inject
from .suspects import build_suspects

__all__ = [
    "AS_OF",
    "KEY_COLUMNS",
    "SYSTEMS",
    "add_arguments",
    "build_county",
    "canonical_tables",
    "generate",
    "run",
]

SYSTEMS = ["registry", "aid", "roster", "ledger", "pairs", "activities", "struggling", "suspects"]
CHUNK = 300_000   # students per chunk in parquet runs (peak about 4.5 GB per chunk)
ID_COLUMNS = {"school_code", "student_no", "id_number", "household_no", "person_no", "phone", "teacher_id_number"}
DATE_COLUMNS = {"birth_date", "start_date", "end_date", "date", "issued_date", "deadline"}
BOOL_COLUMNS = {"migrant", "orphan"}
INT_COLUMNS = {"grade", "household_size", "exit_year"}
README = """# 样例县数据（模拟数据）

本文件夹是 `workbench samples` 生成的**模拟**县级教育扶贫数据，仿照陕西省旬阳县（610928）2019 年秋季学期的
真实导出格式：21 个真实乡镇名称，村、学校、人员均为虚构。**所有姓名、身份证号、电话均为随机生成，不对应任何
真实人员。**

- 生成命令：`workbench samples 输出文件夹 --students {students} --seed {seed}`（同一参数生成的文件完全相同）
- 数据截止日期（as-of）：2019-11-30（帮扶活动记录截至该日）
- 学籍/：2019年秋季学期（按乡镇分文件，含标题行、两级表头、.xls）与 2019年春季学期学籍
- 资助/：2019年秋季学期资助发放名单（GBK 编码 CSV 与带标题行的 xlsx）
- 建档立卡/：贫困人口信息（两个文件，列顺序不同）
- 控辍保学/：适龄儿童少年未在校情况台账
- 结对帮扶/：师生结对名单、帮扶活动记录（xlsx 与 UTF-16 文本）
- 学困生/：各校学困生名单
- 疑似问题/：省级下发的疑似问题数据（第一批）
- answer_key.csv：注入的全部问题（答案表，列：kind, system, id_number, item, period, detail, true_id）
- suspects_key.csv：疑似问题清单每一条的真实原因与正确值

数据中故意保留了真实导出常见的问题：身份证号被 Excel 存为数字、全角数字、小写 x、前导单引号、尾随空格、
`1-男` 编码、CNEMIS 年级名称（小学2016级）、多种日期格式等。
"""


@contextmanager
def _object_strings():
    """Build with object-dtype strings (numpy interop is much faster); canonical tables are converted at the end."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pd.option_context("future.infer_string", False):
            yield


def build_county(students: int = 3000, seed: int = 1, chunk: int = 0, n_chunks: int = 1) -> dict:
    """The county in memory: {'tables': canonical frames (internal `_` columns kept), 'key': answer key,
    'suspects': suspects list rows, 'suspects_key': its key, ...}."""
    with _object_strings():
        ctx = make_ctx(students, seed, chunk, n_chunks)
        county = build_clean(ctx)
        key = inject(ctx, county)
        sus, skey = build_suspects(ctx, county, key) if chunk == 0 else (None, None)
        from .exports import apply_label_styles
        county["tables"]["registry"] = apply_label_styles(county["tables"]["registry"])
    county.update(key=key, suspects=sus, suspects_key=skey, ctx=ctx)
    return county


def _key_frame(key: pd.DataFrame) -> pd.DataFrame:
    k = key[KEY_COLUMNS].copy()
    return k.astype(object).where(k.notna(), None)


def _typed(df: pd.DataFrame) -> pd.DataFrame:
    """Canonical dtypes: strings as pandas `string`, dates as datetime64 (date part), booleans as `boolean`."""
    out = {}
    for c in df.columns:
        v = df[c]
        if c in DATE_COLUMNS:
            out[c] = pd.to_datetime(v).astype("datetime64[ns]").dt.normalize()
        elif c in BOOL_COLUMNS:
            out[c] = v.astype("boolean")
        elif c in INT_COLUMNS:
            out[c] = pd.to_numeric(v, errors="coerce").astype("Int64")
        elif c == "amount":
            out[c] = v.astype("float64")
        else:
            out[c] = v.astype(object).where(v.notna(), None).astype("string")
    return pd.DataFrame(out)


def canonical_tables(county: dict) -> dict[str, pd.DataFrame]:
    """The canonical frames of docs/design.md (registry holds both terms), without internal columns, with
    `source_file` / `source_sheet` / `source_row` naming the parquet file and `id_valid` / `id_reason`."""
    t = county["tables"]
    tables = {
        "registry": pd.concat([t["registry"], t["registry_prev"]], ignore_index=True),
        "aid": t["aid"], "roster": t["roster"], "ledger": t["ledger"], "pairs": t["pairs"],
        "activities": t["activities"], "struggling": t["struggling"],
    }
    if county.get("suspects") is not None:
        s = county["suspects"].drop(columns=["city", "county"])
        s.insert(0, "list_id", "陕西省教育扶贫疑似问题数据（第一批）/疑似问题")   # file stem / sheet
        try:   # the loader's own mapping of 问题类型, so parquet and Excel give the same table
            from ..sources.decode import suspect_category_key
            s["category_key"] = suspect_category_key(s["category"].astype("string")).to_numpy()
        except ImportError:   # pragma: no cover
            s["category_key"] = None
        tables["suspects"] = s
    out = {}
    for name, df in tables.items():
        df = df[[c for c in df.columns if not c.startswith("_")]]
        df = _typed(df)
        df["source_file"] = pd.array([f"{name}.parquet"] * len(df), dtype="string")
        df["source_sheet"] = pd.array([""] * len(df), dtype="string")
        df["source_row"] = pd.array(np.arange(2, len(df) + 2), dtype="Int64")
        if "id_number" in df:
            chk = ids.check(df["id_number"], as_of=AS_OF)
            df["id_valid"] = chk["valid"].astype("boolean").to_numpy()
            df["id_reason"] = chk["reason"].astype("string").to_numpy()
        out[name] = df
    return out


def _write_keys(out: Path, county: dict, append: bool = False) -> None:
    key = _key_frame(county["key"])
    path = out / "answer_key.csv"
    if append:
        key.to_csv(path, mode="a", header=False, index=False, encoding="utf-8", lineterminator="\n")
    else:
        key.to_csv(path, index=False, encoding="utf-8-sig", lineterminator="\n")
    if county.get("suspects_key") is not None:
        county["suspects_key"].to_csv(out / "suspects_key.csv", index=False, encoding="utf-8-sig",
                                      lineterminator="\n")


def _write_excel(out: Path, county: dict) -> None:
    from . import exports
    rng = np.random.default_rng([county["ctx"].chunk, 99])
    t = county["tables"]
    towns = list(county["ctx"].towns["town"])
    exports.write_registry(out, t["registry"], t["registry_prev"], rng)
    exports.write_aid(out, t["aid"])
    exports.write_roster(out, t["roster"], towns, rng)
    exports.write_ledger(out, t["ledger"])
    exports.write_mentoring(out, t["pairs"], t["activities"], towns)
    exports.write_struggling(out, t["struggling"])
    exports.write_suspects(out, county["suspects"])


def generate(out_dir, students: int = 60000, seed: int = 1, fmt: str = "excel") -> Path:
    """Generate the sample county into `out_dir` (created); returns the folder. Deterministic from `seed`."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if fmt not in ("excel", "parquet"):
        raise ValueError(f"未知的输出格式：{fmt}（应为 excel 或 parquet）")
    if fmt == "excel":
        county = build_county(students, seed)
        _write_excel(out, county)
        _write_keys(out, county)
        (out / "README.md").write_text(README.format(out=out.name, students=students, seed=seed), encoding="utf-8")
        return out
    import pyarrow as pa
    import pyarrow.parquet as pq
    n_chunks = max(1, -(-students // CHUNK))
    sizes = [students // n_chunks + (1 if i < students % n_chunks else 0) for i in range(n_chunks)]
    writers: dict[str, pq.ParquetWriter] = {}
    try:
        for c, size in enumerate(sizes):
            county = build_county(size, seed, chunk=c, n_chunks=n_chunks)
            for name, df in canonical_tables(county).items():
                table = pa.Table.from_pandas(df, preserve_index=False)
                if name not in writers:
                    writers[name] = pq.ParquetWriter(out / f"{name}.parquet", table.schema)
                writers[name].write_table(table.cast(writers[name].schema))
            _write_keys(out, county, append=c > 0)
            del county
    finally:
        for w in writers.values():
            w.close()
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("out_dir", help="输出文件夹")
    parser.add_argument("--students", type=int, default=60000, help="在校学生数（默认 60000）")
    parser.add_argument("--seed", type=int, default=1, help="随机种子（默认 1；相同种子生成相同数据）")
    parser.add_argument("--format", dest="fmt", choices=["excel", "parquet"], default="excel",
                        help="excel：按真实导出格式写文件；parquet：直接写规范表（用于大规模测试）")


def run(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    out = generate(args.out_dir, students=args.students, seed=args.seed, fmt=args.fmt)
    key = pd.read_csv(out / "answer_key.csv", dtype=str)
    print(f"已生成样例县：{out}（{args.students} 名学生，种子 {args.seed}，格式 {args.fmt}），"
          f"答案表 {len(key)} 条，用时 {time.perf_counter() - t0:.1f} 秒")
    return 0


_ = (TERM, PREV_TERM)
