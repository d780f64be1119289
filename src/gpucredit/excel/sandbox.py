"""What a workbook may reach when gpucredit computes it: itself, and nothing else.

A workbook from outside is untrusted. Before any formula is computed, every formula and
defined name is read with openpyxl's formula tokenizer and a *compute copy* is made in
which:

* **Links outside the file are cut.** A reference whose sheet is not one of this
  workbook's sheets - another workbook (``[1]Sheet!A1``, ``'[secret.xlsx]Sheet1'!A1``,
  ``'../../x/[f]S'!A1``, ``book.xlsx!name``), a 3-D or structured reference - and every
  function that reaches a file, a server or the host (``WEBSERVICE``, ``FILTERXML``,
  ``RTD``, ``CALL``, ``INDIRECT`` whose target is only known at run time, ``INFO``,
  ``CELL`` ...) is replaced by ``#REF!``. The workbook's external-link parts are
  dropped from the copy, so the engine has nothing to follow. Excel and LibreOffice
  likewise never read a linked file without asking the user [1]_.
* **Circular references are errors.** Formula cells that depend on themselves (found as
  the strongly connected components of the cell dependency graph, Tarjan's algorithm
  [2]_) become ``#VALUE!``. Excel iterates them instead when the workbook enables
  iterative calculation (``<calcPr iterate="1">`` [3]_); this tool does not, and says so
  for each such cell.
* **Sheet names are replaced by plain aliases** (``S1``, ``S2`` ...) so that names with
  apostrophes, brackets, spaces or non-ASCII letters (``Bob's``, ``Deal [v2]``) reach the
  engine intact; results are mapped back to the real names.
* **Budgets.** A reference that runs to the sheet's last row or column (``A:A``,
  ``1:1``, ``A1:XFD2``) or covers more than :data:`MAX_REFERENCE_CELLS` cells is cut to
  the referenced sheet's used area - sums, lookups and counts of non-blank cells are
  unchanged; ``ROWS(A:A)`` and ``COUNTBLANK(A:A)`` see the used area only - and refused
  with ``#REF!`` if it is still larger; a workbook with more than
  :data:`MAX_FORMULA_CELLS` formula cells (array ranges counted by area) is refused.

Each cut is reported with its cell (``"Sheet!B7: ..."``). The input file is only read.

References
----------
.. [1] Microsoft, "Control when external references (links) are updated",
   support.microsoft.com; LibreOffice Help, "Updating Links".
.. [2] R. Tarjan, "Depth-first search and linear graph algorithms", SIAM J. Comput. 1(2),
   1972.
.. [3] ECMA-376 Part 1, 18.2.2 ``calcPr`` (``iterate``, ``iterateCount``,
   ``iterateDelta``).
"""

from __future__ import annotations

import bisect
import os
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from xml.sax.saxutils import escape, unescape

__all__ = ["MAX_FORMULA_CELLS", "MAX_REFERENCE_CELLS", "Sandboxed", "formula_shape", "sandbox",
           "sheet_parts"]

MAX_FORMULA_CELLS = 500_000
"""Formula cells (array ranges by area) one workbook may hold."""
MAX_REFERENCE_CELLS = 250_000
"""Cells one reference may cover after it is cut to the used area (the engine holds
about 800 bytes per referenced cell: 250,000 cells is about 200 MB)."""
EXCEL_ROWS, EXCEL_COLS = 1_048_576, 16_384
"""Excel's sheet size (Microsoft, "Excel specifications and limits")."""

OUTSIDE_FUNCTIONS = frozenset({
    "WEBSERVICE", "FILTERXML", "RTD", "CALL", "REGISTER.ID", "INDIRECT", "INFO", "CELL",
    "IMAGE", "STOCKHISTORY", "SQL.REQUEST", "DDE", "CUBEMEMBER", "CUBEVALUE", "CUBESET",
    "CUBESETCOUNT", "CUBERANKEDMEMBER", "CUBEKPIMEMBER", "CUBEMEMBERPROPERTY",
})
"""Functions that reach a file, a server or the host, or a target known only at run time."""

