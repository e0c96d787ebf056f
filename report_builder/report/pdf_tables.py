"""Complete the PDF's table tags after WeasyPrint writes them: one /Table per HTML table, header cells tied
to data cells.

WeasyPrint (70) drops the HTML's `scope` when it tags a <th>, and tags a table that breaks across pages as a
new /Table on each page, each with the header row it repeats at the top of the page (Kozea/WeasyPrint#2508;
#2471 began on Headers/IDs). A screen reader then cannot say which header a number belongs to, and reads a
split table as several tables. This module edits the structure tree with pikepdf:

- the fragments of a split table become one /Table again (Caption, THead, TBody…, each TR in order); the
  header rows repeated on later pages become pagination artifacts: printed, not read out twice;
- every /TH gets /Scope from its <th scope> (col and colgroup: /Column; row and rowgroup: /Row), and every
  /TD gets /Headers naming the column headers above it, the group header it falls under (a body <th> with
  scope col or colgroup, as the per-epoch tables' experiment rows), and the row headers left of it in its row.

PDF tables are matched to HTML tables in document order by their shape (caption, header and body rows, which
cells are headers, column spans); an HTML table with no PDF counterpart was not printed (display: none).
Anything that does not match raises TableTagError, and the caller keeps WeasyPrint's PDF as it was.
Delete this module, and its call in render.write_pdf, once WeasyPrint writes Scope and whole split tables.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pikepdf
from pikepdf import Array, Dictionary, Name, String

SCOPES = {"col": "/Column", "colgroup": "/Column", "row": "/Row", "rowgroup": "/Row"}
GROUP_SCOPES = ("col", "colgroup")  # a <th> in the body with these heads the cells below it


class TableTagError(Exception):
    """The PDF's tables and the HTML's do not line up, or use a feature this fix-up does not handle."""


@dataclass
class HtmlCell:
    header: bool
    scope: str | None
    colspan: int


@dataclass
class HtmlTable:
    caption: bool = False
    head: list[list[HtmlCell]] = field(default_factory=list)
    body: list[list[HtmlCell]] = field(default_factory=list)


class _TableParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tables: list[HtmlTable] = []
        self._open = 0
        self._in_head = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "table":
            if self._open:
                raise TableTagError("a table inside a table is not handled")
            self._open += 1
            self.tables.append(HtmlTable())
            return
        if not self._open:
            return
        table = self.tables[-1]
        if tag == "caption":
            table.caption = True
        elif tag == "thead":
            self._in_head = True
        elif tag == "tfoot":
            raise TableTagError("a <tfoot> is not handled")
        elif tag == "tr":
            (table.head if self._in_head else table.body).append([])
        elif tag in ("th", "td"):
            if (attributes.get("rowspan") or "1") != "1":
                raise TableTagError("a cell with rowspan is not handled")
            rows = table.head if self._in_head else table.body
            rows[-1].append(HtmlCell(tag == "th", attributes.get("scope"), int(attributes.get("colspan") or 1)))

    def handle_endtag(self, tag: str) -> None:
        if tag == "thead":
            self._in_head = False
        elif tag == "table" and self._open:
            self._open -= 1
            self._in_head = False


def html_tables(html: str) -> list[HtmlTable]:
    """Every <table> of the HTML, in document order, as rows of cells."""
    parser = _TableParser()
    parser.feed(html)
    parser.close()
    return parser.tables


# ---- the structure tree ----------------------------------------------------------------------------------

def _role(node: Dictionary) -> str:
    return str(node.get("/S", ""))


def _kids(node: Dictionary) -> list[Dictionary]:
    """The structure elements directly under `node` (not its marked-content ids)."""
    kids = node.get("/K")
    if kids is None:
        return []
    items = list(kids) if isinstance(kids, Array) else [kids]
    return [k for k in items if isinstance(k, Dictionary) and "/S" in k]


def _tables(node: Dictionary) -> list[Dictionary]:
    found = []
    for kid in _kids(node):
        found.extend([kid] if _role(kid) == "/Table" else _tables(kid))
    return found


@dataclass
class Fragment:
    """A /Table as WeasyPrint wrote it: the part of one HTML table on one page."""

    table: Dictionary
    caption: Dictionary | None
    head: Dictionary | None
    head_rows: list[Dictionary]
    body_rows: list[Dictionary]

    @classmethod
    def of(cls, table: Dictionary) -> Fragment:
        caption, head, head_rows, body_rows = None, None, [], []
        for kid in _kids(table):
            role = _role(kid)
            if role == "/Caption":
                caption = kid
            elif role == "/THead":
                head, head_rows = kid, [r for r in _kids(kid) if _role(r) == "/TR"]
            elif role == "/TBody":
                body_rows.extend(r for r in _kids(kid) if _role(r) == "/TR")
            elif role == "/TR":
                body_rows.append(kid)
            else:
                raise TableTagError(f"a {role} directly in a /Table is not handled")
        return cls(table, caption, head, head_rows, body_rows)


def _cells(row: Dictionary) -> list[Dictionary]:
    return [c for c in _kids(row) if _role(c) in ("/TH", "/TD")]


def _table_attributes(cell: Dictionary) -> Dictionary:
    """The cell's attribute dictionary owned by /Table, made if missing."""
    attributes = cell.get("/A")
    candidates = list(attributes) if isinstance(attributes, Array) else [attributes]
    for candidate in candidates:
        if isinstance(candidate, Dictionary) and candidate.get("/O") == Name.Table:
            return candidate
    owned = Dictionary(O=Name.Table)
    if attributes is None:
        cell.A = owned
    elif isinstance(attributes, Array):
        attributes.append(owned)
    else:
        cell.A = Array([attributes, owned])
    return owned


