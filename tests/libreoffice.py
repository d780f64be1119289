"""Run LibreOffice headless from the tests: recalculate a workbook, render it to PDF or PNG.

Shared by every test that opens what gpucredit writes in a real spreadsheet engine
(results workbook, loan-tape template, demo tape, deal model). Import it as
``from tests import libreoffice as lo`` (``python -m pytest`` from the repository root
puts the root on ``sys.path``).

Each call starts its own ``soffice`` with its own throw-away profile
(``-env:UserInstallation=file:///tmp/...``): two processes sharing a profile hand work to
each other and exit 0 having done nothing (PLATFORM.md), which would make tests running
in parallel (pytest-xdist) pass without converting anything. The profile is seeded with
``OOXMLRecalcMode = 0`` ("always recalculate") so that every formula is computed on load,
also in files that carry stale cached values.

When LibreOffice is missing, :func:`require_soffice` *fails* the test if the environment
variable ``CI`` is set (CI must prove the workbooks open) and skips it with a reason
otherwise.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

TIMEOUT = 180.0
"""Seconds one soffice conversion may take before the test fails."""

_RECALC_ALWAYS = """<?xml version="1.0" encoding="UTF-8"?>
<oor:items xmlns:oor="http://openoffice.org/2001/registry"
           xmlns:xs="http://www.w3.org/2001/XMLSchema"
           xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<item oor:path="/org.openoffice.Office.Calc/Formula/Load">
  <prop oor:name="OOXMLRecalcMode" oor:op="fuse"><value>0</value></prop></item>
<item oor:path="/org.openoffice.Office.Calc/Formula/Load">
  <prop oor:name="ODFRecalcMode" oor:op="fuse"><value>0</value></prop></item>
</oor:items>
"""


class LibreOfficeError(RuntimeError):
    """soffice ran but did not produce the expected file (its output is in the message)."""


def soffice() -> str | None:
    """Path of the ``soffice`` executable, or None."""
    return shutil.which("soffice") or shutil.which("libreoffice")


def in_ci() -> bool:
    """Whether we run in CI (the ``CI`` environment variable set to a true-ish value)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def require_soffice() -> str:
    """The soffice path; fails the calling test in CI, skips it elsewhere, when missing."""
    exe = soffice()
    if exe is None:
        message = ("LibreOffice (soffice) is not installed: apt-get install -y "
                   "--no-install-recommends libreoffice-calc-nogui")
        if in_ci():
            pytest.fail(message + " (CI must open the workbooks in a real spreadsheet engine)")
        pytest.skip(message)
    return exe


def require_pdftoppm() -> str:
    """The pdftoppm path (poppler-utils); fails in CI, skips elsewhere, when missing."""
    exe = shutil.which("pdftoppm")
    if exe is None:
        message = "pdftoppm is not installed: apt-get install -y poppler-utils"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    return exe


