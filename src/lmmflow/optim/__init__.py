"""Optimizers over theta and the record of an optimization."""
from .optimize import OptSummary, optimize_theta

__all__ = ["OptSummary", "optimize_theta"]
