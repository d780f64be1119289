"""Excel's own operators and worksheet functions, for :mod:`gpucredit.excel.evaluator`.

A value is a float, a str, a bool, None (an empty cell) or an :class:`XlErr`; an array is
an :class:`Arr` (rows of values). The rules follow Microsoft's function reference and
ECMA-376 Part 1, 18.17 (formulas), where LibreOffice - the oracle the tests compare
against - computes the same:

* **Coercion.** Arithmetic reads an empty cell as 0, TRUE as 1, a text that reads as a
  number as that number, any other text as ``#VALUE!``; the first error met, left to
  right, is the result.
* **Ranges are not arguments.** SUM, MIN, MAX, AVERAGE, COUNT, NPV, AND and OR skip the
  text, logical values and empty cells *inside a range or array* but read the same
  values given directly (``SUM("3")`` is 3, ``SUM(A1)`` with the text "3" in A1 is 0).
* **Comparison.** Numbers sort before text, text before logical values; text compares
  without regard to case; an empty cell compares as 0, "" or FALSE. Two numbers are
  equal when they agree to 2^-48 of their size, as LibreOffice's ``approxEqual``, and
  ``a + b`` (``a - b``) is 0 when ``a`` and ``-b`` (``b``) are equal in that sense
  (``rtl::math::approxAdd``): Excel likewise shows 0.1+0.2-0.3 as 0 in a cell.
* **Results.** A number that is not finite is ``#NUM!``; a text longer than a cell holds
  (32,767 characters) is ``#VALUE!``.

Each function is registered in :data:`FUNCTIONS` with the kind of each argument (see
:class:`Spec`); a function not listed there is not computed here (the evaluator hands
the workbook to the ``formulas`` engine instead).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from gpucredit.excel.budgets import MAX_TEXT

__all__ = ["ERRORS", "FUNCTIONS", "Arr", "Spec", "XlErr", "compare", "concat", "infix",
           "prefix", "to_bool", "to_num", "to_text"]



class XlErr:
    """An Excel error value; ``reason`` (optional) says why, for the run's report."""

    __slots__ = ("code", "reason")

    def __init__(self, code: str, reason: str | None = None):
        self.code, self.reason = code, reason

    def __repr__(self) -> str:
        return self.code


ERRORS = {c: XlErr(c) for c in ("#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!",
                                "#N/A", "#SPILL!", "#CALC!")}
NA, VALUE, DIV0, NUM = ERRORS["#N/A"], ERRORS["#VALUE!"], ERRORS["#DIV/0!"], ERRORS["#NUM!"]


class Arr:
    """A 2-D array of values (a range's values or an array result)."""

    __slots__ = ("rows",)

    def __init__(self, rows: list[list]):
        self.rows = rows

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.rows), len(self.rows[0])

    def flat(self):
        for row in self.rows:
            yield from row

    def at(self, i: int, j: int):
        """Element (i, j) with a single row or column repeated, #N/A outside."""
        n, m = self.shape
        if n == 1:
            i = 0
        if m == 1:
            j = 0
        return self.rows[i][j] if i < n and j < m else NA


# ============================================================================= coercion

def _num_text(s: str):
    t = s.strip()
    pct = t.endswith("%")
    try:
        x = float(t[:-1] if pct else t)
    except ValueError:
        return VALUE
    if not math.isfinite(x) or t.lower().lstrip("+-") in ("inf", "infinity", "nan"):
        return VALUE
    return x / 100.0 if pct else x


def to_num(v):
    """A value as a number for arithmetic (errors pass through)."""
    t = type(v)
    if t is float:
        return v
    if v is None:
        return 0.0
    if t is bool:
        return 1.0 if v else 0.0
    if t is str:
        return _num_text(v)
    if t is int:
        return float(v)
    return v  # XlErr


def to_bool(v):
    t = type(v)
    if t is bool:
        return v
    if t is float or t is int:
        return v != 0
    if v is None:
        return False
    if t is str:
        u = v.strip().upper()
        return True if u == "TRUE" else False if u == "FALSE" else VALUE
    return v


