"""A bounded object repository for worksheet functions: handles to facilities and results.

The idea is QuantLibXL's object repository (an object lives in the add-in's process, a
cell holds its name), done here in plain Python so that it works the same in classic
xlwings, xlwings Lite and xlwings Server, without xlwings PRO's object handles.

A handle's text is ``<kind>:<digest>``, where the digest is a hash of the inputs that made
the object. Change an input and the handle's text changes, so every cell that uses the
handle is recalculated by Excel's own dependency graph; recalculate with the same inputs
and the same handle comes back, so nothing downstream recomputes needlessly.

The repository is a least-recently-used map of at most :data:`CAPACITY` objects: a
workbook can hold any number of handle cells, but the process keeps only the objects in
use. A handle whose object was dropped (or a workbook opened in a new session) gives a
clear message asking to recalculate the cell that made it (Ctrl+Alt+F9 recalculates
everything).

>>> repo = Repository(capacity=2)
>>> h = repo.put("gpu.fac", ("inputs", 1), object())
>>> h.startswith("gpu.fac:"), h == repo.put("gpu.fac", ("inputs", 1), object())
(True, True)
>>> h == repo.put("gpu.fac", ("inputs", 2), object())
False
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable

from gpucredit.errors import GpuCreditError

__all__ = ["CAPACITY", "Repository", "digest"]

CAPACITY = 256
"""Objects one process keeps (facilities, and separately cached results)."""

DIGEST_CHARS = 12
"""Hex characters of the digest in a handle (48 bits: collisions need ~16 million objects)."""


def digest(key: Hashable) -> str:
    """A short, stable hash of ``key``'s ``repr`` (the inputs that made an object).

    >>> digest((1, "a")) == digest((1, "a")), len(digest((1, "a")))
    (True, 12)
    """
    return hashlib.blake2b(repr(key).encode("utf-8"), digest_size=16).hexdigest()[
        :DIGEST_CHARS]


class Repository:
    """A thread-safe LRU map from handle text to object, at most ``capacity`` entries."""

    def __init__(self, capacity: int = CAPACITY):
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = int(capacity)
        self._items: OrderedDict[str, object] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    @staticmethod
    def name(kind: str, key: Hashable) -> str:
        """The handle of the object made from ``key``: ``kind:digest``."""
        return f"{kind}:{digest((kind, key))}"

    def put(self, kind: str, key: Hashable, obj: object) -> str:
        """Store ``obj`` made from ``key``; return its handle (:meth:`name`)."""
        handle = self.name(kind, key)
        with self._lock:
            self._items[handle] = obj
            self._items.move_to_end(handle)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)
        return handle

    def get(self, handle: object, kind: str, argument: str = "handle"):
        """The object behind ``handle``; a clear error if it is not one or was dropped."""
        text = handle.strip() if isinstance(handle, str) else None
        if not text or not text.startswith(kind + ":"):
            raise GpuCreditError(f"{argument} must be a {kind} handle (the text a "
                                 f"GPU_FACILITY cell shows), got {handle!r}",
                                 argument=argument, value=handle)
        with self._lock:
            obj = self._items.get(text)
            if obj is not None:
                self._items.move_to_end(text)
        if obj is None:
            raise GpuCreditError(f"{argument} {text} is no longer in memory (a new Excel "
                                 "session, or more objects than the cache holds): "
                                 "recalculate the cell that made it (Ctrl+Alt+F9)",
                                 argument=argument, value=text)
        return obj

    def memo(self, kind: str, key: Hashable, make: Callable[[], object]) -> object:
        """The object cached under ``key``, made by ``make()`` on a miss."""
        handle = self.name(kind, key)
        with self._lock:
            obj = self._items.get(handle)
            if obj is not None:
                self._items.move_to_end(handle)
                return obj
        obj = make()
        self.put(kind, key, obj)
        return obj

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
