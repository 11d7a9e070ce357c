"""Who is who across systems (跨系统人员关联): person_id on every record, candidates with evidence for bad IDs.

A record keeps its own valid normalised ID as `person_id`. A record whose ID is invalid, mangled by Excel
(precision_lost) or found in no other system gets candidates: people with valid IDs in the other systems
(registry, roster, aid, ledger), blocked and scored by the SQL rules of `rules/link_settings.yaml` (names equal or
homophone, birth date, sex, one-character / transposed / truncated ID, student number, school, town). A unique
confident candidate links the record (`person_id` = that ID, `link_method` = ``candidate``); the data is never
rewritten. Blocking and scoring run as DuckDB SQL (kept to what Spark SQL also accepts); the final choice per
record is pandas.

Public API:
    attach_person_ids(ws_or_tables, as_of=None) -> dict[str, DataFrame]   (cached per Workspace)
    candidates(ws_or_tables, as_of=None) -> DataFrame                     (every scored candidate, ranked)
    suggest_for(name, id_number, birth_date=None, sex=None, school=None, town=None, ws=None) -> DataFrame
    person_ids(ws_or_tables, system) -> Series                            (person_id of one system's rows)
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from functools import cache
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from . import engine
from .arrowstr import isin
from .engine import lit
from .rules import load_yaml, settings

SYSTEM_LABELS = {
    "registry": "学籍",
    "aid": "资助",
    "roster": "建档立卡",
    "ledger": "控辍保学台账",
    "pairs": "师生结对",
    "activities": "帮扶活动记录",
    "struggling": "学困生名单",
    "suspects": "疑似问题清单",
}
BAD_REASONS = ("empty", "bad_length", "bad_chars", "bad_region", "bad_birthdate", "bad_checksum")
LINK_COLUMNS = ["person_id", "link_method", "suggested_id", "link_evidence"]
CANDIDATE_COLUMNS = [
    "system", "record_id_number", "record_name", "link_kind", "candidate_id", "candidate_name",
    "candidate_systems", "score", "confident", "rank", "evidence",
]
# Record key used to map link results back to rows (one link decision per distinct key).
_KEY = ["system", "k_id", "k_name", "k_birth", "k_school"]


# --------------------------------------------------------------------------------------------- settings
@cache
def link_settings() -> dict[str, Any]:
    """The linking rules in force (`rules/link_settings.yaml`, or the file named by settings()['link'])."""
    return load_yaml(settings().get("link", "link_settings.yaml"))


# --------------------------------------------------------------------------------------------- names
def _normalize_names(values: pd.Series) -> pd.Series:
    try:
        from . import names

        return names.normalize(values).astype("string")
    except (ImportError, AttributeError):
        import pyarrow as pa
        import pyarrow.compute as pc

        arr = pa.array(values.astype("string").to_numpy(dtype=object, na_value=None), type=pa.string())
        arr = pc.replace_substring_regex(arr, "[・•‧･·]", "\u00b7")
        arr = pc.utf8_normalize(arr, "NFKC")
        arr = pc.replace_substring_regex(arr, r"\s+", "")
        out = pd.Series(arr.to_pandas(), index=values.index).astype("string")
        return out.mask(out.eq(""))


_PINYIN: dict[str, str] = {}   # character -> tone-less pinyin, filled as characters are met (per process)


def _char_pinyin(chars: list[str]) -> dict[str, str]:
    todo = [c for c in chars if c not in _PINYIN]
    if todo:
        _PINYIN.update(_char_pinyin_uncached(todo))
    return {c: _PINYIN[c] for c in chars}


def _char_pinyin_uncached(chars: list[str]) -> dict[str, str]:
    try:
        from . import names

        keys = names.pinyin_key(pd.Series(chars, dtype="string"))
        return dict(zip(chars, keys.fillna("").astype(str)))
    except (ImportError, AttributeError):
        from pypinyin import Style, lazy_pinyin

        return {c: "".join(lazy_pinyin(c, style=Style.NORMAL)) for c in chars}


def name_keys(names_norm: pd.Series) -> pd.Series:
    """Tone-less pinyin key of normalised names (张伟 and 张玮 -> `zhang wei`), built per distinct character
    (names.pinyin_key of each character), so it stays fast on millions of names."""
    uniq = names_norm.dropna().unique().tolist()
    if not uniq:
        return pd.Series(pd.NA, index=names_norm.index, dtype="string")
    table = _char_pinyin(sorted(set("".join(uniq))))
    trans = str.maketrans({c: (" " + p if p else "") for c, p in table.items()})
    values = names_norm.astype("string").to_numpy(dtype=object, na_value=None)
    keys = [n.translate(trans).lstrip() if n is not None else None for n in values]  # one C-speed call per name
    return pd.Series(keys, index=names_norm.index, dtype="string")


_MASK64 = (1 << 64) - 1


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser over uint64 (wrapping arithmetic): well-spread 64-bit hashes."""
    with np.errstate(over="ignore"):
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def name_key_hashes(names_norm: pd.Series) -> pd.Series:
    """64-bit hash of each normalised name's tone-less pinyin key (equal exactly when name_keys() are equal, up
    to a 2**-64 chance): the blocking and homophone comparison key. Vectorised over code points with numpy, so it
    stays fast on millions of names; pinyin is looked up once per distinct character. UInt64, NA for NA."""
    values = names_norm.astype("string")
    present = values.notna().to_numpy(bool).copy()
    out = pd.array(np.zeros(len(values), np.uint64), dtype="UInt64")
    out[~present] = pd.NA
    present &= values.fillna("").str.len().to_numpy() > 0      # an empty name is no name
    out[~present] = pd.NA
    if not present.any():
        return pd.Series(out, index=names_norm.index)
    # the names' characters as one array of code points, straight from the arrow buffer (no Python str per name)
    arr = pa.array(values[present], type=pa.large_string())
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    lengths = pc.utf8_length(arr).to_numpy(zero_copy_only=False).astype(np.int64)
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)[arr.offset:arr.offset + len(arr) + 1]
    utf8 = arr.buffers()[2].to_pybytes()[offsets[0]:offsets[-1]]
    cps = np.frombuffer(utf8.decode("utf-8").encode("utf-32-le"), dtype=np.uint32)
    size = int(cps.max()) + 1 if len(cps) else 1   # (Han names stay below U+A000: tables of ~40k entries)
    seen = np.zeros(size, dtype=bool)      # distinct code points by a table, not a sort
    seen[cps] = True
    uniq = np.flatnonzero(seen).astype(np.uint32)
    slot = np.zeros(size, dtype=np.int32)
    slot[uniq] = np.arange(len(uniq), dtype=np.int32)
    inv = slot[cps]
    table = _char_pinyin([chr(int(c)) for c in uniq])
    syllables: dict[str, int] = {}
    sid_of = np.array([syllables.setdefault(table[chr(int(c))], len(syllables) + 1) if table[chr(int(c))] else 0
                       for c in uniq], dtype=np.uint64)
    # a syllable's id is its text's hash, so the same syllable gets the same id in every call
    sid_hash = np.array([0] + [int.from_bytes(hashlib.blake2b(k.encode(), digest_size=8).digest(), "little") | 1
                               for k in syllables], dtype=np.uint64)
    sid = sid_hash[sid_of[inv].astype(np.int64)]
    keep = sid != 0
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    owner = np.repeat(np.arange(len(arr)), lengths)
    kept_before = np.concatenate([[0], np.cumsum(keep)])
    rank = (kept_before[1:] - kept_before[starts][owner]) - 1          # position among the kept syllables
    with np.errstate(over="ignore"):
        mixed = _splitmix64(sid ^ _splitmix64(rank.astype(np.uint64) + np.uint64(1)))
        mixed = np.where(keep, mixed, np.uint64(0))
        sums = np.add.reduceat(mixed, starts)
        counts = np.add.reduceat(keep.astype(np.uint64), starts)
        hashed = _splitmix64(sums ^ _splitmix64(counts + np.uint64(0xA5A5)))
    out[present] = hashed
    return pd.Series(out, index=names_norm.index)


