"""Charts' cached values after recalc-workbook (gpucredit.excel.charts)."""

from __future__ import annotations

import re
import zipfile

import openpyxl
from defusedxml import ElementTree
from openpyxl.chart import LineChart, Reference

from gpucredit.excel.charts import refresh_chart_caches
from gpucredit.excel.recalc import recalc_workbooks

STALE = ('<numCache><formatCode>General</formatCode><ptCount val="3"/>'
         '<pt idx="0"><v>0</v></pt><pt idx="1"><v>0</v></pt><pt idx="2"><v>0</v></pt>'
         "</numCache>")


def cached_points(path, part="xl/charts/chart1.xml") -> list[tuple[int, float]]:
    with zipfile.ZipFile(path) as zf:
        xml = zf.read(part).decode()
    cache = re.search(r"<(?:\w+:)?numCache>(.*?)</(?:\w+:)?numCache>", xml, re.S)[1]
    return [(int(i), float(v)) for i, v in
            re.findall(r'<(?:\w+:)?pt idx="(\d+)"><(?:\w+:)?v>([^<]*)<', cache)]


def test_stale_caches_get_the_computed_values(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Bob's"
    for i, (cf, ds) in enumerate([(125.0, 100.0), (137.5, 110.0), (90.0, 0.0)], start=1):
        ws.cell(i, 1, cf)
        ws.cell(i, 2, ds)
        ws.cell(i, 3, f"=GPU_DSCR(A{i},B{i})")
    chart = LineChart()
    chart.add_data(Reference(ws, min_col=3, min_row=1, max_row=3))
    ws.add_chart(chart, "E2")
    plain = tmp_path / "plain.xlsx"
    wb.save(plain)
    src = tmp_path / "in.xlsx"  # as Excel saves it: a cache of what it last plotted
    with zipfile.ZipFile(plain) as zin, zipfile.ZipFile(src, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename == "xl/charts/chart1.xml":
                data = data.replace(b"</f></numRef>", b"</f>" + STALE.encode() + b"</numRef>")
            zout.writestr(info, data)
    assert cached_points(src) == [(0, 0.0), (1, 0.0), (2, 0.0)]
    for flag in (False, True):
        [res] = recalc_workbooks([src], tmp_path / f"out{flag}.xlsx", values_only=flag)
        # 125/100 and 137.5/110 by hand; debt service 0 is an error: a gap, no point
        assert cached_points(res.output) == [(0, 1.25), (1, 1.25)]
        with zipfile.ZipFile(res.output) as zf:
            ElementTree.fromstring(zf.read("xl/charts/chart1.xml"))  # still well-formed


def test_points_of_constant_cells_keep_their_cache_and_prefixes_are_kept():
    xml = ("<c:chartSpace><c:numRef><c:f>'Bob''s'!$A$1:$A$2</c:f><c:numCache>"
           '<c:ptCount val="2"/><c:pt idx="0"><c:v>5</c:v></c:pt><c:pt idx="1"><c:v>6</c:v>'
           "</c:pt></c:numCache></c:numRef></c:chartSpace>")
    new = refresh_chart_caches(xml, {("BOB'S", 2, 1): 7.5})
    assert new == ("<c:chartSpace><c:numRef><c:f>'Bob''s'!$A$1:$A$2</c:f><c:numCache>"
                   '<c:ptCount val="2"/><c:pt idx="0"><c:v>5.0</c:v></c:pt>'
                   '<c:pt idx="1"><c:v>7.5</c:v></c:pt></c:numCache></c:numRef></c:chartSpace>')
    assert refresh_chart_caches("<c:numRef><c:f>Other!A1</c:f></c:numRef>", {}) == \
        "<c:numRef><c:f>Other!A1</c:f></c:numRef>"
