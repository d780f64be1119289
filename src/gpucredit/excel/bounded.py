"""Run one piece of work in a child process with a ceiling on its memory and time.

The per-cell budgets (:mod:`gpucredit.excel.budgets`, :mod:`gpucredit.excel.sandbox`)
stop the known ways one formula can ask for too much; this is the backstop for the whole
workbook. The work runs in a forked child whose address space is capped with
``setrlimit(RLIMIT_AS)`` (POSIX [1]_) at what the parent already maps plus
:data:`MAX_MEMORY_BYTES`, and which is stopped after :data:`MAX_SECONDS`. Running out
gives the parent a :class:`~gpucredit.errors.GpuCreditError` that says so, and the batch
goes on with the next file. Where ``fork`` is missing (Windows, Pyodide) the work runs in
this process, unbounded.

References
----------
.. [1] The Open Group Base Specifications Issue 7, ``getrlimit``/``setrlimit``
   (``RLIMIT_AS``: the maximum size of a process's total available memory).
"""

from __future__ import annotations

import multiprocessing
import os

from gpucredit.errors import GpuCreditError

__all__ = ["MAX_MEMORY_BYTES", "MAX_SECONDS", "run_bounded"]

MAX_MEMORY_BYTES = 4 * 2**30
"""Memory one workbook's computation may add to the process (4 GiB: the ``formulas``
engine was measured at 2.5 GB on a 100-facility model of 36,000 formula cells)."""
MAX_SECONDS = 1800
"""Wall-clock seconds one workbook's computation may take."""


def _mapped_bytes() -> int:
    """The address space this process already maps (Linux ``/proc/self/statm``)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _out_of_room(exc: ImportError) -> bool:
    """Whether an import failed for want of address space (the loader's words for
    ENOMEM when it maps a shared library)."""
    return any(w in str(exc) for w in ("failed to map segment", "Cannot allocate memory"))


def _child(conn, limit: int, fn, args) -> None:
    import resource

    code = 0
    try:
        try:
            if limit:
                resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
            msg = ("ok", fn(*args))
        except MemoryError:
            msg = ("memory", None)
        except ImportError as exc:  # a library loaded under the ceiling: no room to map it
            msg = ("memory", None) if _out_of_room(exc) else ("failed", f"ImportError: {exc}")
        except GpuCreditError as exc:
            msg = ("refused", str(exc))
        except Exception as exc:  # reported by the parent in words, the batch goes on
            msg = ("failed", f"{type(exc).__name__}: {exc}")
        try:
            conn.send(msg)
        except MemoryError:
            conn.send(("memory", None))
    except BaseException:  # nothing may reach the terminal from here: the parent reports
        code = 1
    finally:
        os._exit(code)  # no teardown, and no traceback printed by multiprocessing


def run_bounded(fn, *args, memory_bytes: int = MAX_MEMORY_BYTES,
                seconds: float = MAX_SECONDS):
    """``fn(*args)`` in a child process with at most ``memory_bytes`` more memory than
    this process and ``seconds`` of time; its result must pickle.

    Raises
    ------
    GpuCreditError
        When the child runs out of memory or time (the message gives the limit), or
        ``fn`` raised one (its message is kept).
    RuntimeError
        When ``fn`` raised anything else (its type and message).
    """
    if not hasattr(os, "fork"):
        return fn(*args)
    base = _mapped_bytes()
    ctx = multiprocessing.get_context("fork")
    recv, send = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_child, args=(send, base + memory_bytes if base else 0, fn,
                                             args), daemon=True)
    child.start()
    send.close()
    try:
        msg = recv.recv() if recv.poll(seconds) else ("time", None)
    except EOFError:
        msg = ("memory", None)  # the child died without a word: killed by the allocator
    except Exception as exc:  # a garbled answer (the child ran out mid-message)
        msg = ("failed", f"the computation ended without a result ({type(exc).__name__})")
    finally:
        recv.close()
        if child.is_alive():
            child.kill()
        child.join()
    kind, payload = msg
    if kind == "ok":
        return payload
    if kind == "memory":
        raise GpuCreditError(f"refused: computing it needs more than "
                             f"{memory_bytes / 2**30:.1f} GiB of memory, the limit for one "
                             "workbook")
    if kind == "time":
        raise GpuCreditError(f"refused: computing it takes longer than {seconds:,.0f} "
                             "seconds, the limit for one workbook")
    if kind == "refused":
        raise GpuCreditError(payload)
    raise RuntimeError(payload)
