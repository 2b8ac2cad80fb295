"""Parse lme4's formula language into a fixed-effects part and random-effects terms.

The fixed-effects part is handed to formulaic, which builds the model matrix; what formulaic cannot
read is the random-effect *bars*: ``(expr | g)`` (correlated effects) and ``(expr || g)``
(uncorrelated effects).  This module finds those bars, expands lme4's grouping shorthands
(``a/b`` means ``a + a:b``) and the double bar (one term per column group), and returns plain data.

Examples
--------
>>> f = parse_formula("Reaction ~ Days + (Days | Subject)")
>>> f.response, f.fixed
('Reaction', 'Days')
>>> f.random[0]
RandomTerm(expr='Days', group=('Subject',), correlated=True)
>>> [t.label for t in parse_formula("y ~ 1 + (1 | a/b)").random]
['1 | a', '1 | b:a']
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from .rewrite import caret_to_power, expand_dot, has_dot, quote_dotted

__all__ = ["FormulaError", "ParsedFormula", "RandomTerm", "cbind_parts", "parse_formula", "resolve_dot",
           "split_top_level"]


class FormulaError(ValueError):
    """A formula that cannot be read, with the part that failed and what to do (a ``ValueError``).

    Examples
    --------
    >>> import lmmflow as lf
    >>> try:
    ...     lf.parse_formula("Reaction ~ Days + (Days | )")
    ... except lf.FormulaError as exc:
    ...     print("FormulaError")
    FormulaError
    """


@dataclass(frozen=True)
class RandomTerm:
    """One random-effects term ``(expr | group)``.

    Attributes
    ----------
    expr : str
        The left-hand side of the bar, a formulaic right-hand side such as ``"1 + time"`` or ``"0 + x"``.
    group : tuple of str
        The grouping factor's columns; more than one means their interaction (``a:b``).
    correlated : bool
        False for a term produced by the double bar ``||``.
    kind : str or None
        The covariance structure of a term written as glmmTMB and lme4 2.x write them: ``us(x | g)``,
        ``diag(x | g)``, ``cs(x | g)``, ``homcs(x | g)``, ``ar1(0 + factor(t) | g)``; None for a plain bar.
    """

    expr: str
    group: tuple[str, ...]
    correlated: bool = True
    kind: str | None = None

    def __repr__(self) -> str:
        kind = "" if self.kind is None else f", kind={self.kind!r}"
        return f"RandomTerm(expr={self.expr!r}, group={self.group!r}, correlated={self.correlated!r}{kind})"

    @property
    def group_name(self) -> str:
        """The grouping factor's name as lme4 prints it (``a:b`` for an interaction)."""
        return ":".join(self.group)

    @property
    def label(self) -> str:
        """The term as written in lme4 syntax."""
        bar = f"{self.expr} | {self.group_name}"
        return bar if self.kind is None else f"{self.kind}({bar})"


@dataclass(frozen=True)
class ParsedFormula:
    """A formula split into response, fixed-effects right-hand side and random terms."""

    formula: str
    response: str
    fixed: str
    random: tuple[RandomTerm, ...]
    offsets: tuple[str, ...] = ()
    """The expressions of the formula's ``offset(...)`` terms (summed, and added to an ``offset=`` argument)."""


def split_top_level(text: str, sep: str) -> list[str]:
    """Split ``text`` at occurrences of the one-character ``sep`` outside brackets.

    Parameters
    ----------
    text : str
        The text to split.
    sep : str
        A single character such as ``"+"``.

    Returns
    -------
    list of str
        The stripped pieces (empty pieces kept, so callers can detect ``a + + b``).

    Examples
    --------
    >>> split_top_level("1 + x + (a + b)", "+")
    ['1', 'x', '(a + b)']
    """
    parts, depth, start, quoted = [], 0, 0, False
    for i, ch in enumerate(text):
        if ch == "`":
            quoted = not quoted
        elif quoted:
            continue
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
            if depth < 0:
                raise FormulaError(f"unbalanced ')' in {text!r}: check the brackets")
        elif ch == sep and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    if depth != 0:
        raise FormulaError(f"unbalanced '(' in {text!r}: check the brackets")
    parts.append(text[start:].strip())
    return parts


def cbind_parts(response: str) -> tuple[str, str] | None:
    """The two expressions of a ``cbind(successes, failures)`` response (R's binomial matrix response), else None.

    Examples
    --------
    >>> cbind_parts("cbind(incidence, size - incidence)")
    ('incidence', 'size - incidence')
    >>> cbind_parts("y") is None
    True
    """
    text = response.strip()
    if not (text.startswith("cbind(") and text.endswith(")")) or not _outer_pair(text[5:]):
        return None
    parts = split_top_level(text[6:-1], ",")
    if len(parts) != 2 or not all(parts):
        raise FormulaError(f"the response {response!r} must be cbind(successes, failures): two expressions, "
                           "e.g. cbind(incidence, size - incidence)")
    return parts[0], parts[1]