def _id_birth_sql(col: str) -> str:
    return f"CAST(try_strptime(substr({col}, 7, 8), '%Y%m%d') AS DATE)"


def _id_sex_sql(col: str) -> str:
    return (f"CASE WHEN length({col}) = 18 AND substr({col}, 17, 1) IN ('1','3','5','7','9') THEN '男' "
            f"WHEN length({col}) = 18 AND substr({col}, 17, 1) IN ('0','2','4','6','8') THEN '女' END")


def _name_column(system: str, df: pd.DataFrame) -> str | None:
    if "name" in df.columns:
        return "name"
    return "student_name" if "student_name" in df.columns else None



# --------------------------------------------------------------------------------------------- records
def _name_expr(eng: engine.Engine, system: str) -> str:
    col = "student_name" if system in ("pairs", "activities") and not eng.has(system, "name") else "name"
    return eng.col(system, col)


def _school_expr(eng: engine.Engine, system: str) -> str:
    col = "school_name" if eng.has(system, "school_name") or system != "pairs" else "teacher_school"
    return eng.col(system, col)


def _record_select(eng: engine.Engine, system: str, rows: str = "all", index: int = 0) -> str:
    """One system's rows in the standard record shape (a SELECT over its engine view `t`; rows as Engine.src).
    The key (system, k_id, k_name, k_birth, k_school) maps link decisions back to rows; `rid` (index * 2**32 +
    the row's position) names a row of the union of several systems."""
    src = f"'{system}'"
    if system == "registry" and eng.has(system, "term"):
        # every term's rows are records; the source label tells terms apart for "in no other system"
        src = "concat('registry:', coalesce(CAST(t.term AS VARCHAR), ''))"
    c = eng.col
    return f"""
        SELECT '{system}' AS system, {src} AS source, {int(index)} * 4294967296 + t._rn AS rid,
               {c(system, 'id_number')} AS k_id, {_name_expr(eng, system)} AS k_name,
               {c(system, 'birth_date', 'DATE')} AS k_birth, {_school_expr(eng, system)} AS k_school,
               {c(system, 'id_reason')} AS id_reason, coalesce({c(system, 'id_valid', 'BOOLEAN')}, false) AS id_valid,
               {c(system, 'sex')} AS sex_raw, {c(system, 'town')} AS town, {c(system, 'student_no')} AS student_no
        FROM {eng.src(system, rows)} t"""


_EMPTY_RECORDS = ("SELECT NULL::VARCHAR system, NULL::VARCHAR source, NULL::BIGINT rid, NULL::VARCHAR k_id, "
                  "NULL::VARCHAR k_name, "
                  "NULL::DATE k_birth, NULL::VARCHAR k_school, NULL::VARCHAR id_reason, false id_valid, "
                  "NULL::VARCHAR sex_raw, NULL::VARCHAR town, NULL::VARCHAR student_no WHERE false")
_PLAIN_HAN = "^[\u4e00-\u9fff]+$"   # names of plain CJK ideographs are already normal (NFKC leaves them as written)


def _names_frame(written: pa.ChunkedArray | pa.Array) -> pd.DataFrame:
    """The rows of table `names_map` for distinct names as written: k_name, name (names.normalize), nk (hash of
    its tone-less pinyin key: name_key_hashes); only names that are not plain ideographs go through Python
    normalisation."""
    written = pc.drop_null(written)
    names_raw = pd.Series(pd.array(written.cast(pa.large_string()), dtype="string"))
    plain = pc.fill_null(pc.match_substring_regex(written, _PLAIN_HAN), False).to_numpy(zero_copy_only=False)
    norm = names_raw.copy()
    if (~plain).any():
        norm[~plain] = _normalize_names(names_raw[~plain].reset_index(drop=True)).to_numpy(object, na_value=None)
    return pd.DataFrame({"k_name": names_raw, "name": norm, "nk": name_key_hashes(norm)})


def _register_names(eng: engine.Engine, written: str | pd.DataFrame | pa.ChunkedArray, append: bool = False) -> None:
    """Table `names_map` (see _names_frame) over distinct names: an arrow array, a query of column k_name, or the
    rows already made by _names_frame."""
    if isinstance(written, str):
        written = eng.arrow(f"SELECT k_name FROM ({written}) w WHERE k_name IS NOT NULL").column(0)
    if append and not len(written):
        return
    frame = written if isinstance(written, pd.DataFrame) else _names_frame(written)
    eng.register("names_map_df", pa.Table.from_pandas(frame, preserve_index=False))   # (arrow: DuckDB reads it
    # without pandas' per-column analysis)
    rows = "SELECT k_name, name, CAST(nk AS UBIGINT) AS nk FROM names_map_df"
    eng.execute(f"INSERT INTO names_map {rows}" if append else f"CREATE OR REPLACE TABLE names_map AS {rows}")
    eng.con.unregister("names_map_df")


def _h(expr: str) -> str:
    """A 64-bit hash of a text value, NULL kept NULL. Blocking compares these narrow keys (cheap to store for
    millions of candidates); the exact values are compared when a blocked pair is scored."""
    return f"CASE WHEN {expr} IS NULL THEN NULL ELSE hash({expr}) END"


def _lrecs_sql(raw: str) -> str:
    """The records to link in the shape the blocking rules read (hashed keys like `cands`), from a relation
    with the columns of _record_select."""
    lid = ("row_number() OVER (ORDER BY r.system, r.source, r.k_id, r.k_name, r.k_birth, r.k_school, r.town, "
           "r.student_no, r.sex_raw, r.id_reason)")
    return f"""
        SELECT {lid} AS lid, r.system, r.k_id, r.k_name, r.k_birth, r.k_school, {_h('r.source')} AS system_group,
               CASE WHEN NOT r.id_valid AND coalesce(r.id_reason, 'empty') = 'precision_lost' THEN 'lost'
                    WHEN NOT r.id_valid THEN 'bad'
                    ELSE 'alone' END AS link_kind,
               r.k_id AS id_number, r.id_reason, m.name AS name_s, m.nk AS name_key,
               coalesce(r.k_birth, {_id_birth_sql('r.k_id')}) AS birth_date,
               coalesce(r.sex_raw, {_id_sex_sql('r.k_id')}) AS sex, {_h('r.town')} AS town,
               {_h('r.k_school')} AS school, {_h('r.student_no')} AS student_no
        FROM ({raw}) r LEFT JOIN names_map m ON r.k_name = m.k_name"""


