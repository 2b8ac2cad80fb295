"""How results reach the code that builds them without importing it (the layers run one way).

``refit`` and ``update`` need the builders (``fit_design``, ``lmer``), which live above the results
(:mod:`lmmflow.fitting`, glued in :mod:`lmmflow.api`).  The API registers them here when it is imported,
which ``import lmmflow`` always does; results look them up by name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["builder", "register_builders"]

_BUILDERS: dict[str, Callable[..., Any]] = {}


def register_builders(**builders: Callable[..., Any]) -> None:
    """Make ``builders`` (name -> callable) available to results (done by :mod:`lmmflow.api` on import).

    Examples
    --------
    >>> import lmmflow as lf
    >>> builder("fit_design") is lf.fit_design
    True
    """
    _BUILDERS.update(builders)


def builder(name: str) -> Callable[..., Any]:
    """The registered builder ``name`` (``"fit_design"``, ``"lmer"``, ``"check_response"``...).

    Examples
    --------
    >>> import lmmflow as lf
    >>> builder("lmer") is lf.lmer
    True
    """
    try:
        return _BUILDERS[name]
    except KeyError:
        raise RuntimeError(f"no builder {name!r} is registered: import lmmflow (its API registers the builders) "
                           "before refitting a result") from None
