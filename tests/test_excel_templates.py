"""Workbooks of one shape share a compiled model of the ``formulas`` engine
(gpucredit.excel.templates).

The oracle for a cached computation is the same workbook computed on its own (a fresh
compile); the native model's values are cross-checked against LibreOffice in
test_recalc_workbook.py.
"""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest
from tests import native_model

from gpucredit.excel import recalc
from gpucredit.excel.model_template import build_model_workbook
from gpucredit.excel.templates import template_key


def variants(tmp_path: Path, n: int = 3) -> list[Path]:
    """``n`` copies of one small native model, each with other rents and rates."""
    base = tmp_path / "base.xlsx"
    native_model.build(base, facilities=2, periods=12)
    paths = []
    for k in range(n):
        wb = openpyxl.load_workbook(base)
        ws = wb["Inputs"]
        ws["B2"] = 2.0 + k / 4
        ws["H3"] = 0.05 + k / 100
        p = tmp_path / "in" / f"deal{k}.xlsx"
        p.parent.mkdir(exist_ok=True)
        wb.save(p)
        paths.append(p)
    return paths


def values(path: Path) -> list:
    return [c.value for row in openpyxl.load_workbook(path, data_only=True)["Calcs"].iter_rows()
            for c in row]


def test_shape_not_values_decides_the_key(tmp_path):
    a, b, _ = variants(tmp_path)
    assert template_key(a) == template_key(b)
    wb = openpyxl.load_workbook(a)
    wb["Calcs"]["C2"] = "=Inputs!$B$2*2"  # one formula changed
    wb.save(tmp_path / "other.xlsx")
    wb = openpyxl.load_workbook(a)
    wb["Inputs"]["K2"] = 1.0  # a constant in a new cell
    wb.save(tmp_path / "more.xlsx")
    keys = {template_key(p) for p in (a, tmp_path / "other.xlsx", tmp_path / "more.xlsx")}
    assert len(keys) == 3


@pytest.fixture()
def compiled(monkeypatch) -> list:
    """One item per model compiled, in this process (the bounded child runs inline).

    The compiled-model cache serves the workbooks that go to the ``formulas`` engine
    (those gpucredit's own evaluator hands over); these workbooks are handed over."""
    done = []
    monkeypatch.setattr(recalc, "_evaluated", lambda zf, parts: None)
    real = recalc._model_class()

    class Counting(real):
        def finish(self, *args, **kwargs):
            done.append(1)
            return super().finish(*args, **kwargs)

    monkeypatch.setattr(recalc, "run_bounded", lambda fn, *a, **k: fn(*a))  # count here
    monkeypatch.setattr(recalc, "_model_class", lambda: Counting)
    return done


def test_a_batch_compiles_once_and_matches_one_by_one(tmp_path, compiled):
    paths = variants(tmp_path)
    batch = recalc.recalc_workbooks(tmp_path / "in", tmp_path / "batch")
    assert [r.ok for r in batch] == [True] * 3 and len(compiled) == 1
    for p, r in zip(paths, batch, strict=True):
        [alone] = recalc.recalc_workbooks([p], tmp_path / f"alone_{p.name}")
        ours, theirs = values(r.output), values(alone.output)
        assert len(ours) == len(theirs)
        for x, y in zip(ours, theirs, strict=True):
            assert x == (pytest.approx(y, rel=1e-15) if isinstance(y, float) else y)
    assert len(compiled) == 4
    first, second = values(batch[0].output), values(batch[1].output)
    assert first != second  # the inputs did reach the cached model


def test_deal_models_share_one_compile(tmp_path, compiled):
    """The deal model - GPU_ array formulas (their other cells hold cached results), a
    date input, empty text cells - is the batch's usual template: its copies must reuse
    one compiled model (the self-check once refused it on those three), and match each
    copy computed alone."""
    base = build_model_workbook(tmp_path / "base.xlsx")
    (tmp_path / "in").mkdir()
    for k, utilization in enumerate((0.7, 0.85, 0.95)):
        wb = openpyxl.load_workbook(base)
        sheet, cell = next(iter(wb.defined_names["utilization"].destinations))
        wb[sheet][cell.replace("$", "")] = utilization
        wb.save(tmp_path / "in" / f"deal{k}.xlsx")
    batch = recalc.recalc_workbooks(tmp_path / "in", tmp_path / "batch")
    assert [r.ok for r in batch] == [True] * 3 and len(compiled) == 1
    outputs = []
    for r in batch:
        [alone] = recalc.recalc_workbooks([r.source], tmp_path / f"alone_{r.source.name}")
        ours, theirs = values(r.output), values(alone.output)
        assert ours == [pytest.approx(y, rel=1e-12) if isinstance(y, float) else y
                        for y in theirs]
        outputs.append(ours)
    assert outputs[0] != outputs[2]  # the utilization reached the cached model