def convert(sources, fmt: str, outdir, *, timeout: float = TIMEOUT) -> list[Path]:
    """Convert files with ``soffice --headless --convert-to FMT``.

    Parameters
    ----------
    sources : path or list of paths
        Files to convert (one soffice process converts them all).
    fmt : str
        Target format: ``"xlsx"`` (recalculated: the values LibreOffice computed are
        stored as cached values, readable with ``openpyxl.load_workbook(data_only=True)``)
        or ``"pdf"``.
    outdir : path
        Folder for the converted files (created); must differ from the sources' folder
        when ``fmt`` is their own format, or soffice overwrites them.
    timeout : float
        Seconds before the conversion is abandoned and the test fails.

    Returns
    -------
    list of Path
        The converted files, in the order of ``sources``.

    Raises
    ------
    LibreOfficeError
        soffice failed, timed out, or produced no file for a source.
    """
    exe = require_soffice()
    paths = [Path(sources)] if isinstance(sources, (str, os.PathLike)) else \
        [Path(s) for s in sources]
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    for p in paths:
        if p.suffix.lower() == "." + fmt and p.resolve().parent == outdir.resolve():
            raise ValueError(f"converting {p} to {fmt} in its own folder would overwrite it")
    profile = Path(tempfile.mkdtemp(prefix="gpucredit-lo-profile-"))
    try:
        user = profile / "user"
        user.mkdir()
        (user / "registrymodifications.xcu").write_text(_RECALC_ALWAYS, encoding="utf-8")
        filt = {"xlsx": "xlsx:Calc MS Excel 2007 XML", "pdf": "pdf:calc_pdf_Export"}.get(
            fmt, fmt)
        cmd = [exe, f"-env:UserInstallation={profile.as_uri()}", "--headless", "--norestore",
               "--nolockcheck", "--convert-to", filt, "--outdir", str(outdir),
               *map(str, paths)]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                                  stdin=subprocess.DEVNULL, check=False)
        except subprocess.TimeoutExpired as exc:
            raise LibreOfficeError(f"soffice did not finish converting {paths} to {fmt} "
                                   f"within {timeout:g} s") from exc
        out = [outdir / (p.stem + "." + fmt) for p in paths]
        missing = [o for o in out if not o.is_file() or o.stat().st_size == 0]
        if proc.returncode != 0 or missing:
            raise LibreOfficeError(
                f"soffice --convert-to {fmt} failed (exit {proc.returncode}; missing "
                f"{[str(m) for m in missing]}):\nstdout: {proc.stdout[-2000:]}\n"
                f"stderr: {proc.stderr[-2000:]}")
        return out
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def run_basic(code: str, sub: str = "Main", *, timeout: float = TIMEOUT) -> None:
    """Run ``sub`` of the Basic module ``code`` in LibreOffice headless, as an application
    macro (``macro:///Standard.Module1.<sub>``) of a throw-away profile: the profile is
    created first (``--terminate_after_init``), then the module is written into its
    Standard library. The macro reports through files it writes; a run that does not end
    within ``timeout`` (a Basic runtime error opens a dialog, which headless LibreOffice
    waits on) raises :class:`LibreOfficeError`."""
    from xml.sax.saxutils import escape

    exe = require_soffice()
    profile = Path(tempfile.mkdtemp(prefix="gpucredit-lo-profile-"))
    base = [exe, f"-env:UserInstallation={profile.as_uri()}", "--headless", "--norestore",
            "--nolockcheck"]
    try:
        subprocess.run([*base, "--terminate_after_init"], capture_output=True, timeout=timeout,
                       stdin=subprocess.DEVNULL, check=False)
        module = profile / "user" / "basic" / "Standard" / "Module1.xba"
        if not module.is_file():
            raise LibreOfficeError(f"soffice made no Basic library in {profile}")
        module.write_text(
            '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE script:module PUBLIC '
            '"-//OpenOffice.org//DTD OfficeDocument 1.0//EN" "module.dtd">\n'
            '<script:module xmlns:script="http://openoffice.org/2000/script" '
            f'script:name="Module1" script:language="StarBasic">{escape(code)}'
            "</script:module>\n", encoding="utf-8")
        try:
            subprocess.run([*base, f"macro:///Standard.Module1.{sub}"], capture_output=True,
                           timeout=timeout, stdin=subprocess.DEVNULL, check=False)
        except subprocess.TimeoutExpired as exc:
            raise LibreOfficeError(f"the Basic macro {sub} did not end within {timeout} s "
                                   "(a runtime error waits on a dialog)") from exc
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def recalculate(source, outdir, *, timeout: float = TIMEOUT) -> Path:
    """Open ``source`` in LibreOffice, compute every formula, save it as xlsx in ``outdir``.

    Read the computed values back with ``openpyxl.load_workbook(path, data_only=True)``.
    Never ship the returned file: LibreOffice rewrites function names (PLATFORM.md).
    """
    return convert([source], "xlsx", outdir, timeout=timeout)[0]


def to_pdf(source, outdir, *, timeout: float = TIMEOUT) -> Path:
    """Render every sheet of ``source`` to one PDF in ``outdir``."""
    return convert([source], "pdf", outdir, timeout=timeout)[0]


def pdf_pages(pdf) -> int:
    """Number of pages of a PDF (counted from its page objects, no extra tool needed)."""
    return len(re.findall(rb"/Type\s*/Page(?![a-zA-Z])", Path(pdf).read_bytes()))


def to_png(pdf, outdir, *, dpi: int = 60, first: int = 1, last: int | None = None,
           timeout: float = TIMEOUT) -> list[Path]:
    """Render PDF pages to PNG files with ``pdftoppm -png -r DPI`` (for a look at them)."""
    exe = require_pdftoppm()
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    prefix = outdir / Path(pdf).stem
    cmd = [exe, "-png", "-r", str(dpi), "-f", str(first)]
    if last is not None:
        cmd += ["-l", str(last)]
    proc = subprocess.run([*cmd, str(pdf), str(prefix)], capture_output=True, text=True,
                          timeout=timeout, check=False)
    if proc.returncode != 0:
        raise LibreOfficeError(f"pdftoppm failed on {pdf}: {proc.stderr[-2000:]}")
    return sorted(outdir.glob(prefix.name + "-*.png"))


KNOWN_OPENPYXL_FINDINGS = ()
"""Open XML SDK findings to ignore (none: the writers put fonts in the schema's order)."""


def open_xml_findings(path, *, timeout: float = 600.0) -> list[str]:
    """Findings of the Open XML SDK schema validation (``npx @ooxml-tools/validate``).

    Fails the test in CI and skips it elsewhere when ``npx`` (node) is missing. Returns the
    lines naming a part and element (``./xl/styles.xml//x:styleSheet[1]/...``); an empty
    list means the file is valid.
    """
    npx = shutil.which("npx")
    if npx is None:
        if in_ci():
            pytest.fail("npx (node) is missing: the Open XML schema check must run in CI")
        pytest.skip("npx (node) is not installed")
    proc = subprocess.run([npx, "--yes", "@ooxml-tools/validate", str(path)],
                          capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, check=False,
                          env={**os.environ, "NO_UPDATE_NOTIFIER": "1"})
    out = proc.stdout + proc.stderr
    if "Found" not in out:
        raise LibreOfficeError(f"@ooxml-tools/validate gave no verdict on {path}:\n"
                               f"{out[-2000:]}")
    return [line for line in out.splitlines() if line.startswith("./")
            and not any(k in line for k in KNOWN_OPENPYXL_FINDINGS)]
