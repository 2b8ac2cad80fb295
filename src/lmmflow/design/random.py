"""Random-effects terms: grouping factor codes, the per-row values of Z, and the theta -> Lambda map.

Terms that share a grouping factor and have disjoint columns (what ``(x || g)`` expands to) are
merged into one term whose relative covariance factor has zeros where the effects are uncorrelated,
as MixedModels.jl's *amalgamate* does; so the mixed-model equations keep their block-diagonal shape.
Terms are ordered by decreasing number of levels, as lme4 orders them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from formulaic.model_spec import ModelSpec

from ..core.parammap import Structure, structure_of
from ..formula import FormulaError, RandomTerm
from .contrasts import apply_contrasts, check_levels, r_names, resolve_contrasts
from .frame import DataError, LevelLabels, group_codes_lazy
from .lazy import RowMatrix, whole
from .matrices import build_matrix, rename_intercept, required_variables, row_source

__all__ = ["ReTerm", "build_random_terms", "check_term_sizes"]


class ReTerm:
    """One grouping factor's random effects (after merging ``||`` pieces).

    Parameters and attributes
    -------------------------
    group : str
        Grouping factor name as lme4 prints it (``Subject``, ``batch:cask``).
    group_cols : tuple of str
        The data columns forming the factor.
    levels : pandas.Index
        Level labels (strings) in code order (given as a :class:`~lmmflow.design.frame.LevelLabels`, they
        are formed on first access).
    codes : numpy.ndarray
        Level code of each row.
    Z : numpy.ndarray or RowMatrix
        n x p values of the term's columns for each row; a :class:`~lmmflow.design.lazy.RowMatrix` for
        large data (``Z`` then builds the whole matrix on first access, ``matrix`` reads row blocks).
    cnames : list of str
        Names of the p columns (``(Intercept)``, ``Days``).
    blocks : list of list of int
        Column indices of each correlated block: one block for ``(x | g)``, one per piece for ``(x || g)``.
    specs : list of ModelSpec
        The encoding of each block's expression, to rebuild Z for new data.
    exprs : list of str
        Each block's expression.
    kind : str or None
        The covariance structure as written (``us``, ``diag``, ``cs``, ``homcs``, ``ar1``); None for lme4's bars.
    """

    def __init__(self, group: str, group_cols: tuple[str, ...], levels: pd.Index | LevelLabels, codes: np.ndarray,
                 Z: np.ndarray | RowMatrix, cnames: list[str], blocks: list[list[int]], specs: list[ModelSpec],
                 exprs: list[str] | None = None, kind: str | None = None):
        self.kind = kind
        self.group = group
        self.group_cols = group_cols
        self._levels = levels if isinstance(levels, LevelLabels) else LevelLabels.of(pd.Index(levels))
        self.codes = codes
        self._Z = Z
        self.cnames = cnames
        self.blocks = blocks
        self.specs = specs
        self.exprs = list(exprs or [])

    @property
    def Z(self) -> np.ndarray:
        """The whole n x p matrix of the term's values (built on first access for large data)."""
        return whole(self._Z)

    @property
    def matrix(self) -> np.ndarray | RowMatrix:
        """The values as the engine reads them: an array, or a row source (``rows(start, stop)``)."""
        return self._Z

    @property
    def levels(self) -> pd.Index:
        """Level labels (strings) in code order."""
        return self._levels.index

    @property
    def nlevels(self) -> int:
        """Number of levels of the grouping factor."""
        return len(self._levels)

    @property
    def p(self) -> int:
        """Number of random effects per level."""
        return self._Z.shape[1]

    @property
    def structure(self) -> Structure:
        """The term's covariance structure: parameters -> Lambda (:mod:`lmmflow.core.parammap`)."""
        return structure_of(self.kind, self.p, self.theta_mask)

    @property
    def theta_mask(self) -> np.ndarray:
        """Lower-triangular boolean p x p: which entries of lambda are free parameters."""
        if self.kind == "diag":
            return np.eye(self.p, dtype=bool)
        mask = np.zeros((self.p, self.p), dtype=bool)
        for blk in self.blocks:
            for a in blk:
                for b in blk:
                    if a >= b:
                        mask[a, b] = True
        return mask

    def encode(self, data: pd.DataFrame) -> np.ndarray:
        """The term's Z values for new data."""
        cols = [np.asarray(s.get_model_matrix(data, na_action="ignore"), dtype=float) for s in self.specs]
        return np.column_stack(cols) if cols else np.zeros((len(data), 0))

    def __repr__(self) -> str:
        return f"ReTerm(group={self.group!r}, cnames={self.cnames}, nlevels={self.nlevels})"


