"""Compute workbooks that use the ``GPU_`` worksheet functions, without Excel.

For nightly refreshes on a server: every formula of a workbook - Excel's own functions
and the ``GPU_`` ones - is computed by gpucredit's own evaluator
(:mod:`gpucredit.excel.evaluator`), or, when the workbook holds something the evaluator
does not compute, by the ``formulas`` package (a Python formula engine; it loads
openpyxl-written workbooks, plain ranges and defined names, legacy array formulas, and
lets custom functions be registered), and the results are written into a copy of the
workbook as the cells' cached values.

What the copy keeps and changes:

* Everything else is carried over byte for byte (styles, charts, defined names, VBA): the
  copy is the input's zip with only its worksheet parts (and ``calcPr`` in
  ``workbook.xml``) edited. Formulas stay formulas; each gets its computed value, and the
  cells an array formula spills into get theirs.
* ``fullCalcOnLoad`` is removed so that Excel opens the file showing these values
  instead of recalculating (which, without the add-in, would turn ``GPU_`` cells into
  ``#NAME?``).
* The input is never modified. Each output is written to a temporary file beside it and
  renamed into place: it appears whole or not at all.

Excel structured references (``Table1[Balance]``) are read by neither engine; templates
written by gpucredit use plain ranges and defined names only.

Examples
--------
>>> import openpyxl, tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> wb = openpyxl.Workbook()
>>> ws = wb.active
>>> ws["A1"], ws["A2"], ws["B1"] = 150.0, 100.0, "=GPU_DSCR(A1,A2)"
>>> wb.save(d / "in.xlsx")
>>> [res] = recalc_workbooks([d / "in.xlsx"], d / "out.xlsx")
>>> res.ok, res.formula_cells, res.gpu_cells
(True, 1, 1)
>>> openpyxl.load_workbook(d / "out.xlsx", data_only=True).active["B1"].value
1.5
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import inspect
import math
import os
import re
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np

from gpucredit.errors import GpuCreditError
from gpucredit.excel import spill
from gpucredit.excel.bounded import MAX_MEMORY_BYTES, MAX_SECONDS, run_bounded
from gpucredit.excel.budgets import gpu_overrun, install_text_guards
from gpucredit.excel.charts import refresh_chart_caches
from gpucredit.excel.files import staged_files
from gpucredit.excel.sandbox import col_letters, col_number, sandbox, sheet_parts
from gpucredit.excel.templates import constant_inputs, reproduces, template_key
from gpucredit.excel.worksheet_functions import XlErr
from gpucredit.outputs import existing_kind, os_error_words

__all__ = ["RecalcResult", "recalc_workbook", "recalc_workbooks", "register_gpu_functions"]

WORKBOOK_SUFFIXES = (".xlsx", ".xlsm")
"""Files a folder input contributes (Excel's lock files ``~$...`` are skipped)."""
OTHER_FILE_SUFFIXES = (".csv", ".xls", ".xlsb", ".xltx", ".xltm", ".xlam", ".ods", ".txt",
                       ".json", ".pdf", ".parquet", ".zip")
"""An output named like one of these is a file of another kind, not a folder: refused."""
MAX_UNCOMPRESSED_BYTES = 200_000_000
"""Refuse a workbook whose parts unpack to more than this (a zip bomb guard)."""
MAX_COMPRESSION_RATIO = 200
"""Refuse a workbook whose parts are compressed more than this (a zip bomb guard)."""
MAX_LISTED_CELL_ERRORS = 50
"""How many cells with an error a result lists (the count is always complete)."""


@dataclass
class RecalcResult:
    """What happened to one workbook.

    Attributes
    ----------
    source : Path
        The input workbook (never modified).
    output : Path or None
        Where the computed copy was written; None when the file failed.
    ok : bool
        True when the copy was written.
    formula_cells : int
        Formula cells computed (an array formula counts once).
    gpu_cells : int
        Of those, the cells whose formula uses a ``GPU_`` function.
    error_cells : int
        Formula cells whose value is an error (``#GPU! ...``, ``#NAME?`` ...).
    cell_errors : list of str
        The first :data:`MAX_LISTED_CELL_ERRORS` of them, as ``"Sheet!B7: message"``.
    findings : list of str
        What the sandbox cut (links outside the file, circular references, oversized
        references), one per cell or defined name, as ``"Sheet!B7: what and why"``
        (:mod:`gpucredit.excel.sandbox`); complete, never truncated.
    error : str or None
        Why the file failed, in words (None when ``ok``).
    """

    source: Path
    output: Path | None = None
    ok: bool = False
    formula_cells: int = 0
    gpu_cells: int = 0
    error_cells: int = 0
    cell_errors: list[str] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)
    error: str | None = None


# =============================================================================== registration

_REGISTERED: set[str] = set()


def register_gpu_functions() -> list[str]:
    """Register every ``GPU_`` function with the ``formulas`` engine (idempotent).

    Each is wrapped so that it receives exactly what xlwings hands it in Excel: every
    argument as a list of rows, an empty cell as None, an Excel error as its text; and
    so that its result (a value or rows of values) comes back as a value or a 2-D array.

    Returns
    -------
    list of str
        The names registered.
    """
    import formulas

    from gpucredit import udfs

    install_text_guards()
    funcs = formulas.get_functions()
    for name in udfs.udf_names():
        if name not in _REGISTERED:
            funcs[name] = formulas.functions.wrap_func(_adapt(getattr(udfs, name)))
            _REGISTERED.add(name)
    return sorted(_REGISTERED)


