"""Tests of gpucredit.distributed: the batch engine on a local two-worker Dask cluster.

The oracle is the local engine (:func:`gpucredit.engine.recalc` with its in-process
mapper): the Dask engine runs the same chunk function, so every table must come back
equal - whatever the chunk size, the completion order, or a worker killed mid-run.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import os
import re
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

distributed = pytest.importorskip("distributed")

from gpucredit.distributed import check_worker_versions, dask_mapper  # noqa: E402
from gpucredit.engine import RecalcOptions, recalc  # noqa: E402
from gpucredit.errors import GpuCreditError  # noqa: E402

VALUATION = dt.date(2026, 11, 21)
N_FACILITIES = 24
PATHS = 200
TABLES = ("metrics", "periods", "scenarios", "scenario_summary", "summary_totals",
          "summary_by_type", "worst", "residual_curves", "errors")


# --------------------------------------------------------------------------- the tape


def write_tape(path, n: int, seed: int = 0) -> None:
    """A CSV tape of ``n`` facilities varied in every dimension the engine branches on.

    GPU models, payment frequencies (1, 2, 4, 12), fixed and floating rates, all four
    amortisation profiles, contracted or merchant, miners with BTC and hashrate, and
    maturities from 2028 to 2031 (after the 2026-11-21 valuation date).
    """
    rng = np.random.default_rng(seed)
    models = ("A100", "H100", "H200", "B200", "GB200")
    unit_cost = {"A100": 15_000, "H100": 28_000, "H200": 32_000, "B200": 40_000,
                 "GB200": 42_000}
    rows = []
    for i in range(n):
        model = models[i % 5]
        gpus = int(rng.integers(64, 20_000))
        cost = unit_cost[model] * gpus
        floating, miner, contracted = i % 3 == 0, i % 4 == 0, i % 2 == 0
        rows.append({
            "facility_id": f"F{i:05d}", "borrower": f"Borrower {i % 7}",
            "borrower_type": "miner" if miner else "neocloud", "gpu_model": model,
            "gpu_count": gpus, "delivery_date": f"202{4 + i % 2}-0{1 + i % 9}-15",
            "gpu_unit_cost": unit_cost[model], "commitment": round(0.8 * cost),
            "drawn_amount": round(0.75 * cost), "origination_date": "2025-01-15",
            "maturity_date": f"20{28 + i % 4}-06-30",
            "rate_type": "floating" if floating else "fixed",
            "fixed_rate": "" if floating else round(0.07 + 0.04 * rng.random(), 4),
            "spread": round(0.05 + 0.02 * rng.random(), 4) if floating else "",
            "amortization": ("annuity", "straight_line", "bullet", "sculpted")[i % 4],
            "periods_per_year": (4, 12, 2, 1)[(i // 3) % 4],
            "utilization": round(0.7 + 0.25 * rng.random(), 3),
            "contracted_share": 0.6 if contracted else 0.0,
            "contract_rate": 2.5 if contracted else "",
            "contract_end_date": "2028-12-31" if contracted else "",
            "btc_held": 100.0 if miner else 0.0, "hashrate_ph": 500.0 if miner else 0.0,
            "quoted_spread": int(rng.integers(300, 900)),
        })
    pd.DataFrame(rows).to_csv(path, index=False)


@pytest.fixture(scope="module")
def tape(tmp_path_factory):
    from gpucredit.tape.validate import validate_file

    path = tmp_path_factory.mktemp("tape") / "tape.csv"
    write_tape(path, N_FACILITIES)
    report, good = validate_file(path)
    assert report.exit_status == 0, report.summary()
    rows = good.assign(_row=good.index, _sheet="").reset_index(drop=True)
    assumptions = dict(report.assumptions, valuation_date=VALUATION)
    return path, rows, assumptions


def options(chunk_size: int) -> RecalcOptions:
    return RecalcOptions(n_paths=PATHS, seed=3, chunk_size=chunk_size)


@pytest.fixture(scope="module")
def local(tape):
    """The local engine's result, the whole tape in one chunk: the oracle of every test.

    The local engine's results do not depend on the chunk size (each facility's Monte
    Carlo streams come from the seed and its id alone), so one run serves every size.
    """
    _, rows, assumptions = tape
    return recalc(rows, assumptions, options(len(rows)))


# --------------------------------------------------------------------------- the cluster


@pytest.fixture(scope="module")
def cluster():
    """Two worker processes of one thread each, as on this 2-core machine.

    ``allowed_failures=1``: a chunk may lose one worker and still finish, a second loss
    fails it (the production default is 3); keeps the failure test short.
    """
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0", silence_logs=logging.ERROR,
                                  scheduler_kwargs={"allowed_failures": 1}) as c:
        yield c


@pytest.fixture(scope="module")
def client(cluster):
    with distributed.Client(cluster) as c:
        yield c


@pytest.fixture(scope="module")
def connected(cluster):
    mapper, close = dask_mapper(cluster.scheduler_address, timeout=10)
    yield mapper
    close()


@pytest.fixture
def engine(connected, client):
    """A mapper connected to the module's cluster by its address, both workers up."""
    client.wait_for_workers(2, timeout=60)
    return connected


