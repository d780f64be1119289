"""Spreadsheet faces of gpucredit: workbook templates, styles and recalculation.

Submodules (import them directly; nothing is imported here so that ``import
gpucredit.excel`` stays cheap and needs no optional dependency):

* :mod:`gpucredit.excel.styles` - named styles and number formats shared by every
  workbook gpucredit writes (inputs blue on light yellow, calculations black ...).
* :mod:`gpucredit.excel.model_template` - the deal-model workbook built on the ``GPU_``
  worksheet functions (``build_model_workbook``).
* :mod:`gpucredit.excel.recalc` - computes workbooks that use ``GPU_`` functions without
  Excel (``recalc_workbooks``).

These need the ``excel`` extra (openpyxl, formulas).
"""
