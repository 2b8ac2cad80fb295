"""From a parsed formula and data to model matrices: the model frame, X, y and the random terms."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from ..core import CrossProducts, ReBlock
from ..core.parammap import ParameterMap
from ..formula import FormulaError, ParsedFormula, cbind_parts, parse_formula, resolve_dot
from . import lazy
from .fixed import FixedDesign, build_fixed, build_response, formula_offset, nonaliased_columns, with_kept
from .frame import DataError, ModelFrame, as_pandas, build_model_frame, group_codes
from .lazy import RowMatrix
from .random import ReTerm, build_random_terms
from .response import GlmResponse, family_name, glm_response

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
    cross : CrossProducts or None
        The cross-products of [Z X y], when the design was read in row blocks (large data: X and Z are
        not held, see :mod:`lmmflow.design.lazy`); otherwise formed by the fit.
    response : GlmResponse or None
        A GLMM's response as its family read it (kind, levels); None for a linear mixed model.

    Examples
    --------
    >>> import lmmflow as lf
    >>> d = lf.lformula("Reaction ~ Days + (Days | Subject)", lf.load_dataset("sleepstudy"))
    >>> d.n, d.fixed.p, [(t.group, t.nlevels, t.p) for t in d.terms]
    (180, 2, [('Subject', 18, 2)])
    """

    formula: ParsedFormula
    frame: ModelFrame
    y: np.ndarray
    fixed: FixedDesign
    terms: list[ReTerm]
    cross: CrossProducts | None = None
    response: GlmResponse | None = None

    @property
    def n(self) -> int:
        """Number of observations used."""
        return len(self.y)

    def less_offset(self, y: np.ndarray | None = None) -> np.ndarray:
        """The response the engine fits: ``y`` (default the design's) less the offset, row by row.

        The one place the offset is taken off (``y - offset = X beta + Z b + e``); ``y`` may also hold one
        response per column (n x R).

        Examples
        --------
        >>> import lmmflow as lf
        >>> d = lf.lformula("Reaction ~ Days + (1 | Subject)", lf.load_dataset("sleepstudy"), offset="Days")
        >>> float(d.y[1] - d.less_offset()[1])
        1.0
        """
        y = self.y if y is None else np.asarray(y, dtype=float)
        off = self.frame.offset
        if off is None:
            return y
        return y - (off[:, None] if y.ndim == 2 else off)

    def with_response(self, y: np.ndarray) -> ModelDesign:
        """The same design with another response vector (its cross-products are formed by the fit)."""
        return replace(self, y=np.asarray(y, dtype=float), cross=None)

    @property
    def streamed(self) -> bool:
        """Whether X or some term's Z is read in row blocks rather than held."""
        return isinstance(self.fixed.matrix, RowMatrix) or any(isinstance(t.matrix, RowMatrix) for t in self.terms)

    def blocks(self) -> list[ReBlock]:
        """The engine's view of the random-effects terms (codes, values, lambda pattern)."""
        return [ReBlock(codes=t.codes, Z=t.matrix, nlevels=t.nlevels, mask=t.theta_mask, structure=t.structure)
                for t in self.terms]

    def param_map(self) -> ParameterMap:
        """The map from the model's covariance parameters (``theta``) to each term's Lambda, with their bounds,
        start values and names (:class:`~lmmflow.core.parammap.ParameterMap`)."""
        return ParameterMap([t.structure for t in self.terms])

    def theta_names(self) -> list[str]:
        """Names of the covariance parameters (lme4's theta names for unstructured terms)."""
        return self.param_map().names([t.group for t in self.terms], [t.cnames for t in self.terms])

    @property
    def X(self) -> np.ndarray:
        """The fixed-effects matrix (full column rank)."""
        return self.fixed.X


