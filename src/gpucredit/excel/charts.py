"""Charts' cached values brought in line with the computed cells.

A chart part keeps, beside each series' reference (``<c:numRef><c:f>'Calcs'!$C$36:$V$36``),
a cache of the values it last plotted (``<c:numCache>``, ECMA-376 Part 1, 21.2.2.120).
A reader that does not recalculate, or that draws from the cache, would show the values
of the last time the workbook was computed - after a run without the add-in, ``#NAME?``
gaps or a flat line. Here each cached point whose cell was just computed gets its new
value; a point whose cell is not a formula keeps its cached value; an error or a text
value leaves a gap (no point), as Excel writes it. A chart without caches (openpyxl
writes none; readers then draw from the cells) is left as it is.
"""

from __future__ import annotations

import math
import re

__all__ = ["refresh_chart_caches"]

_NUMREF = re.compile(
    r"<(?P<p>(?:\w+:)?)numRef>\s*<(?P=p)f>(?P<f>[^<]*)</(?P=p)f>\s*"
    r"<(?P=p)numCache>(?P<cache>.*?)</(?P=p)numCache>", re.S)
_FORMAT = re.compile(r"<(?:\w+:)?formatCode>.*?</(?:\w+:)?formatCode>", re.S)
_PT = re.compile(r'<(?:\w+:)?pt\s+idx="(\d+)"[^>]*>\s*<(?:\w+:)?v>([^<]*)</(?:\w+:)?v>\s*'
                 r"</(?:\w+:)?pt>", re.S)
_REF = re.compile(r"^(?:'(?P<q>(?:[^']|'')+)'|(?P<s>[^'!]+))!\$?(?P<c0>[A-Z]{1,3})\$?(?P<r0>\d+)"
                  r"(?::\$?(?P<c1>[A-Z]{1,3})\$?(?P<r1>\d+))?$")


def _col(letters: str) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ord(ch) - 64
    return n


def _cells(ref: str):
    """(SHEET in capitals, [(row, col), ...] in series order) or None."""
    m = _REF.match(ref.strip())
    if m is None:
        return None
    sheet = (m["q"].replace("''", "'") if m["q"] else m["s"]).upper()
    r0, c0 = int(m["r0"]), _col(m["c0"])
    r1, c1 = (int(m["r1"]), _col(m["c1"])) if m["c1"] else (r0, c0)
    if (r1 - r0 + 1) * (c1 - c0 + 1) > 1_048_576:
        return None
    return sheet, [(r, c) for r in range(r0, r1 + 1) for c in range(c0, c1 + 1)]


def _number(v) -> float | None:
    if isinstance(v, bool) or v is None:
        return None
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def refresh_chart_caches(xml: str, computed: dict) -> str:
    """The chart part ``xml`` with its numeric caches refreshed from ``computed``,
    a dict (SHEET in capitals, row, column) -> computed value of every formula cell."""
    def one(m):
        where = _cells(m["f"].replace("&apos;", "'"))
        if where is None:
            return m.group(0)
        sheet, cells = where
        old = {int(i): v for i, v in _PT.findall(m["cache"])}
        p = m["p"]
        fmt = _FORMAT.search(m["cache"])
        pts = []
        for i, (r, c) in enumerate(cells):
            key = (sheet, r, c)
            x = _number(computed[key]) if key in computed else _number(old.get(i))
            if x is not None:
                pts.append(f'<{p}pt idx="{i}"><{p}v>{x!r}</{p}v></{p}pt>')
        cache = (fmt.group(0) if fmt else "") + f'<{p}ptCount val="{len(cells)}"/>' + "".join(pts)
        return f"<{p}numRef><{p}f>{m['f']}</{p}f><{p}numCache>{cache}</{p}numCache>"

    return _NUMREF.sub(one, xml)