def _adapt(udf):

    params = list(inspect.signature(udf).parameters)

    def call(*args):
        too_big = gpu_overrun(udf.__name__, params, args)
        if too_big is not None:
            return too_big
        return _result(udf(*(_rows(a) for a in args)))

    call.__name__ = udf.__name__
    call.__doc__ = udf.__doc__
    return call


def _cell_in(v):
    """A formulas cell value as xlwings would deliver it."""
    import schedula as sh
    from formulas.tokens.operand import XlError

    if v is sh.EMPTY or v is None:
        return None
    if isinstance(v, XlError):
        return str(v)
    if isinstance(v, np.bool_):
        return bool(v)
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return float(v)
    return v


def _rows(arg):
    if isinstance(arg, np.ndarray):
        arr = np.atleast_2d(arg)
        return [[_cell_in(v) for v in row] for row in arr.tolist()]
    return [[_cell_in(arg)]]


_NA_TEXT = "#N/A"
"""What a GPU_ function returns for a missing value inside an array during our calls."""


def _error_value(v):
    """A GPU_ function's error text as the engine's error value, so that IFERROR, ISERROR
    and ISNA see it and the cell is written as a real error: ``#GPU! <why>`` becomes
    ``#VALUE!`` carrying the reason (reported per cell), a missing value ``#N/A``."""
    from formulas.functions import Error
    from formulas.tokens.operand import XlError

    if v == _NA_TEXT:
        return Error.errors["#N/A"]
    err = XlError("#VALUE!")
    err.reason = v.removeprefix("#GPU!").strip()
    return err


def _cell_out(v):
    if isinstance(v, str) and (v == _NA_TEXT or v.startswith("#GPU!")):
        return _error_value(v)
    if isinstance(v, dt.datetime):
        return (v - dt.datetime(1899, 12, 30)).total_seconds() / 86400.0
    if isinstance(v, dt.date):
        return float((v - dt.date(1899, 12, 30)).days)
    return v


@functools.lru_cache(maxsize=1)
def _spill_array():
    """An ``Array`` that fits itself into an array formula's range as Excel does.

    Excel truncates a larger result to the range, pads a smaller one with #N/A, and
    repeats a single row down (a single column across). ``formulas``' own ``Array``
    would instead flow the values row by row into the range.
    """
    from formulas.functions import Array
    from formulas.tokens.operand import Error

    class Spill(Array):
        def reshape(self, shape, *shapes, order="C"):
            target = tuple(shape) if not shapes else (shape, *shapes)
            if (len(target) != 2 or self.ndim != 2 or target == self.shape
                    or any(not isinstance(n, (int, np.integer)) or n < 1 for n in target)):
                return super().reshape(shape, *shapes, order=order)
            src = np.asarray(self, dtype=object)
            if src.shape[0] == 1:
                src = np.repeat(src, target[0], axis=0)
            if src.shape[1] == 1:
                src = np.repeat(src, target[1], axis=1)
            res = np.empty(target, dtype=object)
            res[:] = Error.errors["#N/A"]
            r, c = min(target[0], src.shape[0]), min(target[1], src.shape[1])
            res[:r, :c] = src[:r, :c]
            return res

    return Spill


def _result(out):
    """A UDF result for formulas: a 2-D array (fitted to an array formula's range as
    Excel does) or a single value."""
    if isinstance(out, list):
        width = max((len(r) for r in out), default=1)
        arr = np.empty((len(out), width), dtype=object)
        arr[:] = ""
        for i, row in enumerate(out):
            for j, v in enumerate(row):
                arr[i, j] = _cell_out(v)
        return arr.view(_spill_array())
    return _cell_out(out)


# =============================================================================== entry points