def _colspan(cell: Dictionary) -> int:
    attributes = cell.get("/A")
    for candidate in list(attributes) if isinstance(attributes, Array) else [attributes]:
        if isinstance(candidate, Dictionary) and "/ColSpan" in candidate:
            return int(candidate.ColSpan)
    return 1


def _shape(rows: list[Dictionary]) -> list[list[tuple[bool, int]]]:
    return [[(_role(c) == "/TH", _colspan(c)) for c in _cells(r)] for r in rows]


def _html_shape(rows: list[list[HtmlCell]]) -> list[list[tuple[bool, int]]]:
    return [[(c.header, c.colspan) for c in row] for row in rows]


def _fits(table: HtmlTable, fragment: Fragment, done: int, first: bool) -> bool:
    """Whether `fragment` is the part of `table` after its first `done` body rows (`first`: its start)."""
    has_caption = fragment.caption is not None
    if first and has_caption != table.caption:
        return False
    # A caption that breaks across pages goes on in the next fragment, before any row.
    if not first and has_caption and not (table.caption and done == 0):
        return False
    head = _shape(fragment.head_rows)
    if head and head != _html_shape(table.head):
        return False
    body = _shape(fragment.body_rows)
    if first and body and table.head and not head:
        return False
    return body == _html_shape(table.body[done:done + len(body)])


def match(tables: list[HtmlTable], fragments: list[Fragment]) -> list[tuple[HtmlTable, list[Fragment]]]:
    """Each printed HTML table with the PDF /Table fragments it was written as, in order."""
    matched, i = [], 0
    for table in tables:
        if i == len(fragments):
            break
        if not _fits(table, fragments[i], 0, first=True):
            continue  # not printed
        group, done = [fragments[i]], len(fragments[i].body_rows)
        i += 1
        while done < len(table.body) and i < len(fragments) and _fits(table, fragments[i], done, first=False):
            group.append(fragments[i])
            done += len(fragments[i].body_rows)
            i += 1
        if done != len(table.body):
            raise TableTagError(f"PDF table {len(matched) + 1} holds {done} of its HTML table's "
                                f"{len(table.body)} body rows")
        matched.append((table, group))
    if i != len(fragments):
        raise TableTagError(f"{len(fragments) - i} of the PDF's {len(fragments)} tables match no HTML table")
    return matched


# ---- editing ---------------------------------------------------------------------------------------------

def _append(parent: Dictionary, kid: Dictionary) -> None:
    if not isinstance(parent.get("/K"), Array):
        parent.K = Array([] if parent.get("/K") is None else [parent.K])
    parent.K.append(kid)
    kid.P = parent


def _detach(node: Dictionary) -> None:
    """Remove `node` from its parent, and a parent left empty from its own, up to the /Document."""
    parent = node.P
    kids = parent.K
    if isinstance(kids, Array):
        for index, kid in enumerate(kids):
            if isinstance(kid, Dictionary) and kid.objgen == node.objgen:
                del kids[index]
                break
        empty = len(kids) == 0
    else:
        del parent.K
        empty = True
    if empty and "/S" in parent and _role(parent) != "/Document":
        _detach(parent)


def _marked_content(node: Dictionary, page: Dictionary | None = None) -> list[tuple[Dictionary, int]]:
    """(page, MCID) of every piece of page content under `node`."""
    page = node.get("/Pg", page)
    kids = node.get("/K")
    items = list(kids) if isinstance(kids, Array) else [] if kids is None else [kids]
    found = []
    for item in items:
        if isinstance(item, int) and not isinstance(item, bool):
            found.append((page, int(item)))
        elif isinstance(item, Dictionary) and item.get("/Type") == Name.MCR:
            found.append((item.get("/Pg", page), int(item.MCID)))
        elif isinstance(item, Dictionary) and "/S" in item:
            found.extend(_marked_content(item, page))
    return found


