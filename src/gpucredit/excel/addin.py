"""Write the add-in files for the xlwings actually installed and for xlwings Lite.

``gpucredit addin windows -o DIR`` and ``gpucredit addin lite -o DIR`` call
:func:`write_windows` and :func:`write_lite`.

Windows (classic xlwings)
    The add-in is xlwings' own custom add-in as the installed xlwings writes it
    (``xlwings quickstart NAME --addin``), so its VBA declares the DLL of that very
    xlwings (``xlwings64-<version>.dll``): install the add-in and xlwings from the same
    environment and they match. Its VBA project is then edited
    (:mod:`gpucredit.excel.vba_project`): named ``gpucredit`` with ``PROJECT_NAME =
    "gpucredit"`` (so its config is ``gpucredit.conf`` and the user's file
    ``%USERPROFILE%\\.gpucredit\\gpucredit.conf``, not the ``myaddin`` every quickstart
    add-in shares), xlwings' ``SampleCall`` module replaced by the ``GPU_`` wrappers
    (:data:`UDF_WRAPPERS`, the module xlwings' "Import Functions" writes), and a blank
    value on a config sheet passed over so the config files are read for it
    (:data:`SHEET_LOOKUP`). Its config sheet is switched on and holds one setting,
    ``UDF Modules = gpucredit.udfs``; the interpreter, Conda path and environment and
    ``PYTHONPATH`` come from the config file beside the workbook or the user's.

Lite (xlwings Lite: Windows, macOS, the web)
    ``main.py`` imports the ``GPU_`` functions from the installed wheel; ``requirements.txt``
    pins ``gpucredit==<this version>`` by name, or a wheel's HTTPS address given with
    ``wheel_url`` until the release is on the package index.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from gpucredit import __version__
from gpucredit.errors import GpuCreditError

__all__ = ["ADDIN_NAME", "CONF_SHEET", "ERROR_VALUES", "PROJECT", "UDF_MODULES",
           "UDF_WRAPPERS", "WindowsAddin", "lite_main", "lite_requirements", "udf_module",
           "write_lite", "write_windows"]

ADDIN_NAME = "gpucredit.xlam"
UDF_MODULES = "gpucredit.udfs"
PROJECT = "gpucredit"
"""The VBA project's name and its ``PROJECT_NAME`` constant (xlwings ships ``myaddin``)."""
CONF_SHEET = f"{PROJECT}.conf"
"""The config sheet's name: ``<PROJECT_NAME>.conf`` (xlwings ships it as ``_myaddin.conf``,
the leading underscore switching it off)."""
UDF_WRAPPERS = Path(__file__).with_name("xlwings_udfs.bas")
"""The ``GPU_`` VBA wrappers, as xlwings' own generator writes them for
``gpucredit.udfs`` (tests/test_udfs_classic.py regenerates and compares)."""
SHEET_LOOKUP = ("If GetConfigFromSheet({wb}).Exists(configKey) = True Then",
                "If SheetHasValue({wb}, configKey) Then")
"""``GetConfig``'s two sheet lookups (add-in and active workbook), before and after: a key
whose cell is blank falls through to the config files instead of hiding them."""
SHEET_HAS_VALUE = """
Function SheetHasValue(wb As Workbook, configKey As String) As Boolean
    ' gpucredit: a key whose cell is blank falls through to the config files
    Dim d As Object
    Set d = GetConfigFromSheet(wb)
    If d.Exists(configKey) = True Then SheetHasValue = (CStr(d.Item(configKey)) <> "")
End Function
"""
ERROR_VALUES = """
' gpucredit: Excel error values from the GPU_ functions' results. xlwings' classic path
' has no way for Python to return one (xlwings issue 776), so each wrapper passes its
' result through GpuValue: the text "#GPU! <why>" becomes #VALUE! and "#N/A" (a missing
' value inside an array) becomes #N/A - real error values that IFERROR, ISERROR and ISNA
' see and that charts skip. Every other value is returned as it came. Private: not a
' worksheet function of its own.
Private Function GpuValue(ByVal v As Variant) As Variant
    Dim i As Long, j As Long
    If IsArray(v) Then
        For i = LBound(v, 1) To UBound(v, 1)
            For j = LBound(v, 2) To UBound(v, 2)
                v(i, j) = GpuCell(v(i, j))
            Next j
        Next i
        GpuValue = v
    Else
        GpuValue = GpuCell(v)
    End If
End Function

Private Function GpuCell(ByVal x As Variant) As Variant
    GpuCell = x
    If VarType(x) = vbString Then
        If x = "#N/A" Then
            GpuCell = CVErr(2042)
        ElseIf Left$(x, 5) = "#GPU!" Then
            GpuCell = CVErr(2015)
        End If
    End If
End Function
"""
"""VBA appended to the wrappers' module (2015 is ``xlErrValue``, 2042 ``xlErrNA``:
Microsoft, "Cell error values", VBA reference)."""
CONFIG_ROWS = (("UDF Modules", UDF_MODULES),)
"""The only rows of the config sheet (module docstring: why nothing else)."""


