"""lme4 formula syntax: finding and expanding the random-effect bars."""
from .parse import FormulaError, ParsedFormula, RandomTerm, cbind_parts, parse_formula, resolve_dot, split_top_level

__all__ = ["FormulaError", "ParsedFormula", "RandomTerm", "cbind_parts", "parse_formula", "resolve_dot",
           "split_top_level"]
