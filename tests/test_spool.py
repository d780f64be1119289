"""Tests of gpucredit.spool: a table kept on disk in pieces reads back as if concatenated."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from gpucredit.spool import SpooledTable


def pieces():
    """Three pieces as chunks make them: mixed types, Python dates, a column one lacks."""
    a = pd.DataFrame({"debt": [1.0, 2.0], "name": ["x", None], "n": [1, 2],
                      "due": [dt.date(2027, 1, 31), None], "ok": [True, False]},
                     index=pd.Index(["A", "B"], name="facility_id"))
    b = pd.DataFrame({"debt": [3.0], "name": ["=1+1"], "n": [3], "due": [dt.date(2028, 2, 29)],
                      "ok": [True], "mc_cum_pd_y5": [0.25]},
                     index=pd.Index(["C"], name="facility_id"))
    c = a.iloc[:0]
    return [a, b, c]


@pytest.mark.parametrize("keep_index", [True, False])
def test_reads_back_what_concat_gives(tmp_path, keep_index):
    table = SpooledTable(tmp_path, "t", keep_index=keep_index)
    for p in pieces():
        table.append(p if keep_index else p.reset_index(drop=True))
    parts = [p if keep_index else p.reset_index(drop=True) for p in pieces()]
    expected = pd.concat(parts, ignore_index=not keep_index)
    pd.testing.assert_frame_equal(table.read(), expected, check_exact=True)
    assert len(table) == 3 and not table.empty
    assert [len(p) for p in table.pieces()] == [2, 1]       # the empty piece wrote nothing


def test_columns_read_and_reordered(tmp_path):
    table = SpooledTable(tmp_path, "t")
    for p in pieces():
        table.append(p)
    assert table.columns == ["debt", "name", "n", "due", "ok", "mc_cum_pd_y5"]
    table.columns = ["mc_cum_pd_y5", "debt", "name", "n", "due", "ok"]
    got = table.read(["mc_cum_pd_y5", "debt"])
    assert list(got.columns) == ["mc_cum_pd_y5", "debt"]
    np.testing.assert_array_equal(got["mc_cum_pd_y5"], [np.nan, np.nan, 0.25])
    assert list(table.read().columns) == table.columns


def test_empty_and_removed(tmp_path):
    table = SpooledTable(tmp_path, "t")
    assert table.empty and len(table) == 0 and table.read().empty
    table.append(pieces()[0])
    assert list(tmp_path.iterdir())
    table.remove()
    assert not list(tmp_path.iterdir())
    assert list(table.pieces()) == []


def test_handles_read_the_pieces_elsewhere(tmp_path):
    """A piece's handle is small and picklable and reads back what pieces() gives."""
    import pickle

    table = SpooledTable(tmp_path, "t")
    for p in pieces():
        table.append(p)
    handles = table.handles(["mc_cum_pd_y5", "debt"])
    assert [h.rows for h in handles] == [2, 1]
    for handle, piece in zip(handles, table.pieces(["mc_cum_pd_y5", "debt"]), strict=True):
        pd.testing.assert_frame_equal(pickle.loads(pickle.dumps(handle)).read(), piece,
                                      check_exact=True)
