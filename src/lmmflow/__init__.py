"""lmmflow: linear mixed models with lme4's formulas and numbers."""
__version__ = "0.1.0"