def _signed_terms(rhs: str) -> list[tuple[str, str]]:
    """Split a right-hand side into (sign, term) pairs at top-level ``+`` and ``-``."""
    out: list[tuple[str, str]] = []
    depth, start, sign, quoted = 0, 0, "+", False
    for i, ch in enumerate(rhs):
        if ch == "`":
            quoted = not quoted
        elif quoted:
            continue
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
            if depth < 0:
                raise FormulaError(f"unbalanced ')' in {rhs!r}: check the brackets")
        elif ch in "+-" and depth == 0:
            # a '-' right after '*', '/', ':', '^', '(' or at the start is a unary minus of a number
            prev = rhs[:i].rstrip()
            if ch == "-" and (prev == "" or prev[-1] in "*/:^+-(" or re.search(r"\d[eE]$", prev)):
                if prev == "" and not out:
                    # leading "- 1" is a signed term, not unary minus
                    sign = "-"
                    start = i + 1
                continue
            out.append((sign, rhs[start:i].strip()))
            sign, start = ch, i + 1
    if depth != 0:
        raise FormulaError(f"unbalanced '(' in {rhs!r}: check the brackets")
    out.append((sign, rhs[start:].strip()))
    return [(s, t) for s, t in out if t != "" or s == "-"]


_NAME = re.compile(r"^[A-Za-z_.][A-Za-z0-9_.]*$|^`[^`]+`$")


def _strip_parens(text: str) -> str:
    text = text.strip()
    while text.startswith("(") and text.endswith(")"):
        inner = text[1:-1]
        try:
            split_top_level(inner, "+")  # raises if the outer pair is not one matching pair
        except FormulaError:
            break
        depth, matched = 0, True
        for ch in inner:
            depth += ch == "("
            depth -= ch == ")"
            if depth < 0:
                matched = False
                break
        if not matched:
            break
        text = inner.strip()
    return text


def _expand_group(group: str, bar: str) -> list[tuple[str, ...]]:
    """``a/b/c`` -> [(a,), (b, a), (c, b, a)] as lme4 names them; ``a:b`` -> [(a, b)]."""
    group = _strip_parens(group)
    if not group:
        raise FormulaError(f"the random term ({bar}) has no grouping factor after '|': write e.g. (1 | subject)")
    if "+" in group or "*" in group:
        raise FormulaError(
            f"grouping factor {group!r} in ({bar}) is not supported: use a single factor, a:b for an "
            "interaction, a/b for nesting, or separate terms such as (1 | a) + (1 | b)"
        )
    nested = [p.strip() for p in group.split("/")]
    out: list[tuple[str, ...]] = []
    prefix: list[str] = []
    for level in nested:
        raw = [c.strip() for c in level.split(":")]
        for c in raw:
            if not c or not _NAME.match(c) and not c.isidentifier():
                raise FormulaError(f"grouping factor {c!r} in ({bar}) is not a column name: write a name with "
                                   "spaces or other signs in backticks, e.g. (1 | `school id`)")
        cols = [c.strip("`") for c in raw]
        prefix = cols + prefix  # lme4 writes the inner factor first: a/b -> a + b:a
        out.append(tuple(prefix))
    return out


def _has_intercept(expr: str) -> tuple[bool, list[str]]:
    """Whether a random-term expression has an intercept, and its other terms."""
    terms = _signed_terms(expr)
    intercept = True
    rest: list[str] = []
    for sign, t in terms:
        t0 = t.replace(" ", "")
        if t0 == "1":
            intercept = sign == "+"
        elif t0 == "0":
            intercept = False
        elif sign == "-":
            raise FormulaError(f"cannot remove {t!r} in random term ({expr}): only '- 1' or '0 +' is allowed")
        else:
            rest.append(t)
    return intercept, rest


def _double_bar_exprs(lhs: str, body: str) -> list[str]:
    """lme4's ``expandDoubleVerts``: ``(x * z || g)`` is ``(1 | g) + (0 + x | g) + (0 + z | g) + (0 + x:z | g)``,
    one bar per *term* of the left side's expansion (a factor's columns stay one correlated block)."""
    from formulaic import Formula

    from .rewrite import quote_name

    try:
        terms = list(Formula(lhs))
    except Exception as exc:  # noqa: BLE001 - formulaic raises several kinds of parse errors
        raise FormulaError(f"cannot read the left side of ({body}): {exc}") from exc
    intercept = False
    exprs: list[str] = []
    for term in terms:
        names = [str(f.expr) for f in term.factors]
        if names == ["1"]:
            intercept = True
            continue
        exprs.append("0 + " + ":".join(n if "(" in n else quote_name(n) for n in names))
    exprs = (["1"] if intercept else []) + exprs
    if not exprs:
        raise FormulaError(f"random term ({body}) has no effects")
    return exprs


