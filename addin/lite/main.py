"""xlwings Lite: gpucredit's worksheet functions.

Paste this file into xlwings Lite's ``main.py`` tab and the lines of ``requirements.txt``
into its ``requirements.txt`` tab (see ``addin/README.md``). xlwings Lite registers every
function it finds in ``main.py`` that carries xlwings' ``@func`` metadata; the ``GPU_``
functions get theirs when ``gpucredit.udfs`` is imported inside Lite (Pyodide), where
``xlwings.func`` is the Office.js implementation. The functions themselves live in the
gpucredit wheel, so upgrading the wheel upgrades the functions.
"""

import gpucredit.udfs as _gpucredit_udfs

# Expose every GPU_ function at the top level of main.py, where Lite looks for them.
globals().update({name: getattr(_gpucredit_udfs, name)
                  for name in _gpucredit_udfs.udf_names()})
