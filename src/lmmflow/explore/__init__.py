"""An interactive, self-contained HTML page that shows how a growth model's parameters shape trajectories.

The page simulates a random-intercept-and-slope model in the browser and redraws as sliders move:
the fixed intercept and slope, the intercept and slope variances and their correlation, the residual
SD, the number of units and waves, and where time zero sits. It shows the spaghetti of unit lines with
the mean trajectory and the band where 95% of unit lines fall (fan-in / fan-out), Var(y_t) and the ICC
at each wave, and partial pooling: unit OLS estimates against their shrunken BLUPs.

Everything is inline (HTML, CSS, JavaScript, data as JSON): the file opens offline, from disk or an
e-mail attachment. Given a fitted model the page opens on its estimates and also draws the model's own
units.

Functions
---------
explorer_html
    The page as a string.
write_explorer
    Write the page to a file (optionally from a fitted model).
explorer_inputs
    The parameters and unit data the page takes from a fitted model.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from ._model import explorer_inputs
from ._page import _ALIASES, DEFAULT_TITLE, PARAM_KEYS, build_page, normalize_params, units_payload

__all__ = ["DEFAULT_TITLE", "PARAM_KEYS", "explorer_html", "explorer_inputs", "write_explorer"]


def explorer_html(params: Mapping[str, Any] | None = None, units: pd.DataFrame | None = None,
                  title: str = DEFAULT_TITLE) -> str:
    """The explorer as one self-contained HTML document.

    Parameters
    ----------
    params : dict, optional
        Values the sliders open on; missing keys take the worked tutorial's values (200 units, waves at
        0..4, gamma00 = 50, gamma10 = 2, tau00 = 100, tau11 = 1, rho = -0.2, sigma = 5). Keys:
        ``gamma00``, ``gamma10``, ``tau00``, ``tau11``, ``rho`` (or ``tau01``), ``sigma``, ``n_units``,
        ``n_waves``, ``t0`` (time zero), ``times`` (the waves, any spacing; default 0..9, of which
        ``n_waves`` are shown), ``seed`` (of the in-page simulation), ``time_label``,
        ``response_label``, ``unit_label``, ``formula``. ``simulate_growth``'s
        ``df.attrs["lmmflow_truth"]`` is accepted as it is.
    units : pandas.DataFrame, optional
        Observed units to draw with their model-based lines: one row per observation with columns
        ``unit``, ``time``, ``intercept``, ``slope`` and optionally ``y``; see :func:`explorer_inputs`.
    title : str
        Page title and heading.

    Returns
    -------
    str
        The HTML document. It loads nothing from the network.

    Notes
    -----
    Query parameters set the controls on load, through the same ``input`` events as the sliders:
    ``page.html?tau00=50&rho=-0.6&sigma=3&seed=7&noise=0&band=0&model=0&pool=model``. Elements have
    stable ids (``#slider-<key>``, ``#value-<key>``, ``#traj-svg`` with one ``polyline.unit`` per
    simulated unit, ``#icc-table`` with ``data-icc-t0``, ``data-var-t0``, ..., ``#pool-table`` with
    ``data-ols-b0``, ``data-blup-b0``, ... per row, ``#fan-status`` with ``data-fan``) and the root
    ``#lmm-explorer`` carries the current values as ``data-*`` attributes.

    Examples
    --------
    >>> import lmmflow as lf
    >>> page = lf.explorer_html({"tau00": 50.0, "rho": -0.5})
    >>> page.startswith("<!DOCTYPE html>"), 'id="slider-tau00"' in page
    (True, True)
    >>> truth = lf.simulate_growth(n_units=50, seed=1).attrs["lmmflow_truth"]
    >>> "slider-n_units" in lf.explorer_html(truth)
    True
    """
    p = normalize_params(params)
    records = units_payload(units)
    if records:
        source = "model"
        note = (f"Opened on the estimates of {p['formula']}" if p["formula"] else "Opened on the given estimates") + (
            f"; orange: {len(records)} of the model's units, their data and BLUP-based lines.")
    elif params:
        source = "params"
        note = "Opened on the given parameters" + (f" (model {p['formula']})." if p["formula"] else ".")
    else:
        source = "defaults"
        note = ("Opened on the worked tutorial's values: 200 units, 5 waves, γ00 = 50, γ10 = 2, τ00 = 100, "
                "τ11 = 1, ρ = −0.2, σ = 5.")
    note += " Move a slider: the same random draws are reused, so what changes is that parameter's effect."
    return build_page(p, records, title, source, note, p["formula"])


def write_explorer(path: str | os.PathLike[str], model: Any = None, *, params: Mapping[str, Any] | None = None,
                   units: pd.DataFrame | None = None, time: str | None = None, unit: str | None = None,
                   title: str = DEFAULT_TITLE, max_units: int = 300) -> Path:
    """Write the explorer page to ``path``.

    Parameters
    ----------
    path : str or path-like
        The HTML file to write (parent folders are created).
    model : LmerResult, optional
        A fitted growth model: the page opens on its estimates and also draws its units' data and
        BLUP-based lines (see :func:`explorer_inputs`). Without it the page opens on ``params`` or the
        tutorial's values.
    params : dict, optional
        Opening values (see :func:`explorer_html`); with a model they override its estimates, e.g.
        ``{"n_units": 50}``.
    units : pandas.DataFrame, optional
        Units to draw instead of the model's.
    time, unit : str, optional
        The model's time and unit columns, when they cannot be inferred from its random term.
    title : str
        Page title.
    max_units : int
        Most model units embedded in the page.

    Returns
    -------
    pathlib.Path
        The file written.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import lmmflow as lf
    >>> m = lf.lmer("y ~ time + (1 + time | id)", lf.simulate_growth(n_units=60, seed=3))
    >>> out = lf.write_explorer(pathlib.Path(tempfile.mkdtemp()) / "explorer.html", m)
    >>> out.suffix, out.stat().st_size > 10_000
    ('.html', True)
    """
    merged: dict[str, Any] = {}
    if model is not None:
        merged, model_units = explorer_inputs(model, time=time, unit=unit, max_units=max_units)
        if units is None:
            units = model_units
    if params:
        given = {_ALIASES.get(k, k): v for k, v in params.items()}
        if "tau01" in given and "rho" not in given:
            merged.pop("rho", None)
        merged.update(given)
    page = explorer_html(merged or None, units, title)
    out = Path(os.fspath(path)).expanduser()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return out
