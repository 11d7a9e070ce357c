"""Matplotlib set-up for Chinese charts (中文图表): a CJK font in the fallback chain, no missing-glyph boxes.

Glyph fallback only works across the families listed in ``rcParams["font.family"]`` given as real font names, so
the chain is ``["DejaVu Sans", <an installed CJK font>]``. Only installed fonts are listed (a missing name makes
matplotlib log a "findfont" line per lookup, which also breaks nbval's stderr comparison).
"""

from __future__ import annotations

import glob
import logging
import os
from functools import cache
from pathlib import Path

log = logging.getLogger(__name__)

# Preferred CJK families, best first: the OFL Noto/Source Han fonts (Debian fonts-noto-cjk, conda, brew),
# then what Windows and macOS ship.
CJK_FAMILIES = [
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "Source Han Sans CN",
    "Microsoft YaHei",
    "SimHei",
    "PingFang SC",
    "Heiti SC",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "Noto Sans CJK JP",
]

# Font files looked at when matplotlib's font cache was built before the font was installed.
FONT_FILE_GLOBS = [
    str(Path(__file__).parent / "fonts" / "*.[ot]t[fc]"),
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK*.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-*.ttc",
    os.path.join(os.environ.get("WINDIR", r"C:\Windows"), "Fonts", "msyh.ttc"),
    os.path.join(os.environ.get("WINDIR", r"C:\Windows"), "Fonts", "simhei.ttf"),
    "/System/Library/Fonts/PingFang.ttc",
]


def _installed_families() -> set[str]:
    from matplotlib import font_manager

    return {f.name for f in font_manager.fontManager.ttflist}


def _register_font_files() -> None:
    """Add CJK font files that exist on disk but are missing from matplotlib's (older) font cache."""
    from matplotlib import font_manager

    known = {f.fname for f in font_manager.fontManager.ttflist}
    for pattern in FONT_FILE_GLOBS:
        for fname in sorted(glob.glob(pattern)):
            if fname in known:
                continue
            try:
                font_manager.fontManager.addfont(fname)
            except (OSError, RuntimeError, ValueError):  # an unreadable font file is skipped, not fatal
                log.debug("font file not usable: %s", fname)


@cache
def cjk_font() -> str | None:
    """The name of the best installed CJK font family, or None when none is installed."""
    installed = _installed_families()
    if not any(name in installed for name in CJK_FAMILIES):
        _register_font_files()
        installed = _installed_families()
    for name in CJK_FAMILIES:
        if name in installed:
            return name
    return None


def setup_fonts() -> str | None:
    """Set matplotlib's rcParams so Chinese text renders; returns the CJK family used (None: none installed)."""
    import matplotlib

    cjk = cjk_font()
    families = ["DejaVu Sans"] + ([cjk] if cjk else [])
    matplotlib.rcParams["font.family"] = families
    # SimHei has no minus sign: use the ASCII hyphen when it is the CJK font in use.
    matplotlib.rcParams["axes.unicode_minus"] = cjk != "SimHei"
    return cjk
