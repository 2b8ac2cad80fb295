"""Text rewrites that turn R's formula conventions into what formulaic reads.

* ``^`` inside a function call (``I(x^2)``, ``log(x^2)``) is R's power, Python's ``**``; outside calls
  (``(a + b)^2``) it keeps its formula meaning (all interactions up to that order).
* ``.`` stands for every column of the data but the response's (R's ``terms(formula, data = )``).
* Column names that are not Python identifiers are written in backticks (`` `reaction time` ``); names with
  dots (``Petal.Width``) are read as plain names.

Examples
--------
>>> caret_to_power("I(x^2) + (a + b)^2")
'I(x**2) + (a + b)^2'
>>> expand_dot(". - x", ["y", "x", "Petal.Width", "reaction time"], exclude={"y"})
'(x + Petal.Width + `reaction time`) - x'
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["caret_to_power", "expand_dot", "has_dot", "quote_dotted", "quote_name"]

_CALLER = re.compile(r"[A-Za-z0-9_.`\]]")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_DOT = re.compile(r"(?<![\w.`])\.(?![\w.`])")


def _spans(text: str) -> list[tuple[int, int]]:
    """Positions of quoted strings and backticked names (their content is never rewritten)."""
    out, i = [], 0
    while i < len(text):
        ch = text[i]
        if ch in "'\"`":
            j = text.find(ch, i + 1)
            j = len(text) - 1 if j < 0 else j
            out.append((i, j))
            i = j + 1
        else:
            i += 1
    return out


def caret_to_power(text: str) -> str:
    """``^`` to ``**`` wherever it sits inside a function call's brackets, as R reads it there.

    Parameters
    ----------
    text : str
        A formula or part of one.

    Returns
    -------
    str

    Examples
    --------
    >>> caret_to_power("y ~ I(Days^2) + log(n^0.5) + (x + z)^2")
    'y ~ I(Days**2) + log(n**0.5) + (x + z)^2'
    """
    if "^" not in text:
        return text
    quoted = _spans(text)
    out: list[str] = []
    stack: list[bool] = []  # for each open bracket: whether it is a call's (or inside one)
    i = 0
    while i < len(text):
        span = next((s for s in quoted if s[0] == i), None)
        if span is not None:
            out.append(text[span[0]:span[1] + 1])
            i = span[1] + 1
            continue
        ch = text[i]
        if ch in "([":
            before = text[:i].rstrip()
            call = bool(before) and bool(_CALLER.match(before[-1])) and ch == "(" or ch == "["
            stack.append(call or (bool(stack) and stack[-1]))
        elif ch in ")]" and stack:
            stack.pop()
        if ch == "^" and stack and stack[-1]:
            out.append("**")
        else:
            out.append(ch)
        i += 1
    return "".join(out)


def quote_name(name: str) -> str:
    """A column name as formulaic reads it: as is when it is an identifier or a dotted name
    (``Petal.Width``), in backticks otherwise.

    Examples
    --------
    >>> quote_name("reaction time"), quote_name("Petal.Width")
    ('`reaction time`', 'Petal.Width')
    """
    if _IDENT.match(name) or re.match(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)+$", name):
        return name
    return "`" + name.replace("`", "") + "`"


def has_dot(text: str) -> bool:
    """Whether ``text`` uses R's ``.`` (all other columns) outside strings and backticks.

    Examples
    --------
    >>> has_dot(". + x"), has_dot("Petal.Width + np.log(x) + 0.5")
    (True, False)
    """
    return _find_dot(text) is not None


def _find_dot(text: str) -> int | None:
    quoted = _spans(text)
    for m in _DOT.finditer(text):
        if any(a <= m.start() <= b for a, b in quoted):
            continue
        # a number such as "1." or ".5" is not the dot
        if m.start() > 0 and text[m.start() - 1].isdigit():
            continue
        return m.start()
    return None


def expand_dot(text: str, columns: Iterable[object], exclude: Iterable[str] = ()) -> str:
    """Replace each ``.`` by the bracketed sum of the data's columns other than ``exclude``.

    Parameters
    ----------
    text : str
        A right-hand side such as ``". + (1 | g)"``'s fixed part ``"."``.
    columns : iterable
        The data's columns, in their order.
    exclude : iterable of str
        The columns the response reads (R's ``.`` leaves them out).

    Returns
    -------
    str

    Examples
    --------
    >>> expand_dot(".^2", ["y", "a", "b"], exclude={"y"})
    '(a + b)^2'
    """
    skip = set(exclude)
    names = [quote_name(str(c)) for c in columns if str(c) not in skip]
    if not names:
        names = ["1"]
    repl = "(" + " + ".join(names) + ")"
    while True:
        at = _find_dot(text)
        if at is None:
            return text
        text = text[:at] + repl + text[at + 1:]


def quote_dotted(text: str, columns: Iterable[object]) -> str:
    """Backticks around the dotted column names (``Petal.Width``) that ``text`` uses bare, so that formulaic,
    which would read ``Petal.Width`` as Python's attribute ``Width`` of ``Petal``, reads the column.

    Examples
    --------
    >>> quote_dotted("Petal.Width + log(Sepal.Length) + np.log(x)", ["Petal.Width", "Sepal.Length", "x"])
    '`Petal.Width` + log(`Sepal.Length`) + np.log(x)'
    """
    dotted = sorted((str(c) for c in columns if "." in str(c) and re.match(r"^[A-Za-z.][\w.]*$", str(c))),
                    key=len, reverse=True)
    for name in dotted:
        if name not in text:
            continue
        pat = re.compile(r"(?<![\w.`])" + re.escape(name) + r"(?![\w.`])")
        out, last = [], 0
        for m in pat.finditer(text):
            if any(a <= m.start() <= b for a, b in _spans(text)):
                continue
            out.append(text[last:m.start()] + "`" + name + "`")
            last = m.end()
        out.append(text[last:])
        text = "".join(out)
    return text
