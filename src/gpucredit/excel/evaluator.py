"""gpucredit's own workbook evaluator: every formula of a workbook, in dependency order.

``gpucredit recalc-workbook`` computes a workbook here first and hands it to the
``formulas`` engine only when it holds something this evaluator does not compute (a
function outside :data:`gpucredit.excel.worksheet_functions.FUNCTIONS` and the ``GPU_``
functions, a union or intersection of ranges, a name defined by a relative reference, a
circular reference). The reasons it exists, measured in ``bench/bench_recalc_workbook.py``:
``formulas`` compiles every cell on its own (about 1 ms a cell) into a graph scheduled by
``schedula``, 56 times LibreOffice's time on a 100-facility model of 36,200 formula cells.

How it works:

* **Read.** The sandboxed compute copy (:mod:`gpucredit.excel.sandbox`: links cut, cycles
  cut, every reference written ``S<n>!A1`` with its ``$`` marks) is read straight from its
  worksheet XML: values, shared strings, formulas, array ranges, defined names.
* **Compile once per formula shape.** A formula is keyed by its R1C1 form (each relative
  reference as an offset from its cell): the 60 cells of a row that all say "this
  column's rent times that input" share one key, are tokenized (openpyxl's formula
  tokenizer) and parsed once, and become one tree of Python closures evaluated at each
  cell's own position.
* **Order.** The cells each formula reads, at its position, give a dependency graph;
  formula cells are computed in topological order (iterative depth-first search), so
  every cell is computed once and sees final values.
* **Excel's rules** for values, coercion, errors, comparison, implicit intersection (a
  multi-cell range where a single value is wanted, in a formula that is not an array
  formula, reads the cell in the formula's row or column) and array formulas (element by
  element, a result fitted to the formula's range: a single row or column repeated,
  ``#N/A`` beyond the result): :mod:`gpucredit.excel.worksheet_functions`.
* **GPU_ functions** get their arguments as xlwings hands them in Excel (each argument as
  rows of values, an empty cell None, an error as its text) and their results come back
  as values or arrays, a ``#GPU!`` text as ``#VALUE!`` with its reason.
"""

from __future__ import annotations

import datetime as dt
import re
import zipfile
from dataclasses import dataclass, field
from xml.sax.saxutils import unescape

from gpucredit.excel import spill
from gpucredit.excel import worksheet_functions as wf
from gpucredit.excel.sandbox import (
    DEFINED_NAME_XML,
    FORMULA_XML,
    UNQUOTE,
    attrs_of,
    col_letters,
    col_number,
    formula_shape,
    iter_cells,
    sheet_parts,
)
from gpucredit.excel.worksheet_functions import ERRORS, NA, VALUE, Arr, XlErr

__all__ = ["Result", "Unsupported", "evaluate"]


class Unsupported(Exception):
    """The workbook holds something this evaluator does not compute (the reason)."""


@dataclass
class Result:
    """What :func:`evaluate` found.

    ``values``: (sheet alias, row, column) -> value of every formula cell and every cell
    of an array formula's range; ``arrays``: (sheet alias, anchor row, anchor column) ->
    (area, the result's own shape) of each array formula; ``sheets``: the sheet aliases
    in workbook order.
    """

    values: dict = field(default_factory=dict)
    arrays: dict = field(default_factory=dict)
    sheets: list = field(default_factory=list)


_REF = re.compile(r"(?<![\w.])S(\d+)!(\$?)([A-Z]{1,3})(\$?)(\d+)(?::(\$?)([A-Z]{1,3})(\$?)(\d+))?"
                  r"(?![\w(])", re.I)
_V = re.compile(r"<v>(.*?)</v>", re.S)
_T = re.compile(r"<t\b[^>]*>(.*?)</t>", re.S)
_SI = re.compile(r"<si>(.*?)</si>", re.S)


# =============================================================================== reading

@dataclass
class _Formula:
    sheet: int
    row: int
    col: int
    text: str
    area: tuple[int, int, int, int] | None = None  # an array formula's range


