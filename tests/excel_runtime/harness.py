"""Run ``gpucredit.udfs`` inside xlwings' own UDF runtimes, one runtime per process.

Which implementation ``xw.func/arg/ret`` is gets fixed when xlwings is first imported
(PLATFORM.md): on Linux they do nothing, so calling the UDFs as plain Python tests none of
the Excel layer. This helper starts a child process that installs one runtime and then
answers JSON requests on stdin:

* ``classic`` - Windows desktop Excel. Stub modules stand in for pywin32 (``pythoncom``,
  ``pywintypes``, ``win32com`` ...); xlwings' real ``_xlwindows`` engine (its COM value
  cleaning and date handling), ``xlwings.udfs`` (``xlfunc/xlarg/xlret``,
  ``generate_vba_wrapper`` and ``call_udf``, the function the VBA wrappers call) and
  ``xlwings.conversion`` run unchanged. Range arguments are fake COM Range objects whose
  ``.Value`` is what Excel's COM server returns (tuples of rows; floats; None for an
  empty cell; error codes as ints; dates as ``pywintypes.TimeType``).
* ``officejs`` - xlwings Lite / xlwings Server. ``XLWINGS_ON_SERVER=true`` and
  ``XLWINGS_LICENSE_KEY=noncommercial`` select the Office.js decorators;
  ``custom_functions_meta`` and ``custom_functions_call`` (the code xlwings Lite runs in
  Pyodide) do the rest.

Client side (tests, bench)::

    with Runtime("classic") as rt:
        rt.call("GPU_DSCR", rng([[100.0], [120.0]]), rng([[80.0], [80.0]]))

Values cross the pipe as JSON with a few markers (:func:`encode`): ``{"$date": ISO}``,
``{"$datetime": ISO}``, ``{"$comdate": ISO}`` (a ``pywintypes.TimeType``),
``{"$float": "nan"}``, ``{"$range": value}`` (classic: a COM Range argument),
``{"$missing": true}`` (classic: an omitted optional argument).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
UDF_MODULE = "gpucredit.udfs"
ADDIN_WORKBOOK = "gpucredit_addin.xlam"

COM_MISSING = -2147352572
"""What COM passes for an omitted optional argument (``call_udf`` maps it to the default)."""
COM_ERRORS = {"#DIV/0!": -2146826281, "#N/A": -2146826246, "#NAME?": -2146826259,
              "#NULL!": -2146826288, "#NUM!": -2146826252, "#REF!": -2146826265,
              "#VALUE!": -2146826273}
"""Excel error values as COM delivers them (ints), from xlwings/_xlwindows.py."""


# =============================================================================== encoding

def encode(value):
    """Python value -> JSON-safe structure (see the module docstring for the markers)."""
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        return {k: encode(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return {"$float": repr(value)}
    if isinstance(value, dt.datetime):
        kind = "$comdate" if type(value).__name__ == "TimeType" else "$datetime"
        return {kind: value.replace(tzinfo=None).isoformat()}
    if isinstance(value, dt.date):
        return {"$date": value.isoformat()}
    return value


def decode(value, com_time=None):
    """Inverse of :func:`encode`; ``com_time`` builds ``$comdate`` values (classic)."""
    if isinstance(value, list):
        return [decode(v, com_time) for v in value]
    if isinstance(value, dict):
        if "$float" in value:
            return float(value["$float"])
        if "$date" in value:
            return dt.date.fromisoformat(value["$date"])
        if "$datetime" in value:
            return dt.datetime.fromisoformat(value["$datetime"])
        if "$comdate" in value:
            d = dt.datetime.fromisoformat(value["$comdate"])
            return com_time(*d.timetuple()[:6]) if com_time else d
        return {k: decode(v, com_time) for k, v in value.items()}
    return value


def rng(value):
    """Classic: mark an argument as a COM Range holding ``value`` (rows of cells)."""
    return {"$range": value}


MISSING = {"$missing": True}
"""Classic: an omitted optional argument."""

JSNULL = {"$jsnull": True}
"""Office.js: an empty cell, which Excel sends as JavaScript ``null`` (Pyodide's
``JsNull``; xlwings reads it as ``None``, see ``xlwings.pro.udfs_officejs.js_to_none``)."""


# =============================================================================== client

class RuntimeError_(RuntimeError):
    """The runtime process failed a request (its traceback is in the message)."""


class Runtime:
    """A child process running one xlwings UDF runtime; talk to it with :meth:`request`."""

    def __init__(self, kind: str):
        if kind not in ("classic", "officejs"):
            raise ValueError(kind)
        self.kind = kind
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            [str(ROOT / "src"), *filter(None, [env.get("PYTHONPATH")])])
        env.pop("XLWINGS_ON_SERVER", None)
        if kind == "officejs":
            env["XLWINGS_ON_SERVER"] = "true"
            env["XLWINGS_LICENSE_KEY"] = "noncommercial"
        else:
            env.pop("XLWINGS_LICENSE_KEY", None)
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), kind], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
        ready = self._read()
        if ready.get("ready") is not True:
            raise RuntimeError_(f"{kind} runtime did not start: {ready}")
        self.info = ready

    def _read(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            err = self.proc.stderr.read()
            raise RuntimeError_(f"{self.kind} runtime exited: {err[-4000:]}")
        return json.loads(line)

    def request(self, op: str, **fields):
        self.proc.stdin.write(json.dumps({"op": op, **encode(fields)}) + "\n")
        self.proc.stdin.flush()
        answer = self._read()
        if "error" in answer:
            raise RuntimeError_(answer["error"])
        return decode(answer["result"])

    def call(self, func: str, *args, **fields):
        """Call a UDF as Excel would; returns what Excel would receive."""
        return self.request("call", func=func, args=list(args), **fields)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        for stream in (self.proc.stdout, self.proc.stderr):
            stream.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# =============================================================================== classic server

def _install_classic():
    """Make the real xlwings classic UDF machinery importable on Linux; return handles."""
    import ctypes
    import importlib.abc
    import importlib.machinery
    import types

    class Anything:
        """Stands in for any pywin32 object: every attribute and call gives another."""

        def __init__(self, name="stub"):
            self._name = name

        def __getattr__(self, item):
            if item.startswith("__"):
                raise AttributeError(item)
            return Anything(f"{self._name}.{item}")

        def __call__(self, *args, **kwargs):
            return Anything(f"{self._name}()")

        def __getitem__(self, key):
            return Anything(f"{self._name}[]")

        def __mro_entries__(self, bases):
            return (object,)

    class StubModule(types.ModuleType):
        def __getattr__(self, item):
            if item.startswith("__"):
                raise AttributeError(item)
            return Anything(f"{self.__name__}.{item}")

    win32 = ("pythoncom", "pywintypes", "win32api", "win32con", "win32com", "win32gui",
             "win32process", "win32timezone", "win32event")

    class Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
        def find_spec(self, name, path, target=None):
            if name.split(".")[0] in win32:
                return importlib.machinery.ModuleSpec(name, self, is_package=True)
            return None

        def create_module(self, spec):
            return StubModule(spec.name)

        def exec_module(self, module):
            module.__path__ = []

    sys.meta_path.insert(0, Finder())
    import pythoncom
    import pywintypes
    import win32process
    import win32timezone

    class TimeType(dt.datetime):
        """pywintypes.TimeType: COM's date, a datetime subclass."""

    pywintypes.TimeType = TimeType
    pywintypes.IID = lambda s: s
    pythoncom.__file__ = "pythoncom.dll"
    win32timezone.TimeZoneInfo = type(
        "TimeZoneInfo", (), {"utc": staticmethod(lambda: dt.UTC)})
    win32process.GetWindowThreadProcessId = lambda hwnd: (1, 4242)
    ctypes.windll = Anything("windll")
    ctypes.oledll = Anything("oledll")

    import xlwings as xw
    from xlwings.main import Engine

    real_pydll = ctypes.PyDLL
    ctypes.PyDLL = Anything("PyDLL")
    try:
        from xlwings import _xlwindows
    finally:
        ctypes.PyDLL = real_pydll
    xw.engines.add(Engine(impl=_xlwindows.engine))
    import xlwings.udfs as xl_udfs

    # What xlwings/__init__.py does on Windows with pywin32:
    xw.func, xw.arg, xw.ret = xl_udfs.xlfunc, xl_udfs.xlarg, xl_udfs.xlret
    return xw, xl_udfs, TimeType