@pytest.fixture(scope="module")
def on_dask(tape, cluster):
    """The Dask engine's result for a chunk size (computed once per size)."""
    _, rows, assumptions = tape

    @functools.cache
    def run(size):
        mapper, close = dask_mapper(cluster.scheduler_address, timeout=10)
        try:
            return recalc(rows, assumptions, options(size), mapper=mapper)
        finally:
            close()

    return run


def assert_same_result(got, expected, *, tables=TABLES):
    for name in tables:
        pd.testing.assert_frame_equal(getattr(got, name), getattr(expected, name),
                                      check_exact=True, obj=name)
    assert got.assumptions == expected.assumptions


def scheduler_tasks(client, *, settle: float = 10.0) -> int:
    """Tasks the scheduler still holds, once releases sent by clients have arrived."""
    deadline = time.monotonic() + settle
    while True:
        n = client.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.tasks))
        if n == 0 or time.monotonic() > deadline:
            return n
        time.sleep(0.05)


# --------------------------------------------------------------------------- equal results


@pytest.mark.parametrize("size", [1, 7, 50])
def test_equals_local_engine(size, local, on_dask):
    """Every table, Monte Carlo included, equals the local engine's, whatever the chunk
    size (one facility a chunk, chunks of 7 with a short last one, one chunk)."""
    result = on_dask(size)
    assert len(result.metrics) == N_FACILITIES
    assert result.metrics["mc_pd"].notna().all()
    assert_same_result(result, local)


def test_local_cluster_started_by_the_mapper_equals_local_engine(tape, local):
    """Without a scheduler address, dask_mapper starts (and closes) its own cluster."""
    _, rows, assumptions = tape
    mapper, close = dask_mapper(None, n_workers=1, processes=False)
    try:
        result = recalc(rows, assumptions, options(50), mapper=mapper)
    finally:
        close()
    assert_same_result(result, local)
    close()  # a second close is harmless


def test_an_existing_client_or_cluster_object(cluster, client):
    """From Python, a Client is used and left open; a cluster object gets its own client."""
    mapper, close = dask_mapper(client)
    assert sorted(mapper(lambda x: x * x, [3, 4])) == [(0, 9), (1, 16)]
    close()
    assert client.status == "running"  # not ours to close
    assert client.submit(abs, -2).result() == 2
    mapper, close = dask_mapper(cluster)
    assert list(mapper(lambda x: -x, [1])) == [(0, -1)]
    close()
    assert cluster.status.name == "running"


@pytest.mark.parametrize("bad", [8786, "", "   ", ["tcp://a:1"]])
def test_bad_scheduler_argument(bad):
    with pytest.raises(GpuCreditError, match=r"scheduler must be a Dask scheduler address "
                                             r"such as tcp://10\.0\.0\.5:8786, a "
                                             r"distributed\.Client, a Dask cluster or None, "
                                             rf"got {re.escape(repr(bad))}$"):
        dask_mapper(bad)


# --------------------------------------------------------------------------- lost workers


def test_worker_killed_mid_run_still_equal(tape, local, cluster, client):
    """SIGKILL one of the two workers once the first chunk is back: Dask reruns its chunks
    (the nanny restarts the process) and the results are those of the local engine."""
    _, rows, assumptions = tape
    client.wait_for_workers(2, timeout=60)
    before = client.run(os.getpid)
    assert len(before) == 2
    victim = sorted(before.values())[0]
    mapper, close = dask_mapper(cluster.scheduler_address, timeout=10)
    seen = []

    def killing_mapper(fn, chunks):
        for i, res in mapper(fn, chunks):
            if not seen:
                os.kill(victim, signal.SIGKILL)
            seen.append(i)
            yield i, res

    try:
        result = recalc(rows, assumptions, options(1), mapper=killing_mapper)
    finally:
        close()
    assert sorted(seen) == list(range(N_FACILITIES))
    assert_same_result(result, local)
    client.wait_for_workers(2, timeout=60)
    after = client.run(os.getpid)
    assert victim not in after.values()  # the worker really died and was replaced
    assert scheduler_tasks(client) == 0


