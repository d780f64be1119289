"""Edit the VBA project of xlwings' add-in (``xl/vbaProject.bin``) without Excel.

xlwings writes its custom add-in by copying a template whose VBA project is called
``MyAddin``, whose code names its config ``myaddin`` and which carries a ``SampleCall``
macro in ``Module1``. gpucredit's add-in renames the project, sets the config name and
puts the ``GPU_`` wrappers where the sample was, so an analyst installs a file that
already holds the functions.

The format is [MS-OVBA] (Microsoft, Office VBA File Format Structure):

* the ``VBA/dir`` stream (2.3.4.2), compressed, lists the project's name and its modules
  as records ``id (u16), size (u32), data``; the one exception, ``PROJECTVERSION``
  (id 9), declares 4 bytes and holds 6;
* each module's stream holds a compiled cache from byte ``MODULEOFFSET`` on, then the
  compressed source (2.3.4.3); a module written here has no cache (offset 0);
* the ``PROJECT`` stream (2.3.1) names the project and its modules as text, and
  ``PROJECTwm`` (2.3.3) pairs each module's name in the code page with UTF-16;
* ``VBA/_VBA_PROJECT`` (2.3.4.1) declares the cache's VBA version. xlwings' template has
  ``0xFFFF``, no version, so Excel compiles every module from its source on load, which
  is what lets a source be changed here.

Compression is [MS-OVBA] 2.4.1 (:mod:`gpucredit.excel.ovba_compression`); the container
is written by :mod:`gpucredit.excel.cfb` and read with ``olefile``.
"""

from __future__ import annotations

import io
import struct

from gpucredit.errors import GpuCreditError
from gpucredit.excel.ovba_compression import compress, decompress

__all__ = ["VbaProject"]

NAME, MODULE_NAME, MODULE_NAME_UNICODE = 0x0004, 0x0019, 0x0047
STREAM_NAME, STREAM_NAME_UNICODE, OFFSET, VERSION = 0x001A, 0x0032, 0x0031, 0x0009
CODE_PAGE = "cp1252"
"""The template's ``PROJECTCODEPAGE`` (1252, Western European)."""


def _records(data: bytes) -> list[tuple[int, bytes]]:
    out, i = [], 0
    while i < len(data):
        rid, size = struct.unpack_from("<HI", data, i)
        size = 6 if rid == VERSION else size
        out.append((rid, data[i + 6:i + 6 + size]))
        i += 6 + size
    return out


def _unrecord(records: list[tuple[int, bytes]]) -> bytes:
    return b"".join(struct.pack("<HI", rid, 4 if rid == VERSION else len(data)) + data
                    for rid, data in records)


class VbaProject:
    """A ``vbaProject.bin`` read into its streams, edited, and written back."""

    def __init__(self, data: bytes):
        import olefile

        with olefile.OleFileIO(io.BytesIO(data)) as ole:
            self.streams = {"/".join(p): ole.openstream(p).read() for p in ole.listdir()}
        if self.streams.get("VBA/_VBA_PROJECT", b"")[2:4] != b"\xff\xff":
            raise GpuCreditError("this xlwings add-in's VBA project carries compiled code "
                                 "for one VBA version; gpucredit cannot edit it")
        self.dir = _records(decompress(self.streams["VBA/dir"]))

    # -------------------------------------------------------------------- reading
    @property
    def name(self) -> str:
        return next(d for rid, d in self.dir if rid == NAME).decode(CODE_PAGE)

    def modules(self) -> list[str]:
        return [d.decode(CODE_PAGE) for rid, d in self.dir if rid == MODULE_NAME]

    def _module_offset(self, module: str) -> int:
        current = None
        for rid, data in self.dir:
            if rid == MODULE_NAME:
                current = data.decode(CODE_PAGE)
            elif rid == OFFSET and current == module:
                return struct.unpack("<I", data)[0]
        raise KeyError(module)

    def source(self, module: str) -> str:
        """A module's source text (``Attribute VB_Name`` lines included)."""
        raw = self.streams[f"VBA/{module}"][self._module_offset(module):]
        return decompress(raw).decode(CODE_PAGE)

    # -------------------------------------------------------------------- editing
    def rename(self, name: str) -> None:
        """Rename the project (``PROJECTNAME`` and the ``PROJECT`` stream's ``Name=``)."""
        old = self.name
        self.dir = [(rid, name.encode(CODE_PAGE) if rid == NAME else d) for rid, d in self.dir]
        self._project_text(lambda line: f'Name="{name}"' if line == f'Name="{old}"' else line)

    def set_source(self, module: str, source: str, new_name: str | None = None) -> None:
        """Replace a module's source (CRLF line ends), renaming it to ``new_name``.

        The module keeps its type (a standard module stays one); its stream holds the
        compressed source from offset 0.
        """
        new = new_name or module
        text = source.replace("\r\n", "\n").replace("\n", "\r\n")
        del self.streams[f"VBA/{module}"]
        self.streams[f"VBA/{new}"] = compress(text.encode(CODE_PAGE))
        self.dir = self._module_records(module, new)
        self._project_text(lambda line: _renamed_line(line, module, new))
        self.streams["PROJECTwm"] = self.streams["PROJECTwm"].replace(
            module.encode(CODE_PAGE) + b"\0" + module.encode("utf-16-le") + b"\0\0",
            new.encode(CODE_PAGE) + b"\0" + new.encode("utf-16-le") + b"\0\0")

    def _module_records(self, module: str, new: str) -> list[tuple[int, bytes]]:
        out, current = [], None
        for rid, data in self.dir:
            if rid == MODULE_NAME:
                current = data.decode(CODE_PAGE)
            if current == module:
                data = {MODULE_NAME: new.encode(CODE_PAGE), STREAM_NAME: new.encode(CODE_PAGE),
                        MODULE_NAME_UNICODE: new.encode("utf-16-le"),
                        STREAM_NAME_UNICODE: new.encode("utf-16-le"),
                        OFFSET: struct.pack("<I", 0)}.get(rid, data)
            out.append((rid, data))
        return out

    def _project_text(self, edit) -> None:
        lines = self.streams["PROJECT"].decode(CODE_PAGE).split("\r\n")
        self.streams["PROJECT"] = "\r\n".join(map(edit, lines)).encode(CODE_PAGE)

    # -------------------------------------------------------------------- writing
    def to_bytes(self) -> bytes:
        from gpucredit.excel import cfb

        streams = {**self.streams, "VBA/dir": compress(_unrecord(self.dir))}
        tree: dict = {}
        for path, data in streams.items():
            *storages, leaf = path.split("/")
            node = tree
            for s in storages:
                node = node.setdefault(s, {})
            node[leaf] = data
        return cfb.write(tree)


def _renamed_line(line: str, old: str, new: str) -> str:
    """A ``PROJECT`` stream line naming module ``old`` (``Module=``, ``[Workspace]``)."""
    if line == f"Module={old}":
        return f"Module={new}"
    if line.startswith(f"{old}="):
        return new + line[len(old):]
    return line
