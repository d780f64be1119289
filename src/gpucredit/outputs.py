"""The output plan of a command: every file it will write, checked before any work starts.

A batch run writes several files: the results workbook, perhaps the periods spill-over
beside it, perhaps a folder of CSV tables. :class:`OutputPlan` knows all of them before the
tape is read and guarantees:

* **nothing read is written over.** Each output is compared with every input and with the
  other outputs by path (after ``..`` and symbolic links), by hard link and by inode
  (:func:`os.path.samefile`); a collision is refused before anything happens;
* **regular files only.** An existing output that is a folder, a device (``/dev/null``), a
  FIFO or a socket is refused: replacing it would destroy something that is not a result;
* **all or nothing.** Writers write into private staging folders
  (``.gpucredit-<pid>-<random>.staging``) beside the outputs; :meth:`OutputPlan.publish`
  moves the files into place at the end with :func:`os.replace`, with interrupts held
  back, and puts every earlier file back if one move fails. A failure or an interrupt
  before that leaves the previous outputs exactly as they were and no temporary file;
* **stale staging cleaned.** A staging folder whose owner died (``kill -9``, a power cut)
  is removed by the next run that writes beside it: each is locked (``flock``) by its live
  owner, so one that can be locked is abandoned;
* **permissions kept.** A replaced output keeps its permission bits (a results file kept
  at ``0600`` stays ``0600``); a new one gets ``0666`` less the umask, like any file the
  user saves.

Examples
--------
>>> import pathlib, tempfile
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> plan = OutputPlan(inputs=[folder / "tape.csv"])
>>> book = plan.add(folder / "results.xlsx", "results workbook")
>>> plan.check()
>>> with plan:
...     _ = plan.stage(book).write_text("whole")
...     written = plan.publish()
>>> [t.path.name for t in written], sorted(p.name for p in folder.iterdir())
(['results.xlsx'], ['results.xlsx'])
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import signal
import stat
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from gpucredit.errors import GpuCreditError

try:  # POSIX: the lock that tells a live run's staging from an abandoned one
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

__all__ = ["OutputError", "OutputPlan", "Target", "copy_mode", "existing_kind",
           "os_error_words"]

STAGING_SUFFIX = ".staging"
STAGING_PREFIX = ".gpucredit-"
_LOCK = "lock"
_SCRATCH = "\0scratch"
"""The unit of a run's scratch files (:meth:`OutputPlan.scratch`): staged, never published."""
_ORPHAN_SECONDS = 600
"""A staging folder without a lock file (its owner died while creating it) older than this
is abandoned."""
_HELD = tuple(s for s in (getattr(signal, n, None) for n in ("SIGINT", "SIGTERM", "SIGHUP"))
              if s is not None)

_WORDS = {
    errno.EACCES: "permission denied",
    errno.EPERM: "the operation is not permitted",
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is exhausted",
    errno.EROFS: "the file system is read-only",
    errno.EFBIG: "the file is larger than this process may write (a file-size limit)",
    errno.ENOENT: "no such file or folder",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.EISDIR: "it is a folder",
    errno.ENAMETOOLONG: "the name is too long",
    errno.EMFILE: "too many files are open",
    errno.EIO: "an input/output error (a failing disk or network share)",
    errno.EXDEV: "it is on another file system",
}


def os_error_words(exc: OSError) -> str:
    """The reason of an :class:`OSError` in plain words.

    >>> os_error_words(OSError(28, "No space left on device"))
    'the disk is full'
    """
    return _WORDS.get(exc.errno, (exc.strerror or str(exc)).lower())


class OutputError(GpuCreditError):
    """An output that cannot or must not be written, found before any work."""


@dataclass(frozen=True)
class Target:
    """One file a command may write.

    Attributes
    ----------
    path : Path
        As the user named it (for messages).
    real : Path
        Absolute, with ``..`` and symbolic links resolved: where the bytes go.
    what : str
        What it is, in the analyst's words ("results workbook", "CSV table metrics.csv").
    optional : bool
        Written only when needed (the periods spill-over); checked all the same.
    unit : str
        The writer that produces it; files of one unit are staged in one folder.
    """

    path: Path
    real: Path
    what: str
    optional: bool = False
    unit: str = ""


