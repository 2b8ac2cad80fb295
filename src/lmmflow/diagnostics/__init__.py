"""Diagnostics of a fit: variance explained (R2), ICC, residual checks."""