LINK = "#REF!"
CIRCULAR = "#VALUE!"
UNREADABLE = "#NAME?"

_NS = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main",
       "r": "http://schemas.openxmlformats.org/officeDocument/2006/relationships",
       "p": "http://schemas.openxmlformats.org/package/2006/relationships"}
_ROW = re.compile(r"<row\b(?P<attrs>[^>]*?)(?:/>|>(?P<body>.*?)</row>)", re.S)
_CELL = re.compile(r"<c\b(?P<attrs>[^>]*?)(?:/>|>(?P<body>.*?)</c>)", re.S)
FORMULA_XML = re.compile(r"<f\b(?P<attrs>[^>]*?)(?:/>|>(?P<text>.*?)</f>)", re.S)
_ATTR = re.compile(r'\s(?P<k>[\w:]+)="(?P<v>[^"]*)"')
UNQUOTE = {"&quot;": '"', "&apos;": "'"}
"""The entities sheet XML quotes in attribute-free text that ``unescape`` leaves alone."""
_A1 = re.compile(r"\$?([A-Za-z]{1,3})\$?(\d{1,7})")
_COLS = re.compile(r"\$?([A-Za-z]{1,3}):\$?([A-Za-z]{1,3})")
_ROWS = re.compile(r"\$?(\d{1,7}):\$?(\d{1,7})")


@dataclass
class Sandboxed:
    """The compute copy of a workbook and what was cut from it.

    Attributes
    ----------
    parts : dict of str to bytes
        The archive parts that differ from the input's (None: leave the part out).
    aliases : dict of str to str
        Alias sheet name (capitals) -> the real sheet name.
    findings : list of str
        ``"Sheet!B7: what was cut and why"``, one per cell or name.
    iterate : bool
        The workbook asks for iterative calculation of circular references (not done:
        they are cut like any other).
    """

    parts: dict[str, bytes | None] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    findings: list[str] = field(default_factory=list)
    iterate: bool = False


# =============================================================================== reading

def attrs_of(text: str) -> dict[str, str]:
    """XML attributes of an element's opening tag text, as a dict."""
    return {m["k"]: m["v"] for m in _ATTR.finditer(text)}


def col_number(letters: str) -> int:
    n = 0
    for ch in letters.upper():
        n = n * 26 + ord(ch) - 64
    return n


def col_letters(col: int) -> str:
    s = ""
    while col:
        col, rem = divmod(col - 1, 26)
        s = chr(65 + rem) + s
    return s


def iter_cells(xml: str):
    """Every cell of a worksheet part: (row, column, match of the ``<c>`` element).

    Cells and rows without an ``r`` attribute follow the previous one, as Excel reads them.
    """
    start = xml.find("<sheetData")
    if start < 0:
        return
    next_row = 1
    for rm in _ROW.finditer(xml, start):
        r = int(attrs_of(rm["attrs"]).get("r", next_row))
        next_row, next_col = r + 1, 1
        offset = rm.start("body") if rm["body"] is not None else rm.end()
        for cm in _CELL.finditer(rm["body"] or ""):
            ref = attrs_of(cm["attrs"]).get("r")
            m = _A1.fullmatch(ref) if ref else None
            c = col_number(m[1]) if m else next_col
            next_col = c + 1
            yield r, c, cm, offset


def sheet_parts(zf: zipfile.ZipFile) -> dict[str, str]:
    """Sheet name -> worksheet part name in the archive, in workbook order."""
    from defusedxml import ElementTree

    book = ElementTree.fromstring(zf.read("xl/workbook.xml"))
    rels = ElementTree.fromstring(zf.read("xl/_rels/workbook.xml.rels"))
    targets = {}
    for rel in rels.findall("p:Relationship", _NS):
        target = rel.get("Target", "")
        part = target.lstrip("/") if target.startswith("/") else str(PurePosixPath("xl") / target)
        targets[rel.get("Id")] = os.path.normpath(part).replace(os.sep, "/")
    out = {}
    for sheet in book.findall("m:sheets/m:sheet", _NS):
        rid = sheet.get(f"{{{_NS['r']}}}id")
        if rid in targets:
            out[sheet.get("name")] = targets[rid]
    return out


