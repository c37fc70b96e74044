"""The configuration reference (docs/configuration.md), generated from the structured configs.

Every key with its type, default and meaning: the meaning is the comment beside the field in ``pipeline/config.py``
(or the class's docstring for a group). ``python -m pipeline.config_doc`` (``make docs``) rewrites the file, and the
generated part of docs/architecture.md (the stage graph); tests fail when either is out of date.
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
import re
import sys
import typing

from omegaconf import MISSING

from pipeline import config

OUT = config.PROJECT_ROOT / "docs" / "configuration.md"
_FIELD = re.compile(r"^\s+(\w+): [^=]+?(?:= .*?)?\s+#\s*(.+)$")


def _comments(cls: type) -> dict[str, str]:
    """The comment of each field: beside it (continued on the comment-only lines under it), or the block above it."""
    lines = inspect.getsource(cls).splitlines()
    comment = [re.match(r"^\s+#\s*(.+)$", line) for line in lines]
    found: dict[str, str] = {}
    above: set[int] = set()
    for i, line in enumerate(lines):
        f = re.match(r"^\s+(\w+): ", line)
        if f and not _FIELD.match(line):  # no comment beside it: the comment-only lines right above are its own
            j, block = i - 1, list[str]()
            while j >= 0 and (c := comment[j]):
                block.insert(0, c.group(1).strip())
                above.add(j)
                j -= 1
            if block:
                found[f.group(1)] = " ".join(block)
    last = None
    for i, line in enumerate(lines):
        if m := _FIELD.match(line):
            last = m.group(1)
            found[last] = m.group(2).strip()
        elif (c := comment[i]) and last and i not in above:
            found[last] += " " + c.group(1).strip()
        else:
            last = None
    return found


def _type_name(tp) -> str:
    origin = typing.get_origin(tp)
    if origin is typing.Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return f"{_type_name(args[0])} or null"
    if origin in (list, dict):
        return f"{origin.__name__}[{', '.join(_type_name(a) for a in typing.get_args(tp))}]"
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return " \\| ".join(m.value for m in tp)
    return getattr(tp, "__name__", str(tp))


def _default(f: dataclasses.Field) -> str:
    if f.default is not dataclasses.MISSING:
        return _shown(f.default)
    if f.default_factory is not dataclasses.MISSING:
        return _shown(f.default_factory())
    return "required"


def _shown(value) -> str:
    if value is None:
        return "null"
    if value == MISSING:
        return "from the group's YAML"
    if isinstance(value, enum.Enum):
        return str(value.value)
    return str(value)


def rows(cls: type, prefix: str = "", defaults=None) -> list[tuple[str, str, str, str]]:
    """(key, type, default, meaning) for every leaf field under ``cls``; groups are walked, dicts named once.

    ``defaults`` is the group's default instance, where its parent sets other defaults than the class (the churn
    model's LightGBM settings, say).
    """
    hints = typing.get_type_hints(cls)
    comments = _comments(cls)
    out = []
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        key = f"{prefix}{f.name}"
        if isinstance(tp, type) and dataclasses.is_dataclass(tp):
            group = f.default_factory() if f.default_factory is not dataclasses.MISSING else None
            out += rows(tp, f"{key}.", group)
            continue
        meaning = comments.get(f.name, "")
        if not meaning and prefix.startswith("data.columns."):
            meaning = f"the name of your column holding our `{f.name}` (null: you have none)"
        if not meaning and typing.get_origin(tp) is dict:
            value_type = typing.get_args(tp)[1]
            meaning = (inspect.getdoc(value_type) or "").split("\n")[0]
        default = _default(f) if defaults is None else _shown(getattr(defaults, f.name))
        if typing.get_origin(tp) is dict:
            default = "see the group's YAML"
        out.append((key, _type_name(tp), default, meaning))
    return out


def render() -> str:
    """The whole reference as Markdown."""
    lines = [
        "# Configuration reference",
        "",
        "Every key of the app's config (`python -m pipeline key=value ...`), with its type, default and meaning.",
        "Generated from `pipeline/config.py` by `make config-doc`; a test fails when this file is out of date.",
        "Groups chosen by name: `data=demo|files` or a file of yours in `configs/data/`, `reasons=default` or",
        "a file of yours in `configs/reasons/`. A misspelt key fails; a value outside a fixed set lists the",
        "allowed ones.",
        "",
        "| key | type | default | meaning |",
        "|---|---|---|---|",
    ]
    for key, tp, default, meaning in rows(config.Config):
        cell = default.replace("|", "\\|") if len(default) < 60 else "see `pipeline/config.py`"
        lines.append(f"| `{key}` | {tp} | `{cell}` | {meaning} |")
    return "\n".join(lines) + "\n"


ARCHITECTURE = config.PROJECT_ROOT / "docs" / "architecture.md"
START, END = "<!-- generated from pipeline/graph.py: begin -->", "<!-- generated from pipeline/graph.py: end -->"


def architecture(text: str) -> str:
    """docs/architecture.md with its generated part (the stage graph's table and diagram) brought up to date."""
    from pipeline import graph

    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    body = f"{graph.table()}\n\n```mermaid\n{graph.diagram()}\n```"
    return f"{head}{START}\n{body}\n{END}{tail}"


def main() -> None:
    OUT.write_text(render(), encoding="utf-8")
    ARCHITECTURE.write_text(architecture(ARCHITECTURE.read_text(encoding="utf-8")), encoding="utf-8")
    print(f"wrote {OUT} and {ARCHITECTURE}", file=sys.stderr)


if __name__ == "__main__":
    main()