def number_text(x: float) -> str:
    """A number as Excel writes it in text (``"x"&0.5``): up to 15 significant digits,
    in decimals while they fit in 17 characters (``0.333333333333333``, ``0.000001``),
    otherwise as ``1E+20`` / ``1.5E-20``."""
    if x == int(x) and abs(x) < 1e15:
        return str(int(x))
    s = f"{x:.15g}"
    if "e" not in s:
        return s
    mant, exp = s.split("e")
    if int(exp) < 0:
        digits = len(mant.replace("-", "").replace(".", "")) - int(exp) - 1
        fixed = f"{x:.{digits}f}"
        if len(fixed.lstrip("-")) <= 17:
            return fixed
    return f"{mant}E{'+' if int(exp) >= 0 else '-'}{abs(int(exp)):02d}"


def to_text(v):
    t = type(v)
    if t is str:
        return v
    if v is None:
        return ""
    if t is bool:
        return "TRUE" if v else "FALSE"
    if t is float or t is int:
        return number_text(float(v))
    return v


def _finite(x: float):
    return x if math.isfinite(x) else NUM


# ============================================================================= operators

_EPS = 1.0 / (16777216.0 * 16777216.0)  # 2^-48: LibreOffice rtl::math::approxEqual


def approx_equal(a: float, b: float) -> bool:
    return a == b or abs(a - b) < abs(a) * _EPS


def _add(a: float, b: float) -> float:
    if ((a < 0 < b) or (b < 0 < a)) and approx_equal(a, -b):
        return 0.0
    return a + b


def _pow(a: float, b: float):
    if a == 0 and b <= 0:
        return DIV0 if b < 0 else NUM
    try:
        x = a ** b
    except OverflowError:
        return NUM
    return NUM if isinstance(x, complex) else _finite(x)


def _arith(op: str, a, b):
    a, b = to_num(a), to_num(b)
    if type(a) is XlErr:
        return a
    if type(b) is XlErr:
        return b
    if op == "+":
        return _finite(_add(a, b))
    if op == "-":
        return _finite(_add(a, -b))
    if op == "*":
        return _finite(a * b)
    if op == "/":
        return DIV0 if b == 0 else _finite(a / b)
    return _pow(a, b)


_RANK = {float: 0, int: 0, str: 1, bool: 2}


def compare(a, b):
    """-1, 0 or 1 as Excel orders two values (errors pass through)."""
    if type(a) is XlErr:
        return a
    if type(b) is XlErr:
        return b
    if a is None:
        a = {str: "", bool: False}.get(type(b), 0.0)
    if b is None:
        b = {str: "", bool: False}.get(type(a), 0.0)
    ra, rb = _RANK[type(a)], _RANK[type(b)]
    if ra != rb:
        return -1 if ra < rb else 1
    if ra == 1:
        a, b = a.casefold(), b.casefold()
    elif ra == 0:
        if approx_equal(float(a), float(b)):
            return 0
    return 0 if a == b else (-1 if a < b else 1)


_COMPARE = {"=": lambda k: k == 0, "<>": lambda k: k != 0, "<": lambda k: k < 0,
            ">": lambda k: k > 0, "<=": lambda k: k <= 0, ">=": lambda k: k >= 0}


def concat(a, b):
    a, b = to_text(a), to_text(b)
    if type(a) is XlErr:
        return a
    if type(b) is XlErr:
        return b
    return _capped(a + b)


def _capped(s: str):
    if len(s) > MAX_TEXT:
        return XlErr("#VALUE!", f"a text of {len(s):,} characters; a cell holds at most "
                                f"{MAX_TEXT:,}")
    return s


def infix(op: str, a, b):
    """``a op b`` for two single values."""
    if op in _COMPARE:
        k = compare(a, b)
        return k if type(k) is XlErr else _COMPARE[op](k)
    if op == "&":
        return concat(a, b)
    return _arith(op, a, b)


def prefix(op: str, a):
    a = to_num(a)
    if type(a) is XlErr or op == "+":
        return a
    return -a