def _systems(eng: engine.Engine) -> tuple[list[str], list[str]]:
    cfg = link_settings()
    cand_systems = [s for s in cfg.get("candidate_systems", ["registry", "roster", "aid", "ledger"])
                    if eng.has(s, "id_number")]
    rec_systems = [s for s in dict.fromkeys(cfg.get("record_systems", list(SYSTEM_LABELS)) + cand_systems)
                   if eng.has(s, "id_number")]
    return cand_systems, rec_systems


def _alone_filter(eng: engine.Engine) -> str:
    """SQL condition (over a record `r`) of the ages for which valid-but-unmatched IDs are linked."""
    cfg = link_settings()
    if not cfg.get("link_unmatched_valid", True):
        return "false"
    low, high = cfg.get("alone_age_range") or [0, 200]
    as_of = eng.as_of
    born_after = as_of.replace(year=as_of.year - int(high) - 1, day=min(as_of.day, 28))
    born_before = as_of.replace(year=as_of.year - int(low), day=min(as_of.day, 28))
    # (the birth date of a valid ID is its digits 7-14: compared as text, no date parsing on every row)
    return (f"CASE WHEN r.k_birth IS NOT NULL THEN r.k_birth > DATE '{born_after}' AND r.k_birth <= DATE "
            f"'{born_before}' ELSE substr(r.k_id, 7, 8) > '{born_after:%Y%m%d}' "
            f"AND substr(r.k_id, 7, 8) <= '{born_before:%Y%m%d}' END")


def _prepare(eng: engine.Engine, names: pd.DataFrame | None = None) -> None:
    """Build table `names_map` (the names of every record; `names`: the candidate systems' rows, made already)
    and `lrecs`: the records whose ID is bad or precision-lost, of every system. Valid IDs found in no other
    system are scored later, when their candidates are asked for (_complete)."""
    _cand_names(eng, names)
    _build_lrecs(eng, [f"SELECT * FROM ({_record_select(eng, s, 'invalid')}) r WHERE NOT r.id_valid"
                       for s in _systems(eng)[1]])


def _names_of_frames(ws_or_tables: Any) -> pd.DataFrame | None:
    """The rows of names_map for the candidate systems, made from loaded frames before the engine exists (so
    that this runs while another thread sets the engine up: findings.run_analyses); None when a candidate system
    is read lazily from parquet (then the engine's SQL reads it: _cand_names)."""
    tables = engine.unpack(ws_or_tables)[0]
    loaded = getattr(tables, "loaded", None)
    columns = []
    for system in link_settings().get("candidate_systems", ["registry", "roster", "aid", "ledger"]):
        if callable(loaded) and not loaded(system):
            return None
        df = tables.get(system) if hasattr(tables, "get") else None
        if df is None or "id_number" not in df.columns or "name" not in df.columns:
            continue   # (as for the engine: not a candidate system, or names all NULL)
        try:
            columns.append(pa.Table.from_pandas(df[["name"]], preserve_index=False).column(0))
        except (pa.ArrowException, TypeError, ValueError):
            return None
    if not columns:
        return None
    return _names_frame(pc.unique(pa.chunked_array([ch.cast(pa.large_string()) for c in columns for ch in c.chunks],
                                                   pa.large_string())))


def _cand_names(eng: engine.Engine, names: pd.DataFrame | None = None) -> None:
    """Table `names_map` over the names of the candidate systems (once per engine); `names`: its rows, made
    already (_names_of_frames)."""
    if "link:names" in eng.ready:
        return
    if names is not None:
        _register_names(eng, names)
    else:   # (frames read lazily from parquet, or no names made before: the engine's SQL reads them)
        cand_systems = _systems(eng)[0]
        _register_names(eng, " UNION ".join(f"SELECT DISTINCT {_name_expr(eng, s)} AS k_name FROM {eng.src(s)} t"
                                            for s in cand_systems) or "SELECT NULL::VARCHAR AS k_name WHERE false")
    eng.ready.add("link:names")


def _cands_sql(eng: engine.Engine, keep: str = "", ids_only: bool = False) -> str:
    """The candidates: one row per record with a valid ID in the candidate systems (a person in two terms or
    systems is two rows: the scoring aggregates per candidate ID), `rid` naming the row, blocking keys hashed.
    The link reads it as a CTE of its scoring query (a DuckDB table costs more to write than the rows cost to
    compute); table `cands` (_cands_table) holds the same rows for the later, rarer questions. keep: a condition
    on the cheap keys (id_number, name_key, town, school, student_no) checked before the other columns are
    computed; ids_only: just the distinct IDs."""
    cand_systems = _systems(eng)[0]
    cand_union = " UNION ALL ".join(_record_select(eng, s, index=i) for i, s in enumerate(cand_systems)) \
        or _EMPTY_RECORDS
    if ids_only:
        return f"SELECT DISTINCT c.k_id AS id_number FROM ({cand_union}) c WHERE c.id_valid"
    pre = f"""
        SELECT c.rid, c.k_id AS id_number, c.system, c.source, c.k_name, m.nk AS name_key, {_h('c.town')} AS town,
               {_h('c.k_school')} AS school, {_h('c.student_no')} AS student_no
        FROM ({cand_union}) c LEFT JOIN names_map m ON c.k_name = m.k_name WHERE c.id_valid"""
    return f"""
        SELECT c.rid, c.id_number, c.system, {_h('c.source')} AS system_group_excl, c.k_name, c.name_key,
               {_id_birth_sql('c.id_number')} AS birth_date, {_id_sex_sql('c.id_number')} AS sex, c.town, c.school,
               c.student_no
        FROM ({pre}) c{f' WHERE {keep}' if keep else ''}"""


def _cands_table(eng: engine.Engine) -> str:
    """Table `cands` (rows of _cands_sql), built once per engine: for the valid IDs found in no other system
    (_complete) and suggest_for."""
    if "link:cands" not in eng.ready:
        with eng.lock:
            if "link:cands" not in eng.ready:
                _cand_names(eng)
                eng.execute(f"CREATE OR REPLACE TABLE cands AS {_cands_sql(eng)}")
                eng.ready.add("link:cands")
    return "cands"


def _build_lrecs(eng: engine.Engine, parts: list[str], first_lid: int = 0) -> None:
    """Table `lrecs` from the distinct record rows of the given selects, lids numbered after first_lid; the names
    only these records carry (pairs, activities, ...) are added to names_map and to their rows afterwards."""
    raw = "SELECT DISTINCT * EXCLUDE (rid) FROM (" + " UNION ALL ".join(parts or [_EMPTY_RECORDS]) + ")"
    eng.execute(f"CREATE OR REPLACE TEMP TABLE lrecs AS SELECT * REPLACE (lid + {int(first_lid)} AS lid) FROM ("
                + _lrecs_sql(raw) + ")")
    new = eng.arrow("SELECT DISTINCT k_name FROM lrecs WHERE k_name IS NOT NULL "
                    "AND k_name NOT IN (SELECT k_name FROM names_map)").column(0)
    if len(new):
        _register_names(eng, new, append=True)
        eng.execute("""UPDATE lrecs SET name_s = m.name, name_key = m.nk FROM names_map m
                       WHERE lrecs.k_name = m.k_name AND lrecs.name_s IS NULL AND lrecs.name_key IS NULL""")


