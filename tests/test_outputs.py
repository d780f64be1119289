"""The output plan (gpucredit.outputs): checked before work, staged, published whole.

Each test builds its files in ``tmp_path`` and checks what is on disk afterwards, hidden
files included: the plan's promise is about exactly that.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import socket
import stat
from pathlib import Path

import pytest

from gpucredit import outputs
from gpucredit.outputs import OutputError, OutputPlan, clean_stale_staging, os_error_words


def listing(folder: Path) -> list[str]:
    """Every name under ``folder``, hidden ones included, relative and sorted."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def plan_of(inputs, *targets) -> OutputPlan:
    plan = OutputPlan(inputs=inputs)
    for path, unit in targets:
        plan.add(path, f"output {Path(path).name}", unit=unit)
    return plan


# --------------------------------------------------------------------------- check


@pytest.mark.parametrize("spelling", ["same", "dotdot", "symlink", "hardlink"])
def test_an_output_that_is_an_input_is_refused(tmp_path, spelling):
    tape = tmp_path / "tape.csv"
    tape.write_text("a,b\n1,2\n")
    (tmp_path / "sub").mkdir()
    target = {"same": tape, "dotdot": tmp_path / "sub" / ".." / "tape.csv",
              "symlink": tmp_path / "sub" / "link.csv",
              "hardlink": tmp_path / "sub" / "hard.csv"}[spelling]
    if spelling == "symlink":
        target.symlink_to(tape)
    if spelling == "hardlink":
        os.link(tape, target)
    before = listing(tmp_path)
    plan = plan_of([(tape, "input tape")], (target, "u"))
    with pytest.raises(OutputError, match="is the input tape"):
        plan.check()
    assert listing(tmp_path) == before
    assert tape.read_text() == "a,b\n1,2\n"


def test_two_outputs_that_are_one_file_are_refused(tmp_path):
    (tmp_path / "tables").mkdir()
    real = tmp_path / "tables" / "metrics.csv"
    real.write_text("old")
    link = tmp_path / "book.csv"
    link.symlink_to(real)
    plan = plan_of([], (link, "a"), (real, "b"))
    with pytest.raises(OutputError, match="would both be"):
        plan.check()
    assert real.read_text() == "old"


@pytest.mark.parametrize("kind", ["device", "fifo", "folder", "socket"])
def test_only_regular_files_are_outputs(tmp_path, kind):
    if kind == "device":
        target = Path("/dev/null")
    elif kind == "fifo":
        target = tmp_path / "pipe.xlsx"
        os.mkfifo(target)
    elif kind == "folder":
        target = tmp_path / "results.xlsx"
        target.mkdir()
    else:
        target = tmp_path / "s.xlsx"
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(str(target))
    mode = os.stat(target).st_mode
    plan = plan_of([], (target, "u"))
    with pytest.raises(OutputError, match="not a file"):
        plan.check()
    assert os.stat(target).st_mode == mode
    if kind == "socket":
        sock.close()


def test_a_file_where_a_folder_is_needed_is_refused_before_work(tmp_path):
    (tmp_path / "tables").write_text("I am a file")
    plan = plan_of([], (tmp_path / "tables" / "metrics.csv", "csv"))
    with pytest.raises(OutputError, match="is a file, not a folder"):
        plan.check()
    assert (tmp_path / "tables").read_text() == "I am a file"


# --------------------------------------------------------------------------- publish


def test_publish_moves_every_file_and_leaves_no_staging(tmp_path):
    plan = plan_of([], (tmp_path / "r.xlsx", "book"), (tmp_path / "new" / "t" / "m.csv", "csv"))
    plan.check()
    with plan:
        plan.stage(plan.targets[0]).write_text("book")
        plan.stage(plan.targets[1]).write_text("table")
        assert not (tmp_path / "new").exists()     # folders appear only on publish
        written = plan.publish()
    assert [t.path.name for t in written] == ["r.xlsx", "m.csv"]
    assert listing(tmp_path) == ["new", "new/t", "new/t/m.csv", "r.xlsx"]
    assert (tmp_path / "r.xlsx").read_text() == "book"


def test_a_failure_before_publish_leaves_previous_outputs_and_no_temporary_file(tmp_path):
    old = tmp_path / "r.xlsx"
    old.write_text("yesterday")
    plan = plan_of([], (old, "book"), (tmp_path / "tables" / "m.csv", "csv"))
    plan.check()
    with pytest.raises(OSError), plan:
        plan.stage(plan.targets[0]).write_text("today")
        raise OSError(errno.ENOSPC, "No space left on device")
    assert old.read_text() == "yesterday"
    assert listing(tmp_path) == ["r.xlsx"]          # no staging, no empty CSV folder


