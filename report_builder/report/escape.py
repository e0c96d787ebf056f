"""Text made safe for the exports' formats, as Jinja filters: `md` for Markdown, `tex` for LaTeX.

HTML needs none: its templates are autoescaped. The Markdown and LaTeX templates are not (render.py), so
every value from the results or experiments.toml passes through one of these.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|#~])")


def md(text: object) -> str:
    """Markdown punctuation backslash-escaped, so that a title or a cell reads as its characters (a | in a
    title cannot end a table cell, a * cannot start emphasis); line breaks become spaces."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(str(text).split("\n")))


_TEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}
# The report's typography in characters that pdflatex reads without extra packages.
_TEX_SYMBOLS = {"±": r"$\pm$", "−": r"$-$", "—": "---", "–": "--", "×": r"$\times$", "÷": r"$\div$",
                "Δ": r"$\Delta$", "√": r"$\surd$", "→": r"$\to$", "²": r"$^2$", "…": r"\dots{}", "’": "'",
                "≥": r"$\geq$", "′": "$'$", "∂": r"$\partial$", "≤": r"$\leq$", "†": r"\dag{}", "≈": r"$\approx$"}
_TEX = re.compile("|".join(re.escape(c) for c in [*_TEX_SPECIAL, *_TEX_SYMBOLS]))


def tex(text: object) -> str:
    """LaTeX's special characters escaped, and the report's − ± × Δ — … written as LaTeX understands them."""
    return _TEX.sub(lambda m: _TEX_SPECIAL.get(m.group(0)) or _TEX_SYMBOLS[m.group(0)], str(text))


@dataclass(frozen=True)
class Paragraph:
    text: str
    item: bool
    """A list item (<li>) rather than a paragraph (<p>)."""


class _Prose(HTMLParser):
    # Tables, figures and headings reach the exports from tables.py and their own templates, not as text.
    SKIPPED = {"table", "figure", "h2", "h3", "caption", "figcaption"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.paragraphs: list[Paragraph] = []
        self._text: list[str] | None = None
        self._item = False
        self._skipping = 0

    def _close(self):
        if self._text is not None and " ".join("".join(self._text).split()):
            self.paragraphs.append(Paragraph(" ".join("".join(self._text).split()), self._item))
        self._text = None

    # A definition list's term and its definition are one item ("Device: CPU"); a banner is a paragraph.
    BLOCKS = ("p", "li", "ul", "div", "dt")

    def handle_starttag(self, tag, attrs):
        if tag in self.SKIPPED:
            self._skipping += 1
        elif tag in self.BLOCKS and not self._skipping:
            self._close()
            if tag != "ul":
                self._text, self._item = [], tag in ("li", "dt")
        elif tag == "dd" and self._text is not None and not self._skipping:
            self._text.append(": ")

    def handle_endtag(self, tag):
        if tag in self.SKIPPED:
            self._skipping -= 1
        elif tag in ("p", "li", "ul", "div", "dd") and not self._skipping:
            self._close()

    def handle_data(self, data):
        if self._text is not None and not self._skipping:
            self._text.append(data)


def prose(html: object) -> list[Paragraph]:
    """The paragraphs and list items of an HTML section as plain text, its tables, figures and headings left out:
    the Markdown export states a section's sentences by rendering the HTML's own template (one wording)."""
    parser = _Prose()
    parser.feed(str(html))
    parser.close()
    parser._close()
    return parser.paragraphs


ESCAPES = {"md": md, "tex": tex, "prose": prose}