def _prepare_rest(eng: engine.Engine, first_lid: int) -> None:
    """Table `lrecs` of the valid IDs found in no other system (ages as link_settings says), numbered after
    first_lid: in a candidate system an ID written in one source only, elsewhere an ID no candidate system has."""
    cand_systems, rec_systems = _systems(eng)
    alone = _alone_filter(eng)
    _cands_table(eng)
    eng.execute("""CREATE OR REPLACE TEMP TABLE link_single AS
        SELECT id_number FROM cands GROUP BY id_number HAVING min(system_group_excl) = max(system_group_excl)""")
    parts = []
    for s in rec_systems:
        ids = "IN (SELECT id_number FROM link_single)" if s in cand_systems else "NOT IN (SELECT id_number FROM cands)"
        parts.append(f"SELECT * FROM ({_record_select(eng, s)}) r WHERE r.id_valid AND {alone} AND r.k_id {ids}")
    _build_lrecs(eng, parts, first_lid)
    eng.execute("DROP TABLE IF EXISTS link_single")


def _alone_can_link() -> bool:
    """Whether a valid ID found in no other system can get a confident candidate under the rules in force. Two
    different valid IDs never differ in one character or one adjacent swap (the check character of GB 11643
    catches both), so while every confidence rule requires `id_error = 1` those records only get listed
    candidates (candidates()), never a link or a suggestion, and attach_person_ids need not score them."""
    rules = link_settings().get("confident_when") or []
    return any("id_error = 1" not in " ".join(str(r).split()) for r in rules)


_CAND_COLS = ", ".join(f"r.{c}" for c in ["id_number", "system", "k_name", "name_key", "birth_date", "sex", "town",
                                           "school", "student_no"])


def _comparison_sql(weights: dict[str, float], confident_when: list[str], blocked: str, lrecs: str) -> str:
    """SELECT scoring every blocked pair (l, r) -> one row per (record, candidate id). `blocked` is a query of
    (lid, the candidate's columns) pairs, `lrecs` the records' table."""
    w = weights
    ham = ("CASE WHEN length(l.id_number) = 18 AND length(r.id_number) = 18 "
           "THEN hamming(l.id_number, r.id_number) END")
    conf = " OR ".join(f"({c})" for c in confident_when) or "false"
    return f"""
    WITH blocked AS ({blocked}), cmp AS (
      SELECT l.lid, r.id_number AS candidate_id, r.system AS csystem, rn.name AS cname,
             CASE WHEN l.name_s = rn.name THEN 2 WHEN l.name_key = r.name_key THEN 1 ELSE 0 END AS name_level,
             coalesce(l.birth_date = r.birth_date, false) AS birth_equal,
             coalesce(l.sex = r.sex, false) AS sex_equal,
             {ham} AS ham,
             -- (CASE evaluates its branch only for the rows that take it: the costly tests run on few pairs)
             CASE WHEN l.id_reason = 'precision_lost' THEN coalesce(
                 substr(l.id_number, 1, 15) = substr(r.id_number, 1, 15)
                 OR abs(TRY_CAST(l.id_number AS BIGINT) - TRY_CAST(r.id_number AS BIGINT)) < 1000, false)
               ELSE false END AS prefix_equal,
             coalesce(l.student_no = r.student_no, false) AS student_no_equal,
             l.id_number AS record_id, r.id_number AS cand_id,
             coalesce(l.school = r.school, false) AS same_school,
             coalesce(l.town = r.town, false) AS same_town
      FROM blocked r JOIN {lrecs} l ON r.lid = l.lid LEFT JOIN names_map rn ON r.k_name = rn.k_name
    ), cmp2 AS (
      -- two differences that are one adjacent swap (相邻两位颠倒)
      SELECT *, CASE WHEN ham = 2 THEN damerau_levenshtein(record_id, cand_id) = 1 ELSE false END AS transposed
      FROM cmp
    ), agg AS (
      SELECT lid, candidate_id,
             max(name_level) AS name_level, max_by(cname, name_level) AS candidate_name,
             bool_or(birth_equal) AS birth_equal, bool_or(sex_equal) AS sex_equal,
             min(ham) AS ham, bool_or(transposed) AS transposed, any_value(record_id) AS record_id,
             bool_or(prefix_equal) AS prefix_equal, bool_or(student_no_equal) AS student_no_equal,
             bool_or(same_school) AS same_school, bool_or(same_town) AS same_town,
             string_agg(DISTINCT csystem, ',' ORDER BY csystem) AS candidate_systems
      FROM cmp2 GROUP BY lid, candidate_id
    ), scored AS (
      SELECT *,
             CASE WHEN ham = 1 OR transposed OR prefix_equal THEN 1 ELSE 0 END AS id_error
      FROM agg
    )
    SELECT s.*,
           (CASE WHEN name_level = 2 THEN {w['name_equal']} WHEN name_level = 1 THEN {w['name_homophone']} ELSE 0 END)
           + (CASE WHEN birth_equal THEN {w['birth_equal']} ELSE 0 END)
           + (CASE WHEN sex_equal THEN {w['sex_equal']} ELSE 0 END)
           + (CASE WHEN ham = 1 THEN {w['id_one_error']} WHEN transposed THEN {w['id_transposition']}
                   WHEN prefix_equal THEN {w['id_precision_prefix']} WHEN ham > 2 THEN {w['id_far']} ELSE 0 END)
           + (CASE WHEN student_no_equal THEN {w['student_no_equal']} ELSE 0 END)
           + (CASE WHEN same_school THEN {w['same_school']} ELSE 0 END)
           + (CASE WHEN same_town THEN {w['same_town']} ELSE 0 END) AS score,
           ({conf}) AS confident
    FROM scored s
    """


def _first_difference(scored: pd.DataFrame) -> pd.Series:
    """1-based position of the first character where the record's and the candidate's 18-character IDs differ
    (NA otherwise), for the evidence text of the few scored pairs."""
    out = []
    for rec, cand in zip(scored["record_id"].tolist(), scored["candidate_id"].tolist()):
        if isinstance(rec, str) and isinstance(cand, str) and len(rec) == 18 and len(cand) == 18:
            out.append(next((i + 1 for i, (a, b) in enumerate(zip(rec, cand)) if a != b), None))
        else:
            out.append(None)
    return pd.Series(out, index=scored.index, dtype="Int64")


def _same(value: Any, target: Any) -> bool:
    """value == target, a missing value (None, NA, NaN) being equal to nothing."""
    try:
        return bool(value == target)
    except TypeError:   # pd.NA == x is NA, which has no truth value
        return False