@dataclass(frozen=True)
class WindowsAddin:
    """What :func:`write_windows` wrote."""

    path: Path
    xlwings_version: str

    @property
    def dll_names(self) -> tuple[str, str]:
        """The DLLs the add-in's VBA declares (64- and 32-bit Excel)."""
        return (f"xlwings64-{self.xlwings_version}.dll",
                f"xlwings32-{self.xlwings_version}.dll")


def _installed_xlwings() -> str:
    try:
        import xlwings
    except ImportError:
        raise GpuCreditError("xlwings is not installed: pip install \"gpucredit[xlwings,cli]\"",
                             argument="xlwings") from None
    return xlwings.__version__


def _quickstart(workdir: Path) -> Path:
    """``xlwings quickstart gpucredit --addin`` in ``workdir`` (runs on any OS)."""
    res = subprocess.run([sys.executable, "-m", "xlwings.cli", "quickstart", "gpucredit",
                          "--addin"], cwd=workdir, capture_output=True, text=True,
                         timeout=300, check=False)
    made = workdir / "gpucredit" / "gpucredit.xlam"
    if res.returncode != 0 or not made.is_file():
        raise GpuCreditError("xlwings could not write its add-in (xlwings quickstart "
                             f"--addin): {(res.stderr or res.stdout).strip()[-400:]}")
    return made


def _sheet_part(zf: zipfile.ZipFile, name: str) -> str:
    book = zf.read("xl/workbook.xml").decode("utf-8")
    m = re.search(rf'<sheet name="{re.escape(name)}"[^>]*r:id="(rId\d+)"', book)
    if m is None:
        raise GpuCreditError(f"the xlwings add-in has no sheet {name!r}: this xlwings "
                             "version is laid out differently")
    rels = zf.read("xl/_rels/workbook.xml.rels").decode("utf-8")
    t = (re.search(rf'<Relationship[^>]*Id="{m[1]}"[^>]*Target="([^"]+)"', rels)
         or re.search(rf'<Relationship[^>]*Target="([^"]+)"[^>]*Id="{m[1]}"', rels))
    return "xl/" + t[1].lstrip("/").removeprefix("xl/")


def _config_sheet_xml(xml: str) -> str:
    """The config sheet with :data:`CONFIG_ROWS` as its only rows (inline strings)."""
    rows = "".join(
        f'<row r="{i}"><c r="A{i}" t="inlineStr"><is><t>{key}</t></is></c>'
        f'<c r="B{i}" t="inlineStr"><is><t>{value}</t></is></c></row>'
        for i, (key, value) in enumerate(CONFIG_ROWS, start=1))
    xml, n = re.subn(r"<sheetData\s*/>|<sheetData>.*?</sheetData>",
                     f"<sheetData>{rows}</sheetData>", xml, count=1, flags=re.S)
    if n != 1:
        raise GpuCreditError("the xlwings add-in's config sheet has no cell data to replace")
    return re.sub(r'<dimension ref="[^"]*"\s*/>',
                  f'<dimension ref="A1:B{len(CONFIG_ROWS)}"/>', xml, count=1)


def _xlwings_module(source: str) -> str:
    """xlwings' main VBA module with gpucredit's project name and sheet lookups."""
    edits = [('PROJECT_NAME As String = "myaddin"', f'PROJECT_NAME As String = "{PROJECT}"')]
    edits += [(SHEET_LOOKUP[0].format(wb=wb), SHEET_LOOKUP[1].format(wb=wb))
              for wb in ("ActiveWorkbook", "ThisWorkbook")]
    edits.append(("End Function\n#End If\n\nFunction GetConfig(",
                  "End Function\n" + SHEET_HAS_VALUE + "#End If\n\nFunction GetConfig("))
    source = source.replace("\r\n", "\n")
    for old, new in edits:
        if source.count(old) != 1:
            raise GpuCreditError("this xlwings add-in's VBA is laid out differently from the "
                                 f"one gpucredit edits (looked for {old[:40]!r})")
        source = source.replace(old, new)
    return source


def udf_module() -> str:
    """The add-in's ``xlwings_udfs`` module: xlwings' wrappers (:data:`UDF_WRAPPERS`),
    each result passed through ``GpuValue`` (:data:`ERROR_VALUES`, appended)."""
    source = UDF_WRAPPERS.read_text(encoding="utf-8")
    wrapped = re.sub(r"^(\s+GPU_\w+ = )(XLPy\.CallUDF\(.*\))(\r?)$", r"\1GpuValue(\2)\3",
                     source, flags=re.M)
    newline = "\r\n" if "\r\n" in source else "\n"
    return wrapped.rstrip() + newline + ERROR_VALUES.replace("\n", newline)