def _part_text(zf: zipfile.ZipFile, parts: dict, name: str) -> str | None:
    if name in parts:
        data = parts[name]
        return None if data is None else data.decode("utf-8")
    return zf.read(name).decode("utf-8") if name in zf.namelist() else None


def _shared_strings(zf: zipfile.ZipFile) -> list[str]:
    if "xl/sharedStrings.xml" not in zf.namelist():
        return []
    xml = zf.read("xl/sharedStrings.xml").decode("utf-8")
    return [unescape("".join(_T.findall(si)), UNQUOTE) for si in _SI.findall(xml)]


def _cell_value(t: str | None, body: str, shared: list[str]):
    m = _V.search(body)
    if t == "inlineStr":
        return unescape("".join(_T.findall(body)), UNQUOTE)
    if m is None:
        return None
    v = m[1]
    if t == "s":
        return shared[int(v)]
    if t in ("str", "e"):
        text = unescape(v, UNQUOTE)
        return text if t == "str" else ERRORS.get(text, XlErr(text))
    if t == "b":
        return v.strip() in ("1", "true")
    if t == "d":
        raise Unsupported("a cell holds an ISO date value")
    return float(v)


def _read(zf: zipfile.ZipFile, parts: dict):
    """(sheet aliases, constants, formulas, defined names) of the compute copy; sheet
    ``i`` is the sandbox's alias ``S<i+1>``."""
    shared = _shared_strings(zf)
    book = _part_text(zf, parts, "xl/workbook.xml")
    sheets, constants, formulas = [], {}, []
    for i, part in enumerate(sheet_parts(zf).values()):
        sheets.append(f"S{i + 1}")
        xml = _part_text(zf, parts, part) or ""
        for r, c, cm, _ in iter_cells(xml):
            body = cm["body"] or ""
            t = attrs_of(cm["attrs"]).get("t")
            f = FORMULA_XML.search(body)
            if f is None:
                v = _cell_value(t, body, shared)
                if v is not None:
                    constants[(i, r, c)] = v
                continue
            fa = attrs_of(f["attrs"])
            text = unescape(f["text"] or "", UNQUOTE)
            area = None
            if fa.get("t") == "array":
                area = _area(fa.get("ref", f"{col_letters(c)}{r}"))
            elif fa.get("t") == "shared" or not text:
                raise Unsupported("a shared formula the compute copy did not expand")
            formulas.append(_Formula(i, r, c, text, area))
    return sheets, constants, formulas, _names(book)


def _area(ref: str) -> tuple[int, int, int, int]:
    try:
        return spill.area_of(ref)
    except ValueError:
        raise Unsupported(f"an array range {ref!r}") from None


def _names(book: str | None) -> dict[tuple[int | None, str], str]:
    """(sheet index for a sheet's own name or None, NAME) -> its definition."""
    out = {}
    for m in DEFINED_NAME_XML.finditer(book or ""):
        a = attrs_of(m["attrs"])
        local = a.get("localSheetId")
        out[(int(local) if local is not None else None, a.get("name", "").upper())] = \
            unescape(m["text"], UNQUOTE)
    return out


# =============================================================================== parsing

_PREC = {"=": 1, "<>": 1, "<": 1, ">": 1, "<=": 1, ">=": 1, "&": 2, "+": 3, "-": 3,
         "*": 4, "/": 4, "^": 5}