def _evidence(frame: pd.DataFrame, record_names: pd.Series) -> pd.Series:
    """Chinese evidence text per scored pair (a plain loop: the candidate rows are few)."""
    if frame.empty:
        return pd.Series([], dtype="string", index=frame.index)
    cols = ["candidate_systems", "candidate_name", "name_level", "birth_equal", "sex_equal", "diff_pos", "ham",
            "transposed", "prefix_equal", "student_no_equal", "same_school", "same_town"]
    out = []
    rows = zip(record_names.tolist(), *(frame[c].astype("object").tolist() for c in cols))
    for rn, systems, cn, level, birth, sex, pos, ham, swapped, prefix, student_no, school, town in rows:
        rn = "" if _plain(rn) is None else str(rn)
        cn = "" if _plain(cn) is None else str(cn)
        if _same(level, 2):
            parts = ["姓名相同"]
        elif _same(level, 1):
            parts = [f"姓名同音（{rn}/{cn}）"]
        else:
            parts = [f"姓名不同（{rn}/{cn}）"]
        parts += ["出生日期相同" if _same(birth, True) else "", "性别相同" if _same(sex, True) else ""]
        at = "" if _plain(pos) is None else str(int(pos))
        parts.append(f"身份证号相差1位（第{at}位）" if _same(ham, 1) else f"身份证号相邻两位颠倒（第{at}位起）"
                     if _same(swapped, True) else "身份证号前15位相同（原号码被Excel截断）" if _same(prefix, True)
                     else "")
        parts += ["学籍号相同" if _same(student_no, True) else "", "同一学校" if _same(school, True) else "",
                  "同一乡镇" if _same(town, True) else ""]
        label = "、".join(dict.fromkeys(SYSTEM_LABELS.get(x.split(":")[0], x)
                                       for x in (_plain(systems) or "").split(",") if x))
        out.append(label + "：" + "、".join(x for x in parts if x))
    return pd.Series(pd.array(out, dtype="string"), index=frame.index)


# the candidates' keys that are cheap to have for every record (_cands_sql's keep), the most selective first
_SELECTIVE = ["id_number", "student_no", "name_key", "school", "town"]


def _key_conjuncts(sql: str) -> list[tuple[str, str]]:
    """The top-level `l.a = r.b` conjuncts of a blocking rule whose b is a cheap key (_SELECTIVE), as (a, b), the
    most selective first: a pair can meet the rule only if the candidate's b equals some record's a, for each of
    them. None found (or an OR at the rule's top level): []."""
    parts, depth, start = [], 0, 0
    for m in re.finditer(r"\(|\)|\bAND\b|\bOR\b", sql, flags=re.IGNORECASE):
        token = m.group(0).upper()
        if token in "()":
            depth += 1 if token == "(" else -1
        elif depth == 0 and token == "OR":
            return []
        elif depth == 0:
            parts.append(sql[start:m.start()])
            start = m.end()
    parts.append(sql[start:])
    keys = []
    for part in parts:
        if hit := re.fullmatch(r"\s*l\.(\w+)\s*=\s*r\.(\w+)\s*", part):
            keys.append((hit.group(1), hit.group(2)))
        elif hit := re.fullmatch(r"\s*r\.(\w+)\s*=\s*l\.(\w+)\s*", part):
            keys.append((hit.group(2), hit.group(1)))
    return sorted((k for k in keys if k[1] in _SELECTIVE), key=lambda k: _SELECTIVE.index(k[1]))


def _score(con: duckdb.DuckDBPyConnection, lrecs: str = "lrecs", cands: Any = "cands") -> pd.DataFrame:
    """Block and score the records of table `lrecs` (lid, link_kind, system_group, id_number, id_reason, name,
    name_key, birth_date, sex, town, school, student_no) against the candidates: table `cands`, or the engine
    whose _cands_sql gives them (read as a CTE, only the records some rule can pair); ranked candidates with
    evidence."""
    cfg = link_settings()
    blocks, by_id, keep, keyed = [], [], [], {}
    for rule in cfg["blocking_rules"]:
        rule_kinds = rule.get("kinds", ["bad", "lost", "alone"])
        kinds = ", ".join(lit(k) for k in rule_kinds)
        if set(re.findall(r"\br\.(\w+)", rule["sql"])) == {"id_number"}:
            # a rule on the candidate's ID alone is tried once per distinct ID, not once per record of it
            by_id.append(f"SELECT l.lid, r.id_number FROM {lrecs} l JOIN cand_ids r ON {rule['sql']} "
                         f"WHERE l.link_kind IN ({kinds})")
            continue
        blocks.append(f"SELECT l.lid, r.rid FROM {lrecs} l JOIN cands r ON {rule['sql']} "
                      f"WHERE l.link_kind IN ({kinds}) AND l.system_group <> r.system_group_excl")
        keys = _key_conjuncts(rule["sql"])
        if keys:   # (its most selective key: the records' values of it, over the kinds of every such rule)
            keyed.setdefault(keys[0], set()).update(rule_kinds)
        else:
            keep.append("true")
    keep += [f"c.{b} IN (SELECT {a} FROM {lrecs} WHERE link_kind IN ({', '.join(lit(k) for k in sorted(kinds))}))"
             for (a, b), kinds in keyed.items()]
    if by_id:
        blocks.append(f"SELECT b.lid, r.rid FROM id_pairs b JOIN {lrecs} l ON l.lid = b.lid "
                      "JOIN cands r ON r.id_number = b.id_number WHERE l.system_group <> r.system_group_excl")
        keep.append("c.id_number IN (SELECT id_number FROM id_pairs)")
    # each rule reads only its keys; the candidates' other columns are read once, for the pairs found (a pair found
    # by several rules is scored once)
    blocked = (f"SELECT b.lid, {_CAND_COLS} FROM (SELECT DISTINCT * FROM (" + " UNION ALL ".join(blocks)
               + ")) b JOIN cands r ON r.rid = b.rid")
    sql = _comparison_sql(cfg["weights"], cfg.get("confident_when", []), blocked, lrecs)
    table = isinstance(cands, str)
    ctes = []
    if by_id:   # the distinct IDs of every candidate, and the (record, ID) pairs the ID rules find
        ids = "SELECT DISTINCT id_number FROM cands" if table else _cands_sql(cands, ids_only=True)
        ctes += [f"cand_ids AS MATERIALIZED ({ids})", f"id_pairs AS MATERIALIZED ({' UNION '.join(by_id)})"]
    if not table:
        # only the candidate records some rule can pair get their other columns: one that shares the cheap keys of
        # a rule's top-level `l.a = r.b` conjuncts with a record to link, or has an ID the ID rules found
        ctes.append(f"cands AS MATERIALIZED ({_cands_sql(cands, ' OR '.join(keep) or 'false')})")
    cte = "WITH " + ", ".join(ctes) if ctes else ""
    scored = con.execute(f"""{cte}
        SELECT s.*, l.name_s AS record_name FROM ({sql}) s JOIN {lrecs} l ON s.lid = l.lid
        WHERE s.score >= {float(cfg.get('min_score', 0))} OR s.confident
    """).df()
    if scored.empty:
        return pd.DataFrame(columns=["lid", "candidate_id", "score", "confident", "rank", "evidence",
                                     "candidate_name", "candidate_systems", "record_name"])
    scored = scored.sort_values(["lid", "confident", "score", "candidate_id"], ascending=[True, False, False, True])
    scored["rank"] = scored.groupby("lid").cumcount() + 1
    scored = scored[scored["rank"] <= int(cfg.get("max_candidates", 5))].copy()
    scored["diff_pos"] = _first_difference(scored)
    scored["evidence"] = _evidence(scored, scored["record_name"])
    return scored.reset_index(drop=True)


