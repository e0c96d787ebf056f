"""Fonts for figures: DejaVu Sans, then installed fonts for the scripts it lacks (Chinese, Japanese, Korean,
…), and one warning naming a font package when no installed font can draw some characters."""

from __future__ import annotations

import functools
import warnings

from matplotlib import font_manager, ft2font

from report_builder.errors import ReportBuilderWarning

# Fonts tried after DejaVu Sans for characters it lacks (titles in Chinese, Japanese, Korean, …): the first
# installed ones join matplotlib's fallback list.
FALLBACK_FONTS = ["Noto Sans CJK SC", "Noto Sans CJK JP", "Noto Sans CJK KR", "Noto Sans CJK TC", "Source Han Sans SC",
                  "WenQuanYi Micro Hei", "WenQuanYi Zen Hei", "Droid Sans Fallback", "NanumGothic", "UnDotum",
                  "Noto Sans", "Noto Sans Arabic", "Noto Sans Hebrew", "Noto Sans Devanagari", "Noto Sans Thai"]
FONT_PACKAGE_HINT = "a font that has them, e.g. Debian's fonts-noto-cjk (Chinese, Japanese, Korean) or fonts-noto"
warnings.filterwarnings("ignore", message=r"Glyph \d+ .* missing from font", category=UserWarning)
_warned_missing: set[str] = set()


@functools.lru_cache(maxsize=1)
def font_families() -> list[str]:
    """DejaVu Sans, then every installed fallback font (matplotlib draws each glyph with the first that has it)."""
    installed = {f.name for f in font_manager.fontManager.ttflist}
    return ["DejaVu Sans"] + [name for name in FALLBACK_FONTS if name in installed]


@functools.lru_cache(maxsize=None)
def _charmap(family: str) -> frozenset[int]:
    try:
        path = font_manager.findfont(font_manager.FontProperties(family=family), fallback_to_default=False)
        return frozenset(ft2font.FT2Font(path).get_charmap())
    except (ValueError, RuntimeError, OSError):
        return frozenset()


def _missing(texts: list[str]) -> list[str]:
    covered = frozenset().union(*(_charmap(f) for f in font_families()))
    return sorted({c for text in texts for c in text if not c.isspace() and ord(c) not in covered})


def _add_new_system_fonts() -> None:
    """Fonts installed after matplotlib cached its font list are unknown to it until added."""
    known = {f.fname for f in font_manager.fontManager.ttflist}
    for path in font_manager.findSystemFonts():
        if path not in known:
            try:
                font_manager.fontManager.addfont(path)
            except (RuntimeError, OSError, ValueError):
                continue
    font_families.cache_clear()


def check_glyphs(texts: list[str]) -> None:
    """Warn once (per character set) when no installed font can draw some characters of these texts."""
    missing = _missing(texts)
    if missing and not getattr(check_glyphs, "rescanned", False):
        check_glyphs.rescanned = True
        _add_new_system_fonts()
        missing = _missing(texts)
    new = [c for c in missing if c not in _warned_missing]
    if new:
        _warned_missing.update(new)
        warnings.warn(f"figures: no installed font has the characters {''.join(new)!r} ({len(new)} missing, drawn "
                      f"as boxes); install {FONT_PACKAGE_HINT}", ReportBuilderWarning, stacklevel=2)