def recalc_workbooks(inputs, out, *, values_only: bool = False,
                     memory_bytes: int = MAX_MEMORY_BYTES,
                     seconds: float = MAX_SECONDS) -> list[RecalcResult]:
    """Compute one workbook or many and write the results.

    Parameters
    ----------
    inputs : path, folder, or list of paths and folders
        Workbooks (``.xlsx``/``.xlsm``); a folder contributes the workbooks directly in it.
    out : path
        A file path (``.xlsx``/``.xlsm``) when there is exactly one input workbook,
        otherwise a folder (created if needed) that receives each workbook under its
        own name.
    values_only : bool, default False
        Replace every formula by its value (a static report for readers without the
        add-in, who would otherwise see ``#NAME?`` when their spreadsheet recalculates).
        By default formulas are kept and the values are stored as their cached results.
    memory_bytes, seconds : optional
        Memory and wall-clock time one workbook's computation may use
        (:mod:`gpucredit.excel.bounded`); a workbook over either fails alone.

    Returns
    -------
    list of RecalcResult
        One per input workbook, in order; a failed file has ``ok`` False and ``error``
        saying why, and does not stop the others.

    Raises
    ------
    GpuCreditError
        When no workbook is found or ``out`` cannot receive the results.
    """
    sources = _collect(inputs)
    out = Path(out)
    if out.suffix.lower() in WORKBOOK_SUFFIXES:
        if len(sources) != 1:
            raise GpuCreditError(
                f"{len(sources)} workbooks to compute but the output {out} is one file: "
                "give a folder", argument="out", value=str(out))
        targets = [out]
    else:
        if out.suffix.lower() in OTHER_FILE_SUFFIXES and not out.is_dir():
            raise GpuCreditError(
                f"the output {out} names a {out.suffix} file, and recalc-workbook writes "
                "workbooks: give a .xlsx or .xlsm name (one input) or a folder",
                argument="out", value=str(out))
        if out.exists() and not out.is_dir():
            raise GpuCreditError(f"output {out} exists and is not a folder", argument="out",
                                 value=str(out))
        targets = [out / s.name for s in sources]
        names = [t.name.lower() for t in targets]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise GpuCreditError(f"two inputs share the name {dupes[0]}: they would overwrite "
                                 "each other in the output folder", argument="inputs")
    pairs = list(zip(sources, targets, strict=True))
    done: dict[Path, RecalcResult] = {}
    for group in _template_groups(pairs):
        for engine in ENGINES:
            _preload([s for s, _ in group], engine)
            try:
                computed = run_bounded(_computed_group, [s for s, _ in group], values_only,
                                       engine, memory_bytes=memory_bytes,
                                       seconds=seconds * len(group))
            except (GpuCreditError, RuntimeError):
                break  # over a limit together: each is computed alone below
            for (s, t), payload in zip(group, computed, strict=True):
                if payload is not None and payload != HAND_OVER:
                    done[s] = recalc_workbook(s, t, computed=payload)
            group = [pair for pair, p in zip(group, computed, strict=True) if p == HAND_OVER]
            if len(group) < 2:
                break
    return [done.get(s) or recalc_workbook(s, t, values_only=values_only,
                                           memory_bytes=memory_bytes, seconds=seconds)
            for s, t in pairs]


def _collect(inputs) -> list[Path]:
    items = [inputs] if isinstance(inputs, (str, os.PathLike)) else list(inputs)
    if not items:
        raise GpuCreditError("no input workbooks given", argument="inputs")
    sources: list[Path] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.is_file()
                           and f.suffix.lower() in WORKBOOK_SUFFIXES
                           and not f.name.startswith("~$"))
            if not found:
                raise GpuCreditError(f"folder {p} holds no .xlsx or .xlsm workbook",
                                     argument="inputs", value=str(p))
            sources.extend(found)
        else:
            sources.append(p)
    return sources


def recalc_workbook(source, target, *, values_only: bool = False,
                    memory_bytes: int = MAX_MEMORY_BYTES,
                    seconds: float = MAX_SECONDS, computed=None) -> RecalcResult:
    """Compute one workbook into ``target`` (see :func:`recalc_workbooks`);
    ``computed``, when given, is its :func:`_computed_parts` already worked out."""
    source, target = Path(source), Path(target)
    result = RecalcResult(source=source)
    try:
        if target.exists() and target.resolve() == source.resolve():
            raise GpuCreditError("the output would overwrite the input; give another path")
        _check_target(target)
        _check_archive(source)
        for engine in ENGINES if computed is None else ():
            _preload([source], engine)
            computed = run_bounded(_computed_parts, source, values_only, None, engine,
                                   memory_bytes=memory_bytes, seconds=seconds)
            if computed != HAND_OVER:
                break
        parts, counts, result.findings = computed
        result.formula_cells, result.gpu_cells = counts["formulas"], counts["gpu"]
        result.error_cells = len(counts["errors"])
        result.cell_errors = counts["errors"][:MAX_LISTED_CELL_ERRORS]
        try:
            _write_zip(source, target, parts)
        except OSError as exc:  # a read-only folder, a full disk, a file-size limit ...
            raise GpuCreditError(f"could not write {target}: {os_error_words(exc)}; "
                                 "nothing written") from None
    except GpuCreditError as exc:
        result.error = str(exc)
        return result
    except RuntimeError as exc:  # raised in the bounded child: its type and message
        result.error = f"could not compute it ({exc})"
        return result
    except Exception as exc:  # a broken file must not stop the batch; say what happened
        result.error = f"could not compute it ({type(exc).__name__}: {exc})"
        return result
    result.ok, result.output = True, target
    return result


def _computed_group(sources: list[Path], values_only: bool, engine: str) -> list:
    """:func:`_computed_parts` of workbooks of one shape, sharing one compiled model of
    the ``formulas`` engine; None for a workbook that failed (it is then computed alone,
    to say why)."""
    cache: dict = {}
    out = []
    for source in sources:
        try:
            out.append(_computed_parts(source, values_only, cache, engine))
        except Exception:  # recomputed alone, where the error is reported
            out.append(None)
    return out