def _describe_kind(mode: int) -> str | None:
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def existing_kind(path) -> str | None:
    """What an existing ``path`` is when it is not a regular file ("a folder", "a device",
    "a named pipe (FIFO)" ...), following symbolic links; None for a regular file or
    nothing there.

    >>> existing_kind("/dev/null"), existing_kind("/no/such/file")
    ('a device', None)
    """
    try:
        return _describe_kind(os.stat(path).st_mode)
    except FileNotFoundError:
        return None


def _existing_ancestor(folder: Path) -> Path:
    while not os.path.lexists(folder) and folder != folder.parent:
        folder = folder.parent
    return folder


def _same(a: Path, b: Path) -> bool:
    if a == b:
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


@dataclass
class _Unit:
    folder: Path                 # where the unit's files are staged (an existing folder)
    staging: Path | None = None  # its private staging folder, once created
    lock: object | None = None   # the open, locked lock file


@dataclass
class OutputPlan:
    """Every output of one command, checked together and published together.

    Parameters
    ----------
    inputs : iterable of path or (path, what)
        Files the command reads, each with what it is ("input tape"); no output may be
        one of them.

    Notes
    -----
    Use: :meth:`add` every output, :meth:`check` (before reading any input), then inside
    ``with plan:`` write each output to :meth:`stage` and finish with :meth:`publish`.
    Leaving the ``with`` block removes every staging folder, published or not.
    """

    inputs: Iterable = ()
    targets: list[Target] = field(default_factory=list)
    published: list[Target] = field(default_factory=list)
    writing: Target | None = None
    _inputs: list[tuple[Path, Path, str]] = field(default_factory=list)
    _units: dict[str, _Unit] = field(default_factory=dict)

    def __post_init__(self) -> None:
        pairs = [p if isinstance(p, tuple) else (p, "input") for p in self.inputs]
        self._inputs = [(Path(p), Path(os.path.realpath(p)), w) for p, w in pairs]

    # ----------------------------------------------------------------- declaring

    def add(self, path, what: str, *, optional: bool = False, unit: str | None = None
            ) -> Target:
        """Declare an output; ``unit`` groups the files one writer produces."""
        path = Path(path)
        target = Target(path, Path(os.path.realpath(path)), what, optional, unit or what)
        self.targets.append(target)
        return target

    def check(self) -> None:
        """Refuse (:class:`OutputError`) any output that collides or is not a regular file.

        Also removes abandoned staging folders beside the outputs.
        """
        for i, t in enumerate(self.targets):
            self._check_kind(t)
            self._check_folder(t)
            for given, real, role in self._inputs:
                if _same(t.real, real):
                    raise OutputError(
                        f"the {t.what} {t.path} is the {role} {given}: choose another "
                        "name (an input is never overwritten)",
                        argument="output", value=str(t.path))
            for other in self.targets[:i]:
                if _same(t.real, other.real):
                    raise OutputError(
                        f"the {t.what} and the {other.what} would both be {t.path}: "
                        "choose names that differ", argument="output", value=str(t.path))
        for folder in {_existing_ancestor(t.real.parent) for t in self.targets}:
            clean_stale_staging(folder)

    @staticmethod
    def _check_kind(t: Target) -> None:
        try:
            mode = os.stat(t.real).st_mode
        except FileNotFoundError:
            return
        except OSError as exc:
            raise OutputError(f"cannot use {t.path} as the {t.what}: {os_error_words(exc)}",
                              argument="output", value=str(t.path)) from None
        kind = _describe_kind(mode)
        if kind:
            raise OutputError(f"the {t.what} {t.path} is {kind}, not a file: gpucredit "
                              "writes only regular files and never replaces anything else",
                              argument="output", value=str(t.path))

    @staticmethod
    def _check_folder(t: Target) -> None:
        base = _existing_ancestor(t.real.parent)
        if not base.is_dir():
            raise OutputError(f"cannot write the {t.what} {t.path}: {base} is a file, not a "
                              "folder", argument="output", value=str(t.path))
        if not os.access(base, os.W_OK | os.X_OK):
            raise OutputError(f"cannot write the {t.what} {t.path}: the folder {base} is "
                              "not writable (permission denied)", argument="output",
                              value=str(t.path))

    # ----------------------------------------------------------------- writing

    def __enter__(self) -> OutputPlan:
        return self

    def __exit__(self, *exc) -> None:
        self.discard()

    def stage(self, target: Target) -> Path:
        """The path to write ``target`` to; it becomes ``target`` on :meth:`publish`."""
        self.writing = target
        return self._staging(target.unit) / target.real.name

    def scratch(self) -> Path:
        """A private folder for the run's intermediate files (the engine's spooled
        tables): a staging folder beside the first output, never published, removed with
        the other staging folders when the ``with`` block ends, whatever happened."""
        if _SCRATCH not in self._units:
            self._units[_SCRATCH] = _Unit(_existing_ancestor(self.targets[0].real.parent))
        return self._staging(_SCRATCH)

    def user_name(self, filename) -> str:
        """The output a staged (temporary) file stands for, for messages (a scratch file
        stands for the first output: the run could not write beside it)."""
        name = str(filename or "")
        key = self.writing.unit if self.writing else None
        for k, unit in self._units.items():
            if name and unit.staging and name.startswith(str(unit.staging)):
                key = self.targets[0].unit if k == _SCRATCH else k
        if key is None:
            return name
        for t in self.targets:
            if t.unit == key and name and Path(name).name == t.real.name:
                return str(t.path)
        mine = [t for t in self.targets if t.unit == key and not t.optional]
        return str(mine[0].path if len(mine) == 1 else mine[0].path.parent)

    def _first(self, unit: str) -> Target:
        return next(t for t in self.targets if t.unit == unit)

    def _staging(self, key: str) -> Path:
        unit = self._units.get(key)
        if unit is None:
            first = self._first(key)
            unit = self._units[key] = _Unit(_existing_ancestor(first.real.parent))
        if unit.staging is None:
            unit.staging = Path(tempfile.mkdtemp(
                dir=unit.folder, prefix=f"{STAGING_PREFIX}{os.getpid()}-",
                suffix=STAGING_SUFFIX))
            unit.lock = _lock(unit.staging / _LOCK)
        return unit.staging

    def publish(self) -> list[Target]:
        """Move every staged file onto its target, together; interrupts wait until done.

        Returns the targets written. A planned output that was not staged (an optional one
        not needed) is left as it is. On failure every target already replaced gets its
        previous content back and the error is raised.
        """
        staged = [(t, self._staged_path(t)) for t in self.targets]
        staged = [(t, p) for t, p in staged if p is not None]
        self._check_unplanned()
        with _signals_held():
            self._publish(staged)
        self.writing = None
        return list(self.published)

    def _staged_path(self, t: Target) -> Path | None:
        unit = self._units.get(t.unit)
        if unit is None or unit.staging is None:
            return None
        p = unit.staging / t.real.name
        return p if p.exists() else None

    def _check_unplanned(self) -> None:
        for key, unit in self._units.items():
            if unit.staging is None or key == _SCRATCH:
                continue
            names = {t.real.name for t in self.targets if t.unit == key} | {_LOCK}
            extra = sorted(p.name for p in unit.staging.iterdir() if p.name not in names)
            if extra:  # a writer wrote a file the plan does not know: refuse to publish it
                raise OutputError(f"the {self._first(key).what} writer produced "
                                  f"{', '.join(extra)}, which was not planned: nothing "
                                  "written (please report this)")

    def _publish(self, staged: list[tuple[Target, Path]]) -> None:
        mask = os.umask(0)
        os.umask(mask)
        made: list[Path] = []
        done: list[tuple[Target, Path | None]] = []
        try:
            for t, p in staged:
                copy_mode(t.real, p, 0o666 & ~mask)
            for t, _ in staged:
                made += _make_folders(t.real.parent)
            for i, (t, p) in enumerate(staged):
                backup = _backup(t.real, p.parent / f"previous-{i}")
                os.replace(p, t.real)
                done.append((t, backup))
                self.published.append(t)
        except BaseException:
            for t, backup in reversed(done):
                with contextlib.suppress(OSError):
                    if backup is None:
                        t.real.unlink()
                    else:
                        os.replace(backup, t.real)
            for folder in reversed(made):
                with contextlib.suppress(OSError):
                    folder.rmdir()
            self.published = []
            raise

    def discard(self) -> None:
        """Remove every staging folder (after :meth:`publish`, or instead of it)."""
        for unit in self._units.values():
            if unit.staging is not None:
                shutil.rmtree(unit.staging, ignore_errors=True)
                if unit.lock is not None:
                    with contextlib.suppress(OSError):
                        unit.lock.close()
                unit.staging = unit.lock = None

    # ----------------------------------------------------------------- messages

    def outcome(self) -> str:
        """What a run that stops now has and has not written, truthfully."""
        text = ("written: " + ", ".join(str(t.path) for t in self.published)
                if self.published else "nothing written")
        kept = []
        for key in dict.fromkeys(t.unit for t in self.targets):
            old = [t for t in self.targets if t.unit == key and t not in self.published
                   and os.path.isfile(t.real)]
            if len(old) == 1:
                kept.append(str(old[0].path))
            elif old:
                kept.append(f"the {len(old)} files in {old[0].path.parent}")
        return text + ("; as before: " + ", ".join(kept) if kept else "")


