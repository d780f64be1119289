"""xlwings Lite: gpucredit's worksheet functions (written by `gpucredit addin lite`).

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