def _template_groups(pairs) -> list[list[tuple[Path, Path]]]:
    """The (source, target) pairs that share a shape, in groups of two or more."""
    groups: dict[str, list] = {}
    for source, target in pairs:
        try:
            _check_archive(source)
            key = template_key(source)
        except Exception:  # computed alone, where the error is reported
            continue
        groups.setdefault(key, []).append((source, target))
    return [g for g in groups.values() if len(g) > 1]


ENGINES = ("evaluator", "formulas")
"""The engines tried in turn: gpucredit's evaluator, then, for a workbook it hands over,
the ``formulas`` engine (see the module docstring)."""
HAND_OVER = "formulas engine"
"""What :func:`_computed_parts` returns for a workbook the evaluator hands over."""


class _HandOver(Exception):
    """The evaluator does not compute this workbook."""


def _preload(sources: list[Path], engine: str = "evaluator") -> None:
    """Import what the computation uses before the bounded child starts: a library loaded
    under the child's memory ceiling counts against one workbook's budget (and OpenBLAS,
    loaded by scipy.linalg under a small ceiling, spins instead of failing), and a batch's
    children share what the parent imported. The worksheet functions (numpy, pandas,
    scipy.special: about half a second) only when a workbook calls them; the ``formulas``
    engine (which imports scipy.stats and scipy.optimize: another half second) only for
    the workbooks the evaluator hands over."""
    import defusedxml.ElementTree  # noqa: F401
    import openpyxl.formula.tokenizer
    import openpyxl.formula.translate  # noqa: F401

    import gpucredit.excel.evaluator

    if engine == "formulas":
        import scipy.optimize
        import scipy.stats  # noqa: F401

        register_gpu_functions()  # imports gpucredit.udfs
    elif any(_calls_gpu(s) for s in sources):
        import gpucredit.udfs  # noqa: F401


def _calls_gpu(source: Path) -> bool:
    """Whether a worksheet of the workbook mentions a GPU_ function."""
    with zipfile.ZipFile(source) as zf:
        return any(b"GPU_" in zf.read(part).upper() for part in sheet_parts(zf).values()
                   if part in zf.namelist())


def _computed_parts(source: Path, values_only: bool, cache: dict | None = None,
                    engine: str = "evaluator"):
    """(edited parts, counts, sandbox findings) of one workbook, or :data:`HAND_OVER`
    when ``engine`` is the evaluator and it does not compute the workbook: the work that
    runs in the bounded child process (:func:`gpucredit.excel.bounded.run_bounded`)."""
    try:
        values, findings, spills = _compute(source, cache, engine)
    except _HandOver:
        return HAND_OVER
    parts, counts = _patched_parts(source, values, values_only, findings, spills)
    return parts, counts, findings


# =============================================================================== reading

def _check_archive(path: Path) -> None:
    if not path.is_file():
        raise GpuCreditError(f"file not found: {path}", argument="inputs", value=str(path))
    if path.suffix.lower() not in WORKBOOK_SUFFIXES:
        raise GpuCreditError(f"{path.name} is not an .xlsx or .xlsm workbook",
                             argument="inputs", value=str(path))
    if not zipfile.is_zipfile(path):
        raise GpuCreditError("not a valid workbook (not a zip archive: corrupt, truncated, "
                             "encrypted or not an Excel file)")
    with zipfile.ZipFile(path) as zf:
        infos = zf.infolist()
        total = sum(i.file_size for i in infos)
        packed = sum(i.compress_size for i in infos) or 1
        if total > MAX_UNCOMPRESSED_BYTES or total / packed > MAX_COMPRESSION_RATIO:
            raise GpuCreditError(
                f"refused: the workbook unpacks to {total:,} bytes ({total / packed:.0f} "
                f"times its packed size), more than this tool accepts")
        names = {i.filename for i in infos}
        if "xl/workbook.xml" not in names:
            raise GpuCreditError("not an Excel workbook (no xl/workbook.xml inside)")
        head = zf.open("xl/workbook.xml").read(4096)
        if b"purl.oclc.org/ooxml/spreadsheetml" in head:
            raise GpuCreditError(
                "saved as a Strict Open XML Spreadsheet, a variant this tool does not read: "
                "in Excel choose File > Save As > Excel Workbook (*.xlsx) and try again")


@contextlib.contextmanager
def _quiet_progress():
    """formulas draws a tqdm progress bar on stderr while it compiles a workbook; a batch
    job (and the CLI's own output) wants it quiet. Swap in a disabled bar meanwhile."""
    import formulas.excel as engine

    real = engine.tqdm

    class Quiet:
        @staticmethod
        def tqdm(*args, **kwargs):
            return real.tqdm(*args, **{**kwargs, "disable": True})

    engine.tqdm = Quiet
    try:
        yield
    finally:
        engine.tqdm = real


