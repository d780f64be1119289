"""The add-in files: ``gpucredit addin windows`` and ``gpucredit addin lite``.

The Windows add-in is inspected as a security reviewer would, with ``olevba`` (oletools):
the VBA it holds must declare the DLL of the xlwings installed here, be the project
``gpucredit`` with the ``GPU_`` wrappers in place of xlwings' sample macro, read the config
sheet named for its ``PROJECT_NAME``, and fall through to the user's config file for
every key the sheet does not set or leaves blank. The config sheet must set only
``UDF Modules``. LibreOffice's VBA import, a second reader, must see the same project.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import olefile
import pytest
from defusedxml import ElementTree
from oletools.olevba import VBA_Parser
from tests import libreoffice as lo

import gpucredit
from gpucredit import udfs
from gpucredit.errors import GpuCreditError
from gpucredit.excel import addin

ROOT = Path(__file__).resolve().parents[1]
GPUCREDIT = str(Path(sys.executable).with_name("gpucredit"))  # the installed command
SHIPPED = ROOT / "addin" / "gpucredit.xlam"
NS = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}


def vba_modules(xlam: Path) -> dict[str, str]:
    parser = VBA_Parser(str(xlam))
    try:
        return {name: code for _, _, name, code in parser.extract_macros()}
    finally:
        parser.close()


def config_sheet(xlam: Path) -> tuple[list[str], list[tuple[str, str]]]:
    """Sheet names and the (A, B) rows of the add-in's only sheet, read from its XML."""
    with zipfile.ZipFile(xlam) as zf:
        book = ElementTree.fromstring(zf.read("xl/workbook.xml"))
        sheets = [s.get("name") for s in book.iter(f"{{{NS['m']}}}sheet")]
        sheet = ElementTree.fromstring(zf.read("xl/worksheets/sheet1.xml"))
    rows = []
    for row in sheet.iter(f"{{{NS['m']}}}row"):
        cells = {c.get("r")[0]: c.findtext("m:is/m:t", namespaces=NS) for c in
                 row.iter(f"{{{NS['m']}}}c")}
        rows.append((cells.get("A"), cells.get("B")))
    return sheets, rows


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    return addin.write_windows(tmp_path_factory.mktemp("addin"))


@pytest.fixture(scope="module")
def vba(written):
    return vba_modules(written.path)


def test_the_dll_is_the_installed_xlwings(written, vba):
    import xlwings

    assert written.xlwings_version == xlwings.__version__
    declared = set(re.findall(r'Lib "(xlwings(?:32|64)-[\d.]+\.dll)"', vba["xlwings.bas"]))
    assert declared == set(written.dll_names)
    assert f"xlwings64-{xlwings.__version__}.dll" in declared


def test_the_config_sheet_sets_only_the_udf_module(written, vba):
    project = re.search(r'PROJECT_NAME As String = "(\w+)"', vba["xlwings.bas"])[1]
    sheets, rows = config_sheet(written.path)
    assert sheets == [f"{project}.conf"] == [addin.CONF_SHEET]  # the sheet VBA reads
    assert rows == [("UDF Modules", "gpucredit.udfs")]


def _get_config(code: str) -> str:
    body = code[code.index("Function GetConfig(configKey"):]
    return body[:body.index("End Function")]


def test_keys_the_sheet_leaves_out_or_blank_come_from_the_users_config_file(vba):
    """The VBA's GetConfig: the sheet only if it has the key with a value, then the
    workbook's folder, then %USERPROFILE%\\.gpucredit\\gpucredit.conf. So INTERPRETER_WIN,
    CONDA PATH, CONDA ENV and PYTHONPATH, absent from the sheet or blank on it, are read
    from the user's file."""
    code = vba["xlwings.bas"]
    body = _get_config(code)
    assert "GetConfigFromSheet(ActiveWorkbook).Exists" not in body  # xlwings' lookup, gone
    active = body.index("If SheetHasValue(ActiveWorkbook, configKey) Then")
    addin_sheet = body.index("If SheetHasValue(ThisWorkbook, configKey) Then")
    directory = body.index("GetConfigFromFile(GetDirectoryConfigFilePath(), configKey")
    user = body.index("GetConfigFromFile(GetConfigFilePath(), configKey")
    assert active < addin_sheet < directory < user
    helper = code[code.index("Function SheetHasValue(wb As Workbook, configKey As String)"):]
    helper = helper[:helper.index("End Function")]
    assert 'SheetHasValue = (CStr(d.Item(configKey)) <> "")' in helper  # blank: False
    assert "If d.Exists(configKey) = True Then" in helper  # absent: False (the default)
    # the sheet reader adds a key for every row it holds, and only those rows
    reader = code[code.index("Function GetConfigFromSheet"):]
    assert "d.Add UCase(cell.Value), cell.Offset(0, 1).Value" in reader
    assert 'GetConfigFilePath = Environ("USERPROFILE") & "\\." & PROJECT_NAME' in code
    for key in ("INTERPRETER_WIN", "CONDA PATH", "CONDA ENV", "PYTHONPATH"):
        assert f'GetConfig("{key}"' in code, key


