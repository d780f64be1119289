"""Editing a VBA project: xlwings' own add-in template, read back by olefile and oletools."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import olefile
import pytest
import xlwings
from oletools.olevba import decompress_stream

from gpucredit.errors import GpuCreditError
from gpucredit.excel.vba_project import VbaProject

TEMPLATE = Path(xlwings.__file__).with_name("quickstart_addin.xlam")


@pytest.fixture()
def template() -> bytes:
    with zipfile.ZipFile(TEMPLATE) as zf:
        return zf.read("xl/vbaProject.bin")


def _streams(data: bytes) -> dict[str, bytes]:
    with olefile.OleFileIO(io.BytesIO(data)) as ole:
        return {"/".join(p): ole.openstream(p).read() for p in ole.listdir()}


def test_reading_and_writing_back_changes_no_stream(template):
    before = _streams(template)
    after = _streams(VbaProject(template).to_bytes())
    assert after.keys() == before.keys()
    for name in before:  # the dir stream is recompressed: compare what it holds
        unpack = (lambda b: bytes(decompress_stream(bytearray(b)))) if name == "VBA/dir" \
            else (lambda b: b)
        assert unpack(after[name]) == unpack(before[name]), name


def test_rename_and_replace_a_module(template):
    project = VbaProject(template)
    assert project.name == "MyAddin" and "Module1" in project.modules()
    project.set_source("Module1", 'Attribute VB_Name = "Wrappers"\nFunction F()\nEnd Function',
                       "Wrappers")
    project.rename("gpucredit")
    again = VbaProject(project.to_bytes())
    assert again.name == "gpucredit"
    assert again.modules() == ["ThisWorkbook", "Dictionary", "xlwings", "Sheet2", "Wrappers"]
    assert again.source("Wrappers") == \
        'Attribute VB_Name = "Wrappers"\r\nFunction F()\r\nEnd Function'
    assert again.source("xlwings") == VbaProject(template).source("xlwings")  # untouched
    streams = _streams(again.to_bytes())
    assert "VBA/Module1" not in streams
    assert b"Wrappers\0W\0r\0a\0p\0p\0e\0r\0s\0\0\0" in streams["PROJECTwm"]
    text = streams["PROJECT"].decode("cp1252")
    assert 'Name="gpucredit"' in text and "Module=Wrappers" in text and "Module1" not in text


def test_a_project_with_compiled_code_is_refused(template):
    streams = _streams(template)
    streams["VBA/_VBA_PROJECT"] = b"\xcc\x61\xb5\x00\x00\x01\x00"  # VBA 7 cache version
    from gpucredit.excel import cfb

    tree = {"PROJECT": streams["PROJECT"], "PROJECTwm": streams["PROJECTwm"],
            "VBA": {k[4:]: v for k, v in streams.items() if k.startswith("VBA/")}}
    with pytest.raises(GpuCreditError, match="compiled code"):
        VbaProject(cfb.write(tree))
