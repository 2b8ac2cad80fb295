"""Every public name documents itself with an example that runs (pytest runs them with --doctest-modules).

issue 14: "every public name has a docstring with an example that runs as a doctest".
"""

from __future__ import annotations

import inspect

import pytest

import lmmflow as lf
import lmmflow.plots as plots


def _public() -> list[tuple[str, object]]:
    out = [(f"lf.{name}", getattr(lf, name)) for name in lf.__all__ if name not in lf._LAZY_MODULES]
    out += [(f"lf.plots.{name}", getattr(plots, name)) for name in plots.__all__]
    return out


@pytest.mark.parametrize(("name", "obj"), _public(), ids=[n for n, _ in _public()])
def test_public_name_has_docstring_with_example(name: str, obj: object) -> None:
    doc = inspect.getdoc(obj) or ""
    assert doc.strip(), f"{name} has no docstring"
    assert ">>>" in doc, f"{name}'s docstring has no example (an Examples section with >>> lines)"


@pytest.mark.parametrize(("name", "obj"), _public(), ids=[n for n, _ in _public()])
def test_example_is_collected_as_doctest(name: str, obj: object) -> None:
    """The example lives in a module of lmmflow, so pytest's --doctest-modules runs it."""
    target = obj if inspect.isclass(obj) or inspect.isfunction(obj) else type(obj)
    module = inspect.getmodule(target)
    assert module is not None and module.__name__.startswith("lmmflow"), f"{name} is not defined in lmmflow"
