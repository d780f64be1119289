"""Dynamic arrays: a formula whose result spills into as many cells as it has values.

Excel 365 saves a dynamic-array formula as an array formula on its anchor cell,
``<c r="C1" cm="1"><f t="array" ref="C1:C3">...``, the cell's ``cm`` pointing at cell
metadata of type ``XLDAPR`` flagged ``fDynamic="1"`` in ``xl/metadata.xml`` ([MS-XLSX]
2.3.x, the dynamic array properties); ``ref`` is the spill range of the last calculation
and the cells below and to the right hold its values. When the inputs change, the result
may grow or shrink: Excel spills it afresh, empties the cells it no longer covers, and
shows ``#SPILL!`` in the anchor, spilling nothing, when a non-empty cell is in the way.

``gpucredit recalc-workbook`` does the same (:mod:`gpucredit.excel.recalc`): it computes,
reads each dynamic formula's own result size, and when one differs from ``ref`` computes
again with the new ranges (so cells that read the spilled cells see them), at most
:data:`PASSES` times.
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass

from gpucredit.excel.sandbox import attrs_of, col_letters, col_number, iter_cells, sheet_parts

__all__ = [
    "PASSES",
    "Anchor",
    "area_of",
    "cells",
    "covered",
    "dynamic_anchors",
    "fit",
    "occupied",
    "ref_of",
    "vacated",
    "with_refs",
]

PASSES = 3
"""Computations at most (the first, then one per change of a spill range)."""
_DYNAMIC_URI = "{bdbb8cdc-fa1e-496e-a857-3c3f30c029c3}"
_NS = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main",
       "xda": "http://schemas.microsoft.com/office/spreadsheetml/2017/dynamicarray",
       "p": "http://schemas.openxmlformats.org/package/2006/relationships"}
_F_ARRAY = re.compile(r'<f\b(?P<attrs>[^>]*\bt="array"[^>]*)>')
_REF = re.compile(r'\bref="[^"]*"')
_AREA = re.compile(r"\$?([A-Z]{1,3})\$?(\d+)(?::\$?([A-Z]{1,3})\$?(\d+))?")


@dataclass(frozen=True)
class Anchor:
    """A dynamic-array formula: its cell and the area it spilled into last time."""

    row: int
    col: int
    area: tuple[int, int, int, int]  # first row, first column, last row, last column

    @property
    def cell(self) -> str:
        return f"{col_letters(self.col)}{self.row}"


def area_of(ref: str) -> tuple[int, int, int, int]:
    """``"C1:D5"`` -> (1, 3, 5, 4); ``"C1"`` -> (1, 3, 1, 3); ValueError otherwise."""
    m = _AREA.fullmatch(ref.upper())
    if m is None:
        raise ValueError(f"not a cell range: {ref!r}")
    r0, c0 = int(m[2]), col_number(m[1])
    return (r0, c0, int(m[4]), col_number(m[3])) if m[3] else (r0, c0, r0, c0)


def ref_of(area: tuple[int, int, int, int]) -> str:
    r0, c0, r1, c1 = area
    first = f"{col_letters(c0)}{r0}"
    return first if (r0, c0) == (r1, c1) else f"{first}:{col_letters(c1)}{r1}"


def _dynamic_cm(zf: zipfile.ZipFile) -> set[str]:
    """The ``cm`` values that mark a dynamic-array formula (empty without metadata)."""
    from defusedxml import ElementTree

    rels = ElementTree.fromstring(zf.read("xl/_rels/workbook.xml.rels"))
    target = next((r.get("Target", "") for r in rels.findall("p:Relationship", _NS)
                   if r.get("Type", "").endswith("/sheetMetadata")), None)
    part = (target.lstrip("/") if target and target.startswith("/") else f"xl/{target}")
    if target is None or part not in zf.namelist():
        return set()
    meta = ElementTree.fromstring(zf.read(part))
    types = [t.get("name") for t in meta.findall("m:metadataTypes/m:metadataType", _NS)]
    future = {f.get("name"): f.findall("m:bk", _NS) for f in meta.findall("m:futureMetadata", _NS)}
    out = set()
    for k, bk in enumerate(meta.findall("m:cellMetadata/m:bk", _NS), start=1):
        for rc in bk.findall("m:rc", _NS):
            t, v = int(rc.get("t", 0)), int(rc.get("v", 0))
            name = types[t - 1] if 0 < t <= len(types) else None
            blocks = future.get(name, [])
            props = (blocks[v].find(f".//m:ext[@uri='{_DYNAMIC_URI}']/xda:dynamicArrayProperties",
                                    _NS) if v < len(blocks) else None)
            if props is not None and props.get("fDynamic") in ("1", "true"):
                out.add(str(k))
    return out


def dynamic_anchors(zf: zipfile.ZipFile) -> dict[str, list[Anchor]]:
    """Sheet name -> its dynamic-array formulas."""
    marks = _dynamic_cm(zf)
    if not marks:
        return {}
    out: dict[str, list[Anchor]] = {}
    for sheet, part in sheet_parts(zf).items():
        if part not in zf.namelist():
            continue
        for r, c, cm, _ in iter_cells(zf.read(part).decode("utf-8")):
            f = _F_ARRAY.search(cm["body"] or "")
            if attrs_of(cm["attrs"]).get("cm") in marks and f:
                ref = attrs_of(f["attrs"]).get("ref") or f"{col_letters(c)}{r}"
                out.setdefault(sheet, []).append(Anchor(r, c, area_of(ref)))
    return out


def occupied(xml: str, anchors: list[Anchor]) -> set[tuple[int, int]]:
    """Cells holding a value or a formula, other than the anchors' own spilled cells."""
    spilled = {cell for a in anchors for cell in cells(a.area)} - {(a.row, a.col)
                                                                     for a in anchors}
    return {(r, c) for r, c, cm, _ in iter_cells(xml)
            if (r, c) not in spilled and re.search(r"<(v|f|is)\b", cm["body"] or "")}


