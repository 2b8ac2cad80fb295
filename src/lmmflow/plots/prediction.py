"""Population-level prediction curves with a confidence band for the fixed-effects mean."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..design import as_pandas
from ._common import normal_quantile, single_axes, time_ticks

if TYPE_CHECKING:
    from ..results import LmerResult

__all__ = ["prediction_curve", "prediction_grid", "population_band"]


def prediction_grid(m: LmerResult, x: str, n_points: int = 100) -> pd.DataFrame:
    """``n_points`` values of ``x`` over its observed range, other columns at typical values.

    Numeric columns are held at their mean over the rows used, others (factors, text, booleans) at their
    first level in sorted order: the reference level of treatment contrasts.

    Examples
    --------
    >>> import lmmflow as lf
    >>> m = lf.lmer("Reaction ~ Days + (Days | Subject)", lf.load_dataset("sleepstudy"))
    >>> prediction_grid(m, "Days", n_points=3)["Days"].tolist()
    [0.0, 4.5, 9.0]
    """
    data = m.data
    if x not in data.columns:
        raise ValueError(f"{x!r} is not a column of the model frame; columns are {list(data.columns)}")
    if not pd.api.types.is_numeric_dtype(data[x]) or pd.api.types.is_bool_dtype(data[x]):
        raise ValueError(f"prediction_curve needs a numeric x; {x!r} is {data[x].dtype}: pass newdata= "
                         "with its levels and use m.predict(newdata, re_form='~0', interval='confidence')")
    values = data[x].to_numpy(dtype=float)
    grid = pd.DataFrame({x: np.linspace(values.min(), values.max(), n_points)})
    for col in data.columns:
        if col == x:
            continue
        s = data[col]
        if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
            grid[col] = float(s.mean())
        elif isinstance(s.dtype, pd.CategoricalDtype):
            grid[col] = pd.Categorical([s.cat.categories[0]] * n_points, categories=s.cat.categories)
        else:
            grid[col] = sorted(pd.unique(s.dropna()))[0]
    return grid


def population_band(m: LmerResult, newdata: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """Fixed-effects predictions with a confidence band: fit, lower, upper.

    Uses ``m.predict(newdata, re_form="~0", interval="confidence")`` when the installed lmmflow has it;
    otherwise fit = X β with standard errors √diag(X V_β X') and normal quantiles (offsets not added).

    Examples
    --------
    >>> import lmmflow as lf
    >>> m = lf.lmer("Reaction ~ Days + (Days | Subject)", lf.load_dataset("sleepstudy"))
    >>> band = population_band(m, prediction_grid(m, "Days", n_points=2))
    >>> list(band.columns), bool((band["lower"] < band["fit"]).all())
    (['fit', 'lower', 'upper'], True)
    """
    try:
        res = m.predict(newdata, re_form="~0", interval="confidence", level=level)
        return pd.DataFrame({"fit": np.asarray(res["fit"], dtype=float),
                             "lower": np.asarray(res["lower"], dtype=float),
                             "upper": np.asarray(res["upper"], dtype=float)}, index=newdata.index)
    except (ImportError, NotImplementedError):
        pass
    X = m.design.fixed.encode(newdata)
    fit = X @ m.fixef.to_numpy()
    se = np.sqrt(np.einsum("ij,jk,ik->i", X, m.vcov.to_numpy(), X))
    z = normal_quantile(level)
    return pd.DataFrame({"fit": fit, "lower": fit - z * se, "upper": fit + z * se}, index=newdata.index)


def prediction_curve(m: LmerResult, x: str, ax: Any = None, level: float = 0.95, newdata: Any = None,
                     n_points: int = 100, data: bool = True) -> Any:
    """The fixed-effects prediction over ``x`` with a confidence band, over the observed data.

    The band is for the population mean (the fixed effects' uncertainty), not for a new unit or a new
    observation, which vary much more.

    Parameters
    ----------
    m : LmerResult
    x : str
        Numeric column on the x axis (time).
    ax : matplotlib.axes.Axes, optional
    level : float
        Coverage of the band.
    newdata : DataFrame, optional
        Rows to predict (must include ``x`` and every fixed-effect variable); default
        :func:`prediction_grid` (``x`` over its range, other columns at typical values).
    n_points : int
        Grid size when ``newdata`` is None.
    data : bool
        Show the observations as faint points behind the curve.

    Returns
    -------
    matplotlib.axes.Axes
        A PolyCollection (the band), a Line2D (the prediction, labelled ``"fixed-effects prediction"``), and
        with ``data`` a scatter collection of the observations.

    Examples
    --------
    >>> import lmmflow as lf
    >>> from matplotlib.collections import PolyCollection
    >>> m = lf.lmer("Reaction ~ Days + (Days | Subject)", lf.load_dataset("sleepstudy"))
    >>> ax = lf.plots.prediction_curve(m, "Days")
    >>> any(isinstance(c, PolyCollection) for c in ax.collections)
    True
    """
    if newdata is None:
        grid = prediction_grid(m, x, n_points)
    else:
        grid = as_pandas(newdata)
        if x not in grid.columns:
            raise ValueError(f"newdata has no column {x!r}")
        grid = grid.sort_values(x)
    band = population_band(m, grid, level)
    xs = grid[x].to_numpy(dtype=float)
    ax = single_axes(ax)
    if data and x in m.data.columns:
        n = m.nobs
        ax.scatter(m.data[x].to_numpy(dtype=float), m.design.y, s=6 if n < 5000 else 2, color="0.55",
                   alpha=0.25 if n < 2000 else 0.08, edgecolors="none", rasterized=n > 5000, label="observed")
    ax.fill_between(xs, band["lower"].to_numpy(), band["upper"].to_numpy(), color="C0", alpha=0.3, lw=0,
                    label=f"{round(100 * level)}% confidence band")
    ax.plot(xs, band["fit"].to_numpy(), color="C0", lw=2.2, label="fixed-effects prediction")
    ax.legend(loc="best", frameon=False, fontsize=8)
    if x in m.data.columns:
        time_ticks(ax, m.data[x].to_numpy())
    ax.set_xlabel(x)
    ax.set_ylabel(m.design.formula.response)
    ax.set_title("Population-level prediction")
    return ax
