"""Build addin/gpucredit_addin.xlam: xlwings' custom add-in, configured for gpucredit.

Runs ``xlwings quickstart gpucredit_addin --addin`` (works on Linux: it copies xlwings'
``quickstart_addin.xlam``) and edits two things in the add-in's config sheet, directly in
its XML (the VBA project inside stays byte for byte what xlwings ships):

* the sheet ``_myaddin.conf`` is renamed ``myaddin.conf``, which switches the add-in's own
  configuration on (xlwings reads ``<PROJECT_NAME>.conf``; the leading underscore
  disables it);
* ``UDF Modules`` is set to ``gpucredit.udfs``, so "Import Functions" in the add-in (or the
  ``ImportPythonUDFsToAddin`` macro) writes the ``GPU_`` wrappers into it.

Usage::

    python addin/build_addin.py [OUT.xlam]

The interpreter and its ``PYTHONPATH``/Conda settings are left empty: the add-in then uses
the ``python`` Excel finds (or the user's ``xlwings.conf``); ``addin/README.md`` says how
to set them.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "gpucredit_addin.xlam"
UDF_MODULES = "gpucredit.udfs"
CONF_SHEET = "myaddin.conf"  # PROJECT_NAME in the add-in's VBA is "myaddin"


def _quickstart(workdir: Path) -> Path:
    subprocess.run([sys.executable, "-m", "xlwings.cli", "quickstart", "gpucredit_addin",
                    "--addin"], cwd=workdir, check=True, capture_output=True, text=True,
                   timeout=120)
    return workdir / "gpucredit_addin" / "gpucredit_addin.xlam"


def _sheet_part(zf: zipfile.ZipFile, name: str) -> str:
    book = zf.read("xl/workbook.xml").decode("utf-8")
    m = re.search(rf'<sheet name="{re.escape(name)}"[^>]*r:id="(rId\d+)"', book)
    if m is None:
        raise SystemExit(f"sheet {name!r} not found in the quickstart add-in")
    rels = zf.read("xl/_rels/workbook.xml.rels").decode("utf-8")
    t = re.search(rf'<Relationship[^>]*Id="{m[1]}"[^>]*Target="([^"]+)"', rels) or \
        re.search(rf'<Relationship[^>]*Target="([^"]+)"[^>]*Id="{m[1]}"', rels)
    return "xl/" + t[1].lstrip("/").removeprefix("xl/")


def configure(src: Path, out: Path) -> None:
    """Copy the quickstart add-in to ``out`` with the gpucredit configuration."""
    with zipfile.ZipFile(src) as zin:
        sheet = _sheet_part(zin, "_" + CONF_SHEET)
        book = zin.read("xl/workbook.xml").decode("utf-8")
        book = book.replace(f'name="_{CONF_SHEET}"', f'name="{CONF_SHEET}"')
        xml = zin.read(sheet).decode("utf-8")
        strings = re.findall(r"<si><t[^>]*>(.*?)</t></si>",
                             zin.read("xl/sharedStrings.xml").decode("utf-8"))
        index = strings.index("UDF Modules")
        row = re.search(rf'<row r="(\d+)"[^>]*>(?:(?!</row>).)*?<v>{index}</v>(?:(?!</row>)'
                        r".)*?</row>", xml, re.S)
        if row is None:
            raise SystemExit("no 'UDF Modules' row in the add-in's config sheet")
        r = row[1]
        value = f'<c r="B{r}" s="1" t="inlineStr"><is><t>{UDF_MODULES}</t></is></c>'
        new_row = re.sub(rf'<c r="B{r}"[^>]*?(/>|>.*?</c>)', "", row[0], flags=re.S)
        new_row = new_row.replace("</row>", value + "</row>")
        new_row = re.sub(r'\sspans="[^"]*"', "", new_row)
        xml = xml.replace(row[0], new_row)
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
        os.close(fd)
        try:
            with zipfile.ZipFile(tmp, "w") as zout:
                for info in zin.infolist():
                    data = {"xl/workbook.xml": book.encode("utf-8"),
                            sheet: xml.encode("utf-8")}.get(info.filename)
                    zout.writestr(info, data if data is not None else zin.read(info.filename),
                                  compress_type=info.compress_type)
            os.replace(tmp, out)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def build(out: Path = DEFAULT_OUT) -> Path:
    with tempfile.TemporaryDirectory() as d:
        configure(_quickstart(Path(d)), Path(out))
    return Path(out)


if __name__ == "__main__":
    print(build(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_OUT))
