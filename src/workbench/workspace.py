"""A loaded folder of exports (工作区): one canonical table per system, the load report and the rejects.

`load_folder(path, as_of=None)` reads every file under a folder (recursively) with `workbench.sources`, caches
each parsed file as parquet keyed by its content hash and the rules version, and concatenates the tables of each
system. `workbench load DIR [--as-of YYYY-MM-DD] [--json] [--no-cache]` prints the report.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import json
import multiprocessing
import os
import sys
from collections import deque
from collections.abc import MutableMapping
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures import wait as futures_wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import pandas as pd
import pyarrow as pa

from . import sources
from .dates import as_date
from .engine import lit
from .rules import rules_version
from .sources import REJECT_COLUMNS, REPORT_COLUMNS, SheetResult, conform, empty_table, system_labels
from .terms import previous_term as _previous_term
from .terms import term_of, term_sort_key

__all__ = ["Workspace", "add_arguments", "cache_dir", "infer_as_of", "load_folder", "load_parquet_folder", "run",
           "wait_cache_writes"]

SYSTEM_KEYS = sources.SYSTEM_KEYS
SKIPPED_NAMES = ("answer_key",)


def cache_dir() -> Path:
    """Parse cache folder: $WORKBENCH_CACHE, else ~/.cache/workbench."""
    return Path(os.environ.get("WORKBENCH_CACHE") or Path.home() / ".cache" / "workbench").expanduser()


class Workspace:
    """One canonical DataFrame per system (`tables`), the load `report` (one row per file and sheet), `rejects`
    (rows not loaded, with a Chinese reason) and `warnings` (values that could not be read and were set empty)."""

    def __init__(self, tables: dict[str, pd.DataFrame], as_of, root=None, report: pd.DataFrame | None = None,
                 rejects: pd.DataFrame | None = None, warnings: pd.DataFrame | None = None):
        self.root = Path(root) if root is not None else None
        self.as_of: _dt.date = as_date(as_of) if as_of is not None else _dt.date.today()
        self.term: str = term_of(self.as_of)
        self.tables: dict[str, pd.DataFrame] = {k: tables[k] if k in tables else empty_table(k) for k in SYSTEM_KEYS}
        self.report = report if report is not None else pd.DataFrame(columns=REPORT_COLUMNS)
        self.rejects = rejects if rejects is not None else pd.DataFrame(columns=REJECT_COLUMNS)
        self.warnings = warnings if warnings is not None else pd.DataFrame(columns=REJECT_COLUMNS)

    def __repr__(self) -> str:
        sizes = ", ".join(f"{k}={len(v)}" for k, v in self.tables.items())
        return f"Workspace(root={self.root}, as_of={self.as_of}, term={self.term}, {sizes})"

    def table(self, key: str) -> pd.DataFrame:
        """The canonical table of a system key (registry, aid, roster, ledger, pairs, activities, ...)."""
        if key not in self.tables:
            raise KeyError(f"未知的数据类型：{key}（可选：{'、'.join(SYSTEM_KEYS)}）")
        return self.tables[key]

    @property
    def terms(self) -> list[str]:
        """Registry terms present, oldest first."""
        reg = self.tables["registry"]
        return sorted(reg["term"].dropna().unique(), key=term_sort_key) if len(reg) else []

    def registry_term(self, term: str | None = None) -> pd.DataFrame:
        """The registry (学籍) of one term, default the as-of term."""
        reg = self.tables["registry"]
        t = term or self.term
        return reg[(reg["term"] == t).fillna(False).to_numpy(dtype=bool)].reset_index(drop=True)

    @property
    def previous_term(self) -> str:
        """Term code before the as-of term (`2019秋` -> `2019春`); its registry: `registry_term(ws.previous_term)`."""
        return _previous_term(self.term)

    def registry_previous(self) -> pd.DataFrame:
        """The registry of the term before the as-of term."""
        return self.registry_term(self.previous_term)

    @classmethod
    def from_tables(cls, tables: dict[str, pd.DataFrame], as_of=None, root=None) -> Workspace:
        """A Workspace from canonical frames (tests, the generator's parquet output): missing columns filled."""
        conformed = {}
        for key in SYSTEM_KEYS:
            frame = tables.get(key)
            conformed[key] = empty_table(key) if frame is None else conform(frame, key)
        if as_of is None:
            as_of = infer_as_of(conformed)
        ws = cls(conformed, as_of, root=root)
        reg = ws.tables["registry"]
        if len(reg) and reg["term"].isna().any():
            reg.loc[reg["term"].isna(), "term"] = ws.term
        return ws


# ------------------------------------------------------------------------------------------------ as_of
def infer_as_of(tables: dict[str, pd.DataFrame], today: _dt.date | None = None) -> _dt.date:
    """The latest date the data implies: the month end of the latest activity or suspect-list date, capped at
    today; else today."""
    today = today or _dt.date.today()
    latest = None
    for key, col in (("activities", "date"), ("suspects", "issued_date")):
        frame = tables.get(key)
        if frame is None or col not in frame.columns or not len(frame):
            continue
        d = pd.to_datetime(frame[col], errors="coerce")
        d = d[d.notna() & (d <= pd.Timestamp(today))]
        if len(d):
            m = d.max()
            latest = m if latest is None or m > latest else latest
    if latest is None:
        return today
    month_end = (latest + pd.offsets.MonthEnd(0)).date()
    return min(month_end, today)


# ------------------------------------------------------------------------------------------------ cache
_HASH_INDEX: dict[str, tuple[int, int, str]] | None = None


def _hash_index() -> dict[str, tuple[int, int, str]]:
    """path -> (size, mtime_ns, content hash): the content hash is recomputed only when a file changed."""
    global _HASH_INDEX
    if _HASH_INDEX is None:
        try:
            raw = json.loads((cache_dir() / "hash_index.json").read_text(encoding="utf-8"))
            _HASH_INDEX = {k: tuple(v) for k, v in raw.items()}
        except (OSError, ValueError):
            _HASH_INDEX = {}
    return _HASH_INDEX


def _save_hash_index() -> None:
    if _HASH_INDEX is None:
        return
    try:
        cache_dir().mkdir(parents=True, exist_ok=True)
        tmp = cache_dir() / f"hash_index.json.tmp{os.getpid()}"
        tmp.write_text(json.dumps(_HASH_INDEX, ensure_ascii=False), encoding="utf-8")
        tmp.replace(cache_dir() / "hash_index.json")
    except OSError:
        pass


def _content_hash(path: Path) -> str:
    st = path.stat()
    index = _hash_index()
    k = str(path.resolve())
    hit = index.get(k)
    if hit and hit[0] == st.st_size and hit[1] == st.st_mtime_ns:
        return hit[2]
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    digest = h.hexdigest()
    index[k] = (st.st_size, st.st_mtime_ns, digest)
    return digest


def _file_key(path: Path) -> str:
    """Cache key of a file: its content hash, the rules version and the loader version."""
    h = hashlib.sha256(_content_hash(path).encode())
    h.update(rules_version().encode())
    h.update(sources.LOADER_VERSION.encode())
    return h.hexdigest()[:40]


def _read_parquet(path: Path) -> pd.DataFrame:
    """A cached frame with the canonical pandas dtypes straight from Arrow (no conversion pass)."""
    import pyarrow.parquet as pq

    mapping = {pa.string(): pd.StringDtype("pyarrow"), pa.large_string(): pd.StringDtype("pyarrow"),
               pa.int64(): pd.Int64Dtype(), pa.bool_(): pd.BooleanDtype()}
    return pq.read_table(path).to_pandas(types_mapper=mapping.get)


def _records(frame: pd.DataFrame) -> list[dict]:
    """Rows as JSON-ready dicts (NA -> None) for a cache metadata file."""
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


def _write_meta(folder: Path, key: str, meta) -> None:
    """Write `<key>.json` atomically (temporary file, then rename), so readers never see half a file."""
    tmp = folder / f"{key}.json.tmp{os.getpid()}"
    tmp.write_text(json.dumps(meta, ensure_ascii=False, default=str), encoding="utf-8")
    tmp.replace(folder / f"{key}.json")


def _read_meta(folder: Path, key: str):
    """The metadata of a cache entry, or None when there is none."""
    path = folder / f"{key}.json"
    if not path.exists():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def _cache_write(key: str, results: list[SheetResult]) -> None:
    folder = cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        meta = []
        for i, r in enumerate(results):
            entry = {"system": r.system, "report": r.report,
                     "rejects": _records(r.rejects),
                     "warnings": _records(r.warnings)}
            if r.system is not None:
                sources.extra_to_json(r.frame).to_parquet(folder / f"{key}_{i}.parquet", index=False, compression="lz4")
            meta.append(entry)
        _write_meta(folder, key, meta)
    except OSError:
        pass  # a read-only cache folder only costs speed


def _cache_read(key: str) -> list[SheetResult] | None:
    folder = cache_dir()
    try:
        meta = _read_meta(folder, key)
        if meta is None:
            return None
        out = []
        for i, entry in enumerate(meta):
            system = entry["system"]
            if system is not None:
                frame = sources.extra_from_json(_read_parquet(folder / f"{key}_{i}.parquet"))
                frame = conform(frame, system)
            else:
                frame = pd.DataFrame()
            rej = pd.DataFrame(entry["rejects"], columns=REJECT_COLUMNS)
            warn = pd.DataFrame(entry["warnings"], columns=REJECT_COLUMNS)
            out.append(SheetResult(system, frame, entry["report"], rej, warn))
        return out
    except Exception:  # noqa: BLE001 - a damaged cache entry is re-parsed
        return None


# ------------------------------------------------------------------------------------------------ loading
def _is_skipped(path: Path) -> str | None:
    name = path.name
    low = name.lower()
    if low.startswith("answer_key") or (low.endswith("_key.csv")):
        return f"文件「{name}」是样例答案表（answer key），不是导出数据，已跳过"
    return None


def _files(root: Path) -> list[Path]:
    out = []
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root)
        if any(part.startswith(".") for part in rel.parts):
            continue  # hidden files and folders (.git, .ipynb_checkpoints ...)
        if p.is_file() and not p.name.startswith("~$"):
            out.append(p)
    return out


