"""gpucredit.excel.handles: the bounded object repository behind facility handles."""

from __future__ import annotations

import pytest

from gpucredit.errors import GpuCreditError
from gpucredit.excel import handles


def test_the_handle_names_the_inputs():
    repo = handles.Repository()
    a = repo.put("gpu.fac", ("gpus", 1000), object())
    assert a == repo.put("gpu.fac", ("gpus", 1000), object())  # same inputs, same text
    assert a != repo.put("gpu.fac", ("gpus", 1001), object())  # new inputs, new text
    assert a != repo.put("gpu.other", ("gpus", 1000), object())  # the kind is in the hash
    kind, digest = a.split(":")
    assert kind == "gpu.fac" and len(digest) == handles.DIGEST_CHARS
    int(digest, 16)


def test_get_returns_the_latest_object():
    repo = handles.Repository()
    first, second = object(), object()
    h = repo.put("gpu.fac", 1, first)
    assert repo.get(h, "gpu.fac") is first
    repo.put("gpu.fac", 1, second)
    assert repo.get(h, "gpu.fac") is second


def test_the_repository_is_bounded_and_drops_the_least_recently_used():
    repo = handles.Repository(capacity=3)
    hs = [repo.put("k", i, i) for i in range(3)]
    assert repo.get(hs[0], "k") == 0  # touch the oldest: now the newest
    repo.put("k", 3, 3)
    assert len(repo) == 3
    assert repo.get(hs[0], "k") == 0
    with pytest.raises(GpuCreditError, match=r"no longer in memory.*recalculate"):
        repo.get(hs[1], "k")
    for i in range(100):
        repo.put("k", ("more", i), i)
    assert len(repo) == 3


def test_a_wrong_handle_is_named():
    repo = handles.Repository()
    with pytest.raises(GpuCreditError, match=r"handle must be a gpu.fac handle.*42"):
        repo.get(42, "gpu.fac")
    with pytest.raises(GpuCreditError, match=r"must be a gpu\.fac handle"):
        repo.get("gpu.mc:abc", "gpu.fac")


def test_memo_makes_once():
    repo = handles.Repository()
    calls = []

    def make():
        calls.append(1)
        return len(calls)

    assert repo.memo("r", ("x", 1), make) == 1
    assert repo.memo("r", ("x", 1), make) == 1
    assert repo.memo("r", ("x", 2), make) == 2
    assert len(calls) == 2
    assert repo.get(repo.name("r", ("x", 1)), "r") == 1  # memo stores under the handle


def test_capacity_must_be_positive():
    with pytest.raises(ValueError):
        handles.Repository(capacity=0)
