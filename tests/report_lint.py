"""Measures of a rendered writeup, read as a reader meets it (issue 35): the words of report.md, the PDF's
pages, sentences printed twice, caption and sentence lengths, table widths, the Findings, and numbers that
wrap inside a PDF table cell.

tests/test_report_lint.py holds each measure to its limit on real reports and shows that each fails on a
report that breaks it. Run it on any build folder to see the numbers:

    python tests/report_lint.py build/
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import lxml.html

MAX_SENTENCE_WORDS = 40
MAX_CAPTION_WORDS = 40
MAX_COLUMNS = 7
MAX_FINDING_WORDS = 30
MAX_FINDINGS_WORDS = 250
REPEAT_WORDS = 8
"""A sentence this long or longer is printed once in the whole report."""

BLOCKS = ("p", "li", "caption", "figcaption", "dd", "dt", "div", "h1", "h2", "h3", "td", "th")
PROSE = ("p", "li", "caption", "figcaption", "dd", "div")
# A sentence ends at . ! or ? before a space and a capital, a quote or an opening bracket (not "0.5 s" or "e.g. x").
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z“\"(\[])")


@dataclass(frozen=True)
class Block:
    kind: str
    """The HTML element: p, li, caption, figcaption, td, …"""
    text: str
    section: str
    """The id of the <section> it stands in ("" outside one)."""


def _own_text(element) -> str:
    """An element's text without the text of the blocks nested in it (each is a block of its own)."""
    parts = [element.text or ""]
    for child in element:
        if not isinstance(child.tag, str):
            parts.append(child.tail or "")
            continue
        if child.tag not in BLOCKS and child.tag not in ("ul", "ol", "table", "figure", "section", "dl"):
            parts.append(_own_text(child))
        parts.append(child.tail or "")
    return " ".join(" ".join(parts).split())


def blocks(html: str) -> list[Block]:
    """Every printed block of text of a report.html: collapsed figure data (<details>), styles and the
    figures' images are not printed and are left out; a figure's text alternative is not read here."""
    tree = lxml.html.fromstring(html)
    for gone in tree.xpath("//style | //script | //details | //nav"):
        gone.drop_tree()
    found = []
    for element in tree.iter(*BLOCKS):
        text = _own_text(element)
        if not text:
            continue
        sections = element.xpath("ancestor::section[@id][1]/@id")
        found.append(Block(element.tag, text, sections[0] if sections else ""))
    return found


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


def words(text: str) -> int:
    """Words as a reader counts them: whitespace-separated tokens with a letter or digit (a table's | and ±,
    Markdown's --- are not words)."""
    return sum(1 for token in text.split() if any(ch.isalnum() for ch in token))


def _caption_text(text: str) -> str:
    """A caption without its label ("Figure 3.")."""
    return re.sub(r"^(Figure|Table) \d+\.\s*", "", text)


@dataclass
class Measures:
    words: int | None = None
    """Words of report.md (words())."""
    tokens: int | None = None
    """Whitespace-separated tokens of report.md, as `wc -w` counts them."""
    pages: int | None = None
    repeated: list[tuple[str, int]] = field(default_factory=list)
    """Sentences of REPEAT_WORDS or more words printed more than once, with their counts."""
    longest_caption: tuple[int, str] = (0, "")
    widest_table: tuple[int, str] = (0, "")
    """Columns of the widest printed table, and its caption."""
    findings_words: int = 0
    findings_lines: list[str] = field(default_factory=list)
    """Each Findings answer, without its question and its link."""
    findings_questions: list[str] = field(default_factory=list)
    longest_sentence: tuple[int, str] = (0, "")
    wrapped: list[str] = field(default_factory=list)
    """PDF lines of a table that end or start inside a number (a "±" or an interval's comma at a line's end)."""
    overflowing: list[str] = field(default_factory=list)
    """PDF words printed past the right edge of the text (a table wider than the page's text)."""

    def summary(self) -> dict:
        return {"words (report.md)": self.words, "wc -w (report.md)": self.tokens, "pages (PDF)": self.pages,
                "repeated sentences (8+ words)": len(self.repeated),
                "longest caption (words)": self.longest_caption[0], "widest table (columns)": self.widest_table[0],
                "Findings words": self.findings_words, "Findings lines": len(self.findings_lines),
                "longest Findings line (words)": max((words(x) for x in self.findings_lines), default=0),
                "longest sentence (words)": self.longest_sentence[0], "numbers wrapped in PDF cells": len(self.wrapped),
                "words past the PDF's right margin": len(self.overflowing)}


def table_columns(table) -> int:
    return max((sum(int(c.get("colspan") or 1) for c in row.xpath("./th | ./td")) for row in table.xpath(".//tr")),
               default=0)


