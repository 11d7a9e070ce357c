"""Voila dashboards: time to first complete render of each dashboard on a 60,000-student county, against an empty
notebook, with and without pre-started kernels; and the time a filter change takes to update the view.

    python benchmarks/bench_dashboards.py [--students 60000] [--data DIR] [--no-preheat-run]

A dashboard's render is complete when its `.wb-ready` element is shown (all widgets built, data loaded); the empty
notebook shows one such element. Goal: each dashboard within 2x of the empty notebook; a filter change < 0.5 s.
Prints figures and ratios; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from workbench import serve

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--disable-dev-shm-usage"]
EMPTY = "empty.ipynb"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def county(students: int, data: str | None) -> Path:
    if data:
        return Path(data)
    cache = Path(os.environ.get("WORKBENCH_CACHE") or Path.home() / ".cache" / "workbench")
    folder = cache / "bench" / f"county-{students}"
    if not (folder / "answer_key.csv").exists():
        t = time.perf_counter()
        from workbench.cli import main

        main(["samples", str(folder), "--students", str(students), "--seed", "1"])
        print(f"generated {students}-student county in {time.perf_counter() - t:.1f} s: {folder}")
    return folder


def empty_notebook(path: Path) -> None:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(
        "import ipywidgets as w\nw.HTML('<span class=\"wb-ready\">空白笔记本</span>')")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def start_voila(folder: Path, data: Path, ledger: Path, preheat: bool) -> tuple[subprocess.Popen, str, Path]:
    port = free_port()
    env = serve.voila_env(data, ledger=str(ledger))
    env["MPLBACKEND"] = "Agg"
    cmd = serve.voila_command(port, preheat=preheat)
    cmd[cmd.index(str(serve.DASHBOARDS_DIR))] = str(folder)
    log = folder / f"voila-{'preheat' if preheat else 'cold'}.log"
    proc = subprocess.Popen(cmd, cwd=folder, env=env, stdout=open(log, "w"),  # noqa: SIM115
                            stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    if not serve.wait_until_up(url + "/", proc, timeout=120):
        raise SystemExit("Voila did not start:\n" + log.read_text()[-2000:])
    return proc, url, log


def render_time(browser, url: str, name: str) -> float:
    ctx = browser.new_context(viewport={"width": 1360, "height": 1000})
    ctx.route("**/*", lambda r: r.abort() if "cdn" in r.request.url else r.continue_())
    page = ctx.new_page()
    t = time.perf_counter()
    page.goto(f"{url}/voila/render/{name}", wait_until="domcontentloaded", timeout=600_000)
    page.wait_for_selector(".wb-ready", timeout=600_000, state="attached")
    elapsed = time.perf_counter() - t
    errors = page.locator(".wb-error").count()
    ctx.close()
    if errors:
        print(f"  ! {name}: {errors} error message(s) shown")
    return elapsed


def filter_times(browser, url: str) -> dict[str, float]:
    """Wall time from a filter change until the view is updated: figures, chart and table (the table is written
    last by the dashboard, so the view is complete when its count and the chart have both changed)."""
    out = {}
    ctx = browser.new_context(viewport={"width": 1360, "height": 1000})
    ctx.route("**/*", lambda r: r.abort() if "cdn" in r.request.url else r.continue_())
    page = ctx.new_page()
    page.goto(f"{url}/voila/render/special_groups.ipynb", wait_until="domcontentloaded", timeout=600_000)
    page.wait_for_selector(".wb-ready", timeout=600_000)
    changed = """([count, chart]) => document.querySelector('.wb-paged-table .wb-count').innerText !== count
                  && document.querySelector('.wb-chart img, img.wb-chart').src !== chart"""

    def state():
        return [page.inner_text(".wb-paged-table .wb-count"),
                page.locator(".wb-chart img, img.wb-chart").first.get_attribute("src")]

    steps = [(f"勾选{g}", lambda g=g: page.locator(".wb-group-filter label", has_text=g).first.click())
             for g in ("贫困", "留守", "残疾")]
    sel = page.locator(".wb-group-filter .widget-dropdown select").first
    towns = [o for o in sel.locator("option").all_inner_texts() if o != "全部"]
    steps += [(f"选乡镇{t}", lambda t=t: sel.select_option(label=t)) for t in towns[:2]]
    for name, act in steps:
        before = state()
        page.wait_for_timeout(300)  # idle kernel before each change
        t = time.perf_counter()
        act()
        page.wait_for_function(changed, arg=before, timeout=60_000)
        out[f"特殊群体 {name}"] = time.perf_counter() - t
    ctx.close()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--students", type=int, default=60000)
    ap.add_argument("--data", help="an existing county folder instead of generating one")
    ap.add_argument("--no-preheat-run", action="store_true", help="skip the run with pre-started kernels")
    args = ap.parse_args()
    data = county(args.students, args.data)

    from workbench import workspace

    t = time.perf_counter()
    ws = workspace.load_folder(data)
    print(f"load_folder (parse cache warm-up): {time.perf_counter() - t:.1f} s, "
          f"{len(ws.tables.get('registry', []))} registry rows")
    del ws

    tmp = Path(tempfile.mkdtemp(prefix="bench-dashboards-"))
    folder = tmp / "dashboards"
    shutil.copytree(serve.DASHBOARDS_DIR, folder)
    empty_notebook(folder / EMPTY)
    names = [EMPTY] + sorted(p.name for p in folder.glob("*.ipynb") if p.name != EMPTY)

    from playwright.sync_api import sync_playwright

    results: dict[str, dict[str, float]] = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        runs = [False] if args.no_preheat_run else [False, True]
        for preheat in runs:
            mode = "preheat" if preheat else "cold"
            proc, url, _log = start_voila(folder, data, tmp / f"ledger-{mode}.sqlite", preheat)
            try:
                if preheat:  # let the pool execute every notebook once before the first request
                    wait = 15 + 1.5 * sum(results["cold"].values())
                    print(f"waiting {wait:.0f} s for the pre-started kernels to execute the notebooks…")
                    time.sleep(wait)
                results[mode] = {n: render_time(browser, url, n) for n in names}
                if not preheat:
                    ft = filter_times(browser, url)
            finally:
                proc.terminate()
                proc.wait(timeout=30)
        browser.close()

    print(f"\nVoila time to first complete render, {args.students}-student county ({data}):")
    print(f"{'notebook':<24}" + "".join(f"{m + ' s':>12}{m + ' x empty':>16}" for m in results))
    for n in names:
        row = f"{n:<24}"
        for r in results.values():
            row += f"{r[n]:>12.2f}{r[n] / r[EMPTY]:>16.2f}"
        print(row)
    print("\nfilter change -> view updated (goal < 0.5 s):")
    for k, v in ft.items():
        print(f"  {k:<20} {v:.3f} s")
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