def _compute(path: Path, cache: dict | None = None, engine: str = "formulas"):
    """Every computed range of the workbook's sandboxed copy (see
    :mod:`gpucredit.excel.sandbox`): (SHEET in capitals, A1 ref) -> 2-D values; the
    sandbox's findings; and the dynamic arrays' spills (:func:`_respill`). With a
    ``cache`` (a dict), a model compiled for a workbook of the same shape is reused
    (:mod:`gpucredit.excel.templates`). ``engine`` "evaluator" raises :class:`_HandOver`
    when the evaluator does not compute the workbook."""
    key = template_key(path) if cache is not None and engine == "formulas" else None
    with zipfile.ZipFile(path) as zf:
        cut = sandbox(zf)
        anchors = spill.dynamic_anchors(zf)
        parts = sheet_parts(zf)
        originals = {s: zf.read(parts[s]).decode("utf-8") for s in anchors}
        taken = {s: spill.occupied(originals[s], a) for s, a in anchors.items()}
        alias = {real.upper(): a for a, real in cut.aliases.items()}
        spills: dict[str, dict] = {}
        model = None
        with tempfile.TemporaryDirectory(prefix="gpucredit-recalc-") as tmp:
            copy = Path(tmp) / "book.xlsx"  # a plain name: the engine parses its own keys
            for _ in range(spill.PASSES):
                _BLOCKED.clear()
                _BLOCKED.update((alias[s], a.cell) for s, found in spills.items()
                                for a, _, blocker in found.values() if blocker)
                if engine == "evaluator":
                    solution = _evaluated(zf, cut.parts)
                    if solution is None:
                        raise _HandOver
                else:
                    register_gpu_functions()
                    _write_copy(zf, copy, cut.parts)
                    with _quiet_progress():
                        model, solution = _solve(copy, cache, key)
                changed = _respill(anchors, taken, alias, spills)
                if not changed:
                    break
                cache = key = None  # another shape: compiled afresh
                for sheet, refs in changed.items():
                    xml = (cut.parts.get(parts[sheet]) or zf.read(parts[sheet])).decode("utf-8")
                    empty = spill.vacated(spills[sheet.upper()].values())
                    cut.parts[parts[sheet]] = spill.with_refs(xml, refs, empty).encode("utf-8")
    if model is None:
        return _evaluated_values(solution, cut.aliases), cut.findings, spills
    findings = cut.findings + [f"{cut.aliases[s]}!{ref}: a formula this tool cannot read "
                               f"({why}); shown as #NAME?" for s, ref, why in model.unread]
    key = re.compile(r"^'?\[(?P<book>[^\]]*)\](?P<sheet>[^!]*?)'?!(?P<ref>[A-Z]+\d+(:[A-Z]+\d+)?)$")
    values = {}
    for name, rng in solution.items():
        m = key.match(str(name))
        if m is None or m["sheet"] not in cut.aliases:
            continue
        arr = np.asarray(getattr(rng, "value", rng), dtype=object)
        values[(cut.aliases[m["sheet"]].upper(), m["ref"].upper())] = np.atleast_2d(arr)
    return values, findings, spills


def _evaluated(zf: zipfile.ZipFile, parts: dict):
    """The compute copy computed by gpucredit's own evaluator
    (:mod:`gpucredit.excel.evaluator`), its arrays' shapes noted in :data:`_SHAPES`; None
    when the workbook needs the ``formulas`` engine."""
    from gpucredit.excel import evaluator

    blocked = frozenset((int(a[1:]) - 1, *_split_ref(cell)) for a, cell in _BLOCKED)
    try:
        res = evaluator.evaluate(zf, parts, blocked)
    except evaluator.Unsupported:
        return None
    _SHAPES.clear()
    _SHAPES.update({(res.sheets[s], f"{col_letters(c)}{r}"): shape
                    for (s, r, c), (_, shape) in res.arrays.items()})
    return res


def _evaluated_values(res, aliases: dict[str, str]) -> dict:
    """The evaluator's values in the form :func:`_patched_parts` reads: (SHEET, A1 ref
    or array range) -> 2-D values, errors as the ``formulas`` engine's error values."""
    out, inside = {}, set()
    for (s, _r, _c), (area, _) in res.arrays.items():
        r0, c0, r1, c1 = area
        grid = np.empty((r1 - r0 + 1, c1 - c0 + 1), dtype=object)
        for i in range(r1 - r0 + 1):
            for j in range(c1 - c0 + 1):
                grid[i, j] = _engine_value(res.values[(s, r0 + i, c0 + j)])
                inside.add((s, r0 + i, c0 + j))
        out[(aliases[res.sheets[s]].upper(), spill.ref_of(area))] = grid
    for (s, r, c), v in res.values.items():
        if (s, r, c) not in inside:
            grid = np.empty((1, 1), dtype=object)
            grid[0, 0] = _engine_value(v)
            out[(aliases[res.sheets[s]].upper(), f"{col_letters(c)}{r}")] = grid
    return out


def _engine_value(v):
    """An evaluator value as the ``formulas`` engine's: its errors become XlError."""
    if type(v) is not XlErr:
        return v
    from formulas.tokens.operand import XlError  # errors only: a cell, not every cell

    err = XlError(v.code)
    if v.reason:
        err.reason = v.reason
    return err


_SHAPES: dict[tuple[str, str], tuple[int, int]] = {}
"""(alias sheet, cell) -> the shape of the last result of an array formula there, before
the engine fitted it into the formula's range (see :class:`_Shaped`)."""
_BLOCKED: set[tuple[str, str]] = set()
"""(alias sheet, cell) of the dynamic arrays whose spill is blocked: they give
``#SPILL!``, and so do the cells that read them."""