def _as_artifacts(pdf: pikepdf.Pdf, node: Dictionary) -> None:
    """Mark the page content under `node` as a pagination artifact (a header repeated on a later page)."""
    by_page: dict[tuple[int, int], tuple[Dictionary, set[int]]] = {}
    for page, mcid in _marked_content(node):
        by_page.setdefault(page.objgen, (page, set()))[1].add(mcid)
    parent_tree = {int(k): v for k, v in zip(pdf.Root.StructTreeRoot.ParentTree.Nums[::2],
                                             pdf.Root.StructTreeRoot.ParentTree.Nums[1::2])}
    for page, mcids in by_page.values():
        instructions, changed = [], set()
        for operands, operator in pikepdf.parse_content_stream(page):
            if (operator == pikepdf.Operator("BDC") and isinstance(operands[1], Dictionary)
                    and int(operands[1].get("/MCID", -1)) in mcids):
                changed.add(int(operands[1].MCID))
                operands = [Name.Artifact, Dictionary(Type=Name.Pagination, Subtype=Name.Header)]
            instructions.append(pikepdf.ContentStreamInstruction(operands, operator))
        if changed != mcids:
            raise TableTagError(f"marked content {sorted(mcids - changed)} not found on its page")
        page.Contents = pdf.make_stream(pikepdf.unparse_content_stream(instructions))
        numbers = parent_tree[int(page.StructParents)]
        for mcid in mcids:
            numbers[mcid] = None


def _merge(pdf: pikepdf.Pdf, group: list[Fragment]) -> Fragment:
    """One /Table from a split table's fragments, in the first one's place."""
    first = group[0]
    head = first.head
    for fragment in group[1:]:
        for kid in _kids(fragment.table):
            if _role(kid) == "/THead" and head is not None:
                _as_artifacts(pdf, kid)
            elif _role(kid) == "/Caption" and first.caption is not None:
                for part in _kids(kid):
                    _append(first.caption, part)
            else:
                head = kid if _role(kid) == "/THead" else head
                _append(first.table, kid)
        fragment.table.K = Array()
        _detach(fragment.table)
    return Fragment.of(first.table)


def _label(table: HtmlTable, fragment: Fragment) -> None:
    """/Scope on each header cell from its HTML scope; /Headers on each data cell."""
    ids = itertools.count(1)

    def id_of(cell: Dictionary) -> String:
        if "/ID" not in cell:
            cell.ID = String(f"{fragment.table.objgen[0]}-th-{next(ids)}")
        return cell.ID

    column_headers: dict[int, list[String]] = {}
    for html_row, row in zip(table.head, fragment.head_rows):
        column = 0
        for html_cell, cell in zip(html_row, _cells(row)):
            if html_cell.header:
                _table_attributes(cell).Scope = Name(SCOPES.get(html_cell.scope or "col", "/Column"))
                for c in range(column, column + html_cell.colspan):
                    column_headers.setdefault(c, []).append(id_of(cell))
            column += html_cell.colspan
    group_headers: dict[int, String] = {}
    for html_row, row in zip(table.body, fragment.body_rows):
        column, row_headers = 0, []
        for html_cell, cell in zip(html_row, _cells(row)):
            span = range(column, column + html_cell.colspan)
            if html_cell.header:
                _table_attributes(cell).Scope = Name(SCOPES.get(html_cell.scope or "row", "/Row"))
                if html_cell.scope in GROUP_SCOPES:
                    group_headers.update({c: id_of(cell) for c in span})
                else:
                    row_headers.append(id_of(cell))
            else:
                headers = [group_headers[c] for c in span if c in group_headers] + row_headers
                headers += [h for c in span for h in column_headers.get(c, [])]
                _table_attributes(cell).Headers = Array(list(dict.fromkeys(headers)))
            column += html_cell.colspan


def _index_ids(pdf: pikepdf.Pdf) -> None:
    """The /IDTree that PDF 1.7 (14.7.2) asks for once elements carry /ID: each id to its element."""
    tree = pikepdf.NameTree.new(pdf)
    stack = [pdf.Root.StructTreeRoot]
    while stack:
        node = stack.pop()
        for kid in _kids(node):
            if "/ID" in kid:
                tree[str(kid.ID)] = kid
            stack.append(kid)
    pdf.Root.StructTreeRoot.IDTree = tree.obj


def complete(pdf_path: Path, html: str) -> None:
    """Rewrite pdf_path (WeasyPrint's PDF of `html`) with whole tables and their header associations; on
    any error the file is left as it was."""
    tmp = pdf_path.with_name(f"{pdf_path.name}.tables")
    try:
        with pikepdf.open(pdf_path) as pdf:
            fragments = [Fragment.of(t) for t in _tables(pdf.Root.StructTreeRoot)]
            for table, group in match(html_tables(html), fragments):
                _label(table, _merge(pdf, group))
            _index_ids(pdf)
            pdf.save(tmp)
        tmp.replace(pdf_path)
    finally:
        tmp.unlink(missing_ok=True)
