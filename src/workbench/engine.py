"""One embedded DuckDB connection over a Workspace's canonical tables (the SQL side of the analyses).

Each system is a view `src_<system>`: the loaded pandas frame (registered, not copied) or, for a Workspace
loaded lazily from a folder of canonical parquet files (`load_parquet_folder(..., lazy=True)`), the parquet file
itself, so a province-sized run never materialises its tables in pandas. Every view has a `_rn` column (the row's
position in its table), so "the first row" means the same thing whichever side the data comes from.

    eng = engine.of(ws)                 # cached on the Workspace
    eng.has("registry"); eng.col("registry", "grade", "DOUBLE")   # a column expression, NULL when absent
    eng.df("SELECT ...", params)        # a pandas frame (arrow-backed strings)

SQL is kept to what Spark SQL also accepts where the rules live (link_settings.yaml, findings); DuckDB-only
conveniences stay in this engine layer.
"""

from __future__ import annotations

import datetime as dt
import threading
import warnings
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .rules import settings
from .sources.schema import SYSTEM_KEYS
from .terms import previous_term, term_of


def unpack(ws_or_tables: Any, as_of: dt.date | None = None) -> tuple[Any, dt.date, str]:
    """(tables, as_of, as-of term) from a Workspace or a plain dict of canonical frames."""
    if isinstance(ws_or_tables, dict):
        tables = ws_or_tables
        as_of = as_of or dt.date.today()
        term = term_of(as_of)
    else:
        tables = ws_or_tables.tables
        as_of = as_of or ws_or_tables.as_of
        term = getattr(ws_or_tables, "term", None) or term_of(as_of)
    if isinstance(as_of, (pd.Timestamp, dt.datetime)):
        as_of = as_of.date()
    return tables, as_of, term


# DuckDB warns that an arrow result of the DB-API path (Engine.arrow) is copied once; for the analyses' small
# results that copy is the cheap part (set once here, and in pyproject's pytest filterwarnings: catch_warnings is
# not thread-safe)
warnings.filterwarnings("ignore", message="Arrow output on a DB-API result", category=UserWarning)


def lit(value: Any) -> str:
    """A value as a SQL string literal (quotes doubled)."""
    return "'" + str(value).replace("'", "''") + "'"


def arrow_types(t: pa.DataType) -> Any:
    """types_mapper for arrow -> pandas: nullable string, boolean and Int64 columns."""
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return pd.StringDtype()
    if pa.types.is_boolean(t):
        return pd.BooleanDtype()
    if pa.types.is_integer(t):
        return pd.Int64Dtype()
    return None