def _term_matrix(expr: str, frame: pd.DataFrame, label: str, stream: bool = False
                 ) -> tuple[np.ndarray | RowMatrix, list[str], ModelSpec]:
    try:
        # lme4 codes a random term's factors with R's default contrasts: polynomial ones for ordered factors
        used = {c for c in required_variables(expr) if c in frame.columns}
        expr, wrapped = apply_contrasts(expr, resolve_contrasts(None, frame, used, defaults_only=True), frame)
        if stream and not wrapped:
            found = row_source(expr, frame, f"random term ({label})")
            if found is not None:
                check_levels(found[2], frame, f"random term ({label})")
                return found[0], r_names(found[1], found[2], {}), found[2]
        Z, names, spec = build_matrix(expr, frame)
    except DataError:
        raise
    except Exception as exc:
        raise FormulaError(f"cannot build random term ({label}): {exc}") from exc
    check_levels(spec, frame, f"random term ({label})")
    if not np.isfinite(Z).all():
        raise FormulaError(f"random term ({label}) has missing or infinite values after evaluation")
    return Z, r_names(rename_intercept(names), spec, wrapped), spec


def _stack_columns(pieces: list[np.ndarray | RowMatrix], frame: pd.DataFrame, label: str,
                   names: list[str]) -> np.ndarray | RowMatrix:
    """The term's columns side by side: one array, or a row source over the pieces' encodings."""
    if any(isinstance(z, np.ndarray) for z in pieces):
        arrays = [whole(z) for z in pieces]
        return np.ascontiguousarray(arrays[0] if len(arrays) == 1 else np.column_stack(arrays))
    if len(pieces) == 1:
        return pieces[0]
    encoders = [z.encode_rows for z in pieces]

    def encode(rows: pd.DataFrame) -> np.ndarray:
        return np.column_stack([e(rows) for e in encoders])

    return RowMatrix(encode, frame, sum(z.shape[1] for z in pieces), label, names)


