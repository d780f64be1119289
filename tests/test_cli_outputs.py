"""Nothing lost (issue 13): what ``gpucredit recalc`` does to the files around it.

Every test here runs the real console script in a subprocess and checks, after it ends:
its exit status, its message, the input's SHA-256, yesterday's outputs (bytes and
permission bits) and every name in the folders involved, hidden ones included (no staging
folder, no ``.part``/``.tmp`` file, no empty CSV folder).

Failures in the middle of a run are made two ways:

* **injected**: a small runner replaces ``write_csv_tables`` with one that writes the tables
  and then raises or signals the process, so the failure lands exactly after the workbook
  and the tables are written but before anything is published;
* **real**: the tests run as root, whom ``chmod`` does not stop, so a full disk and a
  read-only folder are made with a tmpfs mounted in a private mount namespace
  (``unshare --mount``), and a file-size limit with ``RLIMIT_FSIZE``.
"""

from __future__ import annotations

import os
import resource
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests import hostile as H
from tests.test_cli import put, squash, tape_rows, write_tape

from gpucredit.excel.csv_out import TABLES

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = Path(sys.executable).with_name("gpucredit")
TIMEOUT = 180

RUNNER = """
import os, signal, sys, time
import gpucredit.excel.csv_out as csv_out
real = csv_out.write_csv_tables
def after_tables(result, folder, **kw):
    paths = real(result, folder, **kw)
    {action}
    return paths
csv_out.write_csv_tables = after_tables
from gpucredit.cli import main
sys.argv[0] = "gpucredit"
main()
"""


def run(args, *, action: str | None = None, cwd: Path = ROOT, preexec=None,
        prefix: list[str] | None = None) -> subprocess.CompletedProcess:
    """The console script (or the fault-injecting runner) with ``args``."""
    env = {**os.environ, "COLUMNS": "300", "NO_COLOR": "1"}
    env.pop("GPUCREDIT_DEBUG", None)
    if action is None:
        cmd = [str(SCRIPT), *map(str, args)]
    else:
        cmd = [sys.executable, "-c", RUNNER.format(action=action), *map(str, args)]
    return subprocess.run([*(prefix or []), *cmd], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=TIMEOUT, preexec_fn=preexec)


def text(res) -> str:
    assert "Traceback" not in res.stdout + res.stderr, res.stderr
    return squash(res.stdout + "\n" + res.stderr)


def state(*folders: Path) -> dict[str, tuple]:
    """Every path under the folders, hidden included: (kind, sha256, permission bits)."""
    out = {}
    for folder in folders:
        for p in sorted([folder, *folder.rglob("*")]):
            st = p.lstat()
            digest = H.sha256(p) if stat.S_ISREG(st.st_mode) else None
            out[str(p)] = (stat.S_IFMT(st.st_mode), digest, stat.S_IMODE(st.st_mode))
    return out


def csv_text(rows) -> str:
    """A CSV tape's text (a blank cell for None)."""
    return "\n".join(",".join("" if v is None else str(v) for v in r) for r in rows) + "\n"


@pytest.fixture
def tape(tmp_path) -> Path:
    (tmp_path / "in").mkdir()
    return write_tape(tmp_path / "in" / "tape.xlsx", tape_rows(3))


@pytest.fixture
def yesterday(tmp_path) -> Path:
    """Yesterday's results: a workbook kept at 0600 and a folder of CSV tables."""
    out = tmp_path / "out"
    (out / "tables").mkdir(parents=True)
    book = out / "results.xlsx"
    book.write_bytes(b"yesterday's workbook")
    book.chmod(0o600)
    for name in TABLES:
        (out / "tables" / f"{name}.csv").write_text(f"yesterday's {name}\n")
    return out


# --------------------------------------------------------------------------- collisions


def test_csv_tables_into_the_tapes_folder_cannot_replace_the_tape(tmp_path):
    # `gpucredit recalc t/metrics.csv -o out.xlsx --csv t` wrote its metrics over the tape.
    folder = tmp_path / "t"
    folder.mkdir()
    tape = folder / "metrics.csv"
    tape.write_text(csv_text(tape_rows(2)))
    before = state(tmp_path)
    res = run(["recalc", tape, "-o", tmp_path / "out.xlsx", "--csv", folder])
    assert res.returncode == 2
    assert f"the CSV table metrics.csv {folder / 'metrics.csv'} is the input tape" in text(res)
    assert "Nothing written" in text(res)
    assert state(tmp_path) == before