def percent(a):
    a = to_num(a)
    return a if type(a) is XlErr else a / 100.0


# ============================================================================= argument kinds

@dataclass(frozen=True)
class Spec:
    """How a function takes its arguments.

    ``kinds`` has one letter per argument, the last repeated for the rest: ``n`` a
    number, ``b`` a logical, ``s`` a text, ``x`` any single value (errors included: the
    function looks at them itself), ``a`` a range or an array (or a
    single value given directly). Single-value arguments given an array make an array
    result, element by element (Excel's "lifting"); ``n``/``b``/``s`` errors are the
    result. ``lo``/``hi``: how many arguments it accepts.
    """

    func: object
    kinds: str
    lo: int
    hi: int

    def kind(self, i: int) -> str:
        return self.kinds[min(i, len(self.kinds) - 1)] if self.kinds else "x"


def _values(args):
    """(direct values, values from ranges) flattened, as the aggregate functions read."""
    for a in args:
        if type(a) is Arr:
            for v in a.flat():
                yield v, True
        else:
            yield a, False


def _numbers(args):
    """The numbers SUM, MIN, MAX, AVERAGE read (an error: the first error)."""
    out = []
    for v, in_range in _values(args):
        t = type(v)
        if t is XlErr:
            return v
        if in_range:
            if t is float or t is int:
                out.append(float(v))
            continue
        x = to_num(v)
        if type(x) is XlErr:
            return x
        out.append(x)
    return out


def _sum(*args):
    xs = _numbers(args)
    if type(xs) is XlErr:
        return xs
    return _finite(math.fsum(xs)) if xs else 0.0


def _min(*args):
    xs = _numbers(args)
    return xs if type(xs) is XlErr else (min(xs) if xs else 0.0)


def _max(*args):
    xs = _numbers(args)
    return xs if type(xs) is XlErr else (max(xs) if xs else 0.0)


def _average(*args):
    xs = _numbers(args)
    if type(xs) is XlErr:
        return xs
    return _finite(math.fsum(xs) / len(xs)) if xs else DIV0


def _count(*args):
    n = 0
    for v, in_range in _values(args):
        t = type(v)
        if t is float or t is int:
            n += 1
        elif not in_range and (t is bool or (t is str and type(_num_text(v)) is float)):
            n += 1
    return float(n)


def _counta(*args):
    return float(sum(1 for v, _ in _values(args) if v is not None))


def _logical(args, combine):
    seen = []
    for v, in_range in _values(args):
        t = type(v)
        if t is XlErr:
            return v
        if in_range and (t is str or v is None):
            continue
        b = to_bool(v)
        if type(b) is XlErr:
            return b
        seen.append(b)
    return combine(seen) if seen else VALUE


def _and(*args):
    return _logical(args, all)


def _or(*args):
    return _logical(args, any)


def _npv(rate, *values):
    if rate == -1:
        return DIV0
    xs = _numbers(values)
    if type(xs) is XlErr:
        return xs
    return _finite(math.fsum(x / (1.0 + rate) ** (i + 1) for i, x in enumerate(xs)))


def _irr(values, guess=0.1):
    """The rate where the NPV of the flows (the first at time 0) is 0: Newton's method
    from ``guess``, as Excel's IRR, iterated to full precision; #NUM! without a sign
    change or when it does not converge (Excel: after 20 tries)."""
    xs = _numbers([values])
    if type(xs) is XlErr:
        return xs
    if not (any(x > 0 for x in xs) and any(x < 0 for x in xs)):
        return NUM
    r = guess
    for _ in range(100):
        if r <= -1.0:
            return NUM
        d = 1.0 + r
        f = math.fsum(x / d ** i for i, x in enumerate(xs))
        df = math.fsum(-i * x / d ** (i + 1) for i, x in enumerate(xs))
        if df == 0 or not math.isfinite(f / df):
            return NUM
        step = f / df
        r -= step
        if abs(step) <= 1e-15 * max(1.0, abs(r)):
            return r
    return NUM