def lformula(formula: str, data: object, weights: object = None, offset: object = None,
             contrasts: dict[str, str] | None = None, na_action: str = "na.omit",
             family: object = None) -> ModelDesign:
    """Parse ``formula`` and build its model matrices on ``data`` (lme4's ``lFormula``).

    Parameters
    ----------
    formula : str
        An lme4 formula, e.g. ``"Reaction ~ Days + (Days | Subject)"``.
    data : pandas.DataFrame, polars.DataFrame or dict
        Long-format data; it is not modified.
    weights, offset : str, array-like or None
        Prior weights / offset: a column name or one value per row.  An ``offset=`` and the formula's
        ``offset(...)`` terms are added, as in lme4.
    contrasts : dict, optional
        Column -> ``"treatment"``, ``"sum"``, ``"helmert"`` or ``"poly"`` for categorical predictors of the
        fixed part (R's ``contrasts=``); ordered categoricals get ``"poly"`` unless given otherwise.
    na_action : {"na.omit", "na.exclude", "na.fail", "na.pass"}
        lme4's ``na.action`` for rows with missing values (see :func:`lmmflow.design.frame.check_fit_na_action`).
    family : str or family object, optional
        A GLMM's family (``"binomial"``, ``"poisson"``; :func:`lmmflow.glmer`): the response is read as R's family
        does (:func:`lmmflow.design.response.glm_response`: ``cbind(successes, failures)``, 0/1, a two-level
        factor, proportions with ``weights=`` trials, counts) and ``frame.weights`` holds the prior weights
        (binomial: the trials).  X and Z are always held (no row blocks).

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
    if family is None and cbind_parts(parsed.response) is not None:
        raise FormulaError(f"the response {parsed.response!r} is cbind(successes, failures), a binomial response: "
                           "fit it with lf.glmer(formula, data, family='binomial'); lf.lmer fits a Gaussian response")
    df = as_pandas(data)
    parsed = resolve_dot(parsed, list(df.columns))
    fam = None if family is None else family_name(family)
    frame = build_model_frame(parsed, df, weights=weights, offset=offset, na_action=na_action, family=fam)
    if parsed.offsets:  # offset(...) terms: added to an offset= argument, as lme4 adds them
        off = formula_offset(parsed.offsets, frame.data)
        frame = replace(frame, offset=off if frame.offset is None else frame.offset + off)
    if fam is not None:  # a GLMM: R's family initialize reads the response and the prior weights
        resp = glm_response(parsed.response, frame.data, fam, frame.weights)
        frame = replace(frame, weights=resp.weights)
        y = resp.y
        fixed = build_fixed(parsed.fixed, frame.data, stream=False, contrasts=contrasts, offsets=parsed.offsets)
        terms = build_random_terms(parsed.random, frame.data, stream=False, allow_n=True)  # lme4's glFormula
        return ModelDesign(formula=parsed, frame=frame, y=y, fixed=fixed, terms=terms, response=resp)
    y = build_response(parsed.response, frame.data)
    stream = len(y) >= lazy.STREAM_MIN_ROWS
    fixed = build_fixed(parsed.fixed, frame.data, stream=stream, contrasts=contrasts, offsets=parsed.offsets)
    terms = build_random_terms(parsed.random, frame.data, stream=stream)
    design = ModelDesign(formula=parsed, frame=frame, y=y, fixed=fixed, terms=terms)
    if not design.streamed:
        return design
    # large data: one pass over the rows in blocks forms the cross-products (and, from the R factor of the
    # blocks, finds aliased fixed-effect columns); X and Z are never held whole
    unchecked = isinstance(fixed.matrix, RowMatrix)  # a streamed fixed part: aliased columns not yet found
    cross = CrossProducts.build(design.blocks(), fixed.matrix, design.less_offset(), frame.weights,
                                select=nonaliased_columns if unchecked else None)
    if unchecked:
        fixed = with_kept(fixed, cross.kept)
    return replace(design, fixed=fixed, cross=cross)


def encode_groups(term: ReTerm, data: pd.DataFrame) -> np.ndarray:
    """Codes of ``data``'s rows in ``term``'s grouping factor; -1 for levels not seen in the fit."""
    codes_new, labels = group_codes(data, term.group_cols)
    lookup = pd.Index(term.levels).get_indexer(labels)
    return lookup[codes_new]