def _bar_term(body: str) -> list[RandomTerm]:
    """Turn the inside of one ``( ... | ... )`` into random terms."""
    m = re.search(r"\|\|?", re.sub(r"`[^`]*`", lambda q: "_" * len(q.group()), body))  # a bar outside backticks
    assert m is not None
    lhs, rhs = body[: m.start()].strip(), body[m.end():].strip()
    correlated = m.group() == "|"
    if "|" in rhs:
        raise FormulaError(f"random term ({body}) has more than one bar: write one term per bar")
    if not lhs:
        raise FormulaError(f"random term ({body}) has nothing before the bar: write (1 | g) for an intercept")
    groups = _expand_group(rhs, body)
    exprs: list[str]
    if correlated:
        intercept, rest = _has_intercept(lhs)
        if not intercept and not rest:
            raise FormulaError(f"random term ({body}) has no effects (0 and nothing else)")
        exprs = [lhs]
    else:
        exprs = _double_bar_exprs(lhs, body)
    return [RandomTerm(expr=e, group=g, correlated=correlated) for g in groups for e in exprs]


def parse_formula(formula: str) -> ParsedFormula:
    """Parse an lme4 formula.

    Parameters
    ----------
    formula : str
        For example ``"y ~ time * group + (1 + time | id)"``.  Random terms are parenthesised
        bars: ``(expr | g)`` for correlated effects, ``(expr || g)`` for uncorrelated effects,
        with ``g`` a column, ``a:b`` (interaction) or ``a/b`` (``b`` nested in ``a``).

    Returns
    -------
    ParsedFormula
        Response name, the fixed-effects right-hand side (formulaic syntax) and the random terms.

    Raises
    ------
    FormulaError
        When the formula has no ``~``, no response, unbalanced brackets or a malformed bar.

    Examples
    --------
    >>> parse_formula("y ~ x + (x || g)").random
    (RandomTerm(expr='1', group=('g',), correlated=False), RandomTerm(expr='0 + x', group=('g',), correlated=False))
    """
    if not isinstance(formula, str):
        raise FormulaError(f"a formula must be a string such as 'y ~ x + (1 | g)', got {type(formula).__name__}")
    text = " ".join(formula.split())
    if text.count("~") != 1:
        raise FormulaError(f"formula {formula!r} needs exactly one '~' with the response on its left, "
                           "e.g. 'y ~ time + (1 | id)'")
    lhs, rhs = (s.strip() for s in text.split("~"))
    if not lhs:
        raise FormulaError(f"formula {formula!r} has no response on the left of '~'")
    if not rhs:
        raise FormulaError(f"formula {formula!r} has nothing on the right of '~': write at least '1'")
    split_top_level(rhs, "+")  # bracket check with a clear message
    lhs = caret_to_power(f"I({lhs})")[2:-1]  # the response is arithmetic: every '^' is a power
    rhs = caret_to_power(rhs)
    if _top_level_bar(rhs):
        # R's '|' binds more loosely than '+': 'y ~ x + 1 | g' is 'y ~ 1 + (x + 1 | g)', as lme4 reads it
        inner = [t for _, t in _signed_terms(rhs) if "|" in t and t.startswith("(") and _outer_pair(t)]
        if inner:
            raise FormulaError(
                f"formula {formula!r} has a bar outside brackets beside bracketed random terms; R reads the "
                "unbracketed bar as taking everything before it as its left side: write each random term in its "
                "own brackets, e.g. 'y ~ x + (1 | g)'")
        return ParsedFormula(formula=formula, response=lhs, fixed="1", random=tuple(_bar_term(rhs)))
    fixed_parts: list[str] = []
    random: list[RandomTerm] = []
    offsets: list[str] = []
    for sign, term in _signed_terms(rhs):
        if term == "":
            raise FormulaError(f"formula {formula!r} has an empty term (two operators in a row?)")
        inner = _strip_parens(term) if term.startswith("(") and _outer_pair(term) else None
        bare = inner if inner is not None and _STRUCTURE.match(inner) else term  # (ar1(x | g)) too
        structured = _STRUCTURE.match(bare)
        if structured and _outer_pair(bare[structured.end() - 1:]) and "|" in bare:
            if sign == "-":
                raise FormulaError(f"cannot subtract the random term {term} in {formula!r}")
            random.extend(_structured_term(structured.group(1), bare[structured.end():-1], formula))
        elif inner is not None and "|" in inner:
            if sign == "-":
                raise FormulaError(f"cannot subtract the random term {term} in {formula!r}")
            random.extend(_bar_term(inner))
        elif "|" in term:
            raise FormulaError(f"the bar in {term!r} must sit inside its own parentheses, e.g. (1 | g)")
        elif _OFFSET.match(term) and _outer_pair(term[term.index("("):]):
            if sign == "-":
                raise FormulaError(f"cannot subtract {term} in {formula!r}: write offset(-({term[7:-1]}))")
            expr = term[term.index("(") + 1:-1].strip()
            if not expr:
                raise FormulaError(f"{term} in {formula!r} has no expression: write e.g. offset(log(n))")
            offsets.append(expr)
        else:
            fixed_parts.append(("- " if sign == "-" else "+ ") + term)
    fixed = " ".join(fixed_parts).strip()
    if fixed.startswith("+ "):
        fixed = fixed[2:]
    if not fixed:
        fixed = "1"
    elif fixed.startswith("- "):
        fixed = "1 " + fixed
    return ParsedFormula(formula=formula, response=lhs, fixed=fixed, random=tuple(random), offsets=tuple(offsets))