class _ComCount:
    def __init__(self, n):
        self.Count = n


class _ComTypeAttr:
    iid = "{00020846-0000-0000-C000-000000000046}"  # IID of Excel's Range interface


class _ComTypeInfo:
    def GetTypeAttr(self):
        return _ComTypeAttr()


class _ComOle:
    def GetTypeInfo(self):
        return _ComTypeInfo()


class _ComApp:
    Hwnd = 4242


class _ComBook:
    def __init__(self):
        self.Application = _ComApp()


class _ComSheet:
    def __init__(self):
        self.Parent = _ComBook()


class FakeComRange:
    """What a Range argument is to ``call_udf``: a COM object with ``.Value``.

    COM gives a single cell as a scalar and several cells as a tuple of row tuples.
    """

    def __init__(self, value):
        if isinstance(value, list):
            value = tuple(tuple(r) if isinstance(r, list) else (r,) for r in value)
            rows, cols = len(value), len(value[0])
            if rows == 1 and cols == 1:
                value = value[0][0]
        else:
            rows = cols = 1
        self.Value = value
        self._oleobj_ = _ComOle()
        self.Worksheet = _ComSheet()
        self.Row, self.Column = 1, 1
        self.Rows, self.Columns = _ComCount(rows), _ComCount(cols)


