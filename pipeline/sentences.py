"""Reason sentences from editable templates, filled in column-wise for many customers at once.

A template is text with ``{expression|filter}`` placeholders. The expression is a feature name, a setting or a
``typical_<feature>`` (given as variables), or a small pandas expression of them (``spend_180d - spend_90d``). A
template applies to a customer where its ``when`` condition holds and every placeholder has a value, so a sentence
never shows "nan", "unknown" or a count the condition rules out.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Optional

import numpy as np
import pandas as pd
from pandas.errors import UndefinedVariableError

from pipeline.errors import PipelineError

_PLACEHOLDER = re.compile(r"\{([^{}|]+)(?:\|([^{}]+))?\}")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£", "JPY": "¥"}


class TemplateError(PipelineError):
    """A reason template that cannot be read: the message names the template and what is wrong."""


@dataclass(frozen=True)
class Template:
    """A parsed sentence: literal text and (expression, filter) placeholders in order, and its condition."""

    text: str
    when: Optional[str]
    literals: tuple[str, ...]  # one more than placeholders
    placeholders: tuple[tuple[str, str], ...]

    @classmethod
    def parse(cls, text: str, when: Optional[str] = None) -> Template:
        literals, placeholders, start = [], [], 0
        for m in _PLACEHOLDER.finditer(text):
            literals.append(text[start : m.start()])
            placeholders.append((m.group(1).strip(), (m.group(2) or "").strip()))
            start = m.end()
        literals.append(text[start:])
        for _, name in placeholders:
            if name.split(":")[0] not in FILTERS:
                raise TemplateError(f"reason template {text!r}: unknown filter {name!r} (known: {', '.join(FILTERS)})")
        return cls(text, when, tuple(literals), tuple(placeholders))

    @property
    def names(self) -> set[str]:
        """Every name the template refers to (features, settings, typical values)."""
        found = {n for expr, _ in self.placeholders for n in _NAME.findall(expr)}
        return found | set(_NAME.findall(self.when or "")) - {"and", "or", "not", "True", "False"}


def evaluate(frame: pd.DataFrame, expression: str, variables: dict) -> Optional[pd.Series]:
    """``expression`` over the rows of ``frame`` (None when it names a feature this data does not have)."""
    if expression in frame.columns:
        return frame[expression]
    if expression in variables:
        return pd.Series(variables[expression], index=frame.index)
    try:
        value = frame.eval(expression, resolvers=[variables], engine="python")
    except (UndefinedVariableError, KeyError):
        return None
    return value if isinstance(value, pd.Series) else pd.Series(value, index=frame.index)


def render(frame: pd.DataFrame, templates: Sequence[Template], variables: dict, currency: str) -> np.ndarray:
    """Each row's sentence from the first template that applies to it ("" where none does)."""
    out = np.full(len(frame), "", dtype=object)
    todo = np.ones(len(frame), dtype=bool)
    for template in templates:
        rows = todo.copy()
        if template.when:
            condition = evaluate(frame, template.when, variables)
            if condition is None:
                continue
            rows &= condition.fillna(False).to_numpy(dtype=bool)
        values = []
        for expr, _ in template.placeholders:
            value = evaluate(frame, expr, variables)
            if value is None:
                rows[:] = False
                break
            rows &= value.notna().to_numpy()
            values.append(value)
        picked = np.flatnonzero(rows)
        if not len(picked):
            continue
        text = pd.Series(template.literals[0], index=range(len(picked)), dtype=object)
        for (_, name), value, literal in zip(template.placeholders, values, template.literals[1:], strict=False):
            text = text + _format(value.iloc[picked], name, currency) + literal
        out[picked] = text.to_numpy()
        todo[picked] = False
    return out


def _format(values: pd.Series, spec: str, currency: str) -> pd.Series:
    name, *args = spec.split(":") if spec else ("",)
    formatted = FILTERS[name](values.to_numpy(), args, currency)
    return pd.Series(formatted, index=range(len(values)), dtype=object)


def _whole(x) -> list[int]:
    return [int(math.floor(v + 0.5)) for v in np.asarray(x, dtype=float)]


def _days(x, args, currency) -> list[str]:
    return [f"{n:,} day" if n == 1 else f"{n:,} days" for n in _whole(x)]


def _count(x, args, currency) -> list[str]:
    word = args[0] if args else "time"
    plural = args[1] if len(args) > 1 else word + "s"
    return [f"{n:,} {word if n == 1 else plural}" for n in _whole(x)]


def money(x, currency: str) -> list[str]:
    """Amounts rounded to whole units with the currency: ``€1,158``, or ``1,158 CHF`` for a code without a symbol."""
    symbol = SYMBOLS.get(currency.upper())
    whole = _whole(x)
    if symbol:
        return [f"-{symbol}{-n:,}" if n < 0 else f"{symbol}{n:,}" for n in whole]
    return [f"{n:,} {currency}" for n in whole]


def _money(x, args, currency) -> list[str]:
    return money(x, currency)


def _pct(x, args, currency) -> list[str]:
    return [f"{n}%" for n in _whole(np.asarray(x, dtype=float) * 100)]


def _number(x, args, currency) -> list[str]:
    digits = int(args[0]) if args else 0
    return [f"{v:,.{digits}f}" for v in np.asarray(x, dtype=float)]


def _score(x, args, currency) -> list[str]:
    top = args[0] if args else "10"
    return [f"{v:.0f}/{top}" if float(v).is_integer() else f"{v:.1f}/{top}" for v in np.asarray(x, dtype=float)]


def _plain(x, args, currency) -> list[str]:
    return [str(v) for v in x]


FILTERS = {
    "": _plain,
    "days": _days,
    "count": _count,
    "money": _money,
    "pct": _pct,
    "number": _number,
    "score": _score,
}
