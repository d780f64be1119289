"""Workbooks made from one template: the formula model is compiled once for all of them.

A batch (``gpucredit recalc-workbook deals/*.xlsx -o out/``) is often many copies of one
deal model with different inputs. Compiling a workbook's formulas is most of the
``formulas`` engine's time; computing a compiled model again with other input values is
cheap. Two workbooks share a compiled model when they have the same *shape*
(:func:`template_key`): the same sheets, defined names and formulas in the same cells,
and constants in the same cells - whatever the constants' values. The compiled model is
then computed with each workbook's constants as its inputs (:func:`constant_inputs`).

A model is reused only after a self-check: the constants read from the workbook it was
compiled from must be exactly the values the engine holds for those cells (same cells,
same types, same values). Otherwise every workbook is compiled on its own, as before.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import zipfile
from pathlib import Path

from gpucredit.excel.sandbox import iter_cells, sheet_parts

__all__ = ["constant_inputs", "reproduces", "template_key"]

_F = re.compile(r"<f\b[^>]*?(?:/>|>.*?</f>)", re.S)
_V = re.compile(r"<v\b|<is\b", re.S)
_NAMES = re.compile(r"<definedNames\b.*?</definedNames>", re.S)
_NODE = re.compile(r"^'\[book\.xlsx\][^!]+'!\$?[A-Z]+\$?\d+$")


def template_key(path: Path) -> str:
    """A digest of the workbook's shape: sheet names and order, defined names, every
    formula with its cell, and the cells that hold a constant (not their values)."""
    h = hashlib.sha256()
    with zipfile.ZipFile(path) as zf:
        book = zf.read("xl/workbook.xml").decode("utf-8")
        names = _NAMES.search(book)
        h.update((names.group(0) if names else "").encode())
        for sheet, part in sheet_parts(zf).items():
            h.update(f"\0sheet {sheet}\0".encode())
            xml = zf.read(part).decode("utf-8")
            for r, c, cm, _ in iter_cells(xml):
                body = cm["body"] or ""
                f = _F.search(body)
                if f is not None:
                    h.update(f"{r},{c}={f.group(0)}\0".encode())
                elif _V.search(body):
                    h.update(f"{r},{c}\0".encode())
    return h.hexdigest()


def constant_inputs(copy: Path) -> dict[str, object]:
    """The constant cells of the compute copy ``copy`` (saved as ``book.xlsx``), keyed
    the way the ``formulas`` engine names its cells, valued the way it reads them (a
    float rounded to 15 digits, as its ``ExcelModel.compile_cell`` does)."""
    import openpyxl
    from openpyxl.utils.cell import range_boundaries
    from openpyxl.utils.datetime import to_excel

    wb = openpyxl.load_workbook(copy, read_only=True, data_only=False)
    try:
        out = {}
        for ws in wb.worksheets:
            found, arrays = {}, []
            for row in ws.iter_rows():
                for cell in row:
                    if cell.data_type == "f" and hasattr(cell.value, "ref"):
                        arrays.append(range_boundaries(cell.value.ref))
                    if cell.value is None or cell.data_type == "f":
                        continue
                    v = cell.value
                    if isinstance(v, (dt.date, dt.time, dt.timedelta)):
                        v = to_excel(v)  # a date-formatted number: the engine's serial
                    if cell.data_type == "n" and isinstance(v, float):
                        v = round(v, 15)
                    found[(cell.row, cell.column, cell.coordinate)] = v
            for (r, c, coordinate), v in found.items():
                # an array formula's other cells hold its last results: the engine
                # computes them, they are not inputs
                if not any(c0 <= c <= c1 and r0 <= r <= r1 for c0, r0, c1, r1 in arrays):
                    out[f"'[book.xlsx]{ws.title.upper()}'!{coordinate}"] = v
        return out
    finally:
        wb.close()


def reproduces(model, inputs: dict[str, object]) -> bool:
    """Whether ``inputs`` are exactly the constants ``model`` was compiled with (a cell
    the engine holds as empty text may be absent: openpyxl reads an empty text cell as
    nothing; numbers compare by value, 46203 and 46203.0 alike, never a bool as a number)."""
    held = {k: d["value"] for k, d in model.dsp.default_values.items()
            if isinstance(k, str) and _NODE.match(k)}
    if set(inputs) - set(held) or not all(map(_empty, (held[k] for k in set(held) - set(inputs)))):
        return False
    return all(_same(held[k], v) for k, v in inputs.items())


def _empty(value) -> bool:
    """An empty text cell as the engine holds it ("" or an array of its EMPTY)."""
    import numpy as np
    import schedula as sh

    return all(x is sh.EMPTY or (isinstance(x, str) and x == "")
               for x in np.asarray(value, dtype=object).ravel())


def _same(held, read) -> bool:
    numbers = (int, float)
    if (isinstance(held, numbers) and isinstance(read, numbers)
            and not isinstance(held, bool) and not isinstance(read, bool)):
        return float(held) == float(read)
    return type(held) is type(read) and held == read