def test_the_project_is_gpucredit_with_the_functions_and_no_sample_macro(written, vba):
    with zipfile.ZipFile(written.path) as zf, \
            olefile.OleFileIO(zf.read("xl/vbaProject.bin")) as ole:
        project = ole.openstream("PROJECT").read().decode("cp1252").splitlines()
        version = ole.openstream("VBA/_VBA_PROJECT").read()
    assert 'Name="gpucredit"' in project and "Module=xlwings_udfs" in project
    assert not any("Module1" in line for line in project)
    assert version[2:4] == b"\xff\xff"  # no compiled cache: Excel compiles the source
    assert sorted(vba) == ["Dictionary.cls", "Sheet2.cls", "ThisWorkbook.cls", "xlwings.bas",
                           "xlwings_udfs.bas"]
    assert "SampleCall" not in "".join(vba.values())
    assert 'PROJECT_NAME As String = "gpucredit"' in vba["xlwings.bas"]
    declared = re.findall(r"^Function (GPU_\w+)\(", vba["xlwings_udfs.bas"], re.M)
    assert declared == udfs.udf_names()
    assert vba["xlwings_udfs.bas"].replace("\r\n", "\n").rstrip("\n") == \
        addin.udf_module().replace("\r\n", "\n").rstrip("\n")


@pytest.mark.libreoffice
def test_libreoffice_imports_the_same_project(written, tmp_path):
    """LibreOffice's own VBA import (a second reader of the file) keeps each module's source
    as Basic: the library is named for the project and holds the wrappers."""
    if shutil.which("soffice") is None:
        pytest.fail("LibreOffice (soffice) is needed: apt-get install libreoffice-calc-nogui")
    book = tmp_path / "addin.xlsm"
    book.write_bytes(written.path.read_bytes())
    subprocess.run(["soffice", f"-env:UserInstallation=file://{tmp_path}/profile",
                    "--headless", "--infilter=Calc MS Excel 2007 VBA XML", "--convert-to",
                    "ods", "--outdir", str(tmp_path), str(book)],
                   capture_output=True, timeout=180, check=True)
    with zipfile.ZipFile(tmp_path / "addin.ods") as zf:
        basic = {n for n in zf.namelist() if n.startswith("Basic/gpucredit/")}
        wrappers = zf.read("Basic/gpucredit/xlwings_udfs.xml").decode("utf-8")
        main = zf.read("Basic/gpucredit/xlwings.xml").decode("utf-8")
    assert {"Basic/gpucredit/xlwings_udfs.xml", "Basic/gpucredit/xlwings.xml"} <= basic
    assert not any("Module1" in n for n in basic)
    assert all(f"Function {name}(" in wrappers for name in udfs.udf_names())
    assert "PROJECT_NAME As String = &quot;gpucredit&quot;" in main


def test_the_shipped_addin_is_what_the_command_writes(written):
    assert config_sheet(SHIPPED) == config_sheet(written.path)
    assert vba_modules(SHIPPED) == vba_modules(written.path)


def test_the_xlwings_extra_is_pinned_to_the_shipped_dll():
    shipped = re.search(r'Lib "xlwings64-([\d.]+)\.dll"', vba_modules(SHIPPED)["xlwings.bas"])[1]
    extra = [r.split(";")[0].strip() for r in importlib.metadata.requires("gpucredit")
             if re.search(r"extra == [\"']xlwings[\"']", r)]
    assert [r for r in extra if r.startswith("xlwings")] == [f"xlwings=={shipped}"]


# ----------------------------------------------------------------------------- xlwings Lite

def test_lite_requirements_pin_this_version(tmp_path):
    addin.write_lite(tmp_path)
    lines = [x for x in (tmp_path / "requirements.txt").read_text().splitlines()
             if x and not x.startswith("#")]
    assert lines == ["numpy", "pandas", "scipy", f"gpucredit=={gpucredit.__version__}"]
    assert (ROOT / "addin" / "lite" / "requirements.txt").read_text() == \
        (tmp_path / "requirements.txt").read_text()
    assert (ROOT / "addin" / "lite" / "main.py").read_text() == \
        (tmp_path / "main.py").read_text()


def test_lite_wheel_url_must_be_this_versions_wheel(tmp_path):
    url = f"https://example.org/w/gpucredit-{gpucredit.__version__}-py3-none-any.whl"
    addin.write_lite(tmp_path, url)
    assert (tmp_path / "requirements.txt").read_text().splitlines()[-1] == url
    for bad in ("http://example.org/gpucredit-0.1.0-py3-none-any.whl",
                "https://example.org/gpucredit-0.0.1-py3-none-any.whl"):
        with pytest.raises(GpuCreditError, match="--wheel-url"):
            addin.write_lite(tmp_path / "bad", bad)
    assert not (tmp_path / "bad").exists()