# =============================================================================== references

@dataclass
class _Formula:
    sheet: str          # real sheet name
    row: int
    col: int
    area: tuple[int, int, int, int]  # r0, c0, r1, c1 of the cells it fills
    refs: list = field(default_factory=list)  # (SHEET upper, r0, c0, r1, c1)
    text: str = ""
    shared: str | None = None  # the si of a shared formula
    problem: str | None = None
    value: str = LINK


def _split_sheet(operand: str) -> tuple[str | None, str]:
    """``'Bob''s'!A1`` -> ("Bob's", "A1"); ``A1`` -> (None, "A1")."""
    if operand.startswith("'"):
        i = 1
        while i < len(operand):
            if operand[i] == "'":
                if operand[i + 1:i + 2] == "'":
                    i += 2
                    continue
                break
            i += 1
        if operand[i + 1:i + 2] != "!":
            return None, operand
        return operand[1:i].replace("''", "'"), operand[i + 2:]
    if "!" in operand:
        sheet, ref = operand.rsplit("!", 1)
        return sheet, ref
    return None, operand


def _area(ref: str) -> tuple[int, int, int, int] | None:
    parts = ref.split(":")
    if len(parts) == 1 and (m := _A1.fullmatch(ref)):
        r, c = int(m[2]), col_number(m[1])
        return r, c, r, c
    if len(parts) == 2 and (a := _A1.fullmatch(parts[0])) and (b := _A1.fullmatch(parts[1])):
        r0, r1 = sorted((int(a[2]), int(b[2])))
        c0, c1 = sorted((col_number(a[1]), col_number(b[1])))
        return r0, c0, r1, c1
    if m := _COLS.fullmatch(ref):
        c0, c1 = sorted((col_number(m[1]), col_number(m[2])))
        return 1, c0, EXCEL_ROWS, c1
    if m := _ROWS.fullmatch(ref):
        r0, r1 = sorted((int(m[1]), int(m[2])))
        return r0, 1, r1, EXCEL_COLS
    return None


_CELL_REF = re.compile(r"(?<![\w.$])(\$?)([A-Za-z]{1,3})(\$?)(\d{1,7})(?![\w(!])")


def _cell_refs(text: str) -> list:
    """The A1 cell references in ``text`` outside string literals and quoted sheet names,
    in order (matches)."""
    found, i = [], 0
    while i < len(text):
        j = min((k for k in (text.find('"', i), text.find("'", i)) if k >= 0),
                default=len(text))
        found += _CELL_REF.finditer(text, i, j)
        if j >= len(text):
            break
        close = text.find(text[j], j + 1)
        while close >= 0 and text[close + 1:close + 2] == text[j]:  # a doubled quote
            close = text.find(text[j], close + 2)
        i = len(text) if close < 0 else close + 1
    return found


def formula_shape(text: str, row: int, col: int) -> tuple[str, list]:
    """(the formula's R1C1 form at (row, col): each relative row or column an offset from
    the formula's cell, so formulas that differ only by where they stand share it; its cell
    references in order)."""
    found = _cell_refs(text)
    pieces, last = [], 0
    for m in found:
        r, c = int(m[4]), col_number(m[2])
        pieces += [text[last:m.start()], f"R{r}" if m[3] else f"R[{r - row}]",
                   f"C{c}" if m[1] else f"C[{c - col}]"]
        last = m.end()
    pieces.append(text[last:])
    return "\x00".join(pieces), found


def _in_order(ref: str) -> bool:
    """``A1`` or ``A1:B2`` written top-left first (``B2:A1`` is read as ``A1:B2``)."""
    parts = [_A1.fullmatch(p) for p in ref.split(":")]
    if not all(parts) or len(parts) > 2:
        return False
    return len(parts) == 1 or (int(parts[0][2]) <= int(parts[1][2])
                               and col_number(parts[0][1]) <= col_number(parts[1][1]))


