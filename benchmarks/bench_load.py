"""Load benchmark: a 60,000-student county from its exports.

Prints three figures and their ratios:
  1. workbench.load_folder on a cold cache (detection, normalisation, ID validation and report included),
  2. the same xlsx/xls files read with plain pandas.read_excel(engine="openpyxl") (all sheets, no processing)
     and with fastexcel's raw read (every sheet to Arrow, default dtypes),
  3. load_folder again from the warm cache.
Goals: >= 10x faster than openpyxl, within 1.5x of fastexcel raw, warm < 1 s.

    python benchmarks/bench_load.py [--students 60000] [--seed 1] [--dir DIR] [--skip-openpyxl]

The county is written by `workbench samples` when the generator is available, else by a small writer here
(same export shapes: title rows, CNEMIS 年级, coded values, IDs as text, a GBK CSV).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd


# ------------------------------------------------------------------------------------------------ fallback writer
def _ids(rng: np.random.Generator, n: int, year_lo: int, year_hi: int) -> np.ndarray:
    w = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2])
    days = rng.integers(0, (pd.Timestamp(f"{year_hi}-12-31") - pd.Timestamp(f"{year_lo}-01-01")).days, n)
    birth = (pd.Timestamp(f"{year_lo}-01-01") + pd.to_timedelta(days, unit="D")).strftime("%Y%m%d").to_numpy()
    seq = rng.integers(100, 999, n).astype(str)
    body = np.char.add(np.char.add("610928", birth.astype(str)), seq)
    digits = np.array([list(map(int, b)) for b in body])
    chk = np.array(list("10X98765432"))[(digits * w).sum(axis=1) % 11]
    return np.char.add(body, chk)


def write_own_county(out: Path, n: int, seed: int) -> None:
    import xlsxwriter

    rng = np.random.default_rng(seed)
    towns = ["城关镇", "棕溪镇", "关口镇", "蜀河镇", "双河镇", "小河镇", "赵湾镇", "麻坪镇", "甘溪镇", "白柳镇", "吕河镇",
             "神河镇", "铜钱关镇", "段家河镇", "仙河镇", "金寨镇", "桐木镇", "构元镇", "石门镇", "红军镇", "仁河口镇"]
    ids = _ids(rng, n, 2004, 2013)
    sur = np.array(list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"))
    giv = np.array(list("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂"))
    names = np.char.add(np.char.add(sur[rng.integers(0, 20, n)], giv[rng.integers(0, 22, n)]),
                        giv[rng.integers(0, 22, n)])
    town = np.array(towns)[rng.integers(0, 21, n)]
    entry = rng.integers(2011, 2020, n)
    stage = np.where(entry >= 2014, "小学", "初中")
    header = ["学校标识码", "学校名称", "姓名", "性别", "出生日期", "民族", "身份证件类型", "身份证件号", "年级", "班级",
              "入学年月", "就读方式", "是否留守儿童", "是否进城务工人员随迁子女", "残疾人类型", "随班就读", "是否孤儿",
              "户口所在地", "联系电话", "学籍号", "学籍状态", "现住址", "家庭地址", "健康状况", "政治面貌"]

    def write_xlsx(path: Path, title: str, head: list[str], cols: list[np.ndarray]):
        wb = xlsxwriter.Workbook(str(path), {"constant_memory": True})
        ws = wb.add_worksheet("导出工作表")
        ws.write_row(0, 0, [title])
        ws.write_row(1, 0, head)
        for i in range(len(cols[0])):
            ws.write_row(i + 2, 0, [c[i] for c in cols])
        wb.close()

    sexes = np.where(rng.random(n) < 0.5, "1-男", "2-女")
    for term, title_term, shift in (("2019秋", "2019年秋季学期", 0), ("2019春", "2019年春季学期", 1)):
        folder = out / f"学籍{title_term}"
        folder.mkdir(parents=True, exist_ok=True)
        for t in towns:
            m = town == t
            k = int(m.sum())
            cols = [np.full(k, "2161000001"), np.full(k, f"旬阳县{t}中心小学"), names[m], sexes[m],
                    np.array([x[6:14] for x in ids[m]]), np.full(k, "汉族"), np.full(k, "1-居民身份证"), ids[m],
                    np.char.add(stage[m], (entry[m] - shift).astype(str)) + "级", np.full(k, "1"),
                    np.char.add((entry[m] - shift).astype(str), "09"), np.full(k, "2-住校"),
                    np.full(k, "0-非留守儿童"), np.full(k, "0-否"), np.full(k, "0-无残疾"), np.full(k, "0-非随班就读"),
                    np.full(k, "否"), np.full(k, "陕西省安康市旬阳县"), np.full(k, "13900000000"),
                    np.char.add("G", ids[m]), np.full(k, "在读"), np.full(k, "某村某组"), np.full(k, "某村某组"),
                    np.full(k, "健康或良好"), np.full(k, "群众")]
            write_xlsx(folder / f"{t}.xlsx", f"旬阳县{title_term}学生学籍信息", header, cols)
    poor = rng.random(n) < 0.33
    k = int(poor.sum())
    write_xlsx(out / "资助发放名单2019年秋季学期.xlsx", "2019年秋季学期资助发放名单",
               ["学校名称", "学段", "年级", "班级", "姓名", "身份证件号", "学籍号", "资助项目", "资助金额", "学年", "学期",
                "家庭经济困难等级", "困难类型", "发放方式"],
               [np.char.add(np.char.add("旬阳县", town[poor]), "中心小学"), stage[poor], np.full(k, "三年级"),
                np.full(k, "1"), names[poor], ids[poor], np.char.add("G", ids[poor]),
                np.full(k, "家庭经济困难寄宿生生活补助"), np.full(k, 500.0), np.full(k, "2019-2020"), np.full(k, "秋季"),
                np.full(k, "特别困难"), np.full(k, "建档立卡"), np.full(k, "打卡")])
    roster = pd.DataFrame({"市": "安康市", "县": "旬阳县", "乡镇": town[poor], "行政村": "某村", "户编号": "61092800001",
                           "人编号": "6109280000101", "姓名": names[poor], "证件号码": ids[poor], "与户主关系": "之子",
                           "性别": np.where(sexes[poor] == "1-男", "男", "女"), "在校生状况": "七年级"})
    roster.to_csv(out / "建档立卡人员.csv", index=False, encoding="gbk")
    tn = n // 12
    write_xlsx(out / "师生结对.xlsx", "师生结对帮扶名单", ["学校名称", "教师姓名", "学生姓名", "学生身份证号", "帮扶类别", "结对时间"],
               [np.full(tn, "旬阳县城关镇中心小学"), np.full(tn, "王老师"), names[:tn], ids[:tn], np.full(tn, "留守"),
                np.full(tn, "2019-09-01")])
    an = n
    write_xlsx(out / "帮扶活动记录.xlsx", "帮扶活动记录", ["学校名称", "教师姓名", "学生姓名", "学生身份证号", "活动类型", "帮扶日期",
                                                   "帮扶内容"],
               [np.full(an, "旬阳县城关镇中心小学"), np.full(an, "王老师"), names[np.arange(an) % tn],
                ids[np.arange(an) % tn], np.where(rng.random(an) < 0.8, "帮扶记录", "家访"),
                (pd.Timestamp("2019-09-02") + pd.to_timedelta(rng.integers(0, 89, an), unit="D")).strftime(
                    "%Y-%m-%d").to_numpy(), np.full(an, "学业辅导")])


def generate(out: Path, n: int, seed: int) -> str:
    """Write the county; returns which writer was used."""
    try:
        r = subprocess.run([sys.executable, "-m", "workbench", "samples", str(out), "--students", str(n), "--seed",
                            str(seed)], capture_output=True, text=True, timeout=600, check=False)
        if r.returncode == 0 and any(out.rglob("*.xls*")):
            return "workbench samples"
        print("workbench samples unavailable, using the benchmark's own writer:", (r.stderr or r.stdout)[-300:])
    except Exception as exc:  # noqa: BLE001
        print("workbench samples unavailable:", exc)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    write_own_county(out, n, seed)
    return "own writer"


# ------------------------------------------------------------------------------------------------ timing
def excel_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in (".xlsx", ".xls", ".xlsm")
                  and not p.name.startswith(("~$", ".")))


def time_openpyxl(files: list[Path]) -> tuple[float, int]:
    t = time.perf_counter()
    rows = 0
    for p in files:
        engine = "openpyxl" if p.suffix.lower() != ".xls" else "calamine"  # openpyxl cannot read .xls
        for df in pd.read_excel(p, sheet_name=None, engine=engine, header=None).values():
            rows += len(df)
    return time.perf_counter() - t, rows


def time_fastexcel(files: list[Path]) -> tuple[float, int]:
    import fastexcel

    t = time.perf_counter()
    rows = 0
    for p in files:
        reader = fastexcel.read_excel(str(p))
        for i in range(len(reader.sheet_names)):
            rows += reader.load_sheet(i, header_row=None).to_arrow().num_rows
    return time.perf_counter() - t, rows


def _workers() -> str:
    try:
        from workbench.workspace import workers
        return str(workers())
    except ImportError:
        return os.environ.get("WORKBENCH_WORKERS") or "default"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--students", type=int, default=60000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--dir", default=None, help="use an existing county folder instead of generating one")
    ap.add_argument("--skip-openpyxl", action="store_true")
    args = ap.parse_args()

    from workbench.workspace import load_folder

    tmp = Path(tempfile.mkdtemp(prefix="bench_load_"))
    os.environ["WORKBENCH_CACHE"] = str(tmp / "cache")
    try:
        if args.dir:
            county = Path(args.dir)
            writer = "given folder"
        else:
            county = tmp / "county"
            t = time.perf_counter()
            writer = generate(county, args.students, args.seed)
            print(f"county written by {writer} in {time.perf_counter() - t:.1f} s: {county}")
        files = excel_files(county)
        size = sum(p.stat().st_size for p in county.rglob("*") if p.is_file()) / 1e6
        print(f"{len(files)} Excel files, {sum(1 for p in county.rglob('*') if p.is_file())} files, {size:.1f} MB")

        warm_dir = tmp / "imports"  # warm the imports on one small file (not timed)
        warm_dir.mkdir()
        (warm_dir / "a.csv").write_text("姓名,身份证号,学困科目\n张三,610928201001011236,数学\n", encoding="utf-8")
        load_folder(warm_dir, progress=False, cache=False)
        shutil.rmtree(tmp / "cache", ignore_errors=True)
        t = time.perf_counter()
        ws = load_folder(county, progress=False, cache=True)
        cold = time.perf_counter() - t
        # the folder cache is finished in the background after load_folder returns; a reload would wait for
        # it: timed here separately so that `warm` is the read from a complete cache
        t = time.perf_counter()
        try:
            from workbench.workspace import wait_cache_writes
            wait_cache_writes()
        except ImportError:
            pass
        flush = time.perf_counter() - t
        t = time.perf_counter()
        ws2 = load_folder(county, progress=False, cache=True)
        warm = time.perf_counter() - t

        rep = ws.report
        read = int(pd.to_numeric(rep["rows_read"], errors="coerce").fillna(0).sum())
        loaded = int(pd.to_numeric(rep["rows_loaded"], errors="coerce").fillna(0).sum())
        rejected = int(pd.to_numeric(rep["rows_rejected"], errors="coerce").fillna(0).sum())
        assert read == loaded + rejected, (read, loaded, rejected)
        assert all(len(ws.tables[k]) == len(ws2.tables[k]) for k in ws.tables)

        fx, fx_rows = time_fastexcel(files)
        print()
        print(f"rows: read {read}, loaded {loaded}, rejected {rejected}; per system: "
              + ", ".join(f"{k} {len(v)}" for k, v in ws.tables.items()))
        print(f"unplaced files/sheets: {int(rep['system'].isna().sum())}; as_of {ws.as_of}")
        print()
        print(f"workbench load_folder, cold cache : {cold:8.2f} s  (all files incl. CSV/TXT, "
              f"{_workers()} worker process(es))")
        print(f"fastexcel raw read (Excel files)  : {fx:8.2f} s  ({fx_rows} rows)")
        if not args.skip_openpyxl:
            op, op_rows = time_openpyxl(files)
            print(f"pandas read_excel openpyxl        : {op:8.2f} s  ({op_rows} rows)")
        print(f"workbench load_folder, warm cache : {warm:8.2f} s  (after the background cache write of the "
              f"cold load finished, {flush:.2f} s after it returned)")
        print()
        if not args.skip_openpyxl:
            print(f"openpyxl / workbench cold  = {op / cold:6.1f}x   (goal >= 10x)")
        print(f"workbench cold / fastexcel = {cold / fx:6.2f}x   (goal <= 1.5x)")
        print(f"warm cache                 = {warm:6.2f} s   (goal < 1 s)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
