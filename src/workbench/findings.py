"""The one findings table (问题清单): every analysis returns rows in this shape."""

from __future__ import annotations

import pandas as pd

from .rules import finding_kinds

FINDING_COLUMNS = [
    "kind", "label", "systems", "id_number", "name", "town", "village", "school",
    "item", "period", "detail", "suggestion", "suggested_id",
]
SORT_COLUMNS = ["kind", "town", "school", "id_number", "item", "period"]


def empty_findings() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="string") for c in FINDING_COLUMNS})


def as_findings(frame: pd.DataFrame, kind: str | None = None) -> pd.DataFrame:
    """Bring an analysis result into the findings shape: all columns, labels from the rules, one row per grain."""
    df = frame.copy()
    if kind is not None:
        df["kind"] = kind
    kinds = finding_kinds()
    unknown = set(df["kind"].dropna()) - set(kinds)
    if unknown:
        raise ValueError(f"unknown finding kinds: {sorted(unknown)}")
    df["label"] = df["kind"].map({k: v["label"] for k, v in kinds.items()})
    for col in FINDING_COLUMNS:
        if col not in df.columns:
            df[col] = pd.NA
    df = df[FINDING_COLUMNS].astype("string")
    df = df.drop_duplicates(subset=["kind", "id_number", "item", "period"], keep="first")
    return df.sort_values(SORT_COLUMNS, na_position="first", kind="stable").reset_index(drop=True)


def combine(*frames: pd.DataFrame) -> pd.DataFrame:
    parts = [f for f in frames if f is not None and len(f)]
    if not parts:
        return empty_findings()
    return as_findings(pd.concat(parts, ignore_index=True))


# --------------------------------------------------------------------------------------------------- all analyses

# the analyses that contribute findings, in the order of the data flow (docs/design.md)
ANALYSES = ("reconcile", "dropout", "aid", "mentoring")
_MODULE_LABELS = {"reconcile": "三一致比对", "dropout": "控辍保学", "aid": "资助核查", "mentoring": "结对帮扶"}


def _analysis(name: str):
    """The analysis module `workbench.<name>`, or None (with a warning to stderr) while it is not built yet."""
    import importlib
    import sys

    module_name = f"{__package__}.{name}"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        print(f"提示：{_MODULE_LABELS.get(name, name)}模块（{module_name}）尚未提供，已跳过", file=sys.stderr)
        return None
    if not hasattr(module, "findings"):
        print(f"提示：{_MODULE_LABELS.get(name, name)}模块（{module_name}）尚无 findings()，已跳过", file=sys.stderr)
        return None
    return module


def run_analyses(ws, analyses: tuple[str, ...] | list[str] = ANALYSES) -> dict[str, pd.DataFrame]:
    """The findings of each analysis (name -> findings table, in the order given), the analyses running side by
    side on threads: what they share is built once first (a module's `prepare(ws)`: the person link and the linked
    views; meanwhile its `early(ws)`, the part that needs no link, on a second thread), then each analysis runs its
    SQL on its own connection to the Workspace's DuckDB engine, the first on the calling thread and the others on
    the pool's (DuckDB works without Python's lock, so two cores serve two analyses). The results do not depend on
    the threads: each analysis is a pure function of the data."""
    from concurrent.futures import ThreadPoolExecutor

    modules = {name: m for name in analyses if (m := _analysis(name)) is not None}
    with ThreadPoolExecutor(max_workers=max(1, len(modules) - 1), thread_name_prefix="workbench-analysis") as pool:
        # work that needs no person link (a module's `early(ws)`) runs on a second thread meanwhile
        early = [pool.submit(m.early, ws) for m in modules.values() if hasattr(m, "early")]
        for m in modules.values():   # shared state first (the person link, the linked views), once
            if hasattr(m, "prepare"):
                m.prepare(ws)
        for f in early:
            f.result()
        if len(modules) < 2:
            return {name: m.findings(ws) for name, m in modules.items()}
        # the first analysis on this thread (the link opened its connection), the others on the pool's
        first, *rest = modules
        futures = {name: pool.submit(modules[name].findings, ws) for name in rest}
        out = {first: modules[first].findings(ws)}
        out.update({name: f.result() for name, f in futures.items()})
        return {name: out[name] for name in modules}


def all_findings(ws) -> pd.DataFrame:
    """Every analysis's findings in one table (问题清单), one row per grain, in a deterministic order."""
    return combine(*run_analyses(ws).values())