def copy_mode(target: Path, staged: Path, default: int) -> None:
    """Give ``staged`` the permission bits of the ``target`` it replaces (and, for root,
    its owner), or ``default`` when there is no target yet."""
    try:
        st = os.stat(target)
    except FileNotFoundError:
        os.chmod(staged, default)
        return
    os.chmod(staged, stat.S_IMODE(st.st_mode))
    if hasattr(os, "chown") and os.geteuid() == 0:  # root keeps the owner too
        with contextlib.suppress(OSError):
            os.chown(staged, st.st_uid, st.st_gid)


def _make_folders(folder: Path) -> list[Path]:
    missing = []
    while not os.path.lexists(folder):
        missing.append(folder)
        folder = folder.parent
    for f in reversed(missing):
        f.mkdir()
    return list(reversed(missing))


def _backup(target: Path, backup: Path) -> Path | None:
    """A hard link to the file about to be replaced, to put it back if publishing fails."""
    if not target.exists():
        return None
    try:
        os.link(target, backup)
    except OSError:  # no hard links here (some network shares): copy instead
        shutil.copy2(target, backup)
    return backup


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Hold SIGINT, SIGTERM and SIGHUP back while files move (delivered afterwards)."""
    if threading.current_thread() is not threading.main_thread() or \
            not hasattr(signal, "pthread_sigmask"):
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, _HELD)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _lock(path: Path):
    handle = open(path, "w")  # held open (and locked) for the run's life
    if fcntl is not None:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return handle


def _abandoned(staging: Path) -> bool:
    lock = staging / _LOCK
    if not lock.exists():
        with contextlib.suppress(OSError):
            return time.time() - staging.stat().st_mtime > _ORPHAN_SECONDS
        return False
    if fcntl is None:  # pragma: no cover - Windows: no flock; only a day-old one is abandoned
        with contextlib.suppress(OSError):
            return time.time() - lock.stat().st_mtime > 86_400
        return False
    try:
        with open(lock) as handle:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
    except OSError:
        return False


def clean_stale_staging(folder: Path) -> list[Path]:
    """Remove staging folders in ``folder`` left by runs that were killed; return them."""
    removed = []
    with contextlib.suppress(OSError):
        for p in Path(folder).iterdir():
            if p.name.startswith(STAGING_PREFIX) and p.name.endswith(STAGING_SUFFIX) and \
                    p.is_dir() and not p.is_symlink() and _abandoned(p):
                shutil.rmtree(p, ignore_errors=True)
                removed.append(p)
    return removed