def test_the_periods_file_beside_the_workbook_cannot_replace_the_tape(tmp_path):
    # A large tape's periods go to RESULTS_periods.csv beside RESULTS.xlsx: refused up
    # front even when this tape would be small, as the file may be written.
    tape = tmp_path / "RESULTS_periods.csv"
    tape.write_text(csv_text(tape_rows(2)))
    before = state(tmp_path)
    res = run(["recalc", tape, "-o", tmp_path / "RESULTS.xlsx"])
    assert res.returncode == 2
    assert "periods file (.csv) written beside the workbook" in text(res)
    assert "is the input tape" in text(res)
    assert state(tmp_path) == before


def test_a_workbook_named_like_a_csv_table_is_refused(tmp_path, tape):
    # `-o errors.csv --csv .` reported "Results written to errors.csv" over the errors table.
    before = state(tmp_path)
    res = run(["recalc", tape, "-o", "errors.csv", "--csv", "."], cwd=tmp_path)
    assert res.returncode == 2
    assert "the CSV table errors.csv and the results workbook would both be" in text(res)
    assert state(tmp_path) == before
    res = run(["recalc", tape, "-o", "results.csv"], cwd=tmp_path)
    assert res.returncode == 2
    assert "must be named .xlsx" in text(res)
    assert state(tmp_path) == before


def test_a_workbook_linked_to_a_csv_table_is_refused(tmp_path, tape, yesterday):
    link = yesterday / "book.xlsx"
    link.symlink_to(yesterday / "tables" / "metrics.csv")
    before = state(tmp_path)
    res = run(["recalc", tape, "-o", link, "--csv", yesterday / "tables"])
    assert res.returncode == 2
    assert "would both be" in text(res)
    assert state(tmp_path) == before


@pytest.mark.parametrize("kind", ["dev-null", "link-to-dev-null", "fifo", "folder"])
def test_only_regular_files_are_replaced(tmp_path, tape, kind):
    if kind == "dev-null":
        target = Path("/dev/null")
    elif kind == "link-to-dev-null":
        target = tmp_path / "null.xlsx"
        target.symlink_to("/dev/null")
    elif kind == "fifo":
        target = tmp_path / "pipe.xlsx"
        os.mkfifo(target)
    else:
        target = tmp_path / "folder.xlsx"
        target.mkdir()
    mode = target.stat().st_mode
    before = state(tmp_path)
    res = run(["recalc", tape, "-o", target])
    assert res.returncode == 2
    if kind == "folder":   # click's own check of the argument, as clear
        assert "is a directory" in text(res)
    else:
        assert "not a file" in text(res) and "Nothing written" in text(res)
    assert target.stat().st_mode == mode
    assert state(tmp_path) == before


# --------------------------------------------------------------------------- mid-run


@pytest.mark.parametrize("action, words", [
    ("raise OSError(28, 'No space left on device')",
     "cannot write {csv}: the disk is full. Nothing written; as before: {book}"),
    ("os.kill(os.getpid(), signal.SIGINT); time.sleep(30)",
     "interrupted (Ctrl-C): nothing written; as before: {book}"),
    ("os.kill(os.getpid(), signal.SIGTERM); time.sleep(30)",
     "interrupted (SIGTERM): nothing written; as before: {book}"),
    ("os.kill(os.getpid(), signal.SIGHUP); time.sleep(30)",
     "interrupted (SIGHUP): nothing written; as before: {book}"),
], ids=["disk-full", "sigint", "sigterm", "sighup"])
def test_a_failure_after_the_workbook_keeps_yesterdays_results(tmp_path, tape, yesterday,
                                                                action, words):
    # The CSV step fails (or the run is interrupted) after the workbook is complete:
    # yesterday's workbook and tables stay, byte for byte and mode for mode, nothing
    # temporary is left, a new CSV folder is not left empty, and the message says so.
    digest = H.sha256(tape)
    new_csv = yesterday / "new_tables"
    for csv in (yesterday / "tables", new_csv):
        before = state(tmp_path)
        res = run(["recalc", tape, "-o", yesterday / "results.xlsx", "--csv", csv, "--quiet"],
                  action=action)
        assert res.returncode == 2
        assert words.format(csv=csv, book=yesterday / "results.xlsx") in text(res)
        assert H.sha256(tape) == digest
        assert state(tmp_path) == before


