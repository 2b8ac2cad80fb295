"""Fit options, as lme4's ``lmerControl``."""

from __future__ import annotations

from dataclasses import dataclass, replace

__all__ = ["LmerControl"]


@dataclass(frozen=True)
class LmerControl:
    """Options for the optimizer and the checks after a fit.

    Parameters
    ----------
    optimizer : {"auto", "lbfgsb", "bobyqa", "newuoa", "cobyqa", "nelder-mead"}
        ``"lbfgsb"``: scipy's L-BFGS-B with lmmflow's analytic gradient of the profiled objective; it needs
        2-3 times fewer evaluations than the derivative-free methods and falls back to BOBYQA if it stops
        early.  Derivative-free: NLopt's BOBYQA (lme4's default, via ``nloptwrap``), NLopt's NEWUOA
        (bound-constrained), scipy's COBYQA, or NLopt's Nelder-Mead.  ``"auto"`` (default) takes L-BFGS-B
        when the model has several random-effect terms (the dense part of the factor dominates an
        evaluation and the gradient costs about one more factorization), and BOBYQA for a single term
        (evaluations are cheap and the gradient costs several of them) or when the dense block has
        thousands of rows (there the gradient's selected inversion costs two factorizations).
        Measurements: docs/engine.md.
    ftol_rel, ftol_abs, xtol_abs : float
        Stopping tolerances on the objective (relative, absolute) and on theta (absolute).
    maxeval : int
        Maximum number of objective evaluations.
    initial_step : float
        Initial trust-region radius / step for the optimizer.
    polish : bool
        After the optimizer stops, try a Newton step on a finite-difference Hessian of the
        interior parameters and keep it if it lowers the objective.
    check_conv : bool
        Check convergence from the gradient and Hessian at the optimum.  A warning is raised only when
        a Newton step would lower the objective by more than ``conv_tol`` (on the -2 log L scale), a
        criterion that does not grow with the number of rows (lme4's gradient check does, which is why
        it warns falsely on large data).
    conv_tol : float
        See ``check_conv``.
    singular_tol : float
        A fit is singular when a diagonal element of a relative covariance factor is below this
        (lme4's ``isSingular`` tolerance).
    theta0 : sequence of float, optional
        Starting value of theta (default: identity).
    blas_threads : int, "auto" or None
        BLAS threads while fitting.  ``"auto"`` (default): one thread per BLAS library (numpy's and
        scipy's separate OpenBLAS pools contend in the fitting loop, and OpenBLAS's threaded Cholesky
        slows down up to 90-fold when another process holds a core), except that the factorizations of
        a dense block of 1,000+ rows get the cores that are idle at that moment (docs/engine.md).  An
        int sets every library; ``None`` leaves them alone.

    Examples
    --------
    >>> LmerControl(optimizer="cobyqa", maxeval=5000).optimizer
    'cobyqa'
    """

    optimizer: str = "auto"
    ftol_rel: float = 1e-12
    ftol_abs: float = 1e-10
    xtol_abs: float = 1e-10
    maxeval: int = 100_000
    initial_step: float = 0.75
    polish: bool = True
    check_conv: bool = True
    conv_tol: float = 1e-4
    singular_tol: float = 1e-4
    theta0: tuple[float, ...] | None = None
    blas_threads: int | str | None = "auto"

    def __post_init__(self) -> None:
        allowed = {"auto", "bobyqa", "newuoa", "cobyqa", "nelder-mead", "lbfgsb"}
        if self.optimizer not in allowed:
            raise ValueError(f"optimizer={self.optimizer!r} is not one of {sorted(allowed)}")
        if self.maxeval < 1:
            raise ValueError("maxeval must be at least 1")

    def replace(self, **changes: object) -> LmerControl:
        """A copy with some options changed."""
        return replace(self, **changes)