class _Parser:
    """Tokens (openpyxl's tokenizer) -> a tree of tuples; references as (absolute value,
    or offset from the formula's cell) per row and column."""

    def __init__(self, text: str, row: int, col: int):
        from openpyxl.formula.tokenizer import Tokenizer, TokenizerError

        try:
            items = Tokenizer("=" + text).items
        except (TokenizerError, IndexError, ValueError) as exc:
            raise Unsupported(f"a formula the tokenizer cannot read ({exc})") from None
        self.toks = [t for t in items if t.type != "WHITE-SPACE"]
        self.i, self.row, self.col = 0, row, col

    def parse(self):
        node = self.expr(1)
        if self.i != len(self.toks):
            raise Unsupported(f"an operator this tool does not compute near "
                              f"{self.toks[self.i].value!r}")
        return node

    def peek(self):
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self):
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def expr(self, min_prec: int):
        left = self.unary()
        while (tok := self.peek()) is not None and tok.type == "OPERATOR-INFIX":
            prec = _PREC.get(tok.value)
            if prec is None:
                raise Unsupported(f"the {tok.value!r} operator")
            if prec < min_prec:
                break
            self.take()
            left = ("bin", tok.value, left, self.expr(prec + 1))
        return left

    def unary(self):
        tok = self.peek()
        if tok is not None and tok.type == "OPERATOR-PREFIX":
            self.take()
            return ("neg" if tok.value == "-" else "pos", self.unary())
        node = self.primary()
        while (tok := self.peek()) is not None and tok.type == "OPERATOR-POSTFIX":
            self.take()
            node = ("pct", node)
        return node

    def primary(self):
        if self.peek() is None:
            raise Unsupported("an incomplete formula")
        tok = self.take()
        if tok.type == "OPERAND":
            return self.operand(tok)
        if tok.type == "FUNC" and tok.subtype == "OPEN":
            return ("func", tok.value[:-1].upper(), self.args())
        if tok.type == "PAREN" and tok.subtype == "OPEN":
            node = self.expr(1)
            if (close := self.peek()) is None or close.type != "PAREN":
                raise Unsupported("a union of ranges")
            self.take()
            return node
        if tok.type == "ARRAY" and tok.subtype == "OPEN":
            return self.array()
        raise Unsupported(f"{tok.value!r} where a value was expected")

    def args(self) -> list:
        out = []
        if (tok := self.peek()) is not None and tok.type == "FUNC" and tok.subtype == "CLOSE":
            self.take()
            return out
        while True:
            tok = self.peek()
            if tok is not None and (tok.type == "SEP" or (tok.type == "FUNC"
                                                            and tok.subtype == "CLOSE")):
                out.append(("missing",))
            else:
                out.append(self.expr(1))
            tok = self.take() if self.peek() is not None else None
            if tok is None:
                raise Unsupported("an unclosed function")
            if tok.type == "FUNC" and tok.subtype == "CLOSE":
                return out
            if tok.type != "SEP" or tok.subtype != "ARG":
                raise Unsupported(f"{tok.value!r} in a function's arguments")

    def array(self):
        rows, row = [], []
        while True:
            tok = self.take()
            if tok.type == "OPERAND":
                row.append(self.operand(tok))
            elif tok.type == "OPERATOR-PREFIX" and tok.value == "-":
                row.append(("neg", self.operand(self.take())))
            elif tok.type == "SEP":
                if tok.subtype == "ROW":
                    rows.append(row)
                    row = []
            elif tok.type == "ARRAY" and tok.subtype == "CLOSE":
                rows.append(row)
                if len({len(r) for r in rows}) != 1:
                    raise Unsupported("an array constant with rows of different lengths")
                return ("array", rows)
            else:
                raise Unsupported(f"{tok.value!r} in an array constant")

    def operand(self, tok):
        v, kind = tok.value, tok.subtype
        if kind == "NUMBER":
            return ("const", float(v))
        if kind == "TEXT":
            return ("const", v[1:-1].replace('""', '"'))
        if kind == "LOGICAL":
            return ("const", v.upper() == "TRUE")
        if kind == "ERROR":
            return ("const", ERRORS.get(v.upper(), XlErr(v.upper())))
        m = _REF.fullmatch(v)
        if m is None:
            if "!" in v or ":" in v or "[" in v:
                raise Unsupported(f"a reference {v!r}")
            return ("name", v.upper())
        return ("ref", int(m[1]) - 1, *self._corner(m[4], m[5], m[2], m[3]),
                *(self._corner(m[8], m[9], m[6], m[7]) if m[9]
                  else self._corner(m[4], m[5], m[2], m[3])))

    def _corner(self, rabs, r, cabs, c):
        r, c = int(r), col_number(c)
        return ((True, r) if rabs else (False, r - self.row),
                (True, c) if cabs else (False, c - self.col))