def test_a_killed_run_leaves_staging_the_next_run_removes(tmp_path, tape, yesterday):
    # SIGKILL cannot be handled: the staging folder stays, and the next run beside it
    # removes it (its lock is free: its owner is dead).
    before = state(tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-c", RUNNER.format(action="time.sleep(600)"), "recalc", str(tape),
         "-o", str(yesterday / "results.xlsx"), "--csv", str(yesterday / "tables"), "--quiet"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 90
        staged = []
        while not staged and time.monotonic() < deadline:
            staged = list(yesterday.glob("**/.gpucredit-*.staging/metrics.csv"))
            time.sleep(0.2)
        assert staged, "the run never staged its tables"
    finally:
        proc.kill()
        proc.wait()
    left = state(tmp_path)
    assert {k: v for k, v in left.items() if k in before} == before   # yesterday intact
    assert any(".staging" in k for k in left)                          # the debris
    res = run(["recalc", tape, "-o", yesterday / "results.xlsx", "--csv",
               yesterday / "tables", "--quiet"])
    assert res.returncode == 0, text(res)
    assert not list(yesterday.glob("**/.gpucredit-*"))
    assert sorted(p.name for p in yesterday.iterdir()) == ["results.xlsx", "tables"]
    assert sorted(p.name for p in (yesterday / "tables").iterdir()) == sorted(
        f"{t}.csv" for t in TABLES)


def test_permissions_of_yesterdays_results_are_kept(tmp_path, tape, yesterday):
    (yesterday / "tables" / "metrics.csv").chmod(0o640)
    res = run(["recalc", tape, "-o", yesterday / "results.xlsx", "--csv",
               yesterday / "tables", "--quiet"])
    assert res.returncode == 0, text(res)
    assert stat.S_IMODE((yesterday / "results.xlsx").stat().st_mode) == 0o600
    assert stat.S_IMODE((yesterday / "tables" / "metrics.csv").stat().st_mode) == 0o640
    assert H.sha256(yesterday / "results.xlsx") != H.sha256(tape)
    assert (yesterday / "results.xlsx").read_bytes()[:2] == b"PK"      # replaced whole


# --------------------------------------------------------------------------- real failures


def _limit_file_size(limit: int):
    def apply():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def test_a_file_size_limit_is_reported_in_plain_words(tmp_path, tape, yesterday):
    # The results workbook (about 60 kB) cannot be written under a 16 kB file-size limit:
    # without care SIGXFSZ kills the process silently, or the message names a hidden
    # temporary file.
    before = state(tmp_path)
    res = run(["recalc", tape, "-o", yesterday / "results.xlsx", "--quiet"],
              preexec=_limit_file_size(16 * 1024))
    assert res.returncode == 2
    said = text(res)
    assert f"cannot write {yesterday / 'results.xlsx'}: the file is larger than" in said
    assert f"as before: {yesterday / 'results.xlsx'}" in said
    assert ".part" not in said and ".tmp" not in said and ".staging" not in said
    assert state(tmp_path) == before


def _in_own_mounts(script: str, *args) -> subprocess.CompletedProcess:
    """``script`` (sh) in a private mount namespace: its mounts vanish with it."""
    return subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                           script, "sh", *map(str, args)],
                          capture_output=True, text=True, timeout=TIMEOUT)


_MOUNTED = """
set -e
mount -t tmpfs -o size={size} tmpfs "$1"
mkdir "$1/tables"
for t in {tables}; do echo "yesterday's $t" > "$1/tables/$t.csv"; done
{remount}
set +e
COLUMNS=300 NO_COLOR=1 "$2" recalc "$3" -o "$4" --csv "$1/tables" --quiet
echo "exit=$?"
cd "$1" && find . -printf '%p %s\\n' | sort && cat tables/metrics.csv
"""


def test_a_full_disk_under_the_csv_folder_keeps_yesterdays_results(tmp_path, tape,
                                                                    yesterday):
    # The CSV folder is on a 64 kB file system (44 kB used by yesterday's tables): the
    # workbook is staged (on another disk), then the tables do not fit. Yesterday's
    # workbook and tables survive.
    mnt = tmp_path / "small"
    mnt.mkdir()
    before = state(yesterday)
    res = _in_own_mounts(_MOUNTED.format(size="64k", tables=" ".join(TABLES), remount=""),
                         mnt, SCRIPT, tape, yesterday / "results.xlsx")
    out = squash(res.stdout + res.stderr)
    assert "exit=2" in out, out
    assert f"cannot write {mnt / 'tables'}" in out and "the disk is full" in out
    assert f"as before: {yesterday / 'results.xlsx'}" in out
    assert "yesterday's metrics" in out                            # the table survived
    assert ".staging" not in out and ".part" not in out            # nothing left on it
    assert state(yesterday) == before


