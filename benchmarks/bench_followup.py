"""Follow-up ledger figures: import, concurrent appends, derived item state. Prints figures; asserts nothing.

    python benchmarks/bench_followup.py [--items 2000] [--processes 8] [--events 200] [--county DIR]

--county: a generated county (`workbench samples DIR --format parquet`, or an export folder): also time the triage
of its 疑似问题 list and print the share of right suggestions against its suspects_key.csv.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import tempfile
import time
from pathlib import Path

import pandas as pd

from workbench.followup import Ledger, _workers


def make_list(n: int, list_id: str) -> pd.DataFrame:
    towns = ["城关镇", "蜀河镇", "吕河镇", "神河镇"]
    cats = ["身份证号错误", "疑似辍学", "人员信息不一致", "应助未助", "在校生状况与学籍不一致"]
    return pd.DataFrame({
        "list_id": list_id, "seq": [str(i + 1) for i in range(n)], "town": [towns[i % 4] for i in range(n)],
        "school_name": "测试学校", "name": [f"测试{i}" for i in range(n)],
        "id_number": [f"{610928200000000000 + i * 7919:018d}" for i in range(n)],
        "category": [cats[i % 5] for i in range(n)], "deadline": pd.Timestamp("2019-12-05"),
        "issued_date": pd.Timestamp("2019-11-28"), "extra": [{"备注": ""}] * n,
    })


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=2000)
    ap.add_argument("--processes", type=int, default=8)
    ap.add_argument("--events", type=int, default=200)
    ap.add_argument("--county", default=None)
    args = ap.parse_args()
    if args.county:
        bench_triage(Path(args.county))
    with tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "bench.sqlite")
        ledger = Ledger(db)
        t = time.perf_counter()
        res = ledger.import_list(make_list(args.items, "第1批"), actor="bench")
        t_import = time.perf_counter() - t
        t = time.perf_counter()
        ledger.import_list(make_list(args.items, "第1批"), actor="bench")
        t_again = time.perf_counter() - t
        t = time.perf_counter()
        ledger.import_list(make_list(args.items + args.items // 2, "第2批"), actor="bench")
        t_round2 = time.perf_counter() - t
        keys = list(res["item_key"])
        total = args.processes * args.events
        t = time.perf_counter()
        with mp.get_context("spawn").Pool(args.processes) as pool:
            spans = pool.starmap(_workers.append_events_timed,
                                 [(db, keys[i::args.processes], args.events, f"w{i}")
                                  for i in range(args.processes)])
        t_append = time.perf_counter() - t
        t_span = max(e for _, _, e in spans) - min(s for _, s, _ in spans)
        t = time.perf_counter()
        items = ledger.items()
        t_items = time.perf_counter() - t
        n_events = len(ledger.events())
        t = time.perf_counter()
        ledger.export_response(Path(tmp) / "out.xlsx")
        t_export = time.perf_counter() - t
    print(f"import {args.items} items: {t_import:.2f} s ({args.items / t_import:.0f} items/s)")
    print(f"import same list again (no-op): {t_again:.2f} s")
    print(f"import round 2 ({args.items + args.items // 2} items, {args.items} repeats): {t_round2:.2f} s")
    print(f"{args.processes} processes x {args.events} events: {t_append:.2f} s wall incl. process start "
          f"; appends themselves {t_span:.2f} s ({total / t_span:.0f} events/s)")
    print(f"items() over {len(items)} items / {n_events} events: {t_items:.2f} s")
    print(f"export_response {len(items)} rows: {t_export:.2f} s")


def bench_triage(folder: Path) -> None:
    from workbench import findings
    from workbench.followup.triage import NOT_FOUND, triage
    from workbench.workspace import load_folder, load_parquet_folder

    t = time.perf_counter()
    ws = load_parquet_folder(folder) if (folder / "registry.parquet").exists() else load_folder(folder, progress=False)
    t_load = time.perf_counter() - t
    t = time.perf_counter()
    found = findings.all_findings(ws)
    t_find = time.perf_counter() - t
    t = time.perf_counter()
    out = triage(ws.tables["suspects"], ws, findings=found)
    t_triage = time.perf_counter() - t
    key = pd.read_csv(folder / "suspects_key.csv", dtype=str, keep_default_na=False)
    got = out.set_index(out["seq"].astype(int))
    right = []
    for r in key.to_dict("records"):
        g = got.loc[int(r["seq"])]
        if r["cause"] in ("not_found", "不属实"):
            right.append((r["cause"], g["likely_result"] == (NOT_FOUND if r["cause"] == "not_found" else "不属实")))
            continue
        ok = g["likely_result"] == "属实"
        ok = ok and (not r["correct_id"] or g["suggested_id"] == r["correct_id"])
        ok = ok and (not r["correct_value"] or g["suggested_value"] == r["correct_value"])
        right.append(("injected", bool(ok)))
    res = pd.DataFrame(right, columns=["cause", "ok"])
    inj = res[res["cause"] == "injected"]["ok"]
    print(f"county {folder.name}: load {t_load:.1f} s, all_findings {t_find:.1f} s, triage of {len(out)} items "
          f"{t_triage:.1f} s; injected causes right {inj.mean():.1%} ({int(inj.sum())}/{len(inj)}), "
          f"all items {res['ok'].mean():.1%}")


if __name__ == "__main__":
    main()