def _a1(area) -> str:
    r0, c0, r1, c1 = area
    a, b = f"{col_letters(c0)}{r0}", f"{col_letters(c1)}{r1}"
    return a if a == b else f"{a}:{b}"


class _Rewriter:
    """Rewrites one workbook's formulas for the compute copy."""

    def __init__(self, sheets: list[str], names: set[str], used: dict[str, tuple[int, int]]):
        self.alias = {s.upper(): f"S{i + 1}" for i, s in enumerate(sheets)}
        self.names = names
        self.used = used  # SHEET upper -> (last used row, last used column)
        self.shapes: dict[tuple[str, str], list] = {}

    def formula(self, text: str, home: str, row: int = 0, col: int = 0
                ) -> tuple[str, list, str | None]:
        """(rewritten text without '=', references, problem or None). With the formula's
        cell (``row``, ``col``), formulas of one R1C1 shape are tokenized once: the
        tokens are kept with a slot for each cell reference, refilled for the next cell
        of that shape (a 60-month row of one formula is tokenized once, not 60 times)."""
        if not row:
            return self._tokenized(text, home)
        key, found = formula_shape(text, row, col)
        template = self.shapes.get((home, key))
        if template is not None:
            return self._refilled(template, found, home)
        out = self._tokenized(text, home)
        if out[2] is None and (template := self._template(text, len(found))) is not None:
            self.shapes[(home, key)] = template
        return out

    def _template(self, text: str, n_refs: int) -> list | None:
        """The formula's tokens, each RANGE operand split around its cell references
        (None if some reference is not inside an operand)."""
        from openpyxl.formula.tokenizer import Tokenizer

        template, seen = [], 0
        for tok in Tokenizer("=" + text).items:
            if tok.type == "FUNC" and tok.subtype == "OPEN":
                template.append(self._function(tok.value[:-1])[0] + "(")
            elif tok.type == "OPERAND" and tok.subtype == "RANGE":
                pieces, last = [], 0
                for m in _cell_refs(tok.value):
                    pieces.append(tok.value[last:m.start()])
                    last = m.end()
                pieces.append(tok.value[last:])
                seen += len(pieces) - 1
                template.append(pieces)
            else:
                template.append(tok.value)
        return template if seen == n_refs else None

    def _refilled(self, template: list, found: list, home: str) -> tuple[str, list, str | None]:
        out, refs, k = [], [], 0
        for piece in template:
            if isinstance(piece, str):
                out.append(piece)
                continue
            operand = piece[0]
            for literal in piece[1:]:
                operand += found[k].group(0) + literal
                k += 1
            value, problem = self._operand(operand, home, refs)
            if problem:
                return "", refs, problem
            out.append(value)
        return "".join(out), refs, None

    def _tokenized(self, text: str, home: str) -> tuple[str, list, str | None]:
        from openpyxl.formula.tokenizer import Tokenizer, TokenizerError

        try:
            tokens = Tokenizer("=" + text).items
        except (TokenizerError, IndexError, ValueError) as exc:
            return "", [], f"a formula this tool cannot read ({exc})"
        out, refs = [], []
        for tok in tokens:
            if tok.type == "FUNC" and tok.subtype == "OPEN":
                value, problem = self._function(tok.value[:-1])
                out.append(value + "(")
            elif tok.type == "OPERAND" and tok.subtype == "RANGE":
                value, problem = self._operand(tok.value, home, refs)
                out.append(value)
            else:
                out.append(tok.value)
                problem = None
            if problem:
                return "", refs, problem
        return "".join(out), refs, None

    def _function(self, name: str) -> tuple[str, str | None]:
        prefix, _, bare = name.rpartition("!")
        if prefix and not bare.upper().startswith("GPU_"):
            return name, f"calls {name}, a function in another file"
        plain = bare.upper()
        for p in ("_XLFN.", "_XLWS."):
            plain = plain.removeprefix(p)
        if plain in OUTSIDE_FUNCTIONS:
            return bare, f"calls {plain}, which reaches outside the workbook"
        return bare, None  # an add-in prefix [1]!GPU_X is dropped: gpucredit is the add-in

    def _operand(self, operand: str, home: str, refs: list) -> tuple[str, str | None]:
        sheet, ref = _split_sheet(operand)
        if sheet is None:
            if "[" in operand or "]" in operand:
                return operand, f"refers to {operand}, outside this workbook or a table"
            area = _area(operand)
            if area is None:
                if operand.upper() in self.names:
                    refs.append(("NAME", operand.upper()))
                return operand, None
            return self._local(home, area, refs, operand)
        if sheet.upper() not in self.alias or "[" in ref:
            return operand, f"links to {operand}, outside this workbook"
        area = _area(ref)
        if area is None:
            return operand, f"refers to {operand}, which this tool does not read"
        return self._local(sheet, area, refs, ref)

    def _local(self, sheet: str, area, refs, text: str) -> tuple[str, str | None]:
        """The reference on its sheet's alias, cut to the used area if it must be; an
        uncut reference keeps its ``$`` marks (the evaluator groups formulas by them)."""
        key = sheet.upper()
        r0, c0, r1, c1 = area
        to_the_end = r1 == EXCEL_ROWS or c1 == EXCEL_COLS
        if to_the_end or (r1 - r0 + 1) * (c1 - c0 + 1) > MAX_REFERENCE_CELLS:
            last_r, last_c = self.used.get(key, (1, 1))
            r1, c1 = max(r0, min(r1, last_r)), max(c0, min(c1, last_c))
            if (r1 - r0 + 1) * (c1 - c0 + 1) > MAX_REFERENCE_CELLS:
                return "", (f"refers to {_a1(area)} on {sheet}, "
                            f"{(r1 - r0 + 1) * (c1 - c0 + 1):,} used cells: more than the "
                            f"{MAX_REFERENCE_CELLS:,} one reference may cover")
        refs.append((key, r0, c0, r1, c1))
        if (r0, c0, r1, c1) == area and _in_order(text):
            return f"{self.alias[key]}!{text.upper()}", None
        return f"{self.alias[key]}!{_a1((r0, c0, r1, c1))}", None


