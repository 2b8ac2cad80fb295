"""The numerical core: cross-products of [Z X y], the parameter map (parameters -> Lambda), the blocked Cholesky
factor and the profiled deviance.

Imports only numpy and scipy.
"""
from .blocked import BlockedCholesky
from .crossprod import CrossProducts, ReBlock, theta_layout
from .deviance import DevianceFunction, Solution
from .parammap import ParameterMap

__all__ = ["BlockedCholesky", "CrossProducts", "DevianceFunction", "ParameterMap", "ReBlock", "Solution",
           "theta_layout"]