READ_AHEAD = 3                   # files read ahead by the reader thread (sequential parse)
PARALLEL_MIN_BYTES = 8_000_000   # below this, worker start-up costs more than it saves


def workers() -> int:
    """Worker processes for parsing a large folder: $WORKBENCH_WORKERS, else 2 where there are 2 cores or more
    and the main program is a guarded script (worker processes re-import it: the workbench CLI, a benchmark,
    pytest); 1 = this process, reading the next files in a thread (notebooks, unguarded scripts).
    Measured on a busy 2-core machine, 60,000-student county: 11-13 s with 2 workers, 15-16 s in one process."""
    env = os.environ.get("WORKBENCH_WORKERS")
    if env and env.strip().isdigit():
        return max(1, int(env))
    return min(2, os.cpu_count() or 1) if _main_is_guarded() else 1


def _main_is_guarded() -> bool:
    """Whether the main program is a file with an `if __name__ == "__main__"` guard (safe to re-import)."""
    main_file = getattr(sys.modules.get("__main__"), "__file__", None)
    if not main_file or not os.path.exists(main_file):
        return False
    try:
        with open(main_file, encoding="utf-8", errors="replace") as fh:
            return "__main__" in fh.read(200_000)
    except OSError:
        return False


def _parse_one(path: str, base: str) -> list[SheetResult]:
    return sources.parse_file(Path(path), Path(base))