# =============================================================================== cycles

def _cycles(formulas: list[_Formula], name_refs: dict[str, list]) -> set[int]:
    """Indices of formulas on a circular reference (Tarjan's strongly connected
    components, iterative; a self-reference counts)."""
    by_col: dict[tuple[str, int], list[tuple[int, int]]] = {}
    arrays = []
    for i, f in enumerate(formulas):
        r0, c0, r1, c1 = f.area
        if (r0, c0) == (r1, c1):
            by_col.setdefault((f.sheet.upper(), c0), []).append((r0, i))
        else:
            arrays.append((f.sheet.upper(), f.area, i))
    for v in by_col.values():
        v.sort()

    def targets(ref, seen):
        if ref[0] == "NAME":
            if ref[1] in seen:
                return
            seen.add(ref[1])
            for sub in name_refs.get(ref[1], []):
                yield from targets(sub, seen)
            return
        sheet, r0, c0, r1, c1 = ref
        for c in range(c0, c1 + 1):
            cells = by_col.get((sheet, c))
            if cells:
                lo = bisect.bisect_left(cells, (r0, -1))
                hi = bisect.bisect_right(cells, (r1, len(formulas)))
                for _, j in cells[lo:hi]:
                    yield j
        for s, (a0, b0, a1, b1), j in arrays:
            if s == sheet and a0 <= r1 and r0 <= a1 and b0 <= c1 and c0 <= b1:
                yield j

    edges = [sorted({j for ref in f.refs for j in targets(ref, set())}) for f in formulas]
    return _tarjan(edges)