def test_a_move_that_fails_puts_the_earlier_files_back(tmp_path, monkeypatch):
    first, second = tmp_path / "a.xlsx", tmp_path / "tables" / "b.csv"
    first.write_text("old a")
    plan = plan_of([], (first, "book"), (second, "csv"))
    plan.check()
    real_replace = os.replace
    calls = []

    def replace(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise OSError(errno.EIO, "Input/output error")
        return real_replace(src, dst)

    with pytest.raises(OSError), plan:
        plan.stage(plan.targets[0]).write_text("new a")
        plan.stage(plan.targets[1]).write_text("new b")
        monkeypatch.setattr(outputs.os, "replace", replace)
        plan.publish()
    monkeypatch.undo()
    assert first.read_text() == "old a"
    assert plan.published == []
    assert listing(tmp_path) == ["a.xlsx"]


def test_permission_bits_of_an_existing_output_are_kept(tmp_path):
    kept = tmp_path / "r.xlsx"
    kept.write_text("old")
    kept.chmod(0o600)
    new = tmp_path / "m.csv"
    plan = plan_of([], (kept, "book"), (new, "csv"))
    plan.check()
    mask = os.umask(0o022)
    try:
        with plan:
            plan.stage(plan.targets[0]).write_text("new")
            plan.stage(plan.targets[1]).write_text("new")
            plan.publish()
    finally:
        os.umask(mask)
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert stat.S_IMODE(new.stat().st_mode) == 0o644
    assert kept.read_text() == "new"


def test_an_unplanned_file_is_never_published(tmp_path):
    plan = plan_of([], (tmp_path / "r.xlsx", "book"))
    plan.check()
    with pytest.raises(OutputError, match="not planned"), plan:
        staged = plan.stage(plan.targets[0])
        staged.write_text("book")
        staged.with_name("surprise.csv").write_text("?")
        plan.publish()
    assert listing(tmp_path) == []


@pytest.mark.parametrize("fails", [False, True])
def test_scratch_files_are_private_never_published_and_removed(tmp_path, fails):
    old = tmp_path / "r.xlsx"
    old.write_text("yesterday")
    plan = plan_of([], (old, "book"))
    plan.check()
    with pytest.raises(OSError) if fails else contextlib.nullcontext(), plan:
        scratch = plan.scratch()
        assert scratch == plan.scratch() and scratch.parent == tmp_path
        assert scratch.name.startswith(".gpucredit-") and scratch.name.endswith(".staging")
        (scratch / "metrics-000000.pkl").write_bytes(b"piece")
        plan.stage(plan.targets[0]).write_text("today")
        assert plan.user_name(scratch / "metrics-000000.pkl") == str(old)
        if fails:
            raise OSError(errno.ENOSPC, "No space left on device")
        assert [t.path for t in plan.publish()] == [old]
    assert listing(tmp_path) == ["r.xlsx"]
    assert old.read_text() == ("yesterday" if fails else "today")


def test_an_optional_output_not_written_is_left_alone(tmp_path):
    spill = tmp_path / "r_periods.csv"
    spill.write_text("from an earlier, larger run")
    plan = OutputPlan()
    book = plan.add(tmp_path / "r.xlsx", "book", unit="book")
    plan.add(spill, "periods", unit="book", optional=True)
    plan.check()
    with plan:
        plan.stage(book).write_text("book")
        assert [t.path.name for t in plan.publish()] == ["r.xlsx"]
    assert spill.read_text() == "from an earlier, larger run"


# --------------------------------------------------------------------------- stale


def _staging(folder: Path, name: str) -> Path:
    d = folder / f".gpucredit-{name}.staging"
    d.mkdir()
    (d / "lock").write_text("")
    (d / "r.xlsx").write_text("half")
    return d


def test_staging_of_a_killed_run_is_removed_and_a_live_one_kept(tmp_path):
    dead = _staging(tmp_path, "111-dead")
    live = _staging(tmp_path, "222-live")
    with open(live / "lock") as holder:           # a live run holds its lock
        fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert clean_stale_staging(tmp_path) == [dead]
        assert live.is_dir() and not dead.exists()


def test_check_cleans_stale_staging_beside_the_outputs(tmp_path):
    dead = _staging(tmp_path, "333-dead")
    plan = plan_of([], (tmp_path / "r.xlsx", "book"))
    plan.check()
    assert not dead.exists()


def test_os_errors_in_plain_words():
    assert os_error_words(OSError(errno.EFBIG, "File too large")).startswith(
        "the file is larger than")
    assert os_error_words(OSError(errno.EROFS, "x")) == "the file system is read-only"
    assert os_error_words(OSError(errno.ENOSPC, "x")) == "the disk is full"


def test_outcome_says_what_was_and_was_not_written(tmp_path):
    old = tmp_path / "r.xlsx"
    old.write_text("yesterday")
    plan = plan_of([], (old, "book"), (tmp_path / "m.csv", "csv"))
    assert plan.outcome() == f"nothing written; as before: {old}"
    plan.check()
    with plan:
        plan.stage(plan.targets[0]).write_text("today")
        plan.stage(plan.targets[1]).write_text("today")
        plan.publish()
    assert plan.outcome() == f"written: {old}, {tmp_path / 'm.csv'}"
