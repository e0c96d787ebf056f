"""Text made safe for the exports' formats, as Jinja filters: `md` for Markdown, `tex` for LaTeX.

HTML needs none: its templates are autoescaped. The Markdown and LaTeX templates are not (render.py), so
every value from the results or experiments.toml passes through one of these.
"""

from __future__ import annotations

import re

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|#~])")


def md(text: object) -> str:
    """Markdown punctuation backslash-escaped, so that a title or a cell reads as its characters (a | in a
    title cannot end a table cell, a * cannot start emphasis); line breaks become spaces."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(str(text).split("\n")))


_TEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}
# The report's typography in characters that pdflatex reads without extra packages.
_TEX_SYMBOLS = {"±": r"$\pm$", "−": r"$-$", "—": "---", "–": "--", "×": r"$\times$", "÷": r"$\div$",
                "Δ": r"$\Delta$", "√": r"$\surd$", "→": r"$\to$", "²": r"$^2$", "…": r"\dots{}", "’": "'"}
_TEX = re.compile("|".join(re.escape(c) for c in [*_TEX_SPECIAL, *_TEX_SYMBOLS]))


def tex(text: object) -> str:
    """LaTeX's special characters escaped, and the report's − ± × Δ — … written as LaTeX understands them."""
    return _TEX.sub(lambda m: _TEX_SPECIAL.get(m.group(0)) or _TEX_SYMBOLS[m.group(0)], str(text))


ESCAPES = {"md": md, "tex": tex}