def _parse_many(todo: list[Path], base: Path):
    """Parsed results of `todo`, in order. Large folders are parsed by worker processes (one file each); a
    small folder, or a failing pool, falls back to this process, reading the next file in a thread (the
    Excel reader releases the GIL) while the current one is parsed."""
    n_workers = workers()
    size = 0
    for p in todo:
        try:
            size += p.stat().st_size
        except OSError:
            pass
    done = 0
    if n_workers > 1 and len(todo) > 1 and size >= PARALLEL_MIN_BYTES:
        try:
            main_file = getattr(sys.modules.get("__main__"), "__file__", None)
            # spawn re-imports the main module: only possible when it is a real file (not `python -` / -c)
            ctx = multiprocessing.get_context("spawn" if main_file and os.path.exists(main_file) else "fork")
            with ProcessPoolExecutor(max_workers=min(n_workers, len(todo)), mp_context=ctx) as pool:
                futures = [pool.submit(_parse_one, str(p), str(base)) for p in todo]
                for p, fut in zip(todo, futures):
                    try:
                        result = fut.result()
                    except Exception:  # noqa: BLE001 - a worker failure: parse that file here
                        result = sources.parse_file(p, base)
                    done += 1
                    yield result
            return
        except (OSError, RuntimeError, BrokenProcessPool):
            pass  # no worker processes available here: parse the rest sequentially below
    todo = todo[done:]
    pool = ThreadPoolExecutor(max_workers=1) if len(todo) > 1 else None
    pending: deque = deque()
    nxt = 0
    try:
        for p in todo:
            # the reader thread keeps up to READ_AHEAD files ahead, so a run of small files (parse-bound) and
            # a large one (read-bound) overlap instead of taking turns
            while pool is not None and nxt < len(todo) and len(pending) < READ_AHEAD:
                pending.append(pool.submit(sources.read_sheets, todo[nxt]))
                nxt += 1
            raw = pending.popleft().result() if pending else None
            yield sources.parse_file(p, base, raw=raw)
    finally:
        for fut in pending:
            fut.cancel()
        if pool is not None:
            pool.shutdown(wait=True)


