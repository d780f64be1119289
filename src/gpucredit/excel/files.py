"""Whole-or-nothing file writing for every workbook and table gpucredit writes.

Each output is written to a temporary file beside its target and moved onto it with
:func:`os.replace` (atomic on one file system) only when everything succeeded; a failure
leaves neither a partial file nor a temporary one. A new output gets the permissions of a
file the user saves (``0666`` less the umask), not the ``0600`` of a temporary file; a
replaced one keeps its own (a results file kept at ``0600`` stays ``0600``).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from gpucredit.errors import GpuCreditError
from gpucredit.outputs import copy_mode

__all__ = ["staged_files"]


class _Staging:
    """Temporary files in their targets' folders, moved into place together."""

    def __init__(self) -> None:
        self._pending: list[tuple[Path, Path]] = []
        self._scratch: list[Path] = []

    @staticmethod
    def _mkstemp(target: Path, suffix: str) -> Path:
        folder = target.parent
        if not folder.is_dir():
            raise GpuCreditError(f"cannot write {target}: the folder {folder} does not exist",
                                 argument="path", value=str(target))
        fd, name = tempfile.mkstemp(dir=folder, prefix=f".{target.name}.", suffix=suffix)
        os.close(fd)
        return Path(name)

    def output(self, target) -> Path:
        """A temporary path that becomes ``target`` on commit."""
        target = Path(target)
        tmp = self._mkstemp(target, ".tmp")
        self._pending.append((tmp, target))
        return tmp

    def scratch(self, near) -> Path:
        """A temporary path beside ``near``, removed at the end whatever happens."""
        tmp = self._mkstemp(Path(near), ".part")
        self._scratch.append(tmp)
        return tmp

    def commit(self) -> None:
        mask = os.umask(0)
        os.umask(mask)
        for tmp, target in self._pending:
            copy_mode(target, tmp, 0o666 & ~mask)
        for tmp, target in self._pending:
            os.replace(tmp, target)
        self._pending = []

    def cleanup(self) -> None:
        for tmp in [t for t, _ in self._pending] + self._scratch:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()


@contextlib.contextmanager
def staged_files() -> Iterator[_Staging]:
    """Write several files whole or not at all.

    Inside the ``with`` block, ``staging.output(target)`` gives a temporary path in the
    target's folder to write to; when the block ends without an exception every temporary
    file is moved onto its target with :func:`os.replace` (atomic on one file system).
    On an exception nothing is moved and every temporary file is removed.
    ``staging.scratch(near)`` gives a temporary path that is always removed.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> with staged_files() as staging:
    ...     _ = staging.output(folder / "a.txt").write_text("whole")
    >>> sorted(p.name for p in folder.iterdir())
    ['a.txt']
    >>> try:
    ...     with staged_files() as staging:
    ...         _ = staging.output(folder / "b.txt").write_text("half")
    ...         raise OSError("disk full")
    ... except OSError:
    ...     pass
    >>> sorted(p.name for p in folder.iterdir())
    ['a.txt']
    """
    staging = _Staging()
    try:
        yield staging
        staging.commit()
    finally:
        staging.cleanup()