def _pmt(rate, nper, pv, fv=0.0, when=0.0):
    if nper == 0:
        return NUM
    if rate == 0:
        return _finite(-(pv + fv) / nper)
    try:
        g = (1.0 + rate) ** nper
    except OverflowError:
        return NUM
    if g == 1.0:
        return NUM
    return _finite(-rate * (fv + pv * g) / ((1.0 + rate * (when != 0)) * (g - 1.0)))


def _fv(rate, nper, pmt, pv=0.0, when=0.0):
    if rate == 0:
        return _finite(-(pv + pmt * nper))
    g = (1.0 + rate) ** nper
    return _finite(-(pv * g + pmt * (1.0 + rate * (when != 0)) * (g - 1.0) / rate))


def _pv(rate, nper, pmt, fv=0.0, when=0.0):
    if rate == 0:
        return _finite(-(fv + pmt * nper))
    g = (1.0 + rate) ** nper
    return _finite(-(fv + pmt * (1.0 + rate * (when != 0)) * (g - 1.0) / rate) / g)


def _sumproduct(*arrays):
    grids = [a if type(a) is Arr else Arr([[a]]) for a in arrays]
    shape = grids[0].shape
    if any(g.shape != shape for g in grids):
        return VALUE
    total = []
    cols = [list(g.flat()) for g in grids]
    for vals in zip(*cols, strict=True):
        p = 1.0
        for v in vals:
            if type(v) is XlErr:
                return v
            p *= float(v) if type(v) in (float, int) else 0.0
        total.append(p)
    return _finite(math.fsum(total))


# ------------------------------------------------------------------------- criteria

_CRIT = re.compile(r"^(<=|>=|<>|<|>|=)?(.*)$", re.S)


def _criterion(crit):
    """A predicate on one cell value for COUNTIF/SUMIF's criterion."""
    if type(crit) is bool:
        return lambda v: type(v) is bool and v == crit
    if type(crit) is not str:
        x = 0.0 if crit is None else float(crit)
        return lambda v: type(v) in (float, int) and approx_equal(float(v), x)
    op, rest = _CRIT.match(crit).groups()
    op = op or "="
    num = _num_text(rest) if rest.strip() else VALUE
    if type(num) is float:
        if op == "<>":
            return lambda v: not (type(v) in (float, int) and approx_equal(float(v), num))
        test = _COMPARE[op]
        return lambda v: type(v) in (float, int) and test(compare(float(v), num))
    if rest == "":
        if op == "=":
            return lambda v: v is None or v == ""
        if op == "<>":
            return lambda v: v is not None and v != ""
    if rest.upper() in ("TRUE", "FALSE"):
        b = rest.upper() == "TRUE"
        test = _COMPARE[op]
        return lambda v: type(v) is bool and test(compare(v, b))
    if op in ("=", "<>"):
        pat = re.compile("".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch)
                                 for ch in re.sub(r"~([*?~])", r"\1", rest)) + r"\Z",
                         re.S | re.I) if re.search(r"(?<!~)[*?]", rest) else None

        def equal(v):
            if type(v) is not str:
                return False
            return bool(pat.match(v)) if pat else v.casefold() == rest.casefold()
        return equal if op == "=" else (lambda v: not equal(v))
    test = _COMPARE[op]
    return lambda v: type(v) is str and test(compare(v, rest))


def _sumif(rng, crit, sum_range=None):
    if type(crit) is XlErr:
        return crit
    ok = _criterion(crit)
    src = rng if type(rng) is Arr else Arr([[rng]])
    tgt = src if sum_range is None else (
        sum_range if type(sum_range) is Arr else Arr([[sum_range]]))
    total = []
    for i, row in enumerate(src.rows):
        for j, v in enumerate(row):
            if type(v) is not XlErr and ok(v):
                w = tgt.rows[i][j] if i < len(tgt.rows) and j < len(tgt.rows[0]) else None
                if type(w) is XlErr:
                    return w
                if type(w) in (float, int):
                    total.append(float(w))
    return _finite(math.fsum(total))


