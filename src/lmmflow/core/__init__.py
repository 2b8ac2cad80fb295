"""The numerical core: cross-products of [Z X y], the blocked Cholesky factor and the profiled deviance.

Imports only numpy and scipy.
"""
from .blocked import BlockedCholesky
from .crossprod import CrossProducts, ReBlock, theta_layout
from .deviance import DevianceFunction, Solution

__all__ = ["BlockedCholesky", "CrossProducts", "DevianceFunction", "ReBlock", "Solution", "theta_layout"]