def measure_html(html: str) -> Measures:
    m = Measures()
    found = blocks(html)
    counts = Counter(s for b in found if b.kind in PROSE for s in sentences(b.text) if words(s) >= REPEAT_WORDS)
    m.repeated = sorted(((s, n) for s, n in counts.items() if n > 1), key=lambda x: -x[1])
    captions = [_caption_text(b.text) for b in found if b.kind in ("caption", "figcaption")]
    m.longest_caption = max(((words(c), c) for c in captions), default=(0, ""))
    prose = [s for b in found if b.kind in PROSE for s in sentences(b.text)]
    m.longest_sentence = max(((words(s), s) for s in prose), default=(0, ""))
    tree = lxml.html.fromstring(html)
    for gone in tree.xpath("//details"):
        gone.drop_tree()
    tables = [(table_columns(t), " ".join(" ".join(t.xpath("./caption//text()")).split())[:80])
              for t in tree.xpath("//table")]
    m.widest_table = max(tables, default=(0, ""))
    section = tree.xpath("//section[@id='findings']")
    if section:
        # text nodes joined as printed (a span inside a line adds no space)
        text = " ".join(" ".join(section[0].xpath(".//text()")).split())
        m.findings_words = words(text)
        for row in section[0].xpath(".//tr[td]"):
            question = " ".join("".join(row.xpath("./th//text()")).split())
            answer = " ".join("".join(row.xpath("./td//text()[not(ancestor::a)]")).split())
            m.findings_questions.append(question)
            m.findings_lines.append(answer)
    return m


def findings_links(html: str) -> list[str]:
    """The section each Findings line links to, in order."""
    tree = lxml.html.fromstring(html)
    return [href.lstrip("#") for href in tree.xpath("//section[@id='findings']//tr[td]//a/@href")]


def wrapped_numbers(pdf_path: Path) -> list[str]:
    """Printed lines of the PDF that end inside a number: "86.7 ±" (its "0.3%" on the next line), an interval's
    "[−1.7," or a p-value's "(p =" — no line ends so unless a number wrapped (pdftotext's word boxes, line by
    line)."""
    out = subprocess.run(["pdftotext", "-bbox-layout", str(pdf_path), "-"], capture_output=True, text=True,
                         check=True).stdout
    tree = lxml.html.fromstring(re.sub(r"^<\?xml[^>]*>", "", out.lstrip()))
    found = []
    for line in tree.iter("line"):
        text = " ".join(w.text_content() for w in line.iter("word"))
        if (re.search(r"(^|\s)±$", text) or re.search(r"\[[^\]\s]*,$", text) or text.startswith("± ")
                or re.search(r"(\([pn]|\b[pn] [=<>])$|^[pn]$", text)):
            found.append(text)
    return found


HEADER_BELOW = 50.0
"""Points from a page's top within which its running header is printed (the top margin is 20 mm: 57 pt)."""


def overflowing(pdf_path: Path) -> list[str]:
    """Words printed past the right edge of the text: the running header's right end marks that edge (it is set
    flush right in the margin box, @top-right); pages without one take the edge of those with one."""
    out = subprocess.run(["pdftotext", "-bbox-layout", str(pdf_path), "-"], capture_output=True, text=True,
                         check=True).stdout
    tree = lxml.html.fromstring(re.sub(r"^<\?xml[^>]*>", "", out.lstrip()))
    pages = [[(float(w.get("xmax")), float(w.get("ymax")), w.text_content()) for w in p.iter("word")]
             for p in tree.iter("page")]
    edges = [max((x for x, y, _ in words if y < HEADER_BELOW), default=None) for words in pages]
    known = [e for e in edges if e is not None]
    found = []
    for number, (words, edge) in enumerate(zip(pages, edges), start=1):
        edge = edge if edge is not None else max(known, default=None)
        if edge is not None:
            found += [f"page {number}: {text}" for x, y, text in words if y >= HEADER_BELOW and x > edge + 1.0]
    return found


def pdf_pages(pdf_path: Path) -> int:
    import pikepdf

    with pikepdf.open(pdf_path) as pdf:
        return len(pdf.pages)


def measure(build_dir: Path) -> Measures:
    """Every measure of the report in build_dir (report.html; report.md and report.pdf where present)."""
    m = measure_html((build_dir / "report.html").read_text(encoding="utf-8"))
    markdown = build_dir / "report.md"
    if markdown.exists():
        text = markdown.read_text(encoding="utf-8")
        m.words, m.tokens = words(text), len(text.split())
    pdf = build_dir / "report.pdf"
    if pdf.exists():
        m.pages = pdf_pages(pdf)
        m.wrapped = wrapped_numbers(pdf)
        m.overflowing = overflowing(pdf)
    return m


if __name__ == "__main__":
    measured = measure(Path(sys.argv[1]))
    for name, value in measured.summary().items():
        print(f"{name:34} {value}")
    print("\nlongest caption:", measured.longest_caption[1])
    print("\nlongest sentence:", measured.longest_sentence[1])
    print("\nwidest table:", measured.widest_table[1])
    print("\nrepeated:")
    for sentence, n in measured.repeated:
        print(f"  ×{n} {sentence}")
    print("\nFindings:")
    for question, line in zip(measured.findings_questions, measured.findings_lines):
        print(f"  ({words(line)}) {question} | {line}")
    print("\nwrapped:", *measured.wrapped[:10], sep="\n  ")
    print("\npast the right margin:", *measured.overflowing[:10], sep="\n  ")