class _Workbook:
    Name = ADDIN_WORKBOOK


def _json_safe_options(options: dict) -> dict:
    out = {}
    for k, v in options.items():
        out[k] = v if isinstance(v, (str, int, float, bool, type(None))) else repr(v)
    return out


def _serve_classic():
    import importlib
    import io

    xw, xl_udfs, com_time = _install_classic()
    module = importlib.import_module(UDF_MODULE)
    from xlwings import conversion
    from xlwings.utils import VBAWriter

    def com_arg(a):
        if isinstance(a, dict) and "$range" in a:
            return FakeComRange(decode(a["$range"], com_time))
        if isinstance(a, dict) and a.get("$missing"):
            return COM_MISSING
        return _tuples(decode(a, com_time))

    def call(func, args):
        return xl_udfs.call_udf(UDF_MODULE, func, tuple(com_arg(a) for a in args), None, None)

    def handle(msg):
        op = msg["op"]
        if op == "meta":
            meta = {}
            for name in dir(module):
                obj = getattr(module, name)
                info = getattr(obj, "__xlfunc__", None)
                if info is None:
                    continue
                meta[name] = {
                    "name": info["name"], "category": info["category"],
                    "call_in_wizard": info["call_in_wizard"], "volatile": info["volatile"],
                    "doc": info["ret"]["doc"], "ret_options": _json_safe_options(
                        info["ret"]["options"]),
                    "args": [{"name": a["name"], "doc": a["doc"], "vararg": a["vararg"],
                              "optional": "optional" in a,
                              "default": encode(a.get("optional")),
                              "options": _json_safe_options(a["options"])}
                             for a in info["args"]],
                }
            return meta
        if op == "vba":
            # What xlwings.udfs.import_udfs writes into the module it imports into Excel.
            buf = io.StringIO()
            vba = VBAWriter(buf)
            vba.writeln('Attribute VB_Name = "xlwings_udfs"')
            vba.writeln("'Autogenerated code by xlwings - changes will be lost with next "
                        "import!")
            vba.writeln("""#Const App = "Microsoft Excel" 'Adjust when using outside of """
                        """Excel""")
            xl_udfs.generate_vba_wrapper(UDF_MODULE, module, buf, _Workbook())
            return buf.getvalue()
        if op == "call":
            return call(msg["func"], msg["args"])
        if op == "read":
            return conversion.read(None, _tuples(decode(msg["value"], com_time)),
                                   decode(msg["options"]))
        if op == "read_range":
            rng_ = xw.Range(impl=xw._xlwindows.Range(
                xl=FakeComRange(decode(msg["value"], com_time))))
            return conversion.read(rng_, None, decode(msg["options"]))
        if op == "write":
            return conversion.write(decode(msg["value"]), None, decode(msg["options"]))
        if op == "time":
            args = tuple(com_arg(a) for a in msg["args"])
            return _timeit(lambda: xl_udfs.call_udf(UDF_MODULE, msg["func"], args, None,
                                                     None), msg.get("repeat", 5))
        raise ValueError(f"unknown op {op!r}")

    _loop(handle, {"xlwings": xw.__version__, "pro": xw.__pro__})


def _tuples(value):
    """COM hands over arrays as tuples of row tuples."""
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    return value


# =============================================================================== Office.js server

