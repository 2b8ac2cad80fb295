"""From a parsed formula and data to model matrices: the model frame, X, y and the random terms."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from ..formula import ParsedFormula, parse_formula
from .fixed import FixedDesign, build_fixed, build_response
from .frame import DataError, ModelFrame, as_pandas, build_model_frame, group_codes
from .random import ReTerm, build_random_terms

__all__ = ["DataError", "ModelDesign", "ReTerm", "as_pandas", "group_codes", "encode_groups", "lformula"]


@dataclass(frozen=True)
class ModelDesign:
    """Everything a fit needs from the formula and the data (lme4's ``lFormula`` result).

    Attributes
    ----------
    formula : ParsedFormula
    frame : ModelFrame
        The rows used, with dropped-row count, weights and offset.
    y : numpy.ndarray
    fixed : FixedDesign
    terms : list of ReTerm
        Random-effects terms in engine order (decreasing number of levels).
    """

    formula: ParsedFormula
    frame: ModelFrame
    y: np.ndarray
    fixed: FixedDesign
    terms: list[ReTerm]

    @property
    def n(self) -> int:
        """Number of observations used."""
        return len(self.y)

    def with_response(self, y: np.ndarray) -> ModelDesign:
        """The same design with another response vector."""
        return replace(self, y=np.asarray(y, dtype=float))

    @property
    def X(self) -> np.ndarray:
        """The fixed-effects matrix (full column rank)."""
        return self.fixed.X


def lformula(formula: str, data: object, weights: object = None, offset: object = None) -> ModelDesign:
    """Parse ``formula`` and build its model matrices on ``data`` (lme4's ``lFormula``).

    Parameters
    ----------
    formula : str
        An lme4 formula, e.g. ``"Reaction ~ Days + (Days | Subject)"``.
    data : pandas.DataFrame, polars.DataFrame or dict
        Long-format data; it is not modified.
    weights, offset : str, array-like or None
        Prior weights / offset: a column name or one value per row.

    Returns
    -------
    ModelDesign

    Examples
    --------
    >>> import lmmflow as lf
    >>> d = lf.lformula("Reaction ~ Days + (Days | Subject)", lf.load_dataset("sleepstudy"))
    >>> d.X.shape, d.terms[0].nlevels
    ((180, 2), 18)
    """
    parsed = parse_formula(formula)
    if not parsed.random:
        raise DataError(
            f"formula {formula!r} has no random-effects term such as (1 | group); "
            "for a model without random effects use ordinary least squares (e.g. statsmodels.OLS)"
        )
    df = as_pandas(data)
    frame = build_model_frame(parsed, df, weights=weights, offset=offset)
    y = build_response(parsed.response, frame.data)
    fixed = build_fixed(parsed.fixed, frame.data)
    terms = build_random_terms(parsed.random, frame.data)
    return ModelDesign(formula=parsed, frame=frame, y=y, fixed=fixed, terms=terms)


def encode_groups(term: ReTerm, data: pd.DataFrame) -> np.ndarray:
    """Codes of ``data``'s rows in ``term``'s grouping factor; -1 for levels not seen in the fit."""
    codes_new, labels = group_codes(data, term.group_cols)
    lookup = pd.Index(term.levels).get_indexer(labels)
    return lookup[codes_new]