# =============================================================================== compiling

def _pos(spec, here: int) -> int:
    absolute, v = spec
    return v if absolute else here + v


def _broadcast(args: list, fn):
    """``fn`` element by element over the arrays among ``args`` (Excel's array rules)."""
    shapes = [a.shape for a in args if type(a) is Arr]
    n = max((s[0] for s in shapes), default=1)
    m = max((s[1] for s in shapes), default=1)
    return Arr([[fn(*[a.at(i, j) if type(a) is Arr else a for a in args])
                 for j in range(m)] for i in range(n)])


def _scalar_of(v):
    """A single value where an array came (a non-array formula): its first element."""
    return v.rows[0][0] if type(v) is Arr else v


def _coerce(kind: str, v):
    if kind == "n":
        return wf.to_num(v)
    if kind == "b":
        return wf.to_bool(v)
    if kind == "s":
        return wf.to_text(v)
    return v


class _Compiler:
    def __init__(self, book: _Book):
        self.book = book

    def compile(self, node, array: bool, home: int, want: str = "value"):
        """A closure ``f(row, col)`` computing ``node`` for the cell at (row, col)."""
        tag = node[0]
        if tag == "const":
            v = node[1]
            return lambda r, c: v
        if tag == "missing":
            return lambda r, c: None
        if tag == "ref":
            return self._ref(node[1:], array, want)
        if tag == "name":
            return self.compile(self.book.name_node(node[1], home), array, home, want)
        if tag == "array":
            cells = [[self.compile(x, array, home) for x in row] for row in node[1]]
            return lambda r, c: Arr([[f(r, c) for f in row] for row in cells])
        if tag in ("neg", "pos", "pct"):
            return self._unary(tag, self.compile(node[1], array, home))
        if tag == "bin":
            return self._binary(node[1], self.compile(node[2], array, home),
                                self.compile(node[3], array, home))
        return self._function(node[1], node[2], array, home)

    def _ref(self, spec, array: bool, want: str):
        s, r0s, c0s, r1s, c1s = spec
        get = self.book.values.get
        grid = self.book.grid
        single = r0s == r1s and c0s == c1s
        if want == "range":
            return lambda r, c: grid(s, _pos(r0s, r), _pos(c0s, c), _pos(r1s, r), _pos(c1s, c))
        if single:
            return lambda r, c: get((s, _pos(r0s, r), _pos(c0s, c)))
        if array:
            return lambda r, c: grid(s, _pos(r0s, r), _pos(c0s, c), _pos(r1s, r), _pos(c1s, c))

        def intersect(r, c):
            r0, c0, r1, c1 = _pos(r0s, r), _pos(c0s, c), _pos(r1s, r), _pos(c1s, c)
            if r0 == r1 and c0 <= c <= c1:
                return get((s, r0, c))
            if c0 == c1 and r0 <= r <= r1:
                return get((s, r, c0))
            return VALUE
        return intersect

    @staticmethod
    def _unary(tag, f):
        def one(v):
            return wf.percent(v) if tag == "pct" else wf.prefix("-" if tag == "neg" else "+", v)

        def run(r, c):
            v = f(r, c)
            return _broadcast([v], one) if type(v) is Arr else one(v)
        return run

    @staticmethod
    def _binary(op, fa, fb):
        infix = wf.infix

        def run(r, c):
            a, b = fa(r, c), fb(r, c)
            if type(a) is Arr or type(b) is Arr:
                return _broadcast([a, b], lambda x, y: infix(op, x, y))
            return infix(op, a, b)
        return run

    def _function(self, name: str, args: list, array: bool, home: int):
        name = name.removeprefix("_XLFN.").removeprefix("_XLWS.")
        if name.startswith("GPU_"):
            return self._gpu(name, args, array, home)
        spec = wf.FUNCTIONS.get(name)
        if spec is None:
            raise Unsupported(f"the function {name}")
        if not spec.lo <= len(args) <= spec.hi:
            return lambda r, c: VALUE
        if name in ("IF", "IFERROR", "IFNA"):
            return _lazy(name, [self.compile(a, array, home) for a in args])
        kinds = [spec.kind(i) for i in range(len(args))]
        fs = [(lambda r, c: _OMIT) if a == ("missing",) else
              self.compile(a, array, home, "range" if k == "a" else "value")
              for a, k in zip(args, kinds, strict=True)]
        return _call(spec, kinds, fs)

    def _gpu(self, name: str, args: list, array: bool, home: int):
        call = self.book.gpu(name)
        fs = [self.compile(a, array, home, "range") for a in args]
        return lambda r, c: call([f(r, c) for f in fs])


