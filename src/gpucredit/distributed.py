"""The batch engine on Dask: chunks of a loan tape computed on a ``dask.distributed`` cluster.

:func:`dask_mapper` gives :func:`gpucredit.engine.recalc` a ``mapper`` that submits each
chunk of tape rows to a Dask cluster - a local one sized to the machine, or a running
scheduler at an address - and yields ``(chunk index, ChunkResult)`` pairs as chunks
finish. The chunk function is the local engine's own :func:`gpucredit.engine.run_chunk`,
so the results are the local engine's: nothing is computed here.

Dask is an optional extra (``pip install "gpucredit[dask]"``): this module imports it only
when :func:`dask_mapper` is called, and nothing in the core, the tape layer, the engine or
the command line imports this module unless the Dask engine is asked for.

How a run survives a lost worker
--------------------------------
* Each chunk travels *inside* its task (``client.map``), never ``scatter``-ed: the
  scheduler keeps every task's inputs, so a chunk whose worker dies - while computing, or
  after finishing but before its result came back - is simply run again on another
  worker. Scattered data would die with its worker and take the run with it.
* Results are gathered as each chunk finishes (``as_completed(..., with_results=True)``)
  and released on the cluster at once, so a finished chunk is held by the cluster only
  for the moment it takes to fetch it, and the client's memory, not the workers', holds
  the run's results.
* ``retries`` re-runs a chunk that raised (e.g. a transient ``MemoryError``); a chunk
  that keeps killing its workers (the scheduler's ``allowed-failures``, 3 by default) is
  reported as a :class:`~gpucredit.errors.GpuCreditError` naming the chunk and its
  facilities, which usually means it needs more memory than a worker has.

Results do not depend on which worker ran a chunk or in what order chunks finished: a
chunk's result is a pure function of its rows, the assumptions and the options.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from gpucredit.errors import GpuCreditError

__all__ = ["INSTALL_HINT", "check_worker_versions", "dask_mapper"]

INSTALL_HINT = 'pip install "gpucredit[dask]"'
"""How to install the Dask extra; every machine of a cluster needs it, at one version."""


def _import_distributed():
    try:
        import distributed
    except ImportError as exc:
        raise GpuCreditError(
            f"the Dask engine needs the dask extra, which is not installed here ({exc}): "
            f"{INSTALL_HINT}", argument="engine", value="dask") from None
    return distributed


def _whole(value, name: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise GpuCreditError(f"{name} must be a whole number >= {low}, got {value!r}",
                             argument=name, value=value)
    return value


def _local_cluster(distributed, n_workers: int | None, threads_per_worker: int,
                   memory_limit: str | float | int, processes: bool):
    from dask.system import CPU_COUNT  # the cores this process may use (affinity, cgroups)

    n = CPU_COUNT if n_workers is None else _whole(n_workers, "n_workers", 1)
    threads_per_worker = _whole(threads_per_worker, "threads_per_worker", 1)
    return distributed.LocalCluster(
        n_workers=n, threads_per_worker=threads_per_worker, processes=processes,
        memory_limit=memory_limit, dashboard_address=":0", silence_logs=logging.ERROR)


def _handshake(distributed, scheduler: str, timeout: float) -> None:
    """Check that ``scheduler`` answers as a Dask scheduler within ``timeout`` seconds.

    ``distributed.Client`` waits for the handshake reply without a deadline
    (``distributed.comm.core.connect`` reads it with no timeout), so a server that accepts
    the connection and says nothing (a web server, a port forward to nothing) holds it
    forever. This probe connects (``2 x timeout`` at most, handshake included), asks for
    the server's ``identity`` and waits for the answer (``timeout`` each), in its own event
    loop on its own thread (the caller may be inside a running loop, such as Jupyter's).
    """
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    async def probe():
        # connect() gives up on a refused or unroutable address after `timeout` (OSError);
        # past twice that, the connection was made and the handshake never came.
        comm = await asyncio.wait_for(distributed.comm.connect(scheduler, timeout=timeout),
                                      2 * timeout)
        try:
            await asyncio.wait_for(comm.write({"op": "identity"}), timeout)
            return await asyncio.wait_for(comm.read(), timeout)
        finally:
            comm.abort()

    with ThreadPoolExecutor(1, thread_name_prefix="gpucredit-dask-probe") as pool:
        try:
            reply = pool.submit(asyncio.run, probe()).result()
        except TimeoutError:
            raise GpuCreditError(
                f"the server at {scheduler} accepted the connection but did not answer as a "
                f"Dask scheduler within {2 * timeout:g} s: check that the address is the "
                "scheduler's (default port 8786), not its dashboard or another service",
                argument="scheduler", value=scheduler) from None
        except (OSError, ValueError, distributed.comm.CommClosedError) as exc:
            raise GpuCreditError(
                f"cannot reach the Dask scheduler at {scheduler} (waited {timeout:g} s): "
                f"{exc}. Check the address (e.g. tcp://10.0.0.5:8786), that `dask "
                "scheduler` is running there and that this machine can reach its port",
                argument="scheduler", value=scheduler) from None
    if not isinstance(reply, dict) or reply.get("type") != "Scheduler":
        kind = reply.get("type") if isinstance(reply, dict) else type(reply).__name__
        raise GpuCreditError(
            f"the server at {scheduler} answered but is not a Dask scheduler ({kind}): give "
            "the scheduler's address", argument="scheduler", value=scheduler)


def _connect(distributed, scheduler: str, timeout: float):
    _handshake(distributed, scheduler, timeout)
    try:
        client = distributed.Client(scheduler, timeout=timeout)
    except (OSError, TimeoutError, ValueError) as exc:
        raise GpuCreditError(
            f"cannot reach the Dask scheduler at {scheduler} (waited {timeout:g} s): {exc}. "
            "Check the address (e.g. tcp://10.0.0.5:8786), that `dask scheduler` is "
            "running there and that this machine can reach its port",
            argument="scheduler", value=scheduler) from None
    try:
        client.wait_for_workers(1, timeout=timeout)
    except TimeoutError:
        client.close()
        raise GpuCreditError(
            f"the Dask scheduler at {scheduler} has no workers (waited {timeout:g} s): start "
            f"some with `dask worker {scheduler}` on machines where gpucredit is installed "
            f"({INSTALL_HINT})", argument="scheduler", value=scheduler) from None
    return client


def _version_probe() -> Callable[[], str]:
    """A function that reports a worker's gpucredit version, sent to workers by value.

    Defined inside a function so that cloudpickle ships its code rather than a reference
    to this module: a worker without gpucredit can still run it and say so.
    """

    def probe() -> str:
        try:
            import gpucredit
        except ImportError as exc:
            return f"not installed ({exc})"
        return str(gpucredit.__version__)

    return probe


def check_worker_versions(versions: dict[str, Any], expected: str) -> None:
    """Raise if any worker runs another gpucredit version than this machine, or none.

    Parameters
    ----------
    versions : dict
        Worker address -> its gpucredit version (or a description of the failure), as
        ``client.run`` returns it.
    expected : str
        This machine's ``gpucredit.__version__``.

    Raises
    ------
    GpuCreditError
        Naming the first few workers that differ, their versions and the fix.

    Examples
    --------
    >>> check_worker_versions({"tcp://a:1": "0.1.0"}, "0.1.0")
    >>> check_worker_versions({"tcp://a:1": "0.1.0", "tcp://b:1": "0.0.9"}, "0.1.0")
    Traceback (most recent call last):
    ...
    gpucredit.errors.GpuCreditError: 1 Dask worker(s) run another gpucredit than this
    machine (0.1.0): tcp://b:1 has 0.0.9. Install the same version on every worker:
    pip install "gpucredit[dask]==0.1.0"
    """
    bad = {w: v for w, v in sorted(versions.items()) if str(v) != expected}
    if not bad:
        return
    shown = ", ".join(f"{w} has {v}" for w, v in list(bad.items())[:3])
    more = f" and {len(bad) - 3} more" if len(bad) > 3 else ""
    raise GpuCreditError(
        f"{len(bad)} Dask worker(s) run another gpucredit than this machine ({expected}): "
        f"{shown}{more}. Install the same version on every worker: "
        f'pip install "gpucredit[dask]=={expected}"', argument="scheduler", value=bad)


def _describe(chunk) -> str:
    ids = list(chunk["facility_id"]) if "facility_id" in getattr(chunk, "columns", ()) else []
    if not ids:
        return ""
    return f" (facilities {ids[0]} to {ids[-1]}, {len(ids)} rows)"


def dask_mapper(scheduler: str | Any | None, *, n_workers: int | None = None,
                threads_per_worker: int = 1, memory_limit: str | float | int = "auto",
                processes: bool = True, timeout: float | None = None, retries: int = 2,
                check_versions: bool = True
                ) -> tuple[Callable[[Callable, list], Iterator[tuple[int, Any]]],
                           Callable[[], None]]:
    """A ``mapper`` for :func:`gpucredit.engine.recalc` that runs chunks on Dask.

    Parameters
    ----------
    scheduler : str, Client, Cluster or None
        Address of a running Dask scheduler (``tcp://host:8786``); or, from Python, a
        ``distributed.Client`` (used as is and left open by ``close``) or a Dask cluster
        object (``KubeCluster``, ``SLURMCluster``, ``coiled.Cluster`` ...: a client is
        opened on it with its own security settings); None starts a local cluster on
        this machine.
    n_workers : int, optional
        Workers of the local cluster; default one per core this process may use
        (``dask.system.CPU_COUNT``). Ignored with a ``scheduler``.
    threads_per_worker : int, default 1
        Threads per local worker. One: a chunk's work is numpy and pandas code that
        holds the GIL much of the time, so processes, not threads, give parallelism.
    memory_limit : str or number, default "auto"
        Memory limit of each local worker (Dask's syntax: ``"4GB"``, bytes, or
        ``"auto"``, the machine's memory shared equally between the workers). A worker
        that exceeds 95% of it is restarted and its chunk run again.
    processes : bool, default True
        Local workers in separate processes (False: threads of this process, for tests
        and doctests).
    timeout : float, optional
        Seconds to wait for the scheduler to answer and to have at least one worker;
        default Dask's connect timeout (``distributed.comm.timeouts.connect``, 30 s unless
        configured, e.g. ``DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT=5s``).
    retries : int, default 2
        Times a chunk that raised is run again before the run fails.
    check_versions : bool, default True
        Unless the cluster is started here, check that every worker has this machine's
        gpucredit version (:func:`check_worker_versions`).

    Returns
    -------
    mapper : callable
        ``mapper(fn, chunks)`` yields ``(chunk index, fn(chunk))`` as chunks finish, in
        any order. ``fn`` must be picklable (``recalc`` passes a ``functools.partial`` of
        :func:`gpucredit.engine.run_chunk`).
    close : callable
        Closes the client and the local cluster this call started, nothing else
        (idempotent).

    Raises
    ------
    GpuCreditError
        Dask is not installed, the scheduler cannot be reached or has no workers, a
        worker runs another gpucredit version; from ``mapper``, a chunk that killed
        its workers or a run the cluster cancelled.

    Notes
    -----
    Each chunk is a task ``fn(chunk)`` submitted with ``client.map(..., retries=retries)``
    under a key unique to the run (``gpucredit-chunk-<run>-<index>``), its rows carried in
    the task so that the scheduler can rerun it anywhere; results are fetched with
    ``distributed.as_completed(..., with_results=True)`` and released on the cluster as
    they arrive. Stopping the iteration early (an error, Ctrl-C) cancels the chunks not
    yet finished. ``docs/scale.md`` tells how to run on a real cluster and how to choose
    the chunk size.

    References
    ----------
    Dask distributed documentation: "Futures" (``Client.map``, ``as_completed``),
    "Resilience" (lost workers, recomputation, ``allowed-failures``),
    https://distributed.dask.org.

    Examples
    --------
    >>> mapper, close = dask_mapper(None, n_workers=1, processes=False)
    >>> sorted(mapper(abs, [-1, -2, -3]))
    [(0, 1), (1, 2), (2, 3)]
    >>> close()
    """
    retries = _whole(retries, "retries", 0)
    distributed = _import_distributed()
    cluster = None  # a cluster started here, closed by close()
    own_client = True
    if scheduler is None:
        cluster = _local_cluster(distributed, n_workers, threads_per_worker, memory_limit,
                                 processes)
        try:
            client = distributed.Client(cluster)
        except BaseException:
            cluster.close()
            raise
    else:
        if isinstance(scheduler, distributed.Client):
            client, own_client = scheduler, False
        elif isinstance(scheduler, distributed.deploy.Cluster):
            client = distributed.Client(scheduler)
        elif isinstance(scheduler, str) and scheduler.strip():
            if timeout is None:
                import dask
                from dask.utils import parse_timedelta

                timeout = parse_timedelta(
                    dask.config.get("distributed.comm.timeouts.connect"), default="seconds")
            client = _connect(distributed, scheduler.strip(), float(timeout))
        else:
            raise GpuCreditError(
                f"scheduler must be a Dask scheduler address such as tcp://10.0.0.5:8786, a "
                f"distributed.Client, a Dask cluster or None, got {scheduler!r}",
                argument="scheduler", value=scheduler)
        if check_versions:
            from gpucredit import __version__

            try:
                versions = client.run(_version_probe(), on_error="return")
                check_worker_versions(versions, __version__)
            except BaseException:
                if own_client:
                    client.close()
                raise

    closed = False

    def close() -> None:
        nonlocal closed
        if closed:
            return
        closed = True
        try:
            if own_client:
                client.close()
        finally:
            if cluster is not None:
                cluster.close()

    def mapper(fn: Callable, chunks: Iterable) -> Iterator[tuple[int, Any]]:
        chunks = list(chunks)
        if not chunks:
            return
        run = uuid.uuid4().hex[:12]
        keys = [f"gpucredit-chunk-{run}-{i}" for i in range(len(chunks))]
        futures = client.map(fn, chunks, key=keys, retries=retries, pure=False)
        index = {f.key: i for i, f in enumerate(futures)}
        pending = {f.key: f for f in futures}
        del futures
        try:
            finished = distributed.as_completed(list(pending.values()), loop=client.loop,
                                                with_results=True)
            for future, result in finished:
                i = index[future.key]
                pending.pop(future.key, None)
                future.release()
                if isinstance(result, BaseException):  # cancelled: as_completed hands it over
                    raise GpuCreditError(
                        f"the Dask cluster cancelled chunk {i + 1} of {len(chunks)}"
                        f"{_describe(chunks[i])} ({result!r}): the scheduler was lost or "
                        "restarted; nothing written", argument="engine", value="dask")
                yield i, result
        except distributed.KilledWorker as exc:
            i = index.get(exc.task, -1)
            where = f" {i + 1} of {len(chunks)}{_describe(chunks[i])}" if i >= 0 else ""
            last = getattr(exc.last_worker, "address", exc.last_worker)
            raise GpuCreditError(
                f"Dask workers died {exc.allowed_failures + 1} times while running "
                f"chunk{where}, last {last}: a chunk that needs more memory than a worker "
                "has does this. Try a smaller chunk size (--chunk-size) or fewer paths "
                "(--paths), or give the workers more memory; nothing written",
                argument="chunk_size", value=len(chunks[i]) if i >= 0 else None) from None
        finally:
            if pending:
                client.cancel(list(pending.values()))

    return mapper, close