def _matching(pairs) -> list[bool] | XlErr:
    """For COUNTIFS/SUMIFS: at each position, whether every (range, criterion) holds."""
    grids = [g if type(g) is Arr else Arr([[g]]) for g in pairs[0::2]]
    if len(pairs) % 2 or any(g.shape != grids[0].shape for g in grids):
        return VALUE
    for crit in pairs[1::2]:
        if type(crit) is XlErr:
            return crit
    tests = [_criterion(c) for c in pairs[1::2]]
    cols = [list(g.flat()) for g in grids]
    return [all(type(v) is not XlErr and ok(v) for v, ok in zip(vals, tests, strict=True))
            for vals in zip(*cols, strict=True)]


def _countifs(*pairs):
    hit = _matching(pairs)
    return hit if type(hit) is XlErr else float(sum(hit))


def _sumifs(sum_range, *pairs):
    hit = _matching(pairs)
    if type(hit) is XlErr:
        return hit
    values = list(sum_range.flat()) if type(sum_range) is Arr else [sum_range]
    if len(values) != len(hit):
        return VALUE
    total = []
    for v, ok in zip(values, hit, strict=True):
        if ok and type(v) is XlErr:
            return v
        if ok and type(v) in (float, int):
            total.append(float(v))
    return _finite(math.fsum(total))


# ------------------------------------------------------------------------- dates

_EPOCH = dt.date(1899, 12, 30)


def _date_of(serial: float):
    if serial < 0 or serial >= 2958466:
        return NUM
    return _EPOCH + dt.timedelta(days=int(serial))


def _serial(d: dt.date) -> float:
    return float((d - _EPOCH).days)


def _add_months(start, months, end_of_month: bool):
    d = _date_of(start)
    if type(d) is XlErr:
        return d
    k = d.year * 12 + d.month - 1 + int(months)
    y, m = divmod(k, 12)
    if not 1900 <= y <= 9999:
        return NUM
    last = (dt.date(y + (m == 11), (m + 1) % 12 + 1, 1) - dt.timedelta(days=1)).day
    return _serial(dt.date(y, m + 1, last if end_of_month else min(d.day, last)))


def _eomonth(start, months):
    return _add_months(start, months, True)


def _edate(start, months):
    return _add_months(start, months, False)


def _date(y, m, d):
    y = int(y)
    if y < 1900:
        y += 1900
    k = y * 12 + int(m) - 1
    yy, mm = divmod(k, 12)
    if not 1900 <= yy <= 9999:
        return NUM
    return _serial(dt.date(yy, mm + 1, 1) + dt.timedelta(days=int(d) - 1))


def _part(attr):
    def f(serial):
        d = _date_of(serial)
        return d if type(d) is XlErr else float(getattr(d, attr))
    return f


# ------------------------------------------------------------------------- rounding, maths

def _round(x, digits, mode=ROUND_HALF_UP):
    try:
        q = Decimal(f"{x:.15g}").scaleb(int(digits)).quantize(Decimal(1), rounding=mode)
    except InvalidOperation:
        return NUM
    return float(q.scaleb(-int(digits)))


def _roundup(x, digits):
    from decimal import ROUND_UP
    return _round(x, digits, ROUND_UP)


def _rounddown(x, digits):
    from decimal import ROUND_DOWN
    return _round(x, digits, ROUND_DOWN)


def _mod(a, b):
    return DIV0 if b == 0 else _finite(a - b * math.floor(a / b))


def _ln(x):
    return NUM if x <= 0 else math.log(x)


def _log(x, base=10.0):
    if x <= 0 or base <= 0:
        return NUM
    return DIV0 if base == 1 else math.log(x) / math.log(base)


def _sqrt(x):
    return NUM if x < 0 else math.sqrt(x)


def _exp(x):
    try:
        return _finite(math.exp(x))
    except OverflowError:
        return NUM


def _is_number(v):
    return type(v) in (float, int)


def _transpose(a):
    if type(a) is not Arr:
        return a
    return Arr([list(col) for col in zip(*a.rows, strict=True)])