def _respill(anchors, taken, alias, spills) -> dict[str, dict[tuple[int, int], str]]:
    """After a computation: each dynamic array's spill for its result's own size, recorded
    in ``spills`` (sheet in capitals -> (row, col) -> (anchor, area, blocker or None));
    returns the formula ranges that must change (sheet -> (row, col) -> ref)."""
    changed: dict[str, dict] = {}
    for sheet, found in anchors.items():
        mine = spills.setdefault(sheet.upper(), {})
        for a in found:
            shape = _SHAPES.get((alias[sheet.upper()], a.cell))
            if shape is None:
                continue
            before = spill.covered(*mine[(a.row, a.col)]) if (a.row, a.col) in mine else a.area
            mine[(a.row, a.col)] = (a, *spill.fit(a, shape, taken[sheet]))
            if spill.covered(*mine[(a.row, a.col)]) != before:
                changed.setdefault(sheet, {})[(a.row, a.col)] = spill.ref_of(
                    spill.covered(*mine[(a.row, a.col)]))
    return changed


class _Shaped:
    """A compiled array formula that notes the shape of its result in :data:`_SHAPES`."""

    def __init__(self, inner, key):
        self._inner, self._key = inner, key

    def __getattr__(self, name):
        if name in ("_inner", "_key"):
            raise AttributeError(name)
        return getattr(self._inner, name)

    def __call__(self, *args, **kwargs):
        out = self._inner(*args, **kwargs)
        value = np.asarray(getattr(out, "value", out), dtype=object)
        _SHAPES[self._key] = value.shape if value.ndim == 2 else (1, 1)
        if self._key in _BLOCKED:
            from formulas.tokens.operand import XlError

            return XlError("#SPILL!")
        return out


def _solve(copy: Path, cache: dict | None, key: str | None):
    """(model, solution) for the compute copy: a cached model computed with this
    workbook's constants, or a model compiled now (and cached if it passes the check)."""
    _SHAPES.clear()
    if cache is not None and key in cache:
        model = cache[key]
        return model, model.calculate(inputs=constant_inputs(copy))
    model = _model_class()().loads(str(copy)).finish()
    if cache is not None and reproduces(model, constant_inputs(copy)):
        cache[key] = model
    return model, model.calculate()


@functools.lru_cache(maxsize=1)
def _model_class():
    """``formulas.ExcelModel`` where a formula the engine cannot parse becomes ``#NAME?``
    in its own cell (and is listed in ``unread``) instead of failing the whole file."""
    import formulas
    from formulas.errors import FormulaError

    class Model(formulas.ExcelModel):
        def __init__(self):
            super().__init__()
            self.unread = []

        def compile_cell(self, cell, context, references, formula_references):
            try:
                compiled = super().compile_cell(cell, context, references,
                                                formula_references)
            except FormulaError as exc:
                self.unread.append((context["sheet"], cell.coordinate,
                                    type(exc).__name__))
                crd = formula_references.get(cell.coordinate, cell.coordinate)
                return self._compile_cell(crd, "=#NAME?", context, True, references)
            if cell.data_type == "f" and not isinstance(cell.value, str) and compiled.func:
                key = (context["sheet"].upper(), cell.coordinate.upper())
                compiled.func.func = _Shaped(compiled.func.func, key)
            return compiled

    return Model


def _write_copy(zf: zipfile.ZipFile, target: Path, parts: dict[str, bytes | None]) -> None:
    with zipfile.ZipFile(target, "w", zipfile.ZIP_STORED) as zout:
        for info in zf.infolist():
            if info.filename in parts and parts[info.filename] is None:
                continue
            data = parts.get(info.filename)
            zout.writestr(info.filename, zf.read(info.filename) if data is None else data)


# =============================================================================== writing

_ROW = re.compile(r"<row\b(?P<attrs>[^>]*?)(?:/>|>(?P<body>.*?)</row>)", re.S)
_CELL = re.compile(r"<c\b(?P<attrs>[^>]*?)(?:/>|>(?P<body>.*?)</c>)", re.S)
_F = re.compile(r"<f\b[^>]*?(?:/>|>.*?</f>)", re.S)
_ATTR = re.compile(r'\s(?P<k>[\w:]+)="(?P<v>[^"]*)"')


def _attrs(text: str) -> dict[str, str]:
    return {m["k"]: m["v"] for m in _ATTR.finditer(text)}


def _attr_text(attrs: dict[str, str]) -> str:
    return "".join(f' {k}="{v}"' for k, v in attrs.items())


def _split_ref(ref: str) -> tuple[int, int]:
    m = re.fullmatch(r"\$?([A-Z]+)\$?(\d+)", ref.upper())
    if m is None:
        raise GpuCreditError(f"unreadable cell reference {ref!r}")
    return int(m[2]), col_number(m[1])


def _value_xml(v) -> tuple[str | None, str]:
    """(t attribute or None, <v> element) for one computed value."""
    import schedula as sh
    from formulas.tokens.operand import XlError

    if v is sh.EMPTY or v is None:
        return None, ""
    if isinstance(v, XlError):
        return "e", f"<v>{_excel_error(v)}</v>"
    if isinstance(v, (bool, np.bool_)):
        return "b", f"<v>{int(bool(v))}</v>"
    if isinstance(v, (int, np.integer)):
        return None, f"<v>{int(v)}</v>"
    if isinstance(v, (float, np.floating)):
        if not math.isfinite(float(v)):
            return "e", "<v>#NUM!</v>"
        return None, f"<v>{float(v)!r}</v>"
    return "str", f"<v>{escape(str(v))}</v>"