def build_random_terms(terms: tuple[RandomTerm, ...], frame: pd.DataFrame, stream: bool = False,
                       allow_n: bool = False) -> list[ReTerm]:
    """Build every random-effects term on the model frame, merged and ordered.

    With ``stream``, the terms' values are row sources (:class:`~lmmflow.design.lazy.RowMatrix`) where the
    encoding allows it, so Z is never held whole.  ``allow_n`` is lme4's ``allow.n`` (see
    :func:`check_term_sizes`).

    Raises
    ------
    DataError
        A grouping factor with a single level, or too many levels or random effects for the observations.
    """
    n = len(frame)
    merged: dict[tuple[str, ...], list[tuple[RandomTerm, np.ndarray, list[str], ModelSpec]]] = {}
    for term in terms:
        Z, names, spec = _term_matrix(term.expr, frame, term.label, stream)
        if Z.shape[1] == 0:
            raise FormulaError(f"random term ({term.label}) has no columns")
        merged.setdefault(term.group, []).append((term, Z, names, spec))
    out: list[ReTerm] = []
    for group, pieces in merged.items():
        codes, levels = group_codes_lazy(frame, group)
        if len(levels) < 2**31 - 1:
            codes = codes.astype(np.int32)  # half the memory of the per-row codes
        names_seen: list[str] = []
        groups_of_pieces: list[list[tuple[RandomTerm, np.ndarray, list[str], ModelSpec]]] = [[]]
        for piece in pieces:
            if piece[0].kind is not None or (groups_of_pieces[-1] and groups_of_pieces[-1][-1][0].kind is not None):
                groups_of_pieces.append([piece])  # a structured term is a term of its own
                names_seen = list(piece[2])
            elif set(piece[2]) & set(names_seen):
                groups_of_pieces.append([piece])  # overlapping columns: keep as a separate term
                names_seen = list(piece[2])
            else:
                groups_of_pieces[-1].append(piece)
                names_seen += piece[2]
        for grp in filter(None, groups_of_pieces):
            kind = grp[0][0].kind
            if kind in ("cs", "homcs", "ar1") and len(grp[0][2]) < 2:
                raise FormulaError(f"random term ({grp[0][0].label}) has {len(grp[0][2])} effect: {kind} needs "
                                   "at least 2 (e.g. ar1(0 + factor(time) | id)); write (1 | g) for one")
            cnames = [nm for pc in grp for nm in pc[2]]
            Z = _stack_columns([pc[1] for pc in grp], frame, f"random term (... | {':'.join(group)})", cnames)
            blocks, start = [], 0
            for pc in grp:
                blocks.append(list(range(start, start + len(pc[2]))))
                start += len(pc[2])
            out.append(ReTerm(group=":".join(group), group_cols=group, levels=levels, codes=codes,
                              Z=Z, cnames=cnames, blocks=blocks,
                              specs=[pc[3] for pc in grp], exprs=[pc[0].expr for pc in grp], kind=kind))
    check_term_sizes(out, n, allow_n=allow_n)
    # lme4's mkReTrms: reordered only when some term has more levels than the one before it, and then by
    # rev(order(nlevels)), which puts terms with equal numbers of levels in reverse formula order
    nl = [t.nlevels for t in out]
    if not any(b > a for a, b in zip(nl, nl[1:])):
        return out
    order = sorted(range(len(out)), key=lambda i: nl[i])[::-1]
    return [out[i] for i in order]


def check_term_sizes(terms: list[ReTerm], n: int, allow_n: bool = False) -> None:
    """lme4's checks of the grouping factors' sizes (``checkNlevels``, ``checkZdims``).

    Every grouping factor needs at least 2 levels.  A Gaussian model (``allow_n=False``, lme4's ``lFormula``)
    needs fewer levels than observations and fewer random effects per term than observations, else the term
    and the residual cannot be told apart.  A GLMM has no residual (``allow_n=True``, lme4's ``glFormula``):
    one level per observation is allowed, as in an observation-level random effect for overdispersion, and
    only more random effects than observations is an error.

    Raises
    ------
    DataError
        Naming the term and what to do.
    """
    for t in terms:
        if t.nlevels < 2:
            raise DataError(
                f"grouping factor {t.group!r} in (... | {t.group}) has only {t.nlevels} level among the rows used; "
                "a random effect needs at least 2 (preferably 5 or more) groups: drop the term or "
                "model the factor as a fixed effect"
            )
        q = t.nlevels * t.p
        if allow_n:
            if q > n:
                raise DataError(
                    f"term {t.cnames} | {t.group} has {q} random effects for {n} observations: the "
                    "random-effects parameters are unidentifiable; simplify the term (e.g. (1 | g) instead "
                    "of (x | g)) or collect more data"
                )
            continue
        if t.nlevels >= n:
            raise DataError(
                f"grouping factor {t.group!r} has {t.nlevels} levels for {n} observations: every row is "
                "its own group, so the random effect cannot be told apart from the residual; "
                "use a coarser grouping factor or drop the term"
            )
        if q >= n:
            raise DataError(
                f"term {t.cnames} | {t.group} has {q} random effects for {n} observations: the "
                "random-effects parameters and the residual variance are unidentifiable; "
                "simplify the term (e.g. (1 | g) instead of (x | g)) or collect more data"
            )
