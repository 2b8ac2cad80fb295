"""The studentized range distribution and Dunnett's approximation as R and emmeans compute them.

emmeans' Tukey p-values call R's ``ptukey`` and its Tukey intervals R's ``qtukey``; its ``"dunnettx"``
adjustment mixes the two (``.pdunnx``, ``.qdunnx``) and finds the quantile with ``uniroot`` at a tolerance
of 5e-4. ``qtukey`` is a secant search that stops when two iterates are within 1e-4, so the
intervals emmeans prints differ from the exact quantiles in the fifth digit: to reproduce emmeans'
numbers (not just the exact distribution's) this module follows the same algorithms:

* :func:`ptukey`: Copenhaver & Holland's (1988) integral as R's ``ptukey.c``: Gauss-Legendre quadrature with
  16 nodes per subinterval of the chi density and 12 nodes per subinterval for the range (``wprob``);
* :func:`qtukey`: R's secant search from the same starting value (Odeh & Evans' normal approximation);
* :func:`pdunnettx`, :func:`qdunnettx`: emmeans' weighted mixture of a Tukey and a Sidak probability, the
  quantile by Brent's root finder as R's ``zeroin``.

``scipy.stats.studentized_range`` computes the same distribution more exactly and more slowly; the two
agree to about 1e-8 in the probabilities that matter for tests.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.polynomial.legendre import leggauss
from scipy import special, stats

__all__ = ["f_dist", "pdunnettx", "ptukey", "qdunnettx", "qtukey", "zeroin"]

_X12, _A12 = leggauss(12)
_X16, _A16 = leggauss(16)


def _wprob(w: np.ndarray, rr: float, cc: float) -> np.ndarray:
    """Probability that the range of ``cc`` standard normals (the largest of ``rr`` such ranges) is below
    each ``w`` (R's ``wprob``, vectorized over ``w``: nodes R skips are masked, so the sums are R's)."""
    w = np.atleast_1d(np.asarray(w, dtype=float))
    qsqz = 0.5 * w
    out = np.ones_like(w)
    active = qsqz < 8.0
    pr_w = 2.0 * special.ndtr(qsqz) - 1.0
    pr_w = np.where(pr_w >= math.exp(-50.0 / cc), np.abs(pr_w) ** cc, 0.0)
    cc1 = cc - 1.0
    floor = math.exp(-30.0 / cc1)
    wincr = np.where(w > 3.0, 2, 3)
    for n_int in (2, 3):
        sel = active & (wincr == n_int)
        if not sel.any():
            continue
        ws, lo = w[sel], qsqz[sel]
        binc = (8.0 - lo) / n_int
        blb = lo[:, None] + binc[:, None] * np.arange(n_int)  # (m, intervals)
        bub = blb + binc[:, None]
        a, b = 0.5 * (bub + blb), 0.5 * (bub - blb)
        ac = a[..., None] + b[..., None] * _X12  # (m, intervals, 12)
        qexpo = ac * ac
        rinsum = special.ndtr(ac) - special.ndtr(ac - ws[:, None, None])
        keep = (qexpo <= 60.0) & (rinsum >= floor)
        terms = np.where(keep, _A12 * np.exp(-0.5 * qexpo) * np.where(keep, rinsum, 1.0) ** cc1, 0.0)
        einsum = np.sum(terms.sum(axis=2) * (2.0 * b * cc / math.sqrt(2.0 * math.pi)), axis=1)
        pr = pr_w[sel] + einsum
        pr = np.where(pr <= math.exp(-30.0 / rr), 0.0, np.abs(pr) ** rr)
        out[sel] = np.minimum(pr, 1.0)
    return out


def _ptukey_lower(q: float, nmeans: float, df: float, nranges: float = 1.0) -> float:
    if math.isnan(q) or math.isnan(df):
        return math.nan
    if q <= 0:
        return 0.0
    if df < 2 or nranges < 1 or nmeans < 2:
        return math.nan
    if not math.isfinite(q):
        return 1.0
    if df > 25000.0:
        return float(_wprob(np.array([q]), nranges, nmeans)[0])
    f2 = 0.5 * df
    f2lf = f2 * math.log(df) - df * math.log(2.0) - special.gammaln(f2)
    f21 = f2 - 1.0
    ff4 = 0.25 * df
    ulen = 1.0 if df <= 100 else 0.5 if df <= 800 else 0.25 if df <= 5000 else 0.125
    f2lf += math.log(ulen)
    # all 50 subintervals of the chi density at once, 16 symmetric nodes each; R's stopping rule after
    twa1 = (2.0 * np.arange(1, 51) - 1.0) * ulen
    u = _X16[None, :] * ulen + twa1[:, None]
    t1 = f2lf + f21 * np.log(u) - u * ff4
    keep = t1 >= -30.0
    contrib = np.zeros_like(u)
    contrib[keep] = _wprob(q * np.sqrt(0.5 * u[keep]), nranges, nmeans) * np.broadcast_to(_A16, u.shape)[keep] \
        * np.exp(t1[keep])
    otsum = contrib.sum(axis=1)
    ans = 0.0
    for i in range(50):
        if (i + 1) * ulen >= 1.0 and otsum[i] <= 1e-14:
            break
        ans += float(otsum[i])
    return min(ans, 1.0)


def ptukey(q: float, nmeans: float, df: float, lower_tail: bool = True, nranges: float = 1.0) -> float:
    """R's ``ptukey(q, nmeans, df, nranges, lower.tail)``: the studentized range distribution.

    ``nmeans`` need not be an integer (emmeans' Dunnett approximation uses fractional values);
    ``df > 25000`` (and infinite df) use the range of normals, as R.

    Examples
    --------
    >>> round(ptukey(3.5, 3, 20), 6)
    0.944108
    """
    p = _ptukey_lower(float(q), float(nmeans), float(df), float(nranges))
    return p if lower_tail else 1.0 - p


def _qinv(p: float, c: float, v: float) -> float:
    """Odeh & Evans' starting value for the quantile (R's qinv)."""
    p0, q0 = 0.322232421088, 0.993484626060e-01
    p1, q1 = -1.0, 0.588581570495
    p2, q2 = -0.342242088547, 0.531103462366
    p3, q3 = -0.204231210125, 0.103537752850
    p4, q4 = -0.453642210148e-04, 0.38560700634e-02
    c1, c2, c3, c4, c5 = 0.8832, 0.2368, 1.214, 1.208, 1.4142
    ps = 0.5 - 0.5 * p
    yi = math.sqrt(math.log(1.0 / (ps * ps)))
    t = yi + ((((yi * p4 + p3) * yi + p2) * yi + p1) * yi + p0) / ((((yi * q4 + q3) * yi + q2) * yi + q1) * yi + q0)
    if v < 120.0:
        t += (t * t * t + t) / v / 4.0
    q = c1 - c2 * t
    if v < 120.0:
        q += -c3 / v + c4 * t / v
    return t * (q * math.log(c - 1.0) + c5)


def qtukey(p: float, nmeans: float, df: float, nranges: float = 1.0) -> float:
    """R's ``qtukey(p, nmeans, df)``: a secant search that stops when two iterates are within 1e-4.

    Examples
    --------
    >>> round(qtukey(0.95, 3, 20), 4)
    3.5779
    """
    if df < 2 or nranges < 1 or nmeans < 2 or not 0 <= p <= 1:
        return math.nan
    if p == 0:
        return 0.0
    if p == 1:
        return math.inf
    x0 = _qinv(p, nmeans, df)
    valx0 = _ptukey_lower(x0, nmeans, df, nranges) - p
    x1 = max(0.0, x0 - 1.0) if valx0 > 0.0 else x0 + 1.0
    valx1 = _ptukey_lower(x1, nmeans, df, nranges) - p
    ans = 0.0
    for _ in range(1, 50):
        ans = x1 - valx1 * (x1 - x0) / (valx1 - valx0)
        valx0 = valx1
        x0 = x1
        if ans < 0.0:
            ans = 0.0
            valx1 = -p
        valx1 = _ptukey_lower(ans, nmeans, df, nranges) - p
        x1 = ans
        if abs(x1 - x0) < 1e-4:
            return ans
    return ans


def zeroin(f, lower: float, upper: float, tol: float, maxiter: int = 1000) -> float:  # noqa: ANN001
    """Brent's root finder exactly as R's ``uniroot`` runs it (``R_zeroin2``), so roots found at a coarse
    tolerance land where R's do."""
    eps = np.finfo(float).eps
    a, b = lower, upper
    fa, fb = f(a), f(b)
    c, fc = a, fa
    if fa == 0.0:
        return a
    if fb == 0.0:
        return b
    for _ in range(maxiter + 1):
        prev_step = b - a
        if abs(fc) < abs(fb):
            a, b, c = b, c, b
            fa, fb, fc = fb, fc, fb
        tol_act = 2.0 * eps * abs(b) + tol / 2.0
        new_step = (c - b) / 2.0
        if abs(new_step) <= tol_act or fb == 0.0:
            return b
        if abs(prev_step) >= tol_act and abs(fa) > abs(fb):
            cb = c - b
            if a == c:
                t1 = fb / fa
                p = cb * t1
                q = 1.0 - t1
            else:
                q = fa / fc
                t1 = fb / fc
                t2 = fb / fa
                p = t2 * (cb * q * (q - t1) - (b - a) * (t1 - 1.0))
                q = (q - 1.0) * (t1 - 1.0) * (t2 - 1.0)
            if p > 0:
                q = -q
            else:
                p = -p
            if p < 0.75 * cb * q - abs(tol_act * q) / 2.0 and p < abs(prev_step * q / 2.0):
                new_step = p / q
        if abs(new_step) < tol_act:
            new_step = tol_act if new_step > 0 else -tol_act
        a, fa = b, fb
        b += new_step
        fb = f(b)
        if (fb > 0 and fc > 0) or (fb < 0 and fc < 0):
            c, fc = a, fa
    return b


