"""The package's one exception type for bad input.

Every function in the core checks its arguments and raises :class:`GpuCreditError`
with a message that names the argument, the offending value and, for arrays, where the
value sits (facility and period). The faces (Excel, templates, CLI) catch this one type
and show its message to the analyst; anything else escaping the core is a bug.
"""

from __future__ import annotations

from typing import Any

__all__ = ["GpuCreditError"]


class GpuCreditError(ValueError):
    """Bad input to a gpucredit function, described in the analyst's terms.

    Parameters
    ----------
    message : str
        What is wrong and what is expected, e.g. ``"utilization must be between 0 and 1,
        got 1.2 (facility 3)"``.
    argument : str, optional
        The name of the offending argument (or tape column).
    value : object, optional
        The offending value.

    Examples
    --------
    >>> err = GpuCreditError("gpus must be >= 0, got -4", argument="gpus", value=-4)
    >>> str(err)
    'gpus must be >= 0, got -4'
    >>> err.argument, err.value
    ('gpus', -4)
    """

    def __init__(self, message: str, *, argument: str | None = None, value: Any = None):
        super().__init__(message)
        self.argument = argument
        self.value = value