def _call(spec: wf.Spec, kinds: list[str], fs: list):
    """A function call: arguments coerced to their kinds (an error in a number, logical or
    text argument is the result), omitted trailing ones left to the function's defaults,
    and single-value arguments given an array computed element by element."""
    scalar = [i for i, k in enumerate(kinds) if k != "a"]

    def one(*vals):
        vals = list(vals)
        while vals and vals[-1] is _OMIT and len(vals) > spec.lo:
            vals.pop()
        for i, v in enumerate(vals):
            v = None if v is _OMIT else v
            if kinds[i] != "a":
                v = _coerce(kinds[i], v)
                if type(v) is XlErr and kinds[i] != "x":
                    return v
            vals[i] = v
        return spec.func(*vals)

    def whole(*vals):
        return one(*[v.v if type(v) is _Whole else v for v in vals])

    def run(r, c):
        vals = [f(r, c) for f in fs]
        if any(type(vals[i]) is Arr for i in scalar):
            return _broadcast([v if i in scalar else _Whole(v) for i, v in enumerate(vals)],
                              whole)
        return one(*vals)
    return run


def _lazy(name: str, fs: list):
    """IF, IFERROR and IFNA: only the branch returned is computed (both, element by
    element, when the condition is an array)."""
    test = fs[0]
    if name == "IF":
        yes = fs[1]  # IF takes 2 or 3 arguments (checked before)
        no = fs[2] if len(fs) > 2 else (lambda r, c: False)

        def pick(k, a, b):
            k = wf.to_bool(k)
            return k if type(k) is XlErr else (a if k else b)

        def run_if(r, c):
            cond = test(r, c)
            if type(cond) is Arr:
                return _broadcast([cond, yes(r, c), no(r, c)], pick)
            k = wf.to_bool(cond)
            return k if type(k) is XlErr else (yes(r, c) if k else no(r, c))
        return run_if

    alt = fs[1]

    def caught(v) -> bool:
        return type(v) is XlErr and (name == "IFERROR" or v.code == "#N/A")

    def run_iferror(r, c):
        v = test(r, c)
        if type(v) is Arr:
            return _broadcast([v, alt(r, c)], lambda x, y: y if caught(x) else x)
        return alt(r, c) if caught(v) else v
    return run_iferror


class _Whole:
    """An array argument that a lifted function takes whole (not element by element)."""

    __slots__ = ("v",)

    def __init__(self, v):
        self.v = v


_OMIT = object()
"""An argument left out (``PMT(r,n,pv,,1)``): the function's default."""


# =============================================================================== GPU_ calls

def _gpu_in(v):
    if type(v) is XlErr:
        return v.code
    return v


def _gpu_out(v):
    if isinstance(v, str) and (v == "#N/A" or v.startswith("#GPU!")):
        return NA if v == "#N/A" else XlErr("#VALUE!", v.removeprefix("#GPU!").strip())
    if isinstance(v, dt.datetime):
        return (v - dt.datetime(1899, 12, 30)).total_seconds() / 86400.0
    if isinstance(v, dt.date):
        return float((v - dt.date(1899, 12, 30)).days)
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return v
    try:
        return float(v)
    except (TypeError, ValueError):
        return v