def f_dist(df1: float, df2: float) -> Any:
    """scipy's F distribution, or chi-square / df1 for infinite denominator df (where scipy's F gives NaN)."""
    if math.isinf(df2):
        return stats.chi2(df1, scale=1.0 / df1)
    return stats.f(df1, df2)


def _dunnett_means(k: float) -> float:
    return (1.0 + math.sqrt(1.0 + 8.0 * k)) / 2.0


def pdunnettx(x: float, k: float, df: float) -> float:
    """emmeans' ``.pdunnx``: P(max |t| < x) over ``k`` comparisons with a control, approximated by
    ``w * Tukey + (1 - w) * Sidak`` with ``w = (k - 1) / k``.

    Examples
    --------
    >>> round(pdunnettx(2.5, 3, 24), 5)
    0.94759
    """
    twt = (k - 1.0) / k
    tukey = _ptukey_lower(math.sqrt(2.0) * x, _dunnett_means(k), df)
    sidak = float(f_dist(1, df).cdf(x * x)) ** k
    return twt * tukey + (1.0 - twt) * sidak


def qdunnettx(p: float, k: float, df: float) -> float:
    """emmeans' ``.qdunnx``: the quantile of :func:`pdunnettx`, found as emmeans finds it (``uniroot`` between
    the Tukey and Sidak quantiles at tolerance 5e-4).

    Examples
    --------
    >>> round(qdunnettx(0.95, 3, 24), 3)
    2.522
    """
    if k < 1.005:
        return float(stats.t.ppf(1.0 - 0.5 * (1.0 - p), df))
    xtuk = qtukey(p, _dunnett_means(k), df) / math.sqrt(2.0)
    xsid = math.sqrt(float(f_dist(1, df).ppf(p ** (1.0 / k))))
    if abs(xtuk - xsid) < 5e-4:
        return xtuk
    return zeroin(lambda x: pdunnettx(x, k, df) - p, xtuk, xsid, 5e-4)
