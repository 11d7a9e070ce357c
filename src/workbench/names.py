"""姓名 (person names): the one name normaliser and a tone-less pinyin key for homophone typos (张伟 / 张玮).

Names are typed with pinyin input methods, so the common error is a homophone; minority names carry a middle dot
(阿依·古丽) typed in many variants. Everything works on whole columns; pinyin is computed once per distinct name.
"""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .arrowstr import STRING, as_series, to_arrow

__all__ = ["MIDDLE_DOT", "is_homophone", "normalize", "pinyin_key"]

MIDDLE_DOT = "·"  # U+00B7, the form the registers use
# variants of the middle dot seen in exports (after NFKC): katakana middle dot, bullets, operators, hyphenation point
_DOT_VARIANTS = "[\u30fb\u2022\u2027\u2219\u22c5\u0387\u00b7\u16eb\u2e31\u318d\ua78f]"
_SPACES = r"[\s\p{Z}\x{200B}-\x{200D}\x{2060}\x{FEFF}]+"


def normalize(values) -> pd.Series:
    """Normalised names (pandas string, NA when empty): NFKC full-width fold, every space removed (ASCII,
    full-width, tabs), middle-dot variants (・ • ‧ ･ ∙ and a full stop between two Chinese characters) -> "·",
    dots at either end dropped. Index as the input's."""
    s = as_series(values)
    arr = pc.utf8_normalize(to_arrow(s), form="NFKC")
    arr = pc.replace_substring_regex(arr, _SPACES, "")
    arr = pc.replace_substring_regex(arr, _DOT_VARIANTS, MIDDLE_DOT)
    arr = pc.replace_substring_regex(arr, r"(\p{Han})\.(\p{Han})", r"\1" + MIDDLE_DOT + r"\2")
    arr = pc.replace_substring_regex(arr, MIDDLE_DOT + "{2,}", MIDDLE_DOT)
    arr = pc.utf8_trim(arr, characters=MIDDLE_DOT)
    arr = pc.if_else(pc.equal(arr, ""), pa.scalar(None, pa.string()), arr)
    return pd.Series(pd.arrays.ArrowStringArray(arr), index=s.index, copy=False)


def _key_of(name: str) -> str:
    from pypinyin import Style, lazy_pinyin

    syllables = lazy_pinyin(name, style=Style.NORMAL, errors="default")
    return " ".join(p.lower() for p in syllables if p.strip(MIDDLE_DOT + " "))


def pinyin_key(values) -> pd.Series:
    """Tone-less pinyin of the normalised name, syllables joined by spaces (张玮 -> "zhang wei"; the middle dot is
    ignored, so 阿依·古丽 and 阿依古丽 share a key). NA for an empty name. Computed once per distinct name."""
    norm = normalize(values)
    uniq = norm.dropna().unique()
    keys = pd.Series([_key_of(n) for n in uniq], index=uniq, dtype=STRING)  # loop over distinct names only
    out = norm.map(keys)
    return out.astype(STRING)


def is_homophone(a: str, b: str) -> bool:
    """True when two names sound the same without tones (张伟 / 张玮), including identical names."""
    keys = pinyin_key([a, b])
    return bool(keys.notna().all() and keys.iloc[0] == keys.iloc[1])