def _gpu_call(udf):
    import inspect

    import numpy as np

    from gpucredit.excel.budgets import gpu_overrun

    params = list(inspect.signature(udf).parameters)

    def call(args: list):
        rows = [[[_gpu_in(v) for v in row] for row in a.rows] if type(a) is Arr
                else [[_gpu_in(a)]] for a in args]
        sized = [np.array(a.rows, dtype=object) if type(a) is Arr else a for a in args]
        too_big = gpu_overrun(udf.__name__, params, tuple(sized))
        if too_big is not None:
            return XlErr("#VALUE!", getattr(too_big, "reason", str(too_big)))
        out = udf(*rows)
        if isinstance(out, list):
            width = max((len(r) for r in out), default=1)
            return Arr([[_gpu_out(v) for v in row] + [""] * (width - len(row))
                        for row in out] or [[""]])
        return _gpu_out(out)
    return call


# =============================================================================== the book

class _Book:
    def __init__(self, constants, names):
        self.values = dict(constants)
        self.names = names
        self._name_nodes: dict = {}
        self._gpu: dict = {}

    def grid(self, s, r0, c0, r1, c1) -> Arr:
        get = self.values.get
        return Arr([[get((s, r, c)) for c in range(c0, c1 + 1)] for r in range(r0, r1 + 1)])

    def name_node(self, name: str, home: int):
        key = (home, name) if (home, name) in self.names else (None, name)
        if key not in self.names:
            return ("const", ERRORS["#NAME?"])
        if key not in self._name_nodes:
            text = self.names[key].lstrip("=")
            node = _Parser(text, 1, 1).parse()
            if _relative(node):
                raise Unsupported(f"the name {name}, defined by a relative reference")
            self._name_nodes[key] = node
        return self._name_nodes[key]

    def gpu(self, name: str):
        if name not in self._gpu:
            from gpucredit import udfs

            if name not in udfs.udf_names():
                raise Unsupported(f"the function {name}")
            self._gpu[name] = _gpu_call(getattr(udfs, name))
        return self._gpu[name]


def _children(node):
    tag = node[0]
    if tag == "func":
        return node[2]
    if tag == "array":
        return [x for row in node[1] for x in row]
    if tag in ("neg", "pos", "pct"):
        return [node[1]]
    if tag == "bin":
        return [node[2], node[3]]
    return []


def _relative(node) -> bool:
    if node[0] == "ref":
        return not all(part[0] for part in node[2:])
    return any(_relative(x) for x in _children(node))


def _refs(node, book: _Book, home: int, out: list) -> list:
    """Every reference ``node`` reads (names resolved), as parser specs."""
    if node[0] == "ref":
        out.append(node[1:])
    elif node[0] == "name":
        _refs(book.name_node(node[1], home), book, home, out)
    for x in _children(node):
        _refs(x, book, home, out)
    return out


# =============================================================================== evaluating

def evaluate(zf: zipfile.ZipFile, parts: dict, blocked: frozenset = frozenset()) -> Result:
    """Compute every formula of the compute copy (``zf`` with ``parts`` replacing its
    parts). ``blocked``: (sheet alias, anchor row, anchor column) of dynamic arrays whose
    spill is blocked (their result is ``#SPILL!``).

    Raises
    ------
    Unsupported
        When the workbook holds something this evaluator does not compute.
    """
    sheets, constants, formulas, names = _read(zf, parts)
    book = _Book(constants, names)
    owner: dict = {}
    for f in formulas:
        key = (f.sheet, f.row, f.col)
        if f.area:
            r0, c0, r1, c1 = f.area
            for r in range(r0, r1 + 1):
                for c in range(c0, c1 + 1):
                    owner[(f.sheet, r, c)] = key
                    book.values.pop((f.sheet, r, c), None)
        owner[key] = key
    compiled = _compile_all(book, formulas)
    order = _order(formulas, compiled, owner)
    result = Result(sheets=sheets)
    by_key = {(f.sheet, f.row, f.col): f for f in formulas}
    for key in order:
        f = by_key[key]
        run = compiled[key][0]
        if f.area is None:
            v = _scalar_of(_run(run, f))
            book.values[key] = result.values[key] = 0.0 if v is None else v
            continue
        out = _run(run, f)
        result.arrays[key] = (f.area, out.shape if type(out) is Arr else (1, 1))
        if key in blocked:
            out = ERRORS["#SPILL!"]
        _fit(out, f, book.values, result.values)
    return result


