"""Benchmark: reconciliation (link + 三一致 + 控辍保学 + 资助 findings) after load, next to a naive pandas merge.

One run prints, per county size, the time and peak memory (VmHWM of a fresh child process) of
  - generating the county straight to canonical parquet (`workbench samples DIR --format parquet`), for reference,
  - loading it (load_parquet_folder),
  - the naive equivalent: pandas outer merges of registry, roster and aid on the raw ID columns plus a rollup,
  - reconciling: findings.run_analyses for 三一致, 控辍保学 and 资助, as all_findings and the CLI run them: the person
    link (reconcile.prepare) while the link-free part of 三一致 (reconcile.early) runs on a second thread, then
    reconcile / dropout / aid .findings side by side, all on the Workspace's one DuckDB engine; each step's own
    (overlapping) time is printed.
Counties up to 600,000 students are loaded into pandas first (load not counted: `load_parquet_folder`);
larger ones are opened lazily (`load_parquet_folder(..., lazy=True)`) and the SQL reads the parquet files
directly, so the time counted includes reading them.
Goals (issue 3): 60,000 students < 1 s, 600,000 < 10 s, 6,000,000 < 120 s and < 12 GiB.

A 2-core VM's speed drifts by tens of percent from minute to minute, so counties below 1,000,000 students are
measured `--repeat` times (default 3), each in a fresh child process, naive and reconcile runs interleaved: every
time is printed and the goal is judged on the median.

    python benchmarks/bench_reconcile.py                 # 60,000 and 600,000
    python benchmarks/bench_reconcile.py --sizes 60000 600000 6000000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GOALS = {60_000: 1.0, 600_000: 10.0, 6_000_000: 120.0}


def vm_hwm_mib() -> float:
    """Peak resident memory of this process (VmHWM) in MiB."""
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def child_generate(folder: str, students: int) -> dict:
    from workbench import samples

    t = time.perf_counter()
    samples.generate(folder, students=students, seed=11, fmt="parquet")
    return {"seconds": time.perf_counter() - t, "peak_mib": vm_hwm_mib()}


LAZY_FROM = 1_000_000   # students: from this size on the county is not loaded into pandas


def _load(folder: str, lazy: bool = False):
    import datetime as dt

    from workbench.workspace import load_parquet_folder

    return load_parquet_folder(folder, dt.date(2019, 11, 30), lazy=lazy)


def child_naive(folder: str) -> dict:
    """The spreadsheet way: merge the systems on the ID columns as read, count per town."""
    ws = _load(folder, lazy=True)
    for key in ("registry", "roster", "aid", "ledger"):   # read the four tables the merge uses before timing
        ws.tables[key]
    t = time.perf_counter()
    reg = ws.tables["registry"]
    reg = reg[reg["term"] == ws.term][["id_number", "name", "town", "school_name", "stage", "grade"]]
    ros = ws.tables["roster"][["id_number", "name", "town", "village", "stage", "grade"]]
    aid = ws.tables["aid"][["id_number", "item", "amount"]]
    led = ws.tables["ledger"][["id_number", "reason"]]
    m = reg.merge(ros, on="id_number", how="outer", suffixes=("_reg", "_ros"), indicator="where")
    m = m.merge(aid.groupby("id_number", as_index=False)["amount"].sum(), on="id_number", how="left")
    m = m.merge(led, on="id_number", how="left")
    m["town"] = m["town_ros"].fillna(m["town_reg"])
    roll = m.groupby(["town", "where"], observed=True).size().unstack(fill_value=0)
    secs = time.perf_counter() - t
    return {"seconds": secs, "peak_mib": vm_hwm_mib(), "rows": len(m), "towns": len(roll),
            "load_average": os.getloadavg()[0]}


def child_reconcile(folder: str, lazy: bool = False) -> dict:
    import pandas as pd

    from workbench import aid, dropout, findings, link, reconcile

    ws = _load(folder, lazy)
    load_peak = vm_hwm_mib()
    t = time.perf_counter()
    link.name_keys(pd.Series(["张伟"], dtype="string"))   # pypinyin loads its dictionaries once per process
    t_import = time.perf_counter() - t
    # each step's own wall time, measured inside the thread it runs on (they overlap): the link (reconcile.prepare,
    # on this thread), the link-free part of 三一致 (reconcile.early, meanwhile on a second thread), the analyses
    parts: dict[str, float] = {}

    def timed(module, attr: str, label: str) -> None:
        fn = getattr(module, attr)

        def run(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                parts[label] = parts.get(label, 0.0) + time.perf_counter() - start
        setattr(module, attr, run)

    timed(reconcile, "prepare", "link")
    timed(reconcile, "early", "三一致 link-free part")
    for label, module in (("三一致", reconcile), ("控辍保学", dropout), ("资助", aid)):
        timed(module, "findings", label)
    t0, c0 = time.perf_counter(), time.process_time()
    out = findings.run_analyses(ws, ("reconcile", "dropout", "aid"))   # as all_findings and the CLI run them
    secs, cpu = time.perf_counter() - t0, time.process_time() - c0
    found = pd.concat(list(out.values()), ignore_index=True)
    eng = link.link_state(ws)["engine"]
    students = eng.con.execute("SELECT count(*) FROM src_registry WHERE term = ?", [ws.term]).fetchall()[0][0]
    return {"seconds": secs, "cpu_seconds": cpu, "pinyin_load_seconds": t_import, "load_average": os.getloadavg()[0],
            "parts": parts, "peak_mib": vm_hwm_mib(),
            "load_peak_mib": load_peak, "lazy": lazy, "findings": len(found),
            "counts": {k: int(v) for k, v in found["kind"].value_counts().items()}, "students": int(students)}


def _median_run(runs: list[dict]) -> dict:
    """The run with the median time (of an odd count; the lower middle one of an even count)."""
    ok = sorted((r for r in runs if "seconds" in r), key=lambda r: r["seconds"])
    return ok[(len(ok) - 1) // 2] if ok else runs[0]


def run_child(step: str, folder: str, students: int) -> dict:
    cmd = [sys.executable, __file__, "--child", step, "--folder", folder, "--students", str(students)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        return {"error": (out.stderr or out.stdout).strip().splitlines()[-1:] or ["失败"]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--sizes", type=int, nargs="+", default=[60_000, 600_000])
    p.add_argument("--child", choices=["generate", "naive", "reconcile"])
    p.add_argument("--folder")
    p.add_argument("--students", type=int, default=60_000)
    p.add_argument("--keep", help="reuse / keep generated counties under this folder")
    p.add_argument("--repeat", type=int, default=3,
                   help="fresh-process runs per county below 1,000,000 students (median judged; default 3)")
    args = p.parse_args()
    if args.child:
        fn = {"generate": lambda: child_generate(args.folder, args.students),
              "naive": lambda: child_naive(args.folder),
              "reconcile": lambda: child_reconcile(args.folder, args.students >= LAZY_FROM)}[args.child]
        print(json.dumps(fn()))
        return 0

    base = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench_reconcile_"))
    print(f"machine: {os.cpu_count()} cores; counties under {base}")
    failed = False
    for n in args.sizes:
        folder = base / f"county_{n}"
        if not (folder / "registry.parquet").exists():
            g = run_child("generate", str(folder), n)
            print(f"[{n:>9,} students] generate to parquet: {g}")
        runs = max(1, args.repeat) if n < LAZY_FROM else 1
        naives, recs = [], []
        for _ in range(runs):   # interleaved, so that a slow minute of the machine hits both alike
            naives.append(run_child("naive", str(folder), n))
            recs.append(run_child("reconcile", str(folder), n))
        errors = [r for r in recs if "error" in r]
        if errors:
            print(f"[{n:>9,} students] reconcile FAILED: {errors[0]['error']}")
            failed = True
            continue
        naive, rec = _median_run(naives), _median_run(recs)
        if runs > 1:
            print(f"[{n:>9,} students] {runs} fresh-process runs, seconds: naive "
                  + " ".join(f"{r.get('seconds', float('nan')):.2f}" for r in naives) + "; reconcile "
                  + " ".join(f"{r['seconds']:.2f}" for r in recs) + " (the median run is printed below)")
        goal = GOALS.get(n)
        ratio = rec["seconds"] / naive["seconds"] if naive.get("seconds") else float("nan")
        print(f"[{n:>9,} students] naive pandas merge on raw IDs: {naive.get('seconds', float('nan')):7.2f} s, "
              f"peak {naive.get('peak_mib', float('nan')):8.0f} MiB, load average "
              f"{naive.get('load_average', float('nan')):.1f}")
        parts = ", ".join(f"{k} {v:.2f}" for k, v in rec["parts"].items())
        how = "parquet read lazily, counted" if rec["lazy"] else "after load into pandas"
        print(f"[{n:>9,} students] reconcile (each step's own time, overlapping: {parts} s; {how}): "
              f"{rec['seconds']:7.2f} s "
              f"(CPU {rec['cpu_seconds']:.2f} s, load average {rec['load_average']:.1f}, pypinyin dictionary load "
              f"{rec['pinyin_load_seconds']:.2f} s once per process, not counted), "
              f"peak {rec['peak_mib']:8.0f} MiB (after load {rec['load_peak_mib']:.0f} MiB); "
              f"{rec['findings']} findings; {ratio:.1f}x the naive merge"
              + (f"; goal < {goal:g} s{f' (median of {runs} runs)' if runs > 1 else ''}: "
                 f"{'OK' if rec['seconds'] < goal else 'MISSED'}" if goal else ""))
        print(f"           findings per kind: {rec['counts']}")
        if any(r["counts"] != rec["counts"] for r in recs):
            print("           FAILED: the runs found different findings")
            failed = True
        if n >= 6_000_000:
            print(f"           memory goal < 12 GiB: {'OK' if rec['peak_mib'] < 12 * 1024 else 'MISSED'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