def _columns(a):
    return float(a.shape[1]) if type(a) is Arr else 1.0


def _rows(a):
    return float(a.shape[0]) if type(a) is Arr else 1.0


def _index(a, row, col=None):
    grid = a if type(a) is Arr else Arr([[a]])
    n, m = grid.shape
    r, c = int(row), None if col is None else int(col)
    if c is None:  # one number: the position along a single row or column
        r, c = (1, r) if n == 1 else (r, 1 if m == 1 else 0)
    if r < 0 or c < 0 or r > n or c > m:
        return ERRORS["#REF!"]
    if r == 0 and c == 0:
        return grid
    if r == 0:
        return Arr([[row_[c - 1]] for row_ in grid.rows])
    if c == 0:
        return Arr([list(grid.rows[r - 1])])
    return grid.rows[r - 1][c - 1]


def _match(value, a, how=1.0):
    if type(value) is XlErr:
        return value
    vals = list(a.flat()) if type(a) is Arr else [a]
    how = 0 if how == 0 else (1 if how > 0 else -1)
    if how == 0:
        ok = _criterion(value) if type(value) is str else (
            lambda v: type(v) is not XlErr and v is not None and compare(v, value) == 0)
        for i, v in enumerate(vals):
            if ok(v):
                return float(i + 1)
        return NA
    best = None
    for i, v in enumerate(vals):
        if v is None or type(v) is XlErr or _RANK[type(v)] != _RANK.get(type(value), 0):
            continue
        k = compare(v, value)
        if k == 0:
            best = i
        elif (k < 0) if how == 1 else (k > 0):
            best = i
        else:
            break
    return NA if best is None else float(best + 1)


def _lookup(value, table, index, approx, by_rows: bool):
    """VLOOKUP (``by_rows`` False: find in the first column, return from column
    ``index``) and HLOOKUP (find in the first row, return from row ``index``)."""
    grid = table if type(table) is Arr else Arr([[table]])
    rows = grid.rows if not by_rows else [list(col) for col in zip(*grid.rows, strict=True)]
    k = int(index)
    if k < 1:
        return VALUE
    if k > len(rows[0]):
        return ERRORS["#REF!"]
    pos = _match(value, Arr([[r[0]] for r in rows]), 1.0 if approx else 0.0)
    return pos if type(pos) is XlErr else rows[int(pos) - 1][k - 1]


def _vlookup(value, table, index, approx=True):
    return _lookup(value, table, index, approx, by_rows=False)


def _hlookup(value, table, index, approx=True):
    return _lookup(value, table, index, approx, by_rows=True)


def _len(s):
    return float(len(s))


def _concatenate(*parts):
    return _capped("".join(parts))


def _left(s, n=1.0):
    return VALUE if n < 0 else s[:int(n)]


def _right(s, n=1.0):
    return VALUE if n < 0 else (s[len(s) - int(n):] if n else "")


def _mid(s, start, n):
    return VALUE if start < 1 or n < 0 else s[int(start) - 1:int(start) - 1 + int(n)]