def _vba(data: bytes) -> bytes:
    """The add-in's VBA project, named for gpucredit, holding the GPU_ wrappers."""
    from gpucredit.excel.vba_project import VbaProject

    project = VbaProject(data)
    if "Module1" not in project.modules():
        raise GpuCreditError("this xlwings add-in has no Module1 (its sample macro) to "
                             "replace with the GPU_ functions")
    project.set_source("xlwings", _xlwings_module(project.source("xlwings")))
    project.set_source("Module1", udf_module(), "xlwings_udfs")
    project.rename(PROJECT)
    return project.to_bytes()


def _configure(src: Path, out: Path) -> None:
    with zipfile.ZipFile(src) as zin:
        sheet = _sheet_part(zin, "_myaddin.conf")
        book = zin.read("xl/workbook.xml").decode("utf-8").replace(
            'name="_myaddin.conf"', f'name="{CONF_SHEET}"')
        changed = {"xl/workbook.xml": book.encode("utf-8"),
                   sheet: _config_sheet_xml(zin.read(sheet).decode("utf-8")).encode("utf-8"),
                   "xl/vbaProject.bin": _vba(zin.read("xl/vbaProject.bin"))}
        _atomic_zip(out, [(info, changed.get(info.filename) or zin.read(info.filename))
                          for info in zin.infolist()])


def _umask_mode() -> int:
    """What ``open()`` would give a new file (mkstemp's files are 0600)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _atomic_zip(out: Path, members) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    os.close(fd)
    try:
        with zipfile.ZipFile(tmp, "w") as zout:
            for info, data in members:
                zout.writestr(info, data, compress_type=info.compress_type)
        os.chmod(tmp, _umask_mode())
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_windows(out_dir: Path) -> WindowsAddin:
    """Write ``gpucredit.xlam`` for the installed xlwings into ``out_dir``.

    Returns
    -------
    WindowsAddin
        The file written and the xlwings version whose DLL its VBA declares.
    """
    version = _installed_xlwings()
    out = Path(out_dir) / ADDIN_NAME
    with tempfile.TemporaryDirectory() as d:
        _configure(_quickstart(Path(d)), out)
    return WindowsAddin(out, version)


LITE_MAIN = '''"""xlwings Lite: gpucredit's worksheet functions (written by `gpucredit addin lite`).

Paste this file into xlwings Lite's main.py tab and requirements.txt into its
requirements.txt tab. xlwings Lite registers every function in main.py that carries
xlwings' @func metadata; the GPU_ functions get theirs when gpucredit.udfs is imported
inside Lite, where xlwings.func is the Office.js implementation. The functions live in the
gpucredit package, so upgrading the package upgrades them.
"""

import gpucredit.udfs as _gpucredit_udfs

# Every GPU_ function at the top level of main.py, where Lite looks for them.
globals().update({name: getattr(_gpucredit_udfs, name)
                  for name in _gpucredit_udfs.udf_names()})
'''


def lite_main() -> str:
    """The text of xlwings Lite's ``main.py`` for gpucredit."""
    return LITE_MAIN


def lite_requirements(wheel_url: str | None = None) -> str:
    """xlwings Lite's ``requirements.txt``: gpucredit pinned to this version.

    ``wheel_url``: an HTTPS address of this version's wheel (served with CORS), for use
    until the release is on the package index; it must name this version's pure wheel.
    """
    if wheel_url is None:
        pin = f"gpucredit=={__version__}"
    else:
        name = wheel_url.rsplit("/", 1)[-1]
        if not wheel_url.startswith("https://") or \
                name != f"gpucredit-{__version__}-py3-none-any.whl":
            raise GpuCreditError(f"--wheel-url must be an https:// address ending in "
                                 f"gpucredit-{__version__}-py3-none-any.whl, got {wheel_url!r}",
                                 argument="wheel_url", value=wheel_url)
        pin = wheel_url
    return ("# xlwings Lite requirements for gpucredit (written by `gpucredit addin lite`).\n"
            "# Keep the xlwings line xlwings Lite puts in this tab; numpy, pandas and scipy\n"
            "# come from Pyodide's own builds, so they are not pinned.\n"
            "numpy\npandas\nscipy\n" + pin + "\n")


def write_lite(out_dir: Path, wheel_url: str | None = None) -> list[Path]:
    """Write ``main.py`` and ``requirements.txt`` for xlwings Lite into ``out_dir``."""
    text = {"main.py": lite_main(), "requirements.txt": lite_requirements(wheel_url)}
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, body in text.items():
        target = out_dir / name
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=out_dir)
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(body)
        os.chmod(tmp, _umask_mode())
        os.replace(tmp, target)
        written.append(target)
    return written