def test_a_read_only_folder_is_refused_before_work(tmp_path, tape, yesterday):
    mnt = tmp_path / "ro"
    mnt.mkdir()
    res = _in_own_mounts(
        _MOUNTED.format(size="1m", tables=" ".join(TABLES),
                        remount='mount -o remount,ro "$1"'),
        mnt, SCRIPT, tape, yesterday / "results.xlsx")
    out = squash(res.stdout + res.stderr)
    assert "exit=2" in out, out
    assert f"the folder {mnt / 'tables'} is not writable" in out
    assert "yesterday's metrics" in out


# --------------------------------------------------------------------------- terminal


def test_file_names_with_markup_brackets_work_and_print_literally(tmp_path):
    tape = write_tape(tmp_path / "Deal model [v2].xlsx", tape_rows(2))
    out = tmp_path / "Results [/] [bold]x.xlsx"
    res = run(["recalc", tape, "-o", out])
    assert res.returncode == 0, text(res)
    assert f"Results written to {out}" in text(res)
    assert out.is_file()
    res = run(["validate", tape])
    assert "Deal model [v2].xlsx" in text(res)


@pytest.mark.parametrize("fid", ["FAC\x1b[2J\x1b]0;owned\x07-1",
                                 "FAC\x1b]8;;http://evil.example\x1b\\click\x1b]8;;\x1b\\"])
def test_control_characters_from_a_tape_are_shown_escaped(tmp_path, fid):
    # Row 2 is rejected (its id is printed among the problems), row 3 computed (its id
    # among the worst facilities).
    rows = tape_rows(2)
    rows[1][0], rows[2][0] = fid, fid + "b"
    put(rows, 2, "utilization", 1.2)
    csv_tape = tmp_path / "tape.csv"
    csv_tape.write_text(csv_text(rows))
    xlsx_tape = write_tape(tmp_path / "tape.xlsx", [
        [v.replace("\x1b", "_x001B_").replace("\x07", "_x0007_") if isinstance(v, str)
         else v for v in r] for r in rows])
    for tape in (csv_tape, xlsx_tape):
        digest = H.sha256(tape)
        for args in (["validate", tape], ["recalc", tape, "-o", tmp_path / "r.xlsx"]):
            res = run(args)
            raw = res.stdout + res.stderr
            assert "\x1b" not in raw and "\x07" not in raw, (args, raw)
            assert res.returncode == 1, raw
            assert "FAC\\x1b" in raw, raw                       # shown, escaped
        assert H.sha256(tape) == digest



def test_the_periods_spill_over_is_published_with_the_workbook(tmp_path, tape, monkeypatch):
    # The workbook holds 10 facility-periods here (200,000 by default): the rest go to
    # results_periods.csv, staged and published with the workbook.
    import functools

    from click.testing import CliRunner

    from gpucredit.cli import main
    from gpucredit.excel import results

    monkeypatch.setattr(results, "write_results",
                        functools.partial(results.write_results, max_period_rows=10))
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["recalc", str(tape), "-o", str(out / "results.xlsx"),
                                    "--quiet"])
    assert res.exit_code == 0, res.output
    assert f"Every facility-period written to {out / 'results_periods.csv'}" in squash(
        res.output)
    assert sorted(p.name for p in out.iterdir()) == ["results.xlsx", "results_periods.csv"]
    assert (out / "results_periods.csv").read_text().startswith("facility_id,")


@pytest.mark.parametrize("fails", [False, True])
def test_the_spooled_tables_live_in_staging_and_go_with_it(tmp_path, tape, yesterday, fails):
    # The run's metrics, period and scenario pieces are written beside the workbook, inside a
    # staging folder, while the tables are written; afterwards nothing of them is left,
    # whether the run published or failed.
    spy = ("import pathlib; print('SPOOLED', sorted(p.name for p in pathlib.Path("
           f"{str(yesterday)!r}).glob('.gpucredit-*.staging/*-*.pkl')))")
    action = spy + ("; raise OSError(28, 'No space left on device')" if fails else "")
    before = state(tmp_path)
    res = run(["recalc", tape, "-o", yesterday / "results.xlsx", "--csv", yesterday / "tables",
               "--quiet"], action=action)
    assert ("SPOOLED ['metrics-000000.pkl', 'periods-000000.pkl', 'scenarios-000000.pkl']"
            in res.stdout)
    assert res.returncode == (2 if fails else 0), text(res)
    assert not list(yesterday.glob("**/.gpucredit-*"))
    if fails:
        assert state(tmp_path) == before