def load_folder(path, as_of=None, progress: bool = True, cache: bool = True) -> Workspace:
    """Read every export under `path` (recursively) into a Workspace. Never raises for a bad file: it gets a
    report line with a Chinese message and the rest of the folder loads."""
    root = Path(path).expanduser()
    if not root.exists():
        raise FileNotFoundError(f"文件夹不存在：{root}")
    files = [root] if root.is_file() else _files(root)
    base = root.parent if root.is_file() else root
    results: list[SheetResult] = []
    iterator = files
    if progress:
        try:
            from tqdm.auto import tqdm

            iterator = tqdm(files, desc="读取导出文件", unit="个文件", leave=False)
        except ImportError:  # pragma: no cover
            pass
    # cached files first (cheap); the others are parsed in order, in worker processes for a large folder
    keys: dict[Path, str | None] = {}
    folder_key = None
    if cache:
        wait_cache_writes()
        for p in files:
            if not _is_skipped(p):
                try:
                    keys[p] = _file_key(p)
                except OSError:
                    keys[p] = None
        _save_hash_index()
        folder_key = _folder_key(base, files, keys)
        hit = _folder_cache_read(folder_key) if folder_key else None
        if hit is not None:  # the whole folder is unchanged: one parquet per system
            return _assemble(root, *hit, as_of)
    cached: dict[Path, list[SheetResult]] = {}
    todo = []
    for p in files:
        if _is_skipped(p):
            continue
        key = keys.get(p)
        if key:
            hit_file = _cache_read(key)
            if hit_file is not None:
                cached[p] = hit_file
        if p not in cached:
            todo.append(p)
    parsed_all = _parse_many(todo, base)
    # cache files are written in a thread (parquet writing releases the GIL) while the next file is parsed;
    # it gets shallow copies (copy-on-write) because the frames are changed afterwards
    writer = ThreadPoolExecutor(max_workers=1) if cache else None
    file_writes = []
    for p in iterator:
        rel = p.relative_to(base).as_posix()
        skip = _is_skipped(p)
        if skip:
            results.append(SheetResult(None, pd.DataFrame(), {**{c: None for c in REPORT_COLUMNS}, "file": rel,
                                       "sheet": "", "rows_read": 0, "rows_loaded": 0, "rows_rejected": 0,
                                       "message": skip, "skipped": True}))
            continue
        parsed = cached.get(p)
        if parsed is None:
            parsed = next(parsed_all)
            key = keys.get(p)
            if cache and key:
                snapshot = [SheetResult(r.system, r.frame.copy(deep=False), dict(r.report), r.rejects.copy(),
                                        r.warnings.copy()) for r in parsed]
                file_writes.append(writer.submit(_cache_write, key, snapshot))
        for r in parsed:  # the cache is keyed by content: the path is the current one
            r.report["file"] = rel
            if r.system is not None and len(r.frame):
                r.frame["source_file"] = pd.Series(rel, index=r.frame.index, dtype="string")
            for df in (r.rejects, r.warnings):
                if len(df):
                    df["file"] = rel
        results.extend(parsed)

    parsed_all.close()
    tables = {}
    for key in SYSTEM_KEYS:  # one table per system, before the as-of date is applied
        cols = list(sources.canonical_columns(key))
        frames = [r.frame if list(r.frame.columns) == cols else conform(r.frame, key)
                  for r in results if r.system == key and len(r.frame)]
        if not frames:
            tables[key] = empty_table(key)
        elif len(frames) == 1:
            tables[key] = frames[0].reset_index(drop=True)
        else:
            tables[key] = pd.concat(frames, ignore_index=True)
    report = pd.DataFrame([r.report for r in results])
    for c in REPORT_COLUMNS:
        if c not in report.columns:
            report[c] = None
    report = report[REPORT_COLUMNS + [c for c in report.columns if c not in REPORT_COLUMNS]]
    rej = [r.rejects for r in results if len(r.rejects)]
    warn = [r.warnings for r in results if len(r.warnings)]
    rejects = pd.concat(rej, ignore_index=True) if rej else pd.DataFrame(columns=REJECT_COLUMNS)
    warnings = pd.concat(warn, ignore_index=True) if warn else pd.DataFrame(columns=REJECT_COLUMNS)
    if folder_key:
        _PENDING_WRITES.append(writer.submit(_folder_cache_write, folder_key,
                                             {k: v.copy(deep=False) for k, v in tables.items()},
                                             report.copy(), rejects.copy(), warnings.copy()))
    try:
        return _assemble(root, tables, report, rejects, warnings, as_of)
    finally:
        if writer is not None:
            # the per-file caches are complete on return; the folder cache is finished in the background
            # (joined by the next load_folder, or at interpreter exit), off the critical path
            futures_wait(file_writes)   # (a cache that could not be written is simply not used)
            writer.shutdown(wait=False)


