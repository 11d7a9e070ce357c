"""Header row detection (below title rows, one or two levels) and system recognition from the headers."""

from __future__ import annotations

from dataclasses import dataclass, field

from .schema import all_aliases, ignored_headers, normalize_header, qualifier_prefixes, resolve_key, systems

SCAN_ROWS = 30


@dataclass
class Header:
    rows: list[int]                 # grid row indexes forming the header (one or two)
    keys: list[str]                 # normalised header per grid column ("" when none)
    texts: list[str]                # header as shown (joined parent/child), per grid column
    score: int                      # columns matching a known alias
    title: list[str] = field(default_factory=list)  # text of the rows above the header


@dataclass
class Recognition:
    system: str | None
    mapping: dict[int, str]         # grid column -> source column key of the system
    scores: dict[str, int]          # system -> matched source columns (alias overlap)
    closest: str | None


def _head_rows(grid, n: int) -> list[list[str]]:
    return grid.head(n)


def _known(key: str) -> bool:
    return bool(key) and key in all_aliases() and key not in ignored_headers()


def _is_qualifier(key: str) -> bool:
    return any(key.startswith(q) for q in qualifier_prefixes() if q)


def _join(parent_row: list[str], child_row: list[str]) -> tuple[list[str], list[str]]:
    """Join a two-level header: forward-fill the merged parent; use the child when it is a known header."""
    keys, texts = [], []
    filled = ""
    for p, c in zip(parent_row, child_row):
        if p:
            filled = p
        pk, ck = resolve_key(normalize_header(p)), resolve_key(normalize_header(c))
        fk = normalize_header(filled)
        if not ck:
            # vertically merged cell: the header is in the parent row only
            keys.append(pk)
            texts.append(p)
            continue
        joined = resolve_key(normalize_header(filled + c)) if filled else ck
        if fk and (_is_qualifier(fk) or _known(joined)) and joined != ck:
            keys.append(joined)
            texts.append(f"{filled}{c}")
        elif _known(ck) or not fk:
            keys.append(ck)
            texts.append(c)
        else:
            keys.append(joined)
            texts.append(f"{filled}{c}")
    return keys, texts


def _score(keys: list[str]) -> int:
    return sum(1 for k in keys if _known(k))


_RESOLVED: dict = {"aliases": None, "keys": {}}


def _header_key(v) -> str:
    """resolve_key(normalize_header(v)), remembered per text (the first rows of every sheet repeat a lot);
    forgotten when the alias table is rebuilt."""
    aliases = all_aliases()
    if _RESOLVED["aliases"] is not aliases or len(_RESOLVED["keys"]) > 200_000:
        _RESOLVED["aliases"], _RESOLVED["keys"] = aliases, {}
    keys = _RESOLVED["keys"]
    k = keys.get(v)
    if k is None:
        k = keys[v] = resolve_key(normalize_header(v))
    return k


def find_header(grid) -> Header | None:
    """The header row: the row among the first 30 with the most cells matching known aliases (>= 2);
    joined with the row below or above when that makes a two-level header matching more columns."""
    n = min(SCAN_ROWS, len(grid))
    if n == 0:
        return None
    rows = _head_rows(grid, n)
    single = [[_header_key(v) for v in row] for row in rows]
    scores = [_score(k) for k in single]
    best = max(range(n), key=lambda r: (scores[r], -r))
    if scores[best] < 2:
        return None
    candidates = [(scores[best], [best], single[best], rows[best])]
    if best + 1 < n:
        k, t = _join(rows[best], rows[best + 1])
        candidates.append((_score(k), [best, best + 1], k, t))
    if best - 1 >= 0 and any(rows[best - 1]):
        k, t = _join(rows[best - 1], rows[best])
        candidates.append((_score(k), [best - 1, best], k, t))
    score, hrows, keys, texts = max(candidates, key=lambda c: (c[0], -len(c[1])))
    title = [" ".join(v for v in rows[r] if v) for r in range(hrows[0])]
    return Header(hrows, keys, list(texts), score, [t for t in title if t])


def header_texts(grid, limit: int = 30) -> list[str]:
    """The first row with at least two non-empty cells (what a user would call the headers), for messages."""
    n = min(limit, len(grid))
    rows = _head_rows(grid, n)
    for row in rows:
        vals = [v for v in row if v]
        if len(vals) >= 2:
            return vals
    for row in rows:
        vals = [v for v in row if v]
        if vals:
            return vals
    return []


def recognize(keys: list[str]) -> Recognition:
    """Pick the system from the header keys (never from the file name)."""
    specs = systems()
    present_any: set[str] = set()
    for k in keys:
        for _sys, col in all_aliases().get(k, ()):
            present_any.add(col)
    scores: dict[str, int] = {}
    mappings: dict[str, dict[int, str]] = {}
    best, best_score = None, -1
    for key, spec in specs.items():
        mapping: dict[int, str] = {}
        used: set[str] = set()
        for j, k in enumerate(keys):
            if not k or (k in ignored_headers() and k not in spec.alias_to_column):
                continue
            col = spec.alias_to_column.get(k)
            if col and col not in used:
                mapping[j] = col
                used.add(col)
        mappings[key] = mapping
        scores[key] = len(used)
        ok = (
            all(c in used for c in spec.sig_all)
            and all(any(c in used for c in group) for group in spec.sig_any)
            and not any(c in present_any and c not in spec.columns for c in spec.sig_none)
            and len(used) >= spec.min_matched
            and (not spec.required_any or any(c in used for c in spec.required_any))
            and any(c in used for c in spec.person)
        )
        if not ok:
            continue
        sig_cols = set(spec.sig_all) | {c for g in spec.sig_any for c in g}
        score = len(used) + 3 * len(sig_cols & used)
        if score > best_score:
            best, best_score = key, score
    closest = max(scores, key=lambda s: scores[s]) if scores and max(scores.values()) > 0 else None
    return Recognition(best, mappings.get(best, {}) if best else {}, scores, closest)