class Engine:
    """DuckDB views over the canonical tables of one Workspace (or dict of frames) and as-of date."""

    def __init__(self, ws_or_tables: Any, as_of: dt.date | None = None):
        tables, self.as_of, self.term = unpack(ws_or_tables, as_of)
        prev = getattr(ws_or_tables, "previous_term", None) if not isinstance(ws_or_tables, dict) else None
        if callable(prev):
            prev = prev()
        self.previous_term = prev or previous_term(self.term)
        self._root = duckdb.connect()
        self._local = threading.local()
        self._local.con = self._root
        self._arrow: dict[str, Any] = {}      # registered source views, registered again on each thread's cursor
        self.lock = threading.RLock()         # one-time shared setup (the link map, the linked views)
        self.ready: set[str] = set()          # what that setup has built
        self.memo: dict[Any, Any] = {}        # small results computed once per engine (under lock_for(key))
        self._locks: dict[str, threading.RLock] = {}
        self._locks_guard = threading.Lock()
        cfg = settings().get("duckdb") or {}
        if cfg.get("memory_limit"):
            self.con.execute(f"SET memory_limit = '{cfg['memory_limit']}'")
        if cfg.get("threads"):
            self.con.execute(f"SET threads = {int(cfg['threads'])}")
        if cfg.get("temp_directory"):
            tmp = Path(str(cfg["temp_directory"])).expanduser()
            tmp.mkdir(parents=True, exist_ok=True)
            self.con.execute(f"SET temp_directory = {lit(tmp)}")
        self.columns: dict[str, dict[str, str]] = {}
        self._invalid: dict[str, str] = {}    # system -> relation of its invalid-ID rows (see src)
        self.rows: dict[str, int] = {}
        paths = getattr(ws_or_tables, "parquet_paths", None) or {}
        loaded = getattr(tables, "loaded", None)
        for system in list(dict.fromkeys([*SYSTEM_KEYS, *tables.keys()])):
            path = paths.get(system)
            if path is not None and loaded is not None and not loaded(system):
                self._parquet(system, Path(path))
            elif system in tables:
                self._frame(system, tables[system])

    def _frame(self, system: str, df: pd.DataFrame) -> None:
        if df is None or not len(df.columns):
            return
        import numpy as np

        rn = np.arange(len(df), dtype=np.int64)
        try:  # DuckDB scans arrow several times faster than pandas; arrow-backed columns convert without a copy
            view = pa.Table.from_pandas(df, preserve_index=False).append_column("_rn", pa.array(rn))
        except (pa.ArrowException, TypeError, ValueError):
            view = df.assign(_rn=rn)   # columns shared, not copied (copy on write)
        self.con.register(f"src_{system}", view)
        self._arrow[f"src_{system}"] = view
        self.columns[system] = {c: "" for c in df.columns}
        self.rows[system] = len(df)
        if isinstance(view, pa.Table) and "id_valid" in df.columns:
            # the rows whose ID is not valid, apart (a few in a table of thousands): what the link and the
            # invalid-ID branches read, so they need not scan the whole table (arrow scans push no boolean filter)
            valid = view.column("id_valid")
            if not pa.types.is_boolean(valid.type):
                return
            bad = view.filter(pc.invert(pc.fill_null(valid, False)))
            if not bad.num_rows:   # none: an empty relation the planner drops without scanning anything
                self._invalid[system] = f"(SELECT * FROM src_{system} WHERE false)"
                return
            self.con.register(f"src_{system}__invalid", bad)
            self._arrow[f"src_{system}__invalid"] = bad
            self._invalid[system] = f"src_{system}__invalid"

    def _parquet(self, system: str, path: Path) -> None:
        import pyarrow.parquet as pq

        meta = pq.read_metadata(path)
        self.columns[system] = {name: "" for name in meta.schema.names}
        self.rows[system] = meta.num_rows
        # as Workspace.from_tables does for frames: a registry row without a term belongs to the as-of term
        fill = f" REPLACE (coalesce(CAST(term AS VARCHAR), {lit(self.term)}) AS term)" \
            if system == "registry" and "term" in self.columns[system] else ""
        self.con.execute(f"CREATE OR REPLACE VIEW src_{system} AS SELECT * EXCLUDE (file_row_number){fill}, "
                         f"CAST(file_row_number AS BIGINT) AS _rn FROM read_parquet({lit(path)}, file_row_number = true)")

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        """This thread's connection to the engine's database: the engine's own in the thread that made it, a cursor
        (with the source views registered again) in any other, so analyses can run side by side. Tables and views
        in the main schema are shared; TEMP ones and registrations belong to one thread's connection."""
        con = getattr(self._local, "con", None)
        if con is None:
            con = self._root.cursor()
            for name, view in self._arrow.items():
                con.register(name, view)
            self._local.con = con
        return con

    def lock_for(self, key: str) -> threading.RLock:
        """A lock of its own for one piece of shared setup (so that independent pieces build side by side)."""
        with self._locks_guard:
            return self._locks.setdefault(key, threading.RLock())

    # ----------------------------------------------------------------------------------------------- helpers
    def has(self, system: str, column: str | None = None) -> bool:
        cols = self.columns.get(system)
        if cols is None:
            return False
        return column is None or column in cols

    def count(self, system: str) -> int:
        return self.rows.get(system, 0)

    def col(self, system: str, column: str, sql_type: str = "VARCHAR", alias: str = "t") -> str:
        """`CAST(t.column AS type)`, or a typed NULL when the system's table lacks the column."""
        if self.has(system, column):
            return f'CAST({alias}."{column}" AS {sql_type})'
        return f"CAST(NULL AS {sql_type})"

    def select_list(self, system: str, columns: dict[str, str], alias: str = "t") -> str:
        """`col(...) AS name` for each column (name -> SQL type) of a system's view."""
        return ", ".join(f"{self.col(system, name, typ, alias)} AS {name}" for name, typ in columns.items())

    def src(self, system: str, rows: str = "all") -> str:
        """The view of a system (an empty relation when the system was not loaded). rows="invalid": a relation that
        holds at least every row whose ID is not valid (`id_valid` false or NULL), with the same columns; the caller
        still filters on id_valid. It is far smaller than the table (registered apart for loaded frames, made once
        from a parquet file), so the link and the invalid-ID rows of the linked views scan only those rows."""
        if not self.has(system):
            return "(SELECT CAST(NULL AS BIGINT) AS _rn WHERE false)"
        if rows == "invalid" and self.has(system, "id_valid"):
            return self._invalid.get(system) or self._invalid_table(system)
        return f"src_{system}"

    def _invalid_table(self, system: str) -> str:
        name = f"src_{system}__invalid"
        with self.lock_for(name):
            if system not in self._invalid:   # a parquet source: its invalid rows, once, as a shared table
                self.con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM src_{system} "
                                 f"WHERE NOT coalesce(CAST(id_valid AS BOOLEAN), false)")
                self._invalid[system] = name
        return self._invalid[system]

    def execute(self, query: str, params: list | None = None) -> duckdb.DuckDBPyConnection:
        return self.con.execute(query, params or [])

    def arrow(self, query: str, params: list | None = None) -> pa.Table:
        """A query's result as an arrow table, through the DB-API path (a record batch stream): for the analyses'
        many small results it costs less than the relational API (con.sql), which DuckDB 2 tokenises and binds in
        Python first."""
        return self.con.execute(query, params or []).to_arrow_reader().read_all()

    def df(self, query: str, params: list | None = None) -> pd.DataFrame:
        """A query's result as pandas with nullable dtypes (string, boolean, Int64)."""
        return self.arrow(query, params).to_pandas(types_mapper=arrow_types)

    def register(self, name: str, frame: Any) -> None:
        """Register a frame or arrow table as a view on this thread's connection. A result left unfinished on the
        connection (a caller's fetchone()) is dropped first, as the engine's next statement would drop it anyway."""
        con = self.con
        try:
            con.register(name, frame)
        except duckdb.ResourceInUseException:
            con.abort()
            con.register(name, frame)

    def close(self) -> None:
        self._root.close()


_OF_LOCK = threading.Lock()


def of(ws_or_tables: Any, as_of: dt.date | None = None) -> Engine:
    """The Engine of a Workspace (cached on it; a fresh one for a plain dict of frames or another as_of)."""
    if isinstance(ws_or_tables, dict):
        return Engine(ws_or_tables, as_of)
    eng = getattr(ws_or_tables, "_engine", None)
    if eng is not None and (as_of is None or eng.as_of == as_of):
        return eng
    with _OF_LOCK:
        return _new(ws_or_tables, as_of)


def _new(ws_or_tables: Any, as_of: dt.date | None) -> Engine:
    eng = getattr(ws_or_tables, "_engine", None)
    if eng is not None and (as_of is None or eng.as_of == as_of):
        return eng
    eng = Engine(ws_or_tables, as_of)
    try:
        ws_or_tables._engine = eng
    except AttributeError:
        pass
    return eng
