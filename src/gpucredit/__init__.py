"""gpucredit: credit analytics for loans secured on GPU clusters.

The core (this package's modules other than ``udfs``, ``cli``, ``tape``, ``excel`` and
``engine``) needs only numpy, pandas and scipy.
"""

from gpucredit.errors import GpuCreditError

__version__ = "0.1.0"
__all__ = ["GpuCreditError", "__version__"]