_PENDING_WRITES: list = []   # folder-cache writes still running in the background


def wait_cache_writes() -> None:
    """Wait for the folder-cache writes of earlier load_folder calls (a reload waits for them, so it sees
    them complete)."""
    pending = list(_PENDING_WRITES)
    _PENDING_WRITES.clear()
    futures_wait(pending)


def _assemble(root: Path, tables: dict[str, pd.DataFrame], report: pd.DataFrame, rejects: pd.DataFrame,
              warnings: pd.DataFrame, as_of) -> Workspace:
    """Apply the as-of date (inferred when None) to the parsed tables and build the Workspace."""
    if as_of is None:
        as_of = infer_as_of({k: tables[k] for k in ("activities", "suspects")})
    results = [SheetResult(k, t, {"term": "-"}) for k, t in tables.items() if len(t)]
    sources.finalize(results, as_of)
    out = {r.system: r.frame for r in results}
    default_term = term_of(as_date(as_of))
    report = report.copy()
    fill = report["system"].isin(["registry", "aid"]) & report["term"].isna() & (report["rows_loaded"] > 0)
    report.loc[fill, "term"] = default_term
    return Workspace({k: out.get(k, t) for k, t in tables.items()}, as_of, root=root, report=report,
                     rejects=rejects, warnings=warnings)


def _folder_key(root: Path, files: list[Path], keys: dict[Path, str | None]) -> str | None:
    h = hashlib.sha256()
    for p in files:
        k = keys.get(p)
        if k is None and not _is_skipped(p):
            return None
        h.update(p.relative_to(root).as_posix().encode())
        h.update((k or "skipped").encode())
    h.update(rules_version().encode())
    h.update(sources.LOADER_VERSION.encode())
    return "folder_" + h.hexdigest()[:40]