def _compile_all(book: _Book, formulas: list[_Formula]) -> dict:
    """(sheet, row, col) -> (closure, reference specs), one compile per formula shape."""
    comp = _Compiler(book)
    shapes: dict = {}
    out = {}
    for f in formulas:
        key = (f.sheet, f.area is not None, formula_shape(f.text, f.row, f.col)[0])
        if key not in shapes:
            try:
                node = _Parser(f.text, f.row, f.col).parse()
                shapes[key] = (comp.compile(node, f.area is not None, f.sheet),
                               _refs(node, book, f.sheet, []))
            except RecursionError:
                shapes[key] = (lambda r, c: _TOO_DEEP, [])
        out[(f.sheet, f.row, f.col)] = shapes[key]
    return out


_TOO_DEEP = XlErr("#VALUE!", "a formula nested more deeply than this tool computes "
                             "(Excel allows 64 levels of functions)")
"""The value of a formula whose nesting exhausts Python's recursion limit: its own cell
fails, the rest of the workbook is computed."""


def _run(run, f: _Formula):
    try:
        return run(f.row, f.col)
    except RecursionError:
        return _TOO_DEEP


def _order(formulas: list[_Formula], compiled: dict, owner: dict) -> list:
    """Formula cells in an order where each comes after every formula cell it reads."""
    rows: dict = {}
    for (s, r, c), k in owner.items():
        rows.setdefault((s, r), []).append((c, k))
    memo: dict = {}

    def area_deps(s, r0, c0, r1, c1):
        key = (s, r0, c0, r1, c1)
        if key not in memo:
            found = set()
            if (r1 - r0 + 1) * (c1 - c0 + 1) <= 64:
                for r in range(r0, r1 + 1):
                    for c in range(c0, c1 + 1):
                        k = owner.get((s, r, c))
                        if k is not None:
                            found.add(k)
            else:
                for r in range(r0, r1 + 1):
                    for c, k in rows.get((s, r), ()):
                        if c0 <= c <= c1:
                            found.add(k)
            memo[key] = found
        return memo[key]

    def deps(key):
        _, r, c = key
        out = set()
        for s, r0s, c0s, r1s, c1s in compiled[key][1]:
            a = (_pos(r0s, r), _pos(c0s, c), _pos(r1s, r), _pos(c1s, c))
            out |= area_deps(s, min(a[0], a[2]), min(a[1], a[3]), max(a[0], a[2]),
                             max(a[1], a[3]))
        out.discard(key)
        return out

    state: dict = {}
    order: list = []
    for f in formulas:
        start = (f.sheet, f.row, f.col)
        if start in state:
            continue
        state[start] = 1
        stack = [(start, iter(deps(start)))]
        while stack:
            key, it = stack[-1]
            for d in it:
                st = state.get(d)
                if st is None:
                    state[d] = 1
                    stack.append((d, iter(deps(d))))
                    break
                if st == 1:
                    raise Unsupported("a circular reference through an array's range")
            else:
                stack.pop()
                state[key] = 2
                order.append(key)
    return order


def _fit(out, f: _Formula, values: dict, results: dict) -> None:
    """An array formula's result into its range, as Excel fits it."""
    r0, c0, r1, c1 = f.area
    for i in range(r1 - r0 + 1):
        for j in range(c1 - c0 + 1):
            v = out.at(i, j) if type(out) is Arr else out
            v = 0.0 if v is None else v
            values[(f.sheet, r0 + i, c0 + j)] = results[(f.sheet, r0 + i, c0 + j)] = v