EXCEL_ERRORS = frozenset({"#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#N/A",
                          "#GETTING_DATA", "#SPILL!", "#CALC!"})
"""The error values a cell may hold (ECMA-376 Part 1, 18.18.30 ST_CellValueType ``e``;
the last two since Excel's dynamic arrays)."""


def _excel_error(v) -> str:
    """The engine's error as an Excel error value (its own ``#CIRC!`` is not one)."""
    return str(v) if str(v) in EXCEL_ERRORS else "#VALUE!"


def _is_error(v) -> str | None:
    from formulas.tokens.operand import XlError

    if isinstance(v, XlError):
        reason = getattr(v, "reason", None)
        return f"{_excel_error(v)} ({reason})" if reason else _excel_error(v)
    if isinstance(v, str) and v.startswith("#GPU!"):
        return v
    return None


def _patch_sheet(xml: str, sheet: str, values, counts) -> str:
    start = xml.find("<sheetData")
    if start < 0:
        return xml
    open_end = xml.index(">", start)
    if xml[open_end - 1] == "/":  # <sheetData/>: nothing to compute
        return xml
    end = xml.index("</sheetData>", open_end)
    body = xml[open_end + 1:end]
    rows: dict[int, tuple[dict, list[tuple[int, str]]]] = {}
    next_row = 1
    for rm in _ROW.finditer(body):
        attrs = _attrs(rm["attrs"])
        r = int(attrs.get("r", next_row))
        next_row = r + 1
        cells, next_col = [], 1
        for cm in _CELL.finditer(rm["body"] or ""):
            cattrs = _attrs(cm["attrs"])
            ref = cattrs.get("r")
            c = _split_ref(ref)[1] if ref else next_col
            next_col = c + 1
            cells.append((c, cm.group(0)))
        rows[r] = (attrs, cells)

    sheet_key = sheet.upper()
    dynamic = counts["spill"].get(sheet_key, {})
    vacated = spill.vacated(dynamic.values())
    spilled: dict[tuple[int, int], object] = {}
    new_rows: dict[int, tuple[dict, list[tuple[int, str]]]] = {}
    bounds = [math.inf, math.inf, 0, 0]  # min row, min col, max row, max col

    def grow(r, c):
        bounds[0], bounds[1] = min(bounds[0], r), min(bounds[1], c)
        bounds[2], bounds[3] = max(bounds[2], r), max(bounds[3], c)

    for r, (attrs, cells) in rows.items():
        patched = []
        for c, text in cells:
            grow(r, c)
            m = _CELL.fullmatch(text)
            body = m["body"] or ""
            f = _F.search(body)
            if f is None:
                patched.append((c, _cell_xml(_attrs(m["attrs"]), "", None)
                                if (r, c) in vacated else text))
                continue
            f_text = f.group(0)
            fattrs = _attrs(f_text[2:f_text.index(">")])
            if (r, c) in dynamic:
                fattrs["ref"] = spill.ref_of(spill.covered(*dynamic[(r, c)]))
                f_text = re.sub(r'\bref="[^"]*"', f'ref="{fattrs["ref"]}"', f_text, count=1)
            ref = f"{col_letters(c)}{r}"
            counts["formulas"] += 1
            if "GPU_" in f_text.upper():
                counts["gpu"] += 1
            if fattrs.get("t") == "array" and fattrs.get("ref"):
                r0, c0, r1, c1 = spill.area_of(fattrs["ref"])
                grid = values.get((sheet_key, spill.ref_of((r0, c0, r1, c1))))
                for i in range(r1 - r0 + 1):
                    for j in range(c1 - c0 + 1):
                        v = _pick(grid, i, j)
                        counts["cells"][(sheet_key, r0 + i, c0 + j)] = v
                        if (i, j) != (0, 0):
                            spilled[(r0 + i, c0 + j)] = v
                        grow(r0 + i, c0 + j)
                value = _blocked(*dynamic[(r, c)]) if dynamic.get((r, c), (0, 0, None))[2] \
                    else _pick(grid, 0, 0)
            else:
                value = _pick(values.get((sheet_key, ref)), 0, 0)
                counts["cells"][(sheet_key, r, c)] = value
            err = _is_error(value)
            if err:
                reason = counts["why"].get(f"{sheet}!{ref}".upper(), err)
                counts["errors"].append(f"{sheet}!{ref}: {reason}")
            formula = "" if counts["values_only"] else f_text
            patched.append((c, _cell_xml(_attrs(m["attrs"]), formula, value)))
        new_rows[r] = (attrs, patched)

    for (r, c), v in spilled.items():
        attrs, cells = new_rows.setdefault(r, ({"r": str(r)}, []))
        kept = []
        placed = False
        for cc, text in cells:
            if cc == c:
                m = _CELL.fullmatch(text)
                if m is not None and _F.search(m["body"] or "") is None:
                    kept.append((c, _cell_xml(_attrs(m["attrs"]), "", v)))
                    placed = True
                    continue
                placed = True  # a formula cell inside another array range: leave it
            kept.append((cc, text))
        if not placed:
            kept.append((c, _cell_xml({"r": f"{col_letters(c)}{r}"}, "", v)))
        new_rows[r] = (attrs, sorted(kept, key=lambda t: t[0]))

    parts = []
    for r in sorted(new_rows):
        attrs, cells = new_rows[r]
        attrs = {k: v for k, v in attrs.items() if k != "spans"}
        attrs["r"] = str(r)
        if cells:
            parts.append(f"<row{_attr_text(attrs)}>{''.join(t for _, t in cells)}</row>")
        else:
            parts.append(f"<row{_attr_text(attrs)}/>")
    xml = xml[:open_end + 1] + "".join(parts) + xml[end:]
    if bounds[2]:
        dim = (f"{col_letters(int(bounds[1]))}{int(bounds[0])}:"
               f"{col_letters(int(bounds[3]))}{int(bounds[2])}")
        xml = re.sub(r'<dimension ref="[^"]*"\s*/>', f'<dimension ref="{dim}"/>', xml, count=1)
    return xml