FUNCTIONS: dict[str, Spec] = {
    "SUM": Spec(_sum, "a", 1, 255),
    "MIN": Spec(_min, "a", 1, 255),
    "MAX": Spec(_max, "a", 1, 255),
    "AVERAGE": Spec(_average, "a", 1, 255),
    "COUNT": Spec(_count, "a", 1, 255),
    "COUNTA": Spec(_counta, "a", 1, 255),
    "AND": Spec(_and, "a", 1, 255),
    "OR": Spec(_or, "a", 1, 255),
    "NOT": Spec(lambda b: not b, "b", 1, 1),
    "NPV": Spec(_npv, "na", 2, 255),
    "PMT": Spec(_pmt, "nnnnn", 3, 5),
    "IRR": Spec(_irr, "an", 1, 2),
    "FV": Spec(_fv, "nnnnn", 3, 5),
    "PV": Spec(_pv, "nnnnn", 3, 5),
    "SUMPRODUCT": Spec(_sumproduct, "a", 1, 255),
    "COUNTIF": Spec(_countifs, "ax", 2, 2),  # COUNTIFS of one range
    "SUMIF": Spec(_sumif, "axa", 2, 3),
    "COUNTIFS": Spec(_countifs, "ax" * 127, 2, 254),
    "SUMIFS": Spec(_sumifs, "a" + "ax" * 127, 3, 255),
    "IF": Spec(None, "bxx", 2, 3),  # IF, IFERROR, IFNA: the evaluator computes them,
    "IFERROR": Spec(None, "xx", 2, 2),  # each only the branch it returns
    "IFNA": Spec(None, "xx", 2, 2),
    "ISNUMBER": Spec(_is_number, "x", 1, 1),
    "ISTEXT": Spec(lambda v: type(v) is str, "x", 1, 1),
    "ISBLANK": Spec(lambda v: v is None, "x", 1, 1),
    "ISLOGICAL": Spec(lambda v: type(v) is bool, "x", 1, 1),
    "ISERROR": Spec(lambda v: type(v) is XlErr, "x", 1, 1),
    "ISERR": Spec(lambda v: type(v) is XlErr and v.code != "#N/A", "x", 1, 1),
    "ISNA": Spec(lambda v: type(v) is XlErr and v.code == "#N/A", "x", 1, 1),
    "NA": Spec(lambda: NA, "", 0, 0),
    "TRUE": Spec(lambda: True, "", 0, 0),
    "FALSE": Spec(lambda: False, "", 0, 0),
    "PI": Spec(lambda: math.pi, "", 0, 0),
    "ABS": Spec(abs, "n", 1, 1),
    "EXP": Spec(_exp, "n", 1, 1),
    "LN": Spec(_ln, "n", 1, 1),
    "LOG": Spec(_log, "nn", 1, 2),
    "LOG10": Spec(_log, "n", 1, 1),
    "SQRT": Spec(_sqrt, "n", 1, 1),
    "POWER": Spec(_pow, "nn", 2, 2),
    "MOD": Spec(_mod, "nn", 2, 2),
    "INT": Spec(lambda x: float(math.floor(x)), "n", 1, 1),
    "SIGN": Spec(lambda x: float((x > 0) - (x < 0)), "n", 1, 1),
    "ROUND": Spec(_round, "nn", 2, 2),
    "ROUNDUP": Spec(_roundup, "nn", 2, 2),
    "ROUNDDOWN": Spec(_rounddown, "nn", 2, 2),
    "EOMONTH": Spec(_eomonth, "nn", 2, 2),
    "EDATE": Spec(_edate, "nn", 2, 2),
    "DATE": Spec(_date, "nnn", 3, 3),
    "YEAR": Spec(_part("year"), "n", 1, 1),
    "MONTH": Spec(_part("month"), "n", 1, 1),
    "DAY": Spec(_part("day"), "n", 1, 1),
    "TRANSPOSE": Spec(_transpose, "a", 1, 1),
    "COLUMNS": Spec(_columns, "a", 1, 1),
    "ROWS": Spec(_rows, "a", 1, 1),
    "INDEX": Spec(_index, "ann", 2, 3),
    "MATCH": Spec(_match, "xan", 2, 3),
    "VLOOKUP": Spec(_vlookup, "xanb", 3, 4),
    "HLOOKUP": Spec(_hlookup, "xanb", 3, 4),
    "LEN": Spec(_len, "s", 1, 1),
    "UPPER": Spec(str.upper, "s", 1, 1),
    "LOWER": Spec(str.lower, "s", 1, 1),
    "TRIM": Spec(lambda s: " ".join(w for w in s.split(" ") if w), "s", 1, 1),
    "LEFT": Spec(_left, "sn", 1, 2),
    "RIGHT": Spec(_right, "sn", 1, 2),
    "MID": Spec(_mid, "snn", 3, 3),
    "CONCATENATE": Spec(_concatenate, "s", 1, 255),
}
"""Excel's functions computed here: name -> :class:`Spec`."""