def kind_counts(findings: pd.DataFrame) -> pd.DataFrame:
    """Counts per kind in the rules' order: kind, label (中文), count."""
    kinds = finding_kinds()
    counts = findings["kind"].value_counts()
    return pd.DataFrame({
        "kind": list(kinds), "label": [v["label"] for v in kinds.values()],
        "count": [int(counts.get(k, 0)) for k in kinds],
    })


# --------------------------------------------------------------------------------------------------- command line

def add_arguments(parser) -> None:
    parser.add_argument("folder", metavar="DIR", help="导出文件所在文件夹")
    parser.add_argument("--as-of", dest="as_of", metavar="YYYY-MM-DD",
                        help="核查基准日期（默认：按数据推断）")
    parser.add_argument("--out", metavar="FILE", help="输出问题清单：.xlsx、.csv 或 .json；不指定则打印各类问题数量")
    parser.add_argument("--no-cache", dest="no_cache", action="store_true", help="不使用解析缓存，重新读取全部文件")


def _load(folder: str, as_of, no_cache: bool):
    import inspect
    import os
    import tempfile

    from .workspace import load_folder

    params = inspect.signature(load_folder).parameters
    kwargs = {"as_of": as_of}
    if no_cache:
        for name, value in (("cache", False), ("use_cache", False), ("no_cache", True)):
            if name in params:
                kwargs[name] = value
                break
        else:  # no switch: point the cache at an empty temporary folder
            with tempfile.TemporaryDirectory(prefix="workbench-nocache-") as tmp:
                old = os.environ.get("WORKBENCH_CACHE")
                os.environ["WORKBENCH_CACHE"] = tmp
                try:
                    return load_folder(folder, **kwargs)
                finally:
                    if old is None:
                        os.environ.pop("WORKBENCH_CACHE", None)
                    else:
                        os.environ["WORKBENCH_CACHE"] = old
    return load_folder(folder, **kwargs)


def write_findings(findings: pd.DataFrame, path) -> None:
    """Write the findings table as .json (array of objects), .csv (UTF-8 with BOM) or .xlsx (the report)."""
    import json
    from pathlib import Path

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        from .reports import findings_report
        findings_report(findings, path)
    elif suffix == ".csv":
        findings[FINDING_COLUMNS].to_csv(path, index=False, encoding="utf-8-sig")
    elif suffix == ".json":
        records = findings[FINDING_COLUMNS].astype(object).where(findings[FINDING_COLUMNS].notna(), None)
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(records.to_dict(orient="records"), fh, ensure_ascii=False, indent=1)
            fh.write("\n")
    else:
        raise ValueError(f"不支持的输出格式：{path.name}（请使用 .xlsx、.csv 或 .json）")


def run(args) -> int:
    import datetime as dt
    import sys
    from pathlib import Path

    folder = Path(args.folder)
    if not folder.is_dir():
        print(f"错误：文件夹不存在：{folder}", file=sys.stderr)
        return 2
    as_of = None
    if args.as_of:
        try:
            as_of = dt.date.fromisoformat(args.as_of)
        except ValueError:
            print(f"错误：日期格式应为 YYYY-MM-DD：{args.as_of}", file=sys.stderr)
            return 2
    out = Path(args.out) if args.out else None
    if out is not None and out.suffix.lower() not in (".xlsx", ".csv", ".json"):
        print(f"错误：不支持的输出格式：{out.name}（请使用 .xlsx、.csv 或 .json）", file=sys.stderr)
        return 2
    ws = _load(str(folder), as_of, bool(getattr(args, "no_cache", False)))
    found = all_findings(ws)
    if out is not None:
        if out.parent and not out.parent.exists():
            out.parent.mkdir(parents=True, exist_ok=True)
        write_findings(found, out)
        print(f"已写出问题清单：{out}（共 {len(found)} 条）")
        return 0
    counts = kind_counts(found)

    def width(text: str) -> int:  # display width: CJK characters count double
        return sum(2 if ord(ch) > 0xFF else 1 for ch in text)

    pad = max([width(label) for label in counts["label"]] + [4])
    as_of_text = getattr(ws, "as_of", None)
    print(f"问题清单（基准日期 {as_of_text}）" if as_of_text else "问题清单")
    for label, count in zip(counts["label"], counts["count"]):
        print(f"{label}{' ' * (pad - width(label))}  {count:>6}")
    print(f"合计{' ' * (pad - 4)}  {len(found):>6}")
    return 0
