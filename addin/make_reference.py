"""Write the "Function reference" section of docs/excel.md from the functions' metadata.

The text is what classic xlwings registers (``__xlfunc__``: the docstring's first line
and each argument's help), read through xlwings' own classic machinery
(tests/excel_runtime/harness.py), so the docs and Excel's function wizard say the same.

Usage::

    python addin/make_reference.py      # rewrites docs/excel.md from "## Function reference"
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "excel.md"
HEADING = "## Function reference"
INTRO = ("Arguments in brackets are optional. Generated from the functions' own metadata "
         "(the same\ntext Excel shows) by `addin/make_reference.py`.\n")


def _harness():
    spec = importlib.util.spec_from_file_location(
        "harness", ROOT / "tests" / "excel_runtime" / "harness.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def reference(meta: dict) -> str:
    """The section's markdown from the classic metadata (``Runtime.request("meta")``)."""
    out = [HEADING, "", INTRO]
    for name in sorted(meta):
        info = meta[name]
        sig = ", ".join(f"[{a['name']}]" if a["optional"] else a["name"]
                        for a in info["args"])
        out += [f"### `{name}({sig})`", "", info["doc"].strip().splitlines()[0], ""]
        out += [f"- `{a['name']}`" + (" (optional)" if a["optional"] else "") + f": {a['doc']}"
                for a in info["args"]]
        out.append("")
    return "\n".join(out)


def main() -> None:
    with _harness().Runtime("classic") as rt:
        section = reference(rt.request("meta"))
    text = DOC.read_text()
    head = text[:text.index(HEADING)] if HEADING in text else text + "\n"
    DOC.write_text(head + section)


if __name__ == "__main__":
    sys.exit(main())
