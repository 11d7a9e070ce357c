"""Benchmark: 资助 findings and coverage after load, on a synthetic county of N students.

Uses the sample generator's parquet output when `workbench.samples.generate` and `workspace.load_parquet_folder`
exist; otherwise builds canonical frames directly (vectorised) with a few injected defects. Prints rows, seconds,
peak RSS, and the same aid_duplicate + aid_missed set work done naively in pandas (merges on the raw ID columns).

    python benchmarks/bench_aid.py [--students 60000] [--synthetic] [--folder PARQUET_DIR [--lazy]]

--lazy reads no table into pandas (the SQL engine reads the parquet files; for province-sized folders) and skips
the naive pandas comparison. Timings are noisy on a shared machine: the load average is printed next to them.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from datetime import date
from types import SimpleNamespace

import numpy as np
import pandas as pd

from workbench import aid

W = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2])


def ids_for(n: int, rng: np.random.Generator) -> np.ndarray:
    """n distinct valid 18-character IDs (610928, birth 2002-2012, sequence, check character)."""
    birth = pd.Series(pd.to_datetime("2002-01-01") + pd.to_timedelta(rng.integers(0, 365 * 11, n), unit="D"))
    seq = pd.Series(rng.integers(0, 1000, n)).astype(str).str.zfill(3)
    body = ("610928" + birth.dt.strftime("%Y%m%d") + seq).drop_duplicates()
    digits = np.frombuffer("".join(body).encode(), dtype=np.uint8).reshape(len(body), 17).astype(int) - 48
    check = np.array(list("10X98765432"))[(digits * W).sum(axis=1) % 11]
    return (body + check).to_numpy()


def synthetic(n: int, seed: int = 1) -> SimpleNamespace:
    rng = np.random.default_rng(seed)
    ids = ids_for(int(n * 1.1), rng)[:n]
    n = len(ids)
    stage = rng.choice(["小学", "初中", "高中"], n, p=[0.6, 0.3, 0.1])
    grade = np.where(stage == "小学", rng.integers(1, 7, n), rng.integers(1, 4, n))
    boarding = rng.choice(["住校", "走读"], n, p=[0.4, 0.6])
    town = rng.choice([f"镇{i}" for i in range(21)], n)
    school = np.char.add(town.astype(str), np.where(stage == "小学", "中心小学", "中学"))
    registry = pd.DataFrame({"term": "2019秋", "school_code": "1", "school_name": school, "town": town,
                             "name": "学生", "id_number": ids, "stage": stage, "grade": grade,
                             "boarding": boarding, "status": pd.NA, "source_file": "r.xlsx",
                             "source_row": np.arange(n)})
    poor = rng.random(n) < 1 / 3
    roster = pd.DataFrame({"town": town[poor], "village": "某村", "name": "学生", "id_number": ids[poor]})
    table = aid.policy()
    pol = table[table["entitled_statuses"].fillna("").str.contains("建档立卡")].copy()
    pol["stage"] = pol["stage"].str.split(";")
    pol = pol.explode("stage")
    pol = pol[pol["terms"].str.contains("秋") & pol["item"].isin(
        ["compulsory_living", "hs_grant", "hs_fee_waiver"])]
    reg = registry[poor]
    rec = reg.merge(pol[["item", "label", "stage", "grade_min", "grade_max", "boarding", "semester_amount"]],
                    on="stage", suffixes=("", "_p"))
    rec = rec[(rec["grade"] >= rec["grade_min"]) & (rec["grade"] <= rec["grade_max"])
              & (rec["boarding_p"].isna() | (rec["boarding_p"] == rec["boarding"]))]
    records = pd.DataFrame({"term": "2019秋", "school_name": rec["school_name"], "town": rec["town"],
                            "name": "学生", "id_number": rec["id_number"], "item_raw": rec["label"],
                            "amount": rec["semester_amount"].astype(float), "difficulty_level": "特别困难",
                            "difficulty_type": "建档立卡"})
    # defects: drop 1 %, duplicate 0.5 %, wrong amount 0.5 %
    keep = rng.random(len(records)) > 0.01
    records = records[keep]
    dup = records.sample(frac=0.005, random_state=seed)
    records = pd.concat([records, dup], ignore_index=True)
    wrong = rng.random(len(records)) < 0.005
    records.loc[wrong, "amount"] = records.loc[wrong, "amount"] + 100
    frames = {}
    for key, df in (("registry", registry), ("aid", records), ("roster", roster)):
        df = df.reset_index(drop=True)
        for col in df.columns:
            if df[col].dtype == object or col in ("status",):
                df[col] = df[col].astype("string")
        df["id_valid"] = pd.array([True] * len(df), dtype="boolean")
        df["person_id"] = df["id_number"]
        frames[key] = df
    return SimpleNamespace(as_of=date(2019, 11, 30), tables=frames)


def naive(ws) -> int:
    """aid_duplicate + aid_missed (compulsory_living, poor boarders) with pandas merges on the raw ID columns."""
    t = ws.tables
    counts = t["aid"].groupby(["id_number", "item_raw", "term"]).size()
    dups = int((counts > 1).sum())
    poor = t["registry"].merge(t["roster"][["id_number"]], on="id_number")
    got = t["aid"][["id_number"]].drop_duplicates()
    missed = poor.merge(got, on="id_number", how="left", indicator=True)
    return dups + int((missed["_merge"] == "left_only").sum())


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--students", type=int, default=60000)
    parser.add_argument("--synthetic", action="store_true", help="build frames directly, not with the generator")
    parser.add_argument("--folder", help="a folder of canonical <system>.parquet files (workbench samples --format "
                                         "parquet) instead of generating one")
    parser.add_argument("--lazy", action="store_true", help="with --folder: never load the tables into pandas")
    args = parser.parse_args()
    ws = None
    if args.folder:
        from workbench.workspace import load_parquet_folder
        ws = load_parquet_folder(args.folder, date(2019, 11, 30), lazy=args.lazy)
        source = f"parquet folder {args.folder}" + (" (lazy)" if args.lazy else "")
    elif not args.synthetic:
        try:
            from workbench.samples import generate
            from workbench.workspace import load_parquet_folder
            tmp = tempfile.mkdtemp(prefix="bench-aid-")
            generate(tmp, students=args.students, seed=1, fmt="parquet")
            ws = load_parquet_folder(tmp, date(2019, 11, 30))
            source = "generator (parquet)"
        except ImportError:
            ws = None
    if ws is None:
        ws = synthetic(args.students)
        source = "synthetic frames"
    from workbench import engine, link

    eng = engine.of(ws)
    print(f"source: {source}; registry {eng.count('registry'):,} rows, aid {eng.count('aid'):,}, "
          f"roster {eng.count('roster'):,}")
    tl = time.perf_counter()
    link.link_state(ws)  # person linking (cached on the Workspace; shared with the other analyses)
    print(f"person linking (link.link_state, once per Workspace): {time.perf_counter() - tl:.2f} s")
    aid.findings(ws)  # warm-up (imports, DuckDB)
    runs, cpu = [], []
    for _ in range(3):
        t0, c0 = time.perf_counter(), time.process_time()
        found = aid.findings(ws)
        runs.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    t0, t1 = 0.0, min(runs)
    t1 = time.perf_counter()
    t0 = t1 - min(runs)
    by_town = aid.coverage(ws, by="town")
    t2 = time.perf_counter()
    if not args.lazy:
        naive(ws)
    t3 = time.perf_counter()
    print(f"machine load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; "
          f"aid.findings CPU time (all threads): {min(cpu):.2f} s")
    print(f"aid.findings: {t1 - t0:.2f} s wall (best of 3), {len(found):,} findings "
          f"({found['kind'].value_counts().to_dict()})")
    print(f"aid.coverage(by='town'): {t2 - t1:.2f} s, {len(by_town)} towns")
    if not args.lazy:
        print(f"naive pandas (2 kinds only, raw IDs): {t3 - t2:.2f} s; ratio findings/naive "
              f"{(t1 - t0) / max(t3 - t2, 1e-9):.1f}x")
    print(f"peak RSS: {peak_mib():,.0f} MiB")


if __name__ == "__main__":
    main()