def test_chunk_that_keeps_killing_workers_is_named(cluster, client, tape, tmp_path):
    """A chunk that kills every worker it lands on (as an out-of-memory chunk would) fails
    the run with the chunk, its facilities and what to do."""
    _, rows, _ = tape
    client.wait_for_workers(2, timeout=60)
    mapper, close = dask_mapper(cluster.scheduler_address, timeout=10)
    go = tmp_path / "go"

    def crash(chunk):
        if chunk["facility_id"].iloc[0] == "F00003":
            deadline = time.monotonic() + 60
            while not go.exists() and time.monotonic() < deadline:
                time.sleep(0.02)  # the other chunks are back first: only this one is to blame
            os._exit(1)
        return len(chunk)

    def crash_after_others(fn, chunks):
        for n, pair in enumerate(mapper(fn, chunks), start=1):
            if n == 2:
                go.touch()
            yield pair

    chunks = [rows.iloc[i:i + 3] for i in range(0, 9, 3)]
    try:
        with pytest.raises(GpuCreditError, match=r"^Dask workers died 2 times while running "
                                                 r"chunk 2 of 3 \(facilities F00003 to F00005, "
                                                 r"3 rows\), last tcp://.*: a chunk that needs "
                                                 r"more memory than a worker has does this\. "
                                                 r"Try a smaller chunk size \(--chunk-size\)"):
            list(crash_after_others(crash, chunks))
    finally:
        close()
    client.wait_for_workers(2, timeout=60)


# --------------------------------------------------------------------------- order


def test_completion_order_does_not_matter(tape, local, engine, tmp_path):
    """Chunk 0 waits until three later chunks are back, so it finishes after them."""
    _, rows, assumptions = tape
    go = tmp_path / "go"
    order = []

    def held_back_mapper(fn, chunks):
        def chunk_0_last(chunk):
            deadline = time.monotonic() + 60
            while chunk.index[0] == 0 and not go.exists() and time.monotonic() < deadline:
                time.sleep(0.02)
            return fn(chunk)

        for i, res in engine(chunk_0_last, chunks):
            order.append(i)
            if len(order) == 3:
                go.touch()
            yield i, res

    result = recalc(rows, assumptions, options(7), mapper=held_back_mapper)
    assert sorted(order) == list(range(-(-N_FACILITIES // 7)))
    assert order.index(0) >= 3
    assert_same_result(result, local)


@settings(max_examples=25, deadline=None)
@given(values=st.lists(st.integers(-1000, 1000), max_size=12),
       delays=st.lists(st.sampled_from([0.0, 0.0, 0.01, 0.05]), min_size=12, max_size=12))
def test_mapper_yields_each_chunk_once(values, delays, connected, client):
    """Property: whatever the order chunks finish in, the mapper yields ``(i, fn(x_i))``
    exactly once for each i, and leaves nothing on the cluster."""

    def fn(x):
        time.sleep(delays[abs(x) % 12])
        return 3 * x + 1

    got = list(connected(fn, values))
    assert sorted(got) == [(i, 3 * x + 1) for i, x in enumerate(values)]
    assert scheduler_tasks(client) == 0


def test_results_released_and_early_stop_cancels(engine, client):
    """A result is released on the cluster as soon as it is fetched, before the consumer
    asks for the next; a consumer that stops early cancels the rest."""
    got = next(iter(engine(lambda x: x, [5])))
    assert got == (0, 5)
    assert scheduler_tasks(client) == 0

    def slow(x):
        time.sleep(x)
        return x

    it = engine(slow, [0.0] + [2.0] * 6)
    assert next(it) == (0, 0.0)
    started = time.monotonic()
    it.close()  # the consumer stops: the six slow chunks are cancelled
    assert scheduler_tasks(client) == 0
    assert time.monotonic() - started < 6  # did not wait for 6 x 2 s of work


def test_empty_run(engine):
    assert list(engine(abs, [])) == []


# --------------------------------------------------------------------------- errors


def test_unreachable_scheduler():
    with pytest.raises(GpuCreditError, match=r"cannot reach the Dask scheduler at "
                                             r"tcp://127\.0\.0\.1:9 \(waited 1 s\)") as err:
        dask_mapper("tcp://127.0.0.1:9", timeout=1)
    assert err.value.argument == "scheduler"
    assert err.value.value == "tcp://127.0.0.1:9"


@pytest.fixture
def silent_server():
    """A plain TCP server on 127.0.0.1 that accepts connections and never says a word."""
    import socket
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    held, stop = [], threading.Event()

    def accept():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"tcp://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


def test_a_server_that_never_answers_the_handshake_is_an_error(silent_server):
    started = time.perf_counter()
    with pytest.raises(GpuCreditError, match=rf"the server at {silent_server} accepted the "
                                             r"connection but did not answer as a Dask "
                                             r"scheduler within 4 s") as err:
        dask_mapper(silent_server, timeout=2)
    assert err.value.argument == "scheduler"
    assert time.perf_counter() - started < 4 + 5     # the connect step's 2 x 2 s, + slack


def test_cli_silent_scheduler_exit_2_within_the_connect_timeout(silent_server, tape,
                                                                 tmp_path):
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "gpucredit.cli", "recalc", str(tape[0]), "-o",
         str(tmp_path / "r.xlsx"), "--engine", "dask", "--scheduler", silent_server],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "2s"})
    assert out.returncode == 2
    said = " ".join((out.stderr + out.stdout).split())
    assert f"the server at {silent_server} accepted the connection but did not answer" in said
    assert "Traceback" not in said
    assert time.perf_counter() - started < 60
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_scheduler_without_workers():
    with distributed.LocalCluster(n_workers=0, processes=False, dashboard_address=":0",
                                  silence_logs=logging.ERROR) as empty:
        address = empty.scheduler_address
        with pytest.raises(GpuCreditError, match=rf"the Dask scheduler at {address} has no "
                                                 rf"workers \(waited 1 s\): start some with "
                                                 rf"`dask worker {address}`"):
            dask_mapper(address, timeout=1)


