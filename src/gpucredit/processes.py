"""The batch engine on this machine's cores: chunks of a loan tape computed in worker processes.

:func:`process_mapper` gives :func:`gpucredit.engine.recalc` a ``mapper`` that runs the
local engine's own :func:`gpucredit.engine.run_chunk` in a pool of worker processes and
yields ``(chunk index, ChunkResult)`` pairs as chunks finish. A chunk's result is a pure
function of its rows, the assumptions and the options, so the results are the local
engine's to the last bit; only the wall time changes (the work is numpy and pandas code
that holds the GIL much of the time: processes, not threads, use the cores).

The workers start from a server process that has imported the engine once (the
``forkserver`` start method, where the platform has it), so each starts in milliseconds
and none inherits the parent's threads. At most two chunks per worker are in flight, so
results that finish out of order never pile up in the parent.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait

from gpucredit.errors import GpuCreditError

__all__ = ["default_workers", "process_mapper"]


def default_workers() -> int:
    """The cores this process may use (its CPU affinity where the platform reports it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1


def _context():
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["gpucredit.engine"])
        return ctx
    return multiprocessing.get_context("spawn")  # pragma: no cover - Windows


def process_mapper(workers: int | None = None, *, warm: bool = False
                   ) -> tuple[Callable[[Callable, list], Iterator[tuple[int, object]]],
                              Callable[[], None]]:
    """A ``mapper`` for :func:`gpucredit.engine.recalc` that runs chunks in processes.

    Parameters
    ----------
    workers : int, optional
        Worker processes; default :func:`default_workers`.
    warm : bool, default False
        Start the server process and the workers now, in a background thread, instead
        of at the first chunk: the server's import of the engine (a second or so) then
        overlaps whatever the caller does meanwhile (the command line reads the tape).

    Returns
    -------
    (mapper, close)
        ``mapper(fn, chunks)`` yields ``(index, fn(chunk))`` as chunks finish; ``close()``
        stops the workers (call it when the run ends, also on failure).

    Examples
    --------
    >>> mapper, close = process_mapper(2)
    >>> try:
    ...     sorted(mapper(abs, [-1, -2, 3]))
    ... finally:
    ...     close()
    [(0, 1), (1, 2), (2, 3)]
    """
    n = default_workers() if workers is None else workers
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise GpuCreditError(f"workers must be a whole number >= 1, got {workers!r}",
                             argument="workers", value=workers)
    pool = ProcessPoolExecutor(max_workers=n, mp_context=_context())
    if warm:
        # Each submit starts a worker while none is idle: n short naps start all n.
        threading.Thread(target=lambda: [pool.submit(time.sleep, 0.05) for _ in range(n)],
                         daemon=True, name="gpucredit-warm-workers").start()

    def mapper(fn: Callable, chunks: list) -> Iterator[tuple[int, object]]:
        pending: dict[Future, int] = {}
        todo = iter(enumerate(chunks))
        try:
            while True:
                for i, chunk in todo:
                    pending[pool.submit(fn, chunk)] = i
                    if len(pending) >= 2 * n:
                        break
                if not pending:
                    return
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    yield pending.pop(future), future.result()
        finally:
            for future in pending:
                future.cancel()

    def close() -> None:
        pool.shutdown(wait=True, cancel_futures=True)

    return mapper, close
