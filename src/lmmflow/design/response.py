"""The response of a generalized linear mixed model, read as R's ``binomial()`` / ``poisson()`` ``initialize`` do.

Binomial responses come in four forms, each giving the proportion of successes ``y`` and the number of trials
(the prior weights ``w``, times any ``weights=``):

* ``cbind(successes, failures)`` on the left of the formula (any expressions, ``cbind(k, n - k)``):
  ``y = s / (s + f)`` (0 where ``s + f = 0``), ``w = weights * (s + f)``;
* 0/1 numbers or booleans: ``y`` as given, ``w = weights`` (1 by default);
* a two-level categorical or text column: the second level (categories' order for a pandas Categorical, else
  sorted, as R's factor) is a success;
* a proportion in [0, 1] with ``weights=`` the trials: ``y`` as given, ``w = weights``; ``w * y`` not a whole
  number warns as R's "non-integer #successes in a binomial glm!".

Poisson responses are counts: negative values are an error; non-integer values warn, as R's ``dpois``.

Examples
--------
>>> import pandas as pd
>>> frame = pd.DataFrame({"k": [1, 0, 3], "n": [2, 4, 3]})
>>> r = glm_response("cbind(k, n - k)", frame, "binomial")
>>> r.y.tolist(), r.weights.tolist()
([0.5, 0.0, 1.0], [2.0, 4.0, 3.0])
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..exceptions import LmmflowWarning
from ..formula import FormulaError, cbind_parts
from .frame import DataError

__all__ = ["GlmResponse", "family_name", "glm_response"]

_TOL = 1e-3  # R's tolerance for "non-integer" counts (abs(x - round(x)) > 0.001)


@dataclass(frozen=True)
class GlmResponse:
    """A GLMM response: the values the family sees and the prior weights.

    Attributes
    ----------
    y : numpy.ndarray
        Binomial: the proportion of successes; Poisson: the counts.
    weights : numpy.ndarray or None
        Prior weights (binomial: trials times any ``weights=``); None when every weight is 1 and none was given.
    levels : tuple of str or None
        A categorical response's levels (failure, success).
    kind : str
        ``"cbind"``, ``"binary"``, ``"proportion"``, ``"factor"`` or ``"count"``.
    trials : numpy.ndarray or None
        ``cbind``: successes + failures (R's binomial ``n``, which the log-likelihood's constant uses when
        ``weights=`` multiplies the prior weights); None otherwise.
    """

    y: np.ndarray
    weights: np.ndarray | None
    levels: tuple[str, str] | None = None
    kind: str = "binary"
    trials: np.ndarray | None = None


def family_name(family: object) -> str:
    """``"binomial"`` or ``"poisson"`` from a name or a family object (anything with a ``name``).

    Examples
    --------
    >>> family_name("Binomial")
    'binomial'
    """
    name = family if isinstance(family, str) else getattr(family, "name", None)
    if not isinstance(name, str) or name.lower() not in ("binomial", "poisson"):
        raise ValueError(f"family={family!r}: use 'binomial' or 'poisson' (or lf.binomial(link=...), "
                         "lf.poisson()); for a Gaussian response use lf.lmer")
    return name.lower()


def _evaluate(expr: str, frame: pd.DataFrame, what: str) -> pd.Series:
    """A column or an expression of columns (``size - incidence``), as a Series on the frame's index."""
    plain = expr[1:-1] if expr.startswith("`") and expr.endswith("`") else expr
    if plain in frame.columns:
        return frame[plain]
    try:
        from formulaic import model_matrix

        vals = np.asarray(model_matrix(f"0 + I({expr})", frame, na_action="ignore"), dtype=float)
    except Exception as exc:  # formulaic raises several kinds
        raise FormulaError(f"cannot evaluate {what} {expr!r}: {exc}") from exc
    if vals.ndim == 2:
        if vals.shape[1] != 1:
            raise FormulaError(f"{what} {expr!r} must be a single numeric column")
        vals = vals[:, 0]
    return pd.Series(vals, index=frame.index)


def _numeric(s: pd.Series, what: str) -> np.ndarray:
    if pd.api.types.is_bool_dtype(s):
        return s.to_numpy(dtype=float)
    if not pd.api.types.is_numeric_dtype(s):
        raise DataError(f"{what} must be numeric, but it holds {s.dtype} values; convert it (e.g. pd.to_numeric)")
    v = s.to_numpy(dtype=float, na_value=np.nan)
    if not np.isfinite(v).all():
        raise DataError(f"{what} has {int((~np.isfinite(v)).sum())} missing or infinite value(s) after evaluation")
    return v


def _prior(weights: np.ndarray | None, n: int) -> np.ndarray:
    return np.ones(n) if weights is None else np.asarray(weights, dtype=float)