def test_dask_not_installed(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # `import distributed` now fails
    with pytest.raises(GpuCreditError, match=r"needs the dask extra.*"
                                             r'pip install "gpucredit\[dask\]"'):
        dask_mapper(None)


@pytest.mark.parametrize(("name", "value", "low"), [
    ("n_workers", 0, 1), ("n_workers", -1, 1), ("n_workers", 1.5, 1), ("n_workers", True, 1),
    ("threads_per_worker", 0, 1), ("threads_per_worker", "2", 1), ("retries", -1, 0),
])
def test_bad_whole_numbers(name, value, low):
    with pytest.raises(GpuCreditError, match=rf"^{name} must be a whole number >= {low}, "
                                             rf"got {re.escape(repr(value))}$") as err:
        dask_mapper(None, processes=False, **{name: value})
    assert (err.value.argument, err.value.value) == (name, value)


def test_worker_versions_checked():
    check_worker_versions({}, "0.1.0")
    check_worker_versions({"tcp://a:1": "0.1.0", "tcp://b:1": "0.1.0"}, "0.1.0")
    versions = {f"tcp://w{i}:1": "0.0.9" for i in range(5)}
    versions["tcp://ok:1"] = "0.1.0"
    with pytest.raises(GpuCreditError, match=r"^5 Dask worker\(s\) run another gpucredit "
                                             r"than this machine \(0\.1\.0\): tcp://w0:1 has "
                                             r"0\.0\.9, tcp://w1:1 has 0\.0\.9, tcp://w2:1 has "
                                             r'0\.0\.9 and 2 more\. .*=0\.1\.0"$'):
        check_worker_versions(versions, "0.1.0")


def test_version_probe_runs_on_a_worker_without_gpucredit(tmp_path):
    """The probe is shipped by value: unpickled where gpucredit cannot be imported, it says
    so instead of failing to load."""
    import cloudpickle

    from gpucredit.distributed import _version_probe

    blob = tmp_path / "probe.pkl"
    blob.write_bytes(cloudpickle.dumps(_version_probe()))
    code = textwrap.dedent(f"""
        import importlib.abc, pickle, sys
        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] == "gpucredit":
                    raise ImportError("No module named 'gpucredit'")
        sys.meta_path.insert(0, Block())
        probe = pickle.loads(open({str(blob)!r}, "rb").read())
        print(probe())
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60)
    assert out.stdout.strip() == "not installed (No module named 'gpucredit')"


def test_version_probe_on_the_cluster(client):
    from gpucredit import __version__
    from gpucredit.distributed import _version_probe

    versions = client.run(_version_probe())
    assert len(versions) == 2 and set(versions.values()) == {__version__}


# --------------------------------------------------------------------------- optional extra


def test_core_and_local_engine_do_not_import_dask(tape):
    """Importing gpucredit, its engine and CLI and running a local recalc loads no Dask."""
    path = tape[0]
    code = textwrap.dedent(f"""
        import datetime, json, sys
        import gpucredit, gpucredit.engine, gpucredit.cli
        from gpucredit.engine import RecalcOptions, recalc
        from gpucredit.tape.validate import validate_file
        report, good = validate_file({str(path)!r})
        rows = good.assign(_row=good.index, _sheet="").reset_index(drop=True)
        a = dict(report.assumptions, valuation_date=datetime.date(2026, 11, 21))
        res = recalc(rows.head(4), a, RecalcOptions(n_paths=10, run_scenarios=False))
        print(json.dumps([len(res.metrics),
                          sorted(m for m in sys.modules
                                 if m.split(".")[0] in ("dask", "distributed"))]))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [4, []]


# --------------------------------------------------------------------------- command line


def test_cli_recalc_on_dask_equals_local(tape, tmp_path):
    """`gpucredit recalc --engine dask` (its own local cluster) writes the workbook, and
    the same CSV tables as the local engine."""
    path = tape[0]
    args = ["recalc", str(path), "--chunk-size", "10", "--paths", "100", "--quiet"]
    dask_run = subprocess.run(
        [sys.executable, "-m", "gpucredit.cli", *args, "-o", str(tmp_path / "dask.xlsx"),
         "--csv", str(tmp_path / "dask"), "--engine", "dask"],
        capture_output=True, text=True, timeout=300)
    assert dask_run.returncode == 0, dask_run.stdout + dask_run.stderr
    said = " ".join(dask_run.stdout.split())  # rich wraps long lines in a pipe
    assert f"{N_FACILITIES} facilities computed, 0 rejected" in said
    assert (tmp_path / "dask.xlsx").stat().st_size > 0
    local_run = subprocess.run(
        [sys.executable, "-m", "gpucredit.cli", *args, "-o", str(tmp_path / "local.xlsx"),
         "--csv", str(tmp_path / "local")], capture_output=True, text=True, timeout=300)
    assert local_run.returncode == 0, local_run.stdout + local_run.stderr
    for name in ("metrics", "periods", "scenarios", "scenario_summary", "summary_totals",
                 "worst", "errors"):
        assert (tmp_path / "dask" / f"{name}.csv").read_bytes() == \
            (tmp_path / "local" / f"{name}.csv").read_bytes(), name
    info = pd.read_csv(tmp_path / "dask" / "run_info.csv")
    assert "dask" in info.astype(str).to_numpy().ravel().tolist()


def test_cli_unreachable_scheduler_exit_2(tape, tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "gpucredit.cli", "recalc", str(tape[0]), "-o",
         str(tmp_path / "r.xlsx"), "--engine", "dask", "--scheduler", "tcp://127.0.0.1:9"],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "1s"})
    assert out.returncode == 2
    said = " ".join((out.stderr + out.stdout).split())
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in said
    assert not (tmp_path / "r.xlsx").exists()


# --------------------------------------------------------------------------- the book (mc)
# Issue 10: one market for the book. The portfolio's loss distribution is summed from the
# chunks' per-path vectors (whole cents, exact), so it is the same to the cent on Dask.

PORTFOLIO_TABLES = ("portfolio_summary", "portfolio_contributions",
                    "portfolio_concentration", "portfolio_distribution")


@pytest.mark.parametrize("size", [1, 7, 50])
def test_portfolio_on_dask_equals_local_engine(size, local, on_dask):
    result = on_dask(size)
    assert not result.portfolio_summary.empty
    assert_same_result(result, local, tables=PORTFOLIO_TABLES)


def test_portfolio_contributions_add_up_to_es(local):
    es = local.portfolio_summary.set_index("measure").loc["es_99", "value"]
    assert local.portfolio_contributions["es_contribution"].sum() == pytest.approx(es)
    assert len(local.portfolio_contributions) == N_FACILITIES