def fit(anchor: Anchor, shape: tuple[int, int], taken: set[tuple[int, int]]):
    """(area, blocker): the area a result of ``shape`` spills into, and the first
    non-empty cell in its way (Excel then shows ``#SPILL!`` and spills nothing) or None."""
    rows, cols = max(shape[0], 1), max(shape[1], 1)
    area = (anchor.row, anchor.col, anchor.row + rows - 1, anchor.col + cols - 1)
    blockers = sorted((r, c) for r, c in taken if (r, c) != (anchor.row, anchor.col)
                      and area[0] <= r <= area[2] and area[1] <= c <= area[3])
    return area, (f"{col_letters(blockers[0][1])}{blockers[0][0]}" if blockers else None)


def cells(area: tuple[int, int, int, int]) -> set[tuple[int, int]]:
    return {(r, c) for r in range(area[0], area[2] + 1) for c in range(area[1], area[3] + 1)}


def covered(anchor: Anchor, area, blocker) -> tuple[int, int, int, int]:
    """The range a dynamic array's formula covers: its result's, or its cell if blocked."""
    return (anchor.row, anchor.col, anchor.row, anchor.col) if blocker else area


def vacated(found) -> set[tuple[int, int]]:
    """Cells of the stored spills that the new ones no longer cover (to be emptied), for
    ``found`` (anchor, area, blocker) triples."""
    return set().union(*(cells(a.area) - cells(covered(a, area, b)) for a, area, b in found))


def with_refs(xml: str, refs: dict[tuple[int, int], str],
              empty: set[tuple[int, int]] = frozenset()) -> str:
    """The sheet with the array formulas anchored at ``refs``' cells given those ranges
    and the cells in ``empty`` emptied (their style kept)."""
    out, last = [], 0
    for r, c, cm, offset in iter_cells(xml):
        if (r, c) in refs:
            body_start = offset + cm.start("body")
            f = _F_ARRAY.search(cm["body"] or "")
            start, end = body_start + f.start("attrs"), body_start + f.end("attrs")
            attrs = f["attrs"]
            new = _REF.sub(f'ref="{refs[(r, c)]}"', attrs) if _REF.search(attrs) else \
                f'{attrs} ref="{refs[(r, c)]}"'
        elif (r, c) in empty:
            start, end = offset + cm.start(), offset + cm.end()
            kept = {k: v for k, v in attrs_of(cm["attrs"]).items() if k in ("r", "s")}
            new = "<c" + "".join(f' {k}="{v}"' for k, v in kept.items()) + "/>"
        else:
            continue
        out += [xml[last:start], new]
        last = end
    return "".join(out) + xml[last:]
