"""Sample county generation speed and memory: the 60,000-pupil Excel county (goal < 60 s) and parquet counties for
scale tests (goal: 6,000,000 pupils in < 12 GiB). Each size runs in a child process; prints wall time, CPU time
and peak memory (VmHWM / ru_maxrss).

    python benchmarks/bench_samples.py                       # 60,000 excel
    python benchmarks/bench_samples.py --parquet 600000 6000000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
import pandas as pd
from workbench.samples import generate
n, fmt, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
t0, c0 = time.perf_counter(), time.process_time()
generate(out, students=n, fmt=fmt)
wall, cpu = time.perf_counter() - t0, time.process_time() - c0
rows = {}
if fmt == "parquet":
    import pyarrow.parquet as pq
    rows = {p.stem: pq.ParquetFile(p).metadata.num_rows for p in Path(out).glob("*.parquet")}
key = pd.read_csv(Path(out) / "answer_key.csv", dtype=str)
size = sum(p.stat().st_size for p in Path(out).rglob("*") if p.is_file())
print(json.dumps({"students": n, "format": fmt, "wall_s": round(wall, 1), "cpu_s": round(cpu, 1),
                  "peak_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
                  "answer_key_rows": len(key), "bytes": size, "rows": rows}))
"""


def run(n: int, fmt: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        res = subprocess.run([sys.executable, "-c", CHILD, str(n), fmt, f"{tmp}/county"], capture_output=True,
                             text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--excel", type=int, nargs="*", default=[60000])
    ap.add_argument("--parquet", type=int, nargs="*", default=[])
    args = ap.parse_args()
    for n in args.excel:
        r = run(n, "excel")
        print(f"excel   {n:>9,} pupils: {r['wall_s']:7.1f} s wall, {r['cpu_s']:7.1f} s CPU, peak {r['peak_mib']:,} MiB, "
              f"{r['bytes'] / 2**20:.0f} MiB written, {r['answer_key_rows']:,} answer-key rows (goal < 60 s)")
    for n in args.parquet:
        r = run(n, "parquet")
        print(f"parquet {n:>9,} pupils: {r['wall_s']:7.1f} s wall, {r['cpu_s']:7.1f} s CPU, peak {r['peak_mib']:,} MiB "
              f"(goal < 12 GiB), rows {r['rows']}")


if __name__ == "__main__":
    main()