def _folder_cache_write(key: str, tables, report, rejects, warnings) -> None:
    folder = cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for system, table in tables.items():
            sources.extra_to_json(table).to_parquet(folder / f"{key}_{system}.parquet", index=False, compression="zstd")
        meta = {"report": _records(report),
                "rejects": _records(rejects),
                "warnings": _records(warnings)}
        _write_meta(folder, key, meta)
    except OSError:
        pass


def _folder_cache_read(key: str):
    folder = cache_dir()
    try:
        meta = _read_meta(folder, key)
        if meta is None:
            return None
        tables = {}
        for system in SYSTEM_KEYS:
            frame = _read_parquet(folder / f"{key}_{system}.parquet")
            tables[system] = conform(sources.extra_from_json(frame), system)
        report = pd.DataFrame(meta["report"])
        for c in REPORT_COLUMNS:
            if c not in report.columns:
                report[c] = None
        rejects = pd.DataFrame(meta["rejects"], columns=REJECT_COLUMNS)
        warnings = pd.DataFrame(meta["warnings"], columns=REJECT_COLUMNS)
        return tables, report, rejects, warnings
    except Exception:  # noqa: BLE001 - a damaged cache entry: parse again
        return None


def _read_canonical_parquet(path: Path, key: str) -> pd.DataFrame:
    frame = pd.read_parquet(path)
    if key == "suspects" and "extra" in frame.columns and frame["extra"].map(lambda x: isinstance(x, str)).any():
        frame = sources.extra_from_json(frame)
    return frame


class LazyTables(MutableMapping):
    """The tables of a Workspace over canonical parquet files, each read into pandas only when first asked for
    (`ws.tables["registry"]`). The SQL analyses (workbench.engine) read a table that was never asked for straight
    from its parquet file, so a province-sized folder never has to fit in pandas."""

    def __init__(self, paths: dict[str, Path], term: str):
        self.paths = dict(paths)
        self.term = term
        self._frames: dict[str, pd.DataFrame] = {}

    def loaded(self, key: str) -> bool:
        return key in self._frames

    def __getitem__(self, key: str) -> pd.DataFrame:
        if key not in self._frames:
            if key not in SYSTEM_KEYS:
                raise KeyError(key)
            path = self.paths.get(key)
            frame = conform(_read_canonical_parquet(path, key), key) if path is not None else empty_table(key)
            if key == "registry" and len(frame) and frame["term"].isna().any():
                frame.loc[frame["term"].isna(), "term"] = self.term
            self._frames[key] = frame
        return self._frames[key]

    def __setitem__(self, key: str, frame: pd.DataFrame) -> None:
        self._frames[key] = frame

    def __delitem__(self, key: str) -> None:
        self._frames.pop(key, None)
        self.paths.pop(key, None)

    def __iter__(self):
        return iter(SYSTEM_KEYS)

    def __len__(self) -> int:
        return len(SYSTEM_KEYS)


def _parquet_as_of(paths: dict[str, Path]) -> _dt.date:
    """infer_as_of over parquet files (the latest activity or suspect-list date, month end, capped at today)."""
    import duckdb

    today = _dt.date.today()
    latest = None
    con = duckdb.connect()
    try:
        for key, col in (("activities", "date"), ("suspects", "issued_date")):
            path = paths.get(key)
            if path is None:
                continue
            try:
                value = con.execute(f"SELECT max(TRY_CAST({col} AS DATE)) FROM read_parquet({lit(path)}) "
                                    f"WHERE TRY_CAST({col} AS DATE) <= ?", [today]).fetchall()[0][0]
            except duckdb.Error:
                continue
            if value is not None and (latest is None or value > latest):
                latest = value
    finally:
        con.close()
    if latest is None:
        return today
    return min((pd.Timestamp(latest) + pd.offsets.MonthEnd(0)).date(), today)