# --------------------------------------------------------------------------------------------- public API
_CACHE: dict[int, tuple[Any, dict[str, Any]]] = {}
MAP_COLUMNS = ["system", "k_id", "k_name", "k_birth", "k_school", "link_kind", "person_id", "suggested_id",
               "link_evidence"]


def link_state(ws_or_tables: Any, as_of: dt.date | None = None) -> dict[str, Any]:
    """Run the linkage once per Workspace (cached on the object, or by identity for a plain dict): the engine,
    `map` (one row per record key that got a link or a suggestion: MAP_COLUMNS), `lrecs` and `scored`. The
    engine holds table `link_map` (the same rows) for the SQL analyses (see linked_select)."""
    state = _cached(ws_or_tables, as_of)
    if state is not None:
        return state
    # the names first: no engine needed, so this overlaps with its set-up when another thread makes it
    names = _names_of_frames(ws_or_tables)
    eng = engine.of(ws_or_tables, as_of)
    with eng.lock:   # analyses running side by side (findings.run_analyses) link once
        state = _cached(ws_or_tables, as_of)
        return state if state is not None else _link(ws_or_tables, eng, names)


def _cached(ws_or_tables: Any, as_of: dt.date | None) -> dict[str, Any] | None:
    state = getattr(ws_or_tables, "_link_state", None) if not isinstance(ws_or_tables, dict) else None
    if state is None and isinstance(ws_or_tables, dict):
        hit = _CACHE.get(id(ws_or_tables))
        if hit is not None and hit[0] is ws_or_tables:
            state = hit[1]
    if state is not None and (as_of is None or state["engine"].as_of == as_of):
        return state
    return None


def _link(ws_or_tables: Any, eng: engine.Engine, names: pd.DataFrame | None = None) -> dict[str, Any]:
    _prepare(eng, names)
    lrecs, scored = _score_lrecs(eng, eng)
    lmap = _decisions(lrecs, scored)
    _store_map(eng, lmap)
    state = {"engine": eng, "map": lmap, "lrecs": lrecs, "scored": scored, "source": ws_or_tables,
             "complete": False}
    if isinstance(ws_or_tables, dict):
        if len(_CACHE) > 8:
            _CACHE.clear()
        _CACHE[id(ws_or_tables)] = (ws_or_tables, state)
    else:
        try:
            ws_or_tables._link_state = state
        except AttributeError:  # a frozen object: no cache
            pass
    return state


