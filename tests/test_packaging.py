"""The core installs and imports with numpy, pandas and scipy alone (as in Pyodide)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

CORE_MODULES = [
    "gpucredit",
    "gpucredit.errors",
    "gpucredit.periods",
    "gpucredit.curves",
    "gpucredit.rents",
    "gpucredit.presets",
    "gpucredit.calibration",
    "gpucredit.fleet",
    "gpucredit.debt",
    "gpucredit.coverage",
    "gpucredit.collateral",
    "gpucredit.miners",
    "gpucredit.pricing",
    "gpucredit.montecarlo",
    "gpucredit.model",
    "gpucredit.scenarios",
]

FACE_PACKAGES = ["openpyxl", "xlwings", "click", "rich", "python_calamine", "formulas", "dask"]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(out), str(ROOT)],
        check=True, capture_output=True, text=True, timeout=300,
    )
    (whl,) = out.glob("gpucredit-*.whl")
    return whl


def test_wheel_is_pure_python(wheel: Path):
    assert wheel.name.endswith("-py3-none-any.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        meta = next(n for n in names if n.endswith(".dist-info/METADATA"))
        text = zf.read(meta).decode()
    assert not any(n.endswith((".so", ".pyd", ".dll")) for n in names)
    requires = [
        line.split(":", 1)[1].strip()
        for line in text.splitlines()
        if line.startswith("Requires-Dist:") and "extra ==" not in line
    ]
    assert sorted(r.split(">")[0].split("=")[0].strip() for r in requires) == [
        "numpy", "pandas", "scipy"]


@pytest.mark.slow
def test_core_imports_with_numpy_pandas_scipy_only(wheel: Path, tmp_path: Path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    py = venv / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    subprocess.run(
        [str(py), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "numpy", "pandas", "scipy", str(wheel)],
        check=True, timeout=600, env=env, capture_output=True, text=True,
    )
    probe = (
        "import importlib, json, sys\n"
        f"mods = {CORE_MODULES!r}\n"
        "for m in mods: importlib.import_module(m)\n"
        f"faces = {FACE_PACKAGES!r}\n"
        "present = []\n"
        "for f in faces:\n"
        "    try:\n"
        "        importlib.import_module(f); present.append(f)\n"
        "    except ImportError:\n"
        "        pass\n"
        "print(json.dumps({'present': present, 'loaded': sorted(k for k in sys.modules "
        "if k.split('.')[0] in faces)}))\n"
    )
    res = subprocess.run([str(py), "-c", probe], check=True, capture_output=True, text=True,
                         env=env, cwd=tmp_path, timeout=120)
    found = json.loads(res.stdout)
    assert found == {"present": [], "loaded": []}