def _tarjan(edges: list[list[int]]) -> set[int]:
    index, low, on_stack, stack, out = {}, {}, set(), [], set()
    counter = 0
    for root in range(len(edges)):
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            v, k = work.pop()
            if k == 0:
                index[v] = low[v] = counter
                counter += 1
                stack.append(v)
                on_stack.add(v)
            if k < len(edges[v]):
                work.append((v, k + 1))
                w = edges[v][k]
                if w not in index:
                    work.append((w, 0))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            if work and work[-1][1] > 0:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1 or v in edges[v]:
                    out.update(comp)
    return out


# =============================================================================== the copy

_EXTERNAL_REL = re.compile(r"<Relationship\b[^>]*/externalLink\"[^>]*/>")
_EXTERNAL_REFS = re.compile(r"<externalReferences\b[^>]*?(?:/>|>.*?</externalReferences>)", re.S)
DEFINED_NAME_XML = re.compile(r"<definedName\b(?P<attrs>[^>]*)>(?P<text>.*?)</definedName>", re.S)
_SHEET_TAG = re.compile(r"<sheet\b[^>]*?/>", re.S)


def sandbox(zf: zipfile.ZipFile) -> Sandboxed:
    """The compute copy's edited parts for the workbook open in ``zf`` (see the module).

    Raises
    ------
    GpuCreditError
        When the workbook holds more than :data:`MAX_FORMULA_CELLS` formula cells.
    """
    out = Sandboxed()
    sheets = sheet_parts(zf)
    names_in_zip = set(zf.namelist())
    xmls = {s: zf.read(p).decode("utf-8") for s, p in sheets.items() if p in names_in_zip}
    used, found = {}, {}
    for sheet, xml in xmls.items():
        used[sheet.upper()], found[sheet] = _scan(sheet, xml)
    book = zf.read("xl/workbook.xml").decode("utf-8")
    out.iterate = bool(re.search(r'<calcPr\b[^>]*\siterate="(1|true)"', book))
    defined = list(DEFINED_NAME_XML.finditer(book))
    rw = _Rewriter(list(sheets), {attrs_of(m["attrs"]).get("name", "").upper()
                                  for m in defined}, used)
    out.aliases = {a: s for s in sheets for a in [rw.alias[s.upper()]]}
    book, name_refs = _rewrite_names(book, defined, rw, out.findings)
    formulas = [f for sheet in xmls for f in found[sheet]]
    _check_size(formulas)
    texts = {}
    for f in formulas:
        text, f.refs, f.problem = rw.formula(f.text, f.sheet, f.row, f.col)
        texts[id(f)] = text
    circular = "a circular reference" + (
        " (the workbook asks for iterative calculation, which this tool does not do)"
        if out.iterate else "")
    for i in sorted(_cycles(formulas, name_refs)):
        if formulas[i].problem is None:
            formulas[i].problem, formulas[i].value = circular, CIRCULAR
    for f in formulas:
        if f.problem:
            where = f"{f.sheet}!{col_letters(f.col)}{f.row}"
            out.findings.append(f"{where}: {f.problem}; shown as {f.value}")
            texts[id(f)] = f.value
    for sheet, xml in xmls.items():
        out.parts[sheets[sheet]] = _rewrite_sheet(xml, found[sheet], texts).encode("utf-8")
    out.parts["xl/workbook.xml"] = _rename_sheets(book, rw.alias).encode("utf-8")
    rels = zf.read("xl/_rels/workbook.xml.rels").decode("utf-8")
    out.parts["xl/_rels/workbook.xml.rels"] = _EXTERNAL_REL.sub("", rels).encode("utf-8")
    for name in names_in_zip:
        if name.startswith("xl/externalLinks/"):
            out.parts[name] = None
    return out


