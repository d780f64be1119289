"""``make sandbox-demo``: recalc-workbook against a workbook that links files outside it.

Plants a secret workbook (holding a marker string) beside the input and two folders
above it, builds a workbook whose cells link it every way Excel writes a link, runs the
installed ``gpucredit recalc-workbook`` on it as a user would, and searches every part of
the output package for the marker and for the secret files' bytes. Exits 1 if any is found.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import openpyxl
from openpyxl.workbook.defined_name import DefinedName

sys.path.insert(0, str(Path(__file__).parent))
from test_recalc_sandbox import (  # the test module's builders
    MARKER,
    add_external_link,
    plant_secret,
    unpacked,
)


def build(root: Path) -> tuple[Path, list[Path]]:
    here = root / "deals" / "2026"
    secrets = [here / "secret.xlsx", root / "x" / "[f].xlsx", root / "x" / "f.xlsx"]
    for s in secrets:
        plant_secret(s)
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Bob's model"
    ws["A1"], ws["A2"] = 150.0, 100.0
    links = ["='[secret.xlsx]Sheet1'!A1", "=[1]Sheet1!A1", "='../../x/[f.xlsx]Sheet1'!A1",
             '=WEBSERVICE("http://127.0.0.1:9/")', "=INDIRECT(\"'[secret.xlsx]Sheet1'!A1\")",
             "=outside", "=[1]!GPU_DSCR(A1,A2)"]
    for i, f in enumerate(links, start=1):
        ws[f"B{i}"] = f
    wb.defined_names["outside"] = DefinedName("outside", attr_text="[secret.xlsx]Sheet1!$A$1")
    plain = here / "plain.xlsx"
    wb.save(plain)
    src = here / "Deal model [v2].xlsx"
    add_external_link(plain, src, "secret.xlsx")
    plain.unlink()
    return src, secrets


def main() -> int:
    root = Path(tempfile.mkdtemp(prefix="gpucredit-sandbox-demo-"))
    try:
        src, secrets = build(root)
        out = root / "out" / "values.xlsx"
        out.parent.mkdir()
        exe = Path(sys.executable).with_name("gpucredit")
        cmd = [str(exe), "recalc-workbook", str(src), "-o", str(out)]
        print("$ gpucredit", " ".join(cmd[1:]), flush=True)
        proc = subprocess.run(cmd, check=False)
        print(f"exit status {proc.returncode}")
        if not out.is_file():
            print("no output written")
            return 1
        data, raw = unpacked(out), out.read_bytes()
        with zipfile.ZipFile(out) as zf:
            print(f"output: {len(zf.namelist())} parts, {len(data):,} bytes unpacked")
        leaked = [s.name for s in secrets if s.read_bytes() in raw]
        if MARKER.encode() in data or leaked:
            print(f"LEAK: the output holds {MARKER!r} or the bytes of {leaked}")
            return 1
        values = [c.value for c in openpyxl.load_workbook(out, data_only=True).active["B"]]
        print("column B of the output:", values)
        print(f"no byte of {', '.join(s.name for s in secrets)} in the output: "
              f"the marker {MARKER} is absent from every part")
        return 0
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