def _binomial(response: str, frame: pd.DataFrame, weights: np.ndarray | None) -> GlmResponse:
    parts = cbind_parts(response)
    n = len(frame)
    if parts is not None:
        s = _numeric(_evaluate(parts[0], frame, "the successes"), f"the successes {parts[0]!r}")
        f = _numeric(_evaluate(parts[1], frame, "the failures"), f"the failures {parts[1]!r}")
        for v, e, what in ((s, parts[0], "successes"), (f, parts[1], "failures")):
            if (v < 0).any():
                raise DataError(f"the {what} {e!r} have {int((v < 0).sum())} negative value(s): cbind(successes, "
                                "failures) needs counts >= 0 (check the expression, e.g. size - incidence)")
        if (np.abs(s - np.round(s)) > _TOL).any() or (np.abs(f - np.round(f)) > _TOL).any():
            warnings.warn("non-integer counts in a binomial glm! (cbind(successes, failures) should hold whole "
                          "numbers)", LmmflowWarning, stacklevel=4)
        trials = s + f
        with np.errstate(invalid="ignore", divide="ignore"):
            y = np.where(trials == 0, 0.0, s / np.where(trials == 0, 1.0, trials))
        return GlmResponse(y=y, weights=_prior(weights, n) * trials, kind="cbind", trials=trials)
    plain = response[1:-1] if response.startswith("`") and response.endswith("`") else response
    col = frame[plain] if plain in frame.columns else None
    if col is not None and (isinstance(col.dtype, pd.CategoricalDtype) or not (
            pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col))):
        if isinstance(col.dtype, pd.CategoricalDtype):
            levels = [str(c) for c in col.cat.categories]
            values = col.astype(str)
        else:
            values = col.astype(str)
            levels = sorted(pd.unique(values))
        if len(levels) != 2:
            raise DataError(f"the response {plain!r} has {len(levels)} level(s) {levels[:6]}: a binomial response "
                            "needs exactly two (the second in sorted order is a success, as R's factor); recode it "
                            "to 0/1 or to two levels")
        y = (values == levels[1]).to_numpy(dtype=float)
        if weights is not None:
            y = np.where(np.asarray(weights) == 0, 0.0, y)
        return GlmResponse(y=y, weights=None if weights is None else _prior(weights, n),
                           levels=(levels[0], levels[1]), kind="factor")
    y = _numeric(col if col is not None else _evaluate(response, frame, "the response"), f"the response {plain!r}")
    bad = (y < 0) | (y > 1)
    if bad.any():
        hint = ("; for counts use family='poisson', for successes out of trials cbind(successes, failures) "
                "or a proportion with weights= the trials")
        raise DataError(f"the response {plain!r} has {int(bad.sum())} value(s) outside [0, 1] (e.g. "
                        f"{float(y[bad][0]):g}): a binomial response is 0/1, a proportion, a two-level factor or "
                        f"cbind(successes, failures){hint}")
    w = _prior(weights, n)
    y = np.where(w == 0, 0.0, y)  # as R's binomial initialize: y[weights == 0] <- 0
    if (np.abs(w * y - np.round(w * y)) > _TOL).any():
        warnings.warn(f"non-integer #successes in a binomial glm! (the response {plain!r} times the weights is not "
                      "a whole number: give weights= the number of trials of each proportion)", LmmflowWarning,
                      stacklevel=4)
    kind = "binary" if np.isin(y, (0.0, 1.0)).all() else "proportion"
    return GlmResponse(y=y, weights=None if weights is None else w, kind=kind)


def _poisson(response: str, frame: pd.DataFrame, weights: np.ndarray | None) -> GlmResponse:
    if cbind_parts(response) is not None:
        raise FormulaError(f"cbind(successes, failures) is a binomial response; family='poisson' needs one count "
                           f"column (got {response!r})")
    plain = response[1:-1] if response.startswith("`") and response.endswith("`") else response
    col = frame[plain] if plain in frame.columns else _evaluate(response, frame, "the response")
    if pd.api.types.is_bool_dtype(col) or not pd.api.types.is_numeric_dtype(col):
        raise DataError(f"the response {plain!r} must hold counts for family='poisson', but it holds {col.dtype} "
                        "values; convert it (e.g. pd.to_numeric)")
    y = _numeric(col, f"the response {plain!r}")
    if (y < 0).any():
        raise DataError(f"the response {plain!r} has {int((y < 0).sum())} negative value(s): negative values are "
                        "not allowed for the 'Poisson' family (as R); a Poisson response is a count")
    if (np.abs(y - np.round(y)) > _TOL).any():
        warnings.warn(f"non-integer counts in the Poisson response {plain!r} (R's dpois warns 'non-integer x'): "
                      "the log-likelihood treats them as counts", LmmflowWarning, stacklevel=4)
    return GlmResponse(y=y, weights=None if weights is None else _prior(weights, len(y)), kind="count")


def glm_response(response: str, frame: pd.DataFrame, family: object, weights: np.ndarray | None = None
                 ) -> GlmResponse:
    """Read a GLMM response from the model frame (R's family ``initialize``).

    Parameters
    ----------
    response : str
        The left-hand side: a column, an expression, or ``cbind(successes, failures)``.
    frame : pandas.DataFrame
        The model frame (complete rows).
    family : str or family object
        ``"binomial"`` or ``"poisson"``.
    weights : numpy.ndarray, optional
        Prior weights given with ``weights=`` (binomial proportions: the trials).

    Returns
    -------
    GlmResponse

    Raises
    ------
    DataError
        A binomial response outside [0, 1], a categorical response without exactly two levels, negative
        counts, text for a Poisson response.

    Examples
    --------
    >>> import pandas as pd
    >>> r = glm_response("r2", pd.DataFrame({"r2": ["N", "Y", "Y"]}), "binomial")
    >>> r.y.tolist(), r.levels
    ([0.0, 1.0, 1.0], ('N', 'Y'))
    """
    fam = family_name(family)
    if fam == "binomial":
        return _binomial(response, frame, weights)
    return _poisson(response, frame, weights)