def _blocked(anchor, area, blocker):
    """Excel's ``#SPILL!``, with the reason the run's report gives."""
    from formulas.tokens.operand import XlError

    err = XlError("#SPILL!")
    err.reason = (f"the result needs {spill.ref_of(area)} and {blocker} is not empty: "
                  "clear it and recalculate")
    return err


def _pick(grid, i: int, j: int):
    if grid is None:
        return None
    if i < grid.shape[0] and j < grid.shape[1]:
        return grid[i, j]
    if grid.shape == (1, 1):  # Excel repeats a single value over an array range
        return grid[0, 0]
    from formulas.tokens.operand import Error

    return Error.errors["#N/A"]


def _cell_xml(attrs: dict[str, str], formula: str, value) -> str:
    attrs = {k: v for k, v in attrs.items() if k != "t"}
    t, v = _value_xml(value)
    if t:
        attrs["t"] = t
    return f"<c{_attr_text(attrs)}>{formula}{v}</c>"


def _patched_parts(source: Path, values, values_only: bool, findings: list[str],
                   spills: dict | None = None) -> tuple[dict[str, bytes | None], dict]:
    why = {f.split(": ", 1)[0].upper(): f.split(": ", 1)[1] for f in findings}
    counts = {"formulas": 0, "gpu": 0, "errors": [], "values_only": values_only, "why": why,
              "cells": {}, "spill": spills or {}}
    parts = {}
    with zipfile.ZipFile(source) as zf:
        for sheet, part in sheet_parts(zf).items():
            if part not in zf.namelist():
                continue
            xml = zf.read(part).decode("utf-8")
            new = _patch_sheet(xml, sheet, values, counts)
            if new != xml:
                parts[part] = new.encode("utf-8")
        computed = counts.pop("cells")  # engine values: they stay in the bounded child
        for name in zf.namelist():
            if re.fullmatch(r"xl/charts/chart\d+\.xml", name):
                xml = zf.read(name).decode("utf-8")
                new = refresh_chart_caches(xml, computed)
                if new != xml:
                    parts[name] = new.encode("utf-8")
        book = zf.read("xl/workbook.xml").decode("utf-8")
        new_book = re.sub(r'\sfullCalcOnLoad="(1|true)"', "", book)
        if new_book != book:
            parts["xl/workbook.xml"] = new_book.encode("utf-8")
        if values_only and "xl/calcChain.xml" in zf.namelist():
            # The calculation chain lists formula cells; with none left Excel would
            # report the file as damaged. Drop the part and every reference to it.
            parts["xl/calcChain.xml"] = None
            for name, pattern in (("xl/_rels/workbook.xml.rels",
                                   r"<Relationship\b[^>]*calcChain[^>]*/>"),
                                  ("[Content_Types].xml",
                                   r"<Override\b[^>]*calcChain[^>]*/>")):
                text = zf.read(name).decode("utf-8")
                parts[name] = re.sub(pattern, "", text).encode("utf-8")
    return parts, counts


def _check_target(target: Path) -> None:
    """Refuse an output that exists and is not a regular file (a folder, a device such as
    /dev/null, a FIFO): replacing it would destroy something that is not a result."""
    try:
        kind = existing_kind(target)
    except OSError:
        return
    if kind is not None:
        raise GpuCreditError(f"the output {target} is {kind}, not a file: recalc-workbook "
                             "writes only files and never replaces anything else",
                             argument="out", value=str(target))


def _write_zip(source: Path, target: Path, parts: dict[str, bytes | None]) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with staged_files() as staging, zipfile.ZipFile(source) as zin, \
            zipfile.ZipFile(staging.output(target), "w") as zout:
        for info in zin.infolist():
            if info.filename in parts and parts[info.filename] is None:
                continue  # a part dropped on purpose
            data = parts.get(info.filename)
            if data is None:
                data = zin.read(info.filename)
            zout.writestr(info, data, compress_type=info.compress_type)