def _scan(sheet: str, xml: str) -> tuple[tuple[int, int], list[_Formula]]:
    """(last used row and column, the formula cells) of one worksheet part."""
    last_r = last_c = 1
    found = []
    for r, c, cm, _ in iter_cells(xml):
        last_r, last_c = max(last_r, r), max(last_c, c)
        f = FORMULA_XML.search(cm["body"] or "")
        if f is None:
            continue
        fa = attrs_of(f["attrs"])
        area = (r, c, r, c)
        if fa.get("t") == "array" and (a := _area(fa.get("ref", "").replace("$", ""))):
            area = a
            last_r, last_c = max(last_r, a[2]), max(last_c, a[3])
        text = unescape(f["text"] or "", UNQUOTE)
        si = fa.get("si") if fa.get("t") == "shared" else None
        found.append(_Formula(sheet, r, c, area, text=text, shared=si))
    _expand_shared(found)
    return (last_r, last_c), found


def _expand_shared(found: list[_Formula]) -> None:
    """Give each cell of a shared formula (``<f t="shared" si=..>``) its own text, as
    Excel reads it: the master's formula moved to the cell (openpyxl's Translator)."""
    from openpyxl.formula.translate import Translator, TranslatorError

    masters = {f.shared: f for f in found if f.shared is not None and f.text}
    for f in found:
        m = masters.get(f.shared) if f.shared is not None and not f.text else None
        if m is None:
            continue
        try:
            f.text = Translator("=" + m.text, f"{col_letters(m.col)}{m.row}").translate_formula(
                f"{col_letters(f.col)}{f.row}")[1:]
        except (TranslatorError, ValueError, IndexError):
            f.text = "#REF!"


def _check_size(formulas: list[_Formula]) -> None:
    from gpucredit.errors import GpuCreditError

    cells = sum((f.area[2] - f.area[0] + 1) * (f.area[3] - f.area[1] + 1) for f in formulas)
    if cells > MAX_FORMULA_CELLS:
        raise GpuCreditError(f"refused: the workbook holds {cells:,} formula cells, more than "
                             f"the {MAX_FORMULA_CELLS:,} this tool computes in one file")


def _rewrite_names(book: str, defined, rw: _Rewriter, findings: list[str]):
    """Defined names rewritten with sheet aliases; a name reaching outside becomes #REF!."""
    name_refs, pieces, last = {}, [], 0
    for m in defined:
        name = attrs_of(m["attrs"]).get("name", "")
        text = unescape(m["text"], UNQUOTE)
        new, refs, problem = rw.formula(text, "")
        if problem:
            findings.append(f"defined name {name}: {problem}; shown as {LINK}")
            new = LINK
        name_refs[name.upper()] = refs
        pieces += [book[last:m.start("text")], escape(new)]
        last = m.end("text")
    return "".join(pieces) + book[last:], name_refs


def _rewrite_sheet(xml: str, found: list[_Formula], texts: dict[int, str]) -> str:
    """The worksheet part with each formula's text replaced by its rewritten text."""
    by_cell = {(f.row, f.col): f for f in found}
    pieces, last = [], 0
    for r, c, cm, offset in iter_cells(xml):
        f = by_cell.get((r, c))
        fm = FORMULA_XML.search(cm["body"] or "") if f is not None else None
        if fm is None:
            continue
        start = offset + cm.start("body") + fm.start()
        end = offset + cm.start("body") + fm.end()
        fa = attrs_of(fm["attrs"])
        if fa.get("t") == "shared":
            fa = {}  # every cell of a shared formula carries its own text in the copy
        new = texts[id(f)]
        attr = "".join(f' {k}="{v}"' for k, v in fa.items())
        pieces += [xml[last:start], f"<f{attr}>{escape(new)}</f>"]
        last = end
    return "".join(pieces) + xml[last:]


def _rename_sheets(book: str, alias: dict[str, str]) -> str:
    def one(m):
        tag = m.group(0)
        name = re.search(r'\sname="([^"]*)"', tag)
        if name is None:
            return tag
        real = unescape(name[1], UNQUOTE)
        return tag[:name.start(1)] + alias.get(real.upper(), name[1]) + tag[name.end(1):]

    book = _SHEET_TAG.sub(one, book)
    return _EXTERNAL_REFS.sub("", book)