def load_parquet_folder(path, as_of=None, lazy: bool = False) -> Workspace:
    """A folder of canonical `<system>.parquet` files (`workbench samples --format parquet`) as a Workspace.
    lazy=True reads no table up front (LazyTables): for province-sized folders, analysed by the SQL engine."""
    root = Path(path).expanduser()
    paths = {key: root / f"{key}.parquet" for key in SYSTEM_KEYS if (root / f"{key}.parquet").exists()}
    if lazy:
        import pyarrow.parquet as pq

        as_of = as_date(as_of) if as_of is not None else _parquet_as_of(paths)
        ws = Workspace({}, as_of, root=root)
        ws.tables = LazyTables(paths, ws.term)
        ws.parquet_paths = paths
        counts = {key: pq.read_metadata(p).num_rows for key, p in paths.items()}
    else:
        tables = {key: _read_canonical_parquet(p, key) for key, p in paths.items()}
        ws = Workspace.from_tables(tables, as_of, root=root)
        counts = {key: len(frame) for key, frame in tables.items()}
    rows = [{"file": p.name, "sheet": "", "system": key, "system_label": system_labels()[key],
             "rows_read": counts[key], "rows_loaded": counts[key], "rows_rejected": 0,
             "message": f"文件「{p.name}」：{system_labels()[key]} {counts[key]} 行（parquet）"}
            for key, p in paths.items()]
    ws.report = pd.DataFrame(rows, columns=REPORT_COLUMNS)
    return ws


# ------------------------------------------------------------------------------------------------ CLI
def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", help="导出文件所在文件夹（含子文件夹）")
    p.add_argument("--as-of", dest="as_of", default=None, help="核查基准日 YYYY-MM-DD（默认由数据推断）")
    p.add_argument("--json", action="store_true", help="以 JSON 输出读取报告和拒绝行")
    p.add_argument("--no-cache", dest="no_cache", action="store_true", help="不使用解析缓存")


_REPORT_HEADERS = {"file": "文件", "sheet": "工作表", "system_label": "数据类型", "term": "学期",
                   "rows_read": "读取行数", "rows_loaded": "载入行数", "rows_rejected": "拒绝行数", "message": "说明"}


def run(args: argparse.Namespace) -> int:
    try:
        as_of = as_date(args.as_of) if args.as_of else None
    except ValueError:
        print(f"无法识别的日期：{args.as_of}（应为 YYYY-MM-DD）", file=sys.stderr)
        return 2
    try:
        ws = load_folder(args.dir, as_of=as_of, progress=not args.json, cache=not args.no_cache)
    except FileNotFoundError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    if args.json:
        def records(df: pd.DataFrame) -> list[dict]:
            return df.astype(object).where(df.notna(), None).to_dict("records")

        out = {"as_of": ws.as_of.isoformat(), "term": ws.term,
               "tables": {k: len(v) for k, v in ws.tables.items()},
               "report": records(ws.report), "rejects": records(ws.rejects), "warnings": records(ws.warnings)}
        print(json.dumps(out, ensure_ascii=False, default=str, indent=1))
        return 0
    rep = ws.report[[c for c in _REPORT_HEADERS if c in ws.report.columns]].rename(columns=_REPORT_HEADERS)
    with pd.option_context("display.max_rows", None, "display.max_columns", None, "display.width", 250,
                           "display.max_colwidth", 120, "display.unicode.east_asian_width", True):
        print(f"核查基准日：{ws.as_of.isoformat()}（{ws.term}学期）  文件夹：{ws.root}")
        print(rep.fillna("").to_string(index=False))
        print()
        print("各类数据行数：" + "，".join(f"{system_labels()[k]} {len(v)}" for k, v in ws.tables.items()))
        total_read = int(pd.to_numeric(ws.report["rows_read"], errors="coerce").fillna(0).sum())
        print(f"共读取 {total_read} 行，载入 {sum(len(v) for v in ws.tables.values())} 行，拒绝 {len(ws.rejects)} 行；"
              f"无法识别的文件/工作表 {int((ws.report['system'].isna() & ~ws.report.get('skipped', pd.Series(False, index=ws.report.index)).fillna(False).astype(bool)).sum())} 个")
        if len(ws.rejects):
            print()
            print("拒绝的行（前 50 行）：")
            print(ws.rejects.head(50).rename(columns={"file": "文件", "sheet": "工作表", "row": "行号", "column": "列",
                                                      "value": "值", "reason": "原因"}).to_string(index=False))
    return 0