# ----------------------------------------------------------------------------- the command

def test_version_is_single_sourced():
    out = subprocess.run([GPUCREDIT, "--version"],
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == f"gpucredit, version {gpucredit.__version__}"
    assert importlib.metadata.version("gpucredit") == gpucredit.__version__
    assert 'dynamic = ["version"]' in (ROOT / "pyproject.toml").read_text()


def test_addin_commands(tmp_path):
    res = subprocess.run([GPUCREDIT, "addin", "lite", "-o",
                          str(tmp_path), "--wheel-url", "ftp://x"], capture_output=True,
                         text=True)
    assert res.returncode == 2 and "--wheel-url must be an https://" in res.stderr
    assert "Traceback" not in res.stderr
    res = subprocess.run([GPUCREDIT, "addin", "windows", "-o",
                          str(tmp_path)], capture_output=True, text=True, check=True)
    assert (tmp_path / "gpucredit.xlam").is_file() and "xlwings64-" in res.stdout
    mask = os.umask(0)
    os.umask(mask)
    assert (tmp_path / "gpucredit.xlam").stat().st_mode & 0o777 == 0o666 & ~mask


# ----------------------------------------------------------------------------- release

def test_release_workflow_publishes_on_a_version_tag_with_trusted_publishing():
    import yaml  # PyYAML comes with dask (the dev extra)
    flow = yaml.safe_load((ROOT / ".github" / "workflows" / "release.yml").read_text())
    on = flow[True] if True in flow else flow["on"]  # YAML 1.1 reads "on" as true
    assert on["push"]["tags"] == ["v*"]
    build = "\n".join(s.get("run", "") for s in flow["jobs"]["build"]["steps"])
    assert "python -m build --sdist --wheel" in build
    assert "py3-none-any.whl" in build  # the pure wheel, checked by name
    publish = flow["jobs"]["publish"]
    assert publish["permissions"] == {"id-token": "write"}
    assert publish["if"] == "startsWith(github.ref, 'refs/tags/v')"
    assert any(s.get("uses", "").startswith("pypa/gh-action-pypi-publish")
               for s in publish["steps"])
    assert not any("password" in str(s.get("with", {})) for s in publish["steps"])


def test_every_wrapper_returns_excel_error_values():
    """Each GPU_ wrapper passes its result through GpuValue (both of its CallUDF lines)."""
    module = addin.udf_module()
    n = len(udfs.udf_names())
    assert module.count("= GpuValue(XLPy.CallUDF(") == 2 * n
    assert "= XLPy.CallUDF(" not in module
    assert module.startswith(addin.UDF_WRAPPERS.read_text(encoding="utf-8").split("\n")[0])


def test_the_error_conversion_runs_in_a_vba_interpreter(tmp_path):
    """The add-in's own GpuValue code (not a copy) run by LibreOffice Basic in VBA mode:
    "#GPU! <why>" becomes #VALUE! (error 2015) and "#N/A" becomes #N/A (2042), in arrays
    and alone; numbers, other text and empty values pass unchanged."""
    out = tmp_path / "vba.txt"
    main = f'''
Sub Main
    Dim a(1 To 2, 1 To 3) As Variant
    Dim r As Variant
    a(1, 1) = 1.5: a(1, 2) = "#N/A": a(1, 3) = "#GPU! debt_service: row 3 is empty"
    a(2, 1) = "ok": a(2, 2) = "": a(2, 3) = "#GPU"
    r = GpuValue(a)
    Open "{out}" For Output As #1
    Print #1, "errors " & IsError(r(1, 1)) & IsError(r(1, 2)) & IsError(r(1, 3)) _
        & IsError(r(2, 1)) & IsError(r(2, 2)) & IsError(r(2, 3))
    Print #1, "codes " & (r(1, 2) = CVErr(2042)) & (r(1, 3) = CVErr(2015)) _
        & (r(1, 3) = CVErr(2042))
    Print #1, "kept " & r(1, 1) & "|" & r(2, 1) & "|" & r(2, 2) & "|" & r(2, 3)
    Print #1, "alone " & IsError(GpuValue("#GPU! bad")) & (GpuValue("#GPU! bad") = CVErr(2015)) _
        & IsError(GpuValue(2.5)) & GpuValue(2.5)
    Close #1
End Sub
'''
    lo.run_basic("Option VBASupport 1\n" + addin.ERROR_VALUES + main)
    lines = out.read_text().splitlines()
    assert lines == ["errors FalseTrueTrueFalseFalseFalse", "codes TrueTrueFalse",
                     "kept 1.5|ok||#GPU", "alone TrueTrueFalse2.5"]