def _install_pyodide_ffi() -> None:
    """Give CPython the ``pyodide.ffi`` module xlwings Lite always has.

    xlwings' Office.js engine checks every cell for Pyodide's ``JsNull`` with
    ``from pyodide.ffi import JsNull`` inside a ``try``. In Pyodide the import is a cached
    module lookup; on CPython it fails, and a failed import searches ``sys.path`` again for
    every cell (about 0.35 ms a cell here), which would make the Office.js figures of the
    benchmark meaningless. A stand-in module with a ``JsNull`` class (of which no value is
    ever an instance, as on CPython) restores Pyodide's behaviour.
    """
    import types

    ffi = types.ModuleType("pyodide.ffi")
    ffi.JsNull = type("JsNull", (), {})
    pkg = types.ModuleType("pyodide")
    pkg.ffi = ffi
    pkg.__path__ = []
    sys.modules.setdefault("pyodide", pkg)
    sys.modules.setdefault("pyodide.ffi", ffi)


def _serve_officejs():
    import asyncio
    import importlib
    import importlib.util

    _install_pyodide_ffi()
    import xlwings as xw

    if not xw.__pro__ or xw.func.__module__ != "xlwings.pro.udfs_officejs":
        raise SystemExit("the Office.js UDF runtime did not load (XLWINGS_ON_SERVER, "
                         "XLWINGS_LICENSE_KEY)")
    from xlwings import server

    module = importlib.import_module(UDF_MODULE)

    js_null = sys.modules["pyodide.ffi"].JsNull()

    def nulls(value):
        """``{"$jsnull": true}`` -> Pyodide's JsNull: an empty cell as Excel sends it."""
        if isinstance(value, list):
            return [nulls(v) for v in value]
        return js_null if value == JSNULL else value

    def payload(msg):
        data = {"func_name": msg["func"], "args": nulls(decode(msg["args"])),
                "version": xw.__version__, "runtime": msg.get("runtime", "1.4"),
                "client": "Office.js", "caller_address": "Sheet1!A1",
                "culture_info_name": "en-US"}
        if msg.get("date_format"):
            data["date_format"] = msg["date_format"]
        return data

    def handle(msg):
        op = msg["op"]
        if op == "meta":
            return server.custom_functions_meta(module)
        if op == "meta_file":
            # A module loaded from a file, as xlwings Lite loads its main.py
            spec = importlib.util.spec_from_file_location("main", msg["path"])
            main = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(main)
            return server.custom_functions_meta(main)
        if op == "call":
            return _excel_answer(lambda: asyncio.run(
                server.custom_functions_call(payload(msg), module)))
        if op == "call_raw":
            return asyncio.run(server.custom_functions_call(payload(msg), module))
        if op == "time":
            data = payload(msg)
            loop = asyncio.new_event_loop()
            try:
                return _timeit(lambda: loop.run_until_complete(
                    server.custom_functions_call(data, module)), msg.get("repeat", 5))
            finally:
                loop.close()
        raise ValueError(f"unknown op {op!r}")

    _loop(handle, {"xlwings": xw.__version__, "pro": xw.__pro__})


def _excel_answer(call):
    """What Excel shows for an Office.js custom-function call.

    xlwings Server's ``custom-functions-code.js`` (and xlwings Lite) turn a call that
    raised into ``CustomFunctions.Error(ErrorCode.invalidValue, message)``: a ``#VALUE!``
    whose message shows on the error flag. In production only ``xlwings.XlwingsError``
    messages are shown; any other exception reads "Internal Server Error". The answer of
    a raised call is ``{"$excel_error": "#VALUE!", "message": ..., "exception": ...}``.
    """
    try:
        return call()
    except Exception as exc:  # what the JavaScript side would see
        name = type(exc).__name__
        shown = str(exc) if name == "XlwingsError" else "Internal Server Error"
        return {"$excel_error": "#VALUE!", "message": shown, "exception": name}


# =============================================================================== shared

def _timeit(fn, repeat: int) -> dict:
    """Best wall time of ``repeat`` calls, and the last result."""
    best = math.inf
    result = None
    for _ in range(max(1, int(repeat))):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return {"seconds": best, "result": result}


def _loop(handle, info: dict) -> None:
    out = sys.stdout
    sys.stdout = sys.stderr  # nothing but answers on the pipe
    out.write(json.dumps({"ready": True, **info}) + "\n")
    out.flush()
    for line in sys.stdin:
        if not line.strip():
            continue
        msg = json.loads(line)
        try:
            answer = {"result": encode(handle(msg))}
            text = json.dumps(answer, allow_nan=False)
        except Exception as exc:  # report, keep serving
            import traceback

            text = json.dumps({"error": f"{type(exc).__name__}: {exc}\n"
                                        + traceback.format_exc()})
        out.write(text + "\n")
        out.flush()


if __name__ == "__main__":
    {"classic": _serve_classic, "officejs": _serve_officejs}[sys.argv[1]]()
