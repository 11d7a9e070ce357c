"""Benchmark: mentoring coverage (groups, findings, compliance) for a 60,000-student county, one term of logs.

    python benchmarks/bench_mentoring.py [--students 60000] [--data DIR]

Uses `workbench samples DIR --format parquet` (the sample generator) when available, or a folder of canonical
parquet tables given with --data; otherwise builds the canonical tables here (vectorised, synthetic). Load time
is not counted: the figure is the coverage computation after load (person linking reported separately).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

AS_OF = dt.date(2019, 11, 30)
W = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2])


def _ids(rng: np.random.Generator, n: int) -> np.ndarray:
    """n distinct valid IDs of 610928 (birth dates 2004..2012)."""
    code = rng.choice(365 * 9 * 1000, n, replace=False)
    birth = pd.Timestamp("2004-01-01") + pd.to_timedelta(code // 1000, unit="D")
    body = np.char.add(np.char.add("610928", birth.strftime("%Y%m%d").to_numpy().astype(str)),
                       np.char.zfill((code % 1000).astype(str), 3))
    digits = np.frombuffer("".join(body).encode(), dtype=np.uint8).reshape(n, 17) - 48
    check = np.array(list("10X98765432"))[(digits * W).sum(axis=1) % 11]
    return np.char.add(body, check)


def synthetic_tables(students: int = 60000, seed: int = 7) -> dict[str, pd.DataFrame]:
    """Canonical registry, pairs and activities (one term of logs) for a synthetic county."""
    rng = np.random.default_rng(seed)
    n = students
    ids = _ids(rng, n)
    schools = np.array([f"旬阳县第{i}镇中心小学" for i in range(200)])
    towns = np.array([f"第{i}镇" for i in range(200)])
    sidx = rng.integers(0, 200, n)
    lb = rng.choice(np.array(["非留守", "单亲留守", "双亲留守"]), n, p=[0.7, 0.15, 0.15])
    registry = pd.DataFrame({
        "term": "2019秋", "school_name": schools[sidx], "town": towns[sidx],
        "name": np.char.add("学生", np.arange(n).astype(str)), "id_number": ids, "id_valid": True,
        "stage": "小学", "grade": rng.integers(1, 7, n), "class_name": "1班", "status": pd.NA,
        "left_behind": lb, "migrant": rng.random(n) < 0.05, "disability": "无残疾", "inclusive": "非随班就读",
    })
    group = (lb != "非留守") | registry["migrant"].to_numpy()
    gi = np.flatnonzero(group)
    teacher = rng.integers(0, max(1, len(gi) // 2), len(gi))
    pairs = pd.DataFrame({
        "school_name": schools[sidx[gi]], "town": towns[sidx[gi]],
        "teacher_name": np.char.add("教师", teacher.astype(str)), "teacher_id_number": pd.NA,
        "teacher_school": pd.NA, "student_name": registry["name"].to_numpy()[gi], "id_number": ids[gi],
        "id_valid": True, "group_raw": "留守", "start_date": pd.Timestamp("2019-09-01"), "end_date": pd.NaT,
    })
    mondays = [d for d in pd.date_range("2019-09-02", "2019-11-18", freq="7D") if d != pd.Timestamp("2019-09-30")]
    parts = []
    for k, monday in enumerate(mondays):  # a loop over the 11 weeks, vectorised over students
        per_week = rng.integers(1, 4, len(gi))
        rep = np.repeat(np.arange(len(gi)), per_week)
        keep = rng.random(len(rep)) > 0.01
        rep = rep[keep]
        parts.append(pd.DataFrame({"i": rep, "date": monday + pd.to_timedelta(rng.integers(0, 5, len(rep)), "D"),
                                   "activity": "帮扶记录"}))
    for month in ("2019-09", "2019-10", "2019-11"):
        keep = rng.random(len(gi)) > 0.02
        parts.append(pd.DataFrame({"i": np.flatnonzero(keep), "activity": "家访",
                                   "date": pd.Timestamp(f"{month}-12") + pd.to_timedelta(
                                       rng.integers(0, 10, int(keep.sum())), "D")}))
    acts = pd.concat(parts, ignore_index=True)
    i = acts["i"].to_numpy()
    activities = pd.DataFrame({
        "school_name": pairs["school_name"].to_numpy()[i], "teacher_name": pairs["teacher_name"].to_numpy()[i],
        "student_name": pairs["student_name"].to_numpy()[i], "id_number": ids[gi][i], "id_valid": True,
        "activity": acts["activity"].to_numpy(), "date": acts["date"].astype("datetime64[us]").to_numpy(),
        "content": "谈心",
    })
    out = {"registry": registry, "pairs": pairs, "activities": activities}
    for df in out.values():
        for c in df.columns:
            if df[c].dtype == object or c in ("status", "teacher_id_number", "teacher_school"):
                df[c] = df[c].astype("string")
        if "id_valid" in df:
            df["id_valid"] = df["id_valid"].astype("boolean")
    return out


def workspace(tables: dict[str, pd.DataFrame], as_of: dt.date = AS_OF):
    try:
        from workbench.workspace import Workspace

        return Workspace.from_tables(tables, as_of)
    except ImportError:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
        from mentoring_fixtures import FakeWorkspace

        return FakeWorkspace(tables, as_of)


def load_workspace(students: int, data: str | None):
    """(Workspace, description): the parquet folder given, else a county from the sample generator, else
    synthetic tables built here."""
    try:
        from workbench.workspace import load_parquet_folder
    except ImportError:
        load_parquet_folder = None
    if data and load_parquet_folder is not None:
        return load_parquet_folder(data), f"parquet 文件夹 {data}"
    try:
        from workbench.samples import generate
    except ImportError:
        generate = None
    if generate is not None and load_parquet_folder is not None:
        tmp = Path(tempfile.mkdtemp(prefix="bench_mentoring_"))
        generate(tmp, students=students, seed=1, fmt="parquet")
        return load_parquet_folder(tmp), f"workbench samples {tmp} --students {students} --format parquet"
    return workspace(synthetic_tables(students)), "本脚本生成的合成数据（样例生成器或载入模块不可用）"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--students", type=int, default=60000)
    ap.add_argument("--data", help="folder of canonical <system>.parquet tables (workbench samples --format parquet)")
    ap.add_argument("--no-link", action="store_true", help="match by valid ID only (skip workbench.link)")
    args = ap.parse_args()
    from workbench import groups, mentoring

    t0 = time.perf_counter()
    ws, source = load_workspace(args.students, args.data)
    t_load = time.perf_counter() - t0
    print(f"数据来源：{source}（准备用时 {t_load:.1f} 秒，不计入）")
    for name in ("registry", "roster", "aid", "struggling", "pairs", "activities"):
        if name in ws.tables:
            print(f"  {name:<11} {len(ws.tables[name]):>9,} 行")
    if args.no_link:
        import workbench.link  # noqa: F401  (present or not, bypass it)

        sys.modules["workbench.link"] = None  # type: ignore[assignment]
    clock = {}

    def timed(label, fn):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        clock[label] = (time.perf_counter() - t0, time.process_time() - c0)
        return out

    timed("link", lambda: groups.linked_tables(ws))
    m = timed("groups", lambda: groups.memberships(ws))
    f = timed("findings", lambda: mentoring.findings(ws))
    rates = timed("compliance", lambda: {lvl: mentoring.compliance(ws, lvl) for lvl in mentoring.LEVELS})
    grid = mentoring.coverage_grid(ws)
    print(f"在读学生 {len(m):,}，五类群体 {int((m['group_count'] > 0).sum()):,}；"
          f"应有周记录 {len(grid['weekly']):,} 格，应有月家访 {len(grid['monthly']):,} 格")
    print("问题：" + "，".join(f"{k} {v:,}" for k, v in f["kind"].value_counts().sort_index().items()))
    labels = {"link": "人员关联 link（每个 Workspace 一次，缓存复用）", "groups": "五类群体 memberships",
              "findings": "四类结对问题 findings", "compliance": "达标率 compliance（5 个层级）"}
    for k, label in labels.items():
        print(f"{label:<34} 墙钟 {clock[k][0]:6.2f} 秒  CPU {clock[k][1]:6.2f} 秒")
    wall = sum(clock[k][0] for k in ("groups", "findings", "compliance"))
    cpu = sum(clock[k][1] for k in ("groups", "findings", "compliance"))
    print(f"覆盖计算合计（载入后，不含关联）  墙钟 {wall:6.2f} 秒  CPU {cpu:6.2f} 秒  目标 < 3 秒  比值 {wall / 3:.2f}")
    print(f"覆盖计算合计（含关联）            墙钟 {wall + clock['link'][0]:6.2f} 秒  比值 "
          f"{(wall + clock['link'][0]) / 3:.2f}")
    print(f"每秒处理帮扶记录 {len(ws.tables['activities']) / max(wall, 1e-9):,.0f} 行；系统负载 "
          f"{' '.join(f'{x:.1f}' for x in __import__('os').getloadavg())}（2 核机器上数值随负载变化）")
    print(f"teacher 层级 {len(rates['teacher']):,} 行，school 层级 {len(rates['school']):,} 行")
    return 0


if __name__ == "__main__":
    sys.exit(main())