_OFFSET = re.compile(r"^offset\s*\(")
_STRUCTURE = re.compile(r"^(us|diag|cs|homcs|ar1)\s*\(")
STRUCTURES = ("us", "diag", "cs", "homcs", "ar1")
"""The covariance structures a random term can be written with (glmmTMB's and lme4 2.x's names)."""


def _structured_term(kind: str, body: str, formula: str) -> list[RandomTerm]:
    """``kind(expr | group)``: one random term with that covariance structure."""
    body = body.strip()
    if "||" in re.sub(r"`[^`]*`", "", body):
        raise FormulaError(f"{kind}({body}) in {formula!r} has a double bar: a structured term takes one bar, "
                           f"write {kind}(x | g) (diag(x | g) for uncorrelated effects)")
    terms = _bar_term(body)
    if len(terms) != 1:
        raise FormulaError(f"{kind}({body}) in {formula!r} expands to {len(terms)} terms (a nested grouping "
                           f"factor?): write one structured term per grouping factor, e.g. {kind}(x | a) + "
                           f"{kind}(x | a:b)")
    return [replace(terms[0], kind=kind)]


def _top_level_bar(rhs: str) -> bool:
    """Whether ``rhs`` has a ``|`` outside every bracket (and outside backticked names)."""
    depth, quote = 0, False
    for ch in rhs:
        if ch == "`":
            quote = not quote
        elif quote:
            continue
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "|" and depth == 0:
            return True
    return False


def resolve_dot(parsed: ParsedFormula, columns: list[object]) -> ParsedFormula:
    """The formula read against the data's columns: R's ``.`` replaced by the columns other than the
    response's, and dotted column names (``Petal.Width``) quoted for formulaic.

    As lme4 reads ``y ~ . + (1 | g)`` (through R's ``terms(formula, data = )``), ``.`` is every column but
    the ones the response reads, grouping columns included.

    Examples
    --------
    >>> resolve_dot(parse_formula("y ~ . + (1 | g)"), ["y", "x", "g"]).fixed
    '(x + g)'
    """
    if any(has_dot(t.expr) for t in parsed.random):
        raise FormulaError(f"'.' (all other columns) in a random term of {parsed.formula!r} is not supported: "
                           "name the columns")
    names = {str(c) for c in columns}
    fixed = parsed.fixed
    if has_dot(fixed):
        resp = set(re.findall(r"[A-Za-z_.][\w.]*|`[^`]+`", parsed.response))
        resp = {r.strip("`") for r in resp | {parsed.response}} & names
        fixed = expand_dot(fixed, columns, exclude=resp)
    if not any("." in n for n in names):
        return parsed if fixed == parsed.fixed else replace(parsed, fixed=fixed)
    return replace(
        parsed,
        response=quote_dotted(parsed.response, columns),
        fixed=quote_dotted(fixed, columns),
        random=tuple(replace(t, expr=quote_dotted(t.expr, columns)) for t in parsed.random),
        offsets=tuple(quote_dotted(e, columns) for e in parsed.offsets),
    )


def _outer_pair(term: str) -> bool:
    """True when the first '(' of ``term`` closes at its last character."""
    depth = 0
    for i, ch in enumerate(term):
        depth += ch == "("
        depth -= ch == ")"
        if depth == 0:
            return i == len(term) - 1
    return False