def _score_lrecs(eng: engine.Engine, cands: Any = "cands") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Score table `lrecs` against the candidates (as _score): (the records kept: every bad or lost one and the
    others with a candidate, scored candidates)."""
    con = eng.con
    scored = _score(con, cands=cands)
    eng.register("scored_lids_df", pa.table({"lid": pa.array(scored["lid"].astype("int64").unique(), pa.int64())}))
    lrecs = eng.df("""
        SELECT lid, system, k_id, k_name, k_birth, k_school, link_kind FROM lrecs
        WHERE link_kind <> 'alone' OR lid IN (SELECT lid FROM scored_lids_df) ORDER BY lid
    """)
    con.unregister("scored_lids_df")
    con.execute("DROP TABLE IF EXISTS lrecs")
    return lrecs, scored


_MAP_SCHEMA = ("system VARCHAR, k_id VARCHAR, k_name VARCHAR, k_birth DATE, k_school VARCHAR, link_kind VARCHAR, "
               "person_id VARCHAR, suggested_id VARCHAR, link_evidence VARCHAR")


def map_table(eng: engine.Engine) -> str:
    """Table `link_map`, empty until the link stores its decisions: so that SQL over it (the linked views of
    linked_select) can be set up while the link runs. Take eng.lock_for("link:map") around setting such SQL up."""
    with eng.lock_for("link:map"):
        if "link:map" not in eng.ready:
            eng.execute(f"CREATE TABLE IF NOT EXISTS link_map ({_MAP_SCHEMA})")
            eng.ready.add("link:map")
    return "link_map"


def _store_map(eng: engine.Engine, lmap: pd.DataFrame) -> None:
    """Table `link_map` in the engine (read by linked_select) and the kinds of decision per system."""
    con = eng.con
    eng.register("link_map_df", pa.Table.from_pandas(lmap, preserve_index=False))
    with eng.lock_for("link:map"):
        con.execute("""CREATE OR REPLACE TABLE link_map AS
            SELECT system, k_id, k_name, CAST(k_birth AS DATE) AS k_birth, k_school, link_kind, person_id,
                   suggested_id, link_evidence FROM link_map_df""")
        eng.link_kinds = lmap.groupby("system")["link_kind"].agg(set).to_dict() if len(lmap) else {}
        eng.ready.add("link:map")
    con.unregister("link_map_df")


def alone_systems(eng: engine.Engine) -> tuple[str, ...]:
    """The systems whose link map holds suggestions for valid IDs (what the SQL of linked_select depends on)."""
    return tuple(sorted(s for s, kinds in getattr(eng, "link_kinds", {}).items() if "alone" in kinds))


def _complete(state: dict[str, Any]) -> dict[str, Any]:
    """Add the candidates (and, under rules that allow it, links) of valid IDs found in no other system: not
    needed by the findings; asked for by candidates() and, when _alone_can_link(), attach_person_ids."""
    if state.get("complete"):
        return state
    eng = state["engine"]
    with eng.lock:
        if not state.get("complete"):
            _complete_locked(state, eng)
    return state


def _complete_locked(state: dict[str, Any], eng: engine.Engine) -> None:
    first = int(state["lrecs"]["lid"].max()) if len(state["lrecs"]) else 0
    first = max(first, int(state["scored"]["lid"].max()) if len(state["scored"]) else 0)
    _prepare_rest(eng, first)
    lrecs, scored = _score_lrecs(eng)
    if len(lrecs):
        state["lrecs"] = pd.concat([state["lrecs"], lrecs], ignore_index=True)
        state["scored"] = pd.concat([state["scored"], scored], ignore_index=True) if len(state["scored"]) \
            else scored
        state["map"] = pd.concat([state["map"], _decisions(lrecs, scored)], ignore_index=True)
        _store_map(eng, state["map"])
    state["complete"] = True


def _decisions(lrecs: pd.DataFrame, scored: pd.DataFrame) -> pd.DataFrame:
    """Per record key: the unique confident candidate (person_id for bad / lost IDs; a suggestion only for a
    valid ID found in no other system), with its evidence. (Plain Python over the few hundred records: pandas'
    per-operation cost would dominate.)"""
    ids: dict[Any, set] = {}
    first: dict[Any, tuple] = {}
    if len(scored):
        conf = scored["confident"].astype(bool).to_numpy()
        for lid, cid, ev, ok in zip(scored["lid"].tolist(), scored["candidate_id"].tolist(),
                                    scored["evidence"].tolist(), conf):
            if not ok:
                continue
            if _plain(cid) is not None:   # (nunique ignores missing IDs)
                ids.setdefault(lid, set()).add(cid)
            first.setdefault(lid, (cid, ev))   # the first confident row, in the ranked order
    cols: dict[str, list] = {c: [] for c in MAP_COLUMNS}
    kept = []
    texts = [c for c in _KEY + ["link_kind"] if c != "k_birth"]
    for pos, row in enumerate(zip(*(lrecs[c].tolist() for c in ["lid", *texts]))):
        lid, kind = row[0], row[-1]
        chosen = first.get(lid) if len(ids.get(lid, ())) == 1 else None
        sugg = _plain(chosen[0]) if chosen else None
        if sugg is None and kind == "alone":
            continue
        kept.append(pos)
        for c, v in zip(texts, row[1:]):
            cols[c].append(_plain(v))
        cols["suggested_id"].append(sugg)
        cols["link_evidence"].append(_plain(chosen[1]) if chosen and sugg is not None else None)
        cols["person_id"].append(sugg if kind != "alone" else None)
    dec = pd.DataFrame({c: pd.array(cols[c], dtype="string") for c in MAP_COLUMNS if c != "k_birth"})
    dec["k_birth"] = pd.to_datetime(lrecs["k_birth"].iloc[kept]).reset_index(drop=True)
    return dec[MAP_COLUMNS]


def linked_select(eng: engine.Engine, system: str, columns: dict[str, str], where: str = "",
                  rows: str = "all") -> str:
    """SELECT over one system's view with the given columns (name -> SQL type; NULL when absent), `_rn`, and
    `person_id` (the valid ID, else the confidently linked ID), `pid` (person_id, else the record's ID) and
    `suggested_id` / `link_evidence` (links and suggestions of workbench.link). Rows with a valid ID only meet
    the link map when it holds suggestions for valid IDs of this system (rare). rows: "all", or "invalid" (only
    the rows whose ID is not valid)."""
    c = eng.col
    sel = eng.select_list(system, columns)
    valid = f"coalesce({c(system, 'id_valid', 'BOOLEAN')}, false)"
    ident = c(system, "id_number")
    keys = [(ident, "k_id"), (_name_expr(eng, system), "k_name"), (c(system, "birth_date", "DATE"), "k_birth"),
            (_school_expr(eng, system), "k_school")]
    cond = " AND ".join(f"m.{k} IS NOT DISTINCT FROM {expr}" for expr, k in keys)
    cond_valid = " AND ".join(f"m.{k} IS NOT DISTINCT FROM {expr}" for expr, k in keys[1:])
    state = getattr(eng, "link_kinds", {}).get(system, set())
    extra = f" AND {where}" if where else ""
    if "alone" in state:
        valid_rows = f"""
        SELECT {sel}, t._rn, {ident} AS person_id, {ident} AS pid, m.suggested_id, m.link_evidence
        FROM {eng.src(system)} t LEFT JOIN (SELECT * FROM link_map WHERE system = '{system}'
                                            AND link_kind = 'alone') m ON m.k_id = {ident} AND {cond_valid}
        WHERE {valid}{extra}"""
    else:
        valid_rows = f"""
        SELECT {sel}, t._rn, {ident} AS person_id, {ident} AS pid, CAST(NULL AS VARCHAR) AS suggested_id,
               CAST(NULL AS VARCHAR) AS link_evidence
        FROM {eng.src(system)} t WHERE {valid}{extra}"""
    return f"""{valid_rows + ' UNION ALL' if rows == 'all' else ''}
        SELECT {sel}, t._rn, m.person_id, coalesce(m.person_id, {ident}) AS pid, m.suggested_id, m.link_evidence
        FROM {eng.src(system, 'invalid')} t LEFT JOIN (SELECT * FROM link_map WHERE system = '{system}'
                                            AND link_kind <> 'alone') m ON {cond}
        WHERE NOT {valid}{extra}"""


def _strings_at(n: int, index: pd.Index, pos: np.ndarray, values: list) -> pd.Series:
    """A `string` Series of n NA values with `values` at positions `pos` (built in arrow, no per-row Python)."""
    arr = pa.nulls(n, pa.large_string())
    if len(pos):
        mask = np.zeros(n, bool)
        mask[pos] = True
        arr = pc.replace_with_mask(arr, pa.array(mask), pa.array(values, pa.large_string()))
    return pd.Series(pd.array(pa.chunked_array([arr]), dtype="string"), index=index)


def _attach(tables: Any, lmap: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Copies of every frame with person_id, link_method, suggested_id and link_evidence from the link map. Only
    the rows with an invalid ID (and valid IDs that got a suggestion) are looked up, by their record key."""
    by_system = {str(k): g for k, g in lmap.groupby("system", sort=False)} if len(lmap) else {}
    linked: dict[str, pd.DataFrame] = {}
    for system, df in tables.items():
        out = df.copy(deep=False)
        if "id_number" not in df.columns:
            linked[system] = out
            continue
        n = len(df)
        valid = df["id_valid"].astype("boolean").fillna(False).to_numpy(bool) if "id_valid" in df.columns \
            else np.zeros(n, bool)
        ids = df["id_number"].astype("string")
        codes = np.where(valid, 0, -1).astype(np.int8)          # link_method: 0 = id, 1 = candidate, -1 = NA
        hit_pos, hit_sugg, hit_evid = np.array([], np.int64), [], []
        dec = by_system.get(system)
        if dec is not None and len(dec):
            rows = ~valid
            alone_ids = dec.loc[dec["link_kind"].eq("alone").to_numpy(bool), "k_id"].dropna()
            if len(alone_ids):
                rows = rows | isin(ids, alone_ids)
            pos = np.flatnonzero(rows)
            if len(pos):
                name_col = _name_column(system, df)
                school_col = "school_name" if "school_name" in df.columns or system != "pairs" else "teacher_school"

                def column(col: str | None, df: pd.DataFrame = df, pos: np.ndarray = pos) -> list:
                    if col is None or col not in df.columns:
                        return [None] * len(pos)
                    return df[col].iloc[pos].astype("string").to_numpy(object, na_value=None).tolist()

                births = (pd.to_datetime(df["birth_date"].iloc[pos]).dt.normalize().tolist()
                          if "birth_date" in df.columns else [pd.NaT] * len(pos))
                lookup = {}
                for row in dec.itertuples(index=False):
                    key = (_plain(row.k_id), _plain(row.k_name), _day(row.k_birth), _plain(row.k_school))
                    lookup.setdefault(key, (row.suggested_id, row.link_evidence))
                keys = zip(column("id_number"), column(name_col), births, column(school_col))
                for p, (k_id, k_name, k_birth, k_school) in zip(pos.tolist(), keys):
                    hit = lookup.get((k_id, k_name, _day(k_birth), k_school))
                    if hit is not None and _plain(hit[0]) is not None:
                        hit_pos = np.append(hit_pos, p)
                        hit_sugg.append(str(hit[0]))
                        hit_evid.append(_plain(hit[1]))
        take = hit_pos[~valid[hit_pos]] if len(hit_pos) else hit_pos
        codes[take] = 1
        if valid.all() and not len(take):
            person = ids
        else:
            arr = pa.chunked_array(ids.array.__arrow_array__()).combine_chunks().cast(pa.large_string())
            arr = pc.if_else(pa.array(valid), arr, pa.scalar(None, pa.large_string()))
            if len(take):
                mask = np.zeros(n, bool)
                mask[take] = True
                fix = [s for p, s in zip(hit_pos.tolist(), hit_sugg) if not valid[p]]
                arr = pc.replace_with_mask(arr, pa.array(mask), pa.array(fix, pa.large_string()))
            person = pd.Series(pd.array(pa.chunked_array([arr]), dtype="string"), index=df.index)
        out["person_id"] = person
        out["link_method"] = pd.Categorical.from_codes(codes, categories=["id", "candidate"])
        out["suggested_id"] = _strings_at(n, df.index, hit_pos, hit_sugg)
        out["link_evidence"] = _strings_at(n, df.index, hit_pos, hit_evid)
        linked[system] = out
    return linked


def _plain(value: Any) -> Any:
    """A text value as str, NA as None (record keys compared as plain Python values)."""
    return None if value is None or (not isinstance(value, str) and pd.isna(value)) else str(value)


def _day(value: Any) -> Any:
    """A date-like value as a datetime.date, NA as None."""
    if value is None or (not isinstance(value, (dt.date, str)) and pd.isna(value)):
        return None
    return pd.Timestamp(value).date()


def attach_person_ids(ws_or_tables: Any, as_of: dt.date | None = None) -> dict[str, pd.DataFrame]:
    """Copies of every system frame with `person_id`, `link_method` (id / candidate / NA), `suggested_id` and
    `link_evidence` (Chinese). Computed once per Workspace and cached on it (`ws.linked`)."""
    state = link_state(ws_or_tables, as_of)
    if _alone_can_link():
        state = _complete(state)
    if "linked" not in state:
        tables = engine.unpack(ws_or_tables, as_of)[0]
        state["linked"] = _attach(tables, state["map"])
        if not isinstance(ws_or_tables, dict):
            try:
                ws_or_tables.linked = state["linked"]
            except AttributeError:
                pass
    return state["linked"]


def person_ids(ws_or_tables: Any, system: str) -> pd.Series:
    """`person_id` of one system's rows (aligned with `ws.tables[system]`)."""
    return attach_person_ids(ws_or_tables)[system]["person_id"]


def candidates(ws_or_tables: Any, as_of: dt.date | None = None) -> pd.DataFrame:
    """Every scored candidate of every linked record: system, record_id_number, record_name, link_kind,
    candidate_id, candidate_name, candidate_systems, score, confident, rank, evidence (best first)."""
    state = _complete(link_state(ws_or_tables, as_of))
    scored, lrecs = state["scored"], state["lrecs"]
    if not len(scored):
        return pd.DataFrame({c: pd.Series(dtype="object") for c in CANDIDATE_COLUMNS})
    rec = lrecs.set_index("lid")
    out = scored.assign(
        system=scored["lid"].map(rec["system"]),
        record_id_number=scored["lid"].map(rec["k_id"]),
        record_name=scored["lid"].map(rec["k_name"]),
        link_kind=scored["lid"].map(rec["link_kind"]),
    )
    out = out[CANDIDATE_COLUMNS].copy()
    out["score"] = out["score"].astype(float)
    out["confident"] = out["confident"].astype(bool)
    return out.reset_index(drop=True)


def suggest_for(name: str | None, id_number: str | None, birth_date: Any = None, sex: str | None = None,
                school: str | None = None, town: str | None = None, ws: Any = None) -> pd.DataFrame:
    """Ranked candidates (valid IDs known to the county) for one person as written on a list (e.g. a 疑似问题 item):
    candidate_id, candidate_name, candidate_systems, score, confident, rank, evidence. An ID that is valid and
    known is returned first with evidence 身份证号相同."""
    if ws is None:
        raise ValueError("需要提供已读取的数据（Workspace）")
    as_of = engine.unpack(ws)[1]
    norm_id = None
    reason = "empty"
    if id_number is not None and str(id_number).strip():
        try:
            from . import ids

            chk = ids.check(pd.Series([id_number]), as_of=as_of).iloc[0]
            norm_id, reason = chk["id_number"], chk["reason"]
            if birth_date is None and pd.notna(chk.get("birth_date")):
                birth_date = chk["birth_date"]
            if sex is None and pd.notna(chk.get("sex")):
                sex = chk["sex"]
        except ImportError:
            norm_id = str(id_number).strip().upper()
            reason = "bad_checksum"
    nm = _normalize_names(pd.Series([name], dtype="string"))
    bd = pd.to_datetime(pd.Series([birth_date]), errors="coerce")
    lrec = pd.DataFrame({
        "lid": [1], "system": ["suspects"], "system_group": ["suspects"],
        "link_kind": ["lost" if reason == "precision_lost" else "bad"],
        "id_number": pd.Series([norm_id], dtype="string"), "id_reason": [reason],
        "name": nm, "name_key": name_key_hashes(nm), "birth_date": bd, "sex": pd.Series([sex], dtype="string"),
        "town": pd.Series([town], dtype="string"), "school": pd.Series([school], dtype="string"),
        "student_no": pd.Series([None], dtype="string"),
    })
    eng = engine.of(ws)
    con = eng.con
    _cands_table(eng)
    if lrec["birth_date"].isna().all() and norm_id:
        lrec["birth_date"] = con.execute(f"SELECT {_id_birth_sql('?')}", [norm_id]).fetchall()[0][0]
        lrec["birth_date"] = pd.to_datetime(lrec["birth_date"])
    if lrec["sex"].isna().all() and norm_id:
        lrec["sex"] = con.execute(f"SELECT {_id_sex_sql('?')}", [norm_id]).fetchall()[0][0]
    exact = eng.df("SELECT DISTINCT c.id_number, c.system, m.name FROM cands c LEFT JOIN names_map m "
                   "ON c.k_name = m.k_name WHERE c.id_number = ?", [norm_id]) if norm_id else pd.DataFrame()
    con.register("lrec_df", lrec)
    try:
        con.execute(f"""CREATE OR REPLACE TEMP TABLE lrec_one AS
            SELECT lid, system, link_kind, {_h('system_group')} AS system_group, id_number, id_reason,
                   name AS name_s, CAST(name_key AS UBIGINT) AS name_key, CAST(birth_date AS DATE) AS birth_date,
                   sex, {_h('town')} AS town, {_h('school')} AS school, {_h('student_no')} AS student_no
            FROM lrec_df""")
        scored = _score(con, "lrec_one")
    finally:
        con.unregister("lrec_df")
        con.execute("DROP TABLE IF EXISTS lrec_one")
    cols = ["candidate_id", "candidate_name", "candidate_systems", "score", "confident", "rank", "evidence"]
    scored = scored[scored["candidate_id"] != norm_id] if norm_id and len(scored) else scored
    out = scored[cols].copy() if len(scored) else pd.DataFrame(columns=cols)
    if len(exact):
        labels = "、".join(dict.fromkeys(SYSTEM_LABELS.get(s, s) for s in exact["system"]))
        same_name = bool(nm.iloc[0] is not pd.NA and (exact["name"] == nm.iloc[0]).any())
        top = pd.DataFrame({
            "candidate_id": [norm_id], "candidate_name": [exact["name"].iloc[0]],
            "candidate_systems": [",".join(dict.fromkeys(exact["system"]))],
            "score": [100.0], "confident": [True], "rank": [0],
            "evidence": [f"{labels}：身份证号相同" + ("、姓名相同" if same_name else "、姓名不同")],
        })
        out = pd.concat([top, out], ignore_index=True)
    out["rank"] = np.arange(1, len(out) + 1)
    out["score"] = out["score"].astype(float)
    return out.reset_index(drop=True)
