"""The stage graph: every stage, the artefacts it reads and the ones it alone writes. Data, not code.

Everything that needs the list of stages derives it from here: the ``stage=`` choices (``config.Stage``), the order
of ``stage=all`` and ``stage=weekly`` (``__main__``), the runners (``pipeline.stages.RUNNERS``, keyed by these
names), the architecture diagram in docs/architecture.md (``diagram``, checked by a test) and the tests that every
artefact has exactly one writer and that every read is written earlier in the run or comes from outside.

An artefact's name is the name of the ``Catalog`` member that locates it (``catalog.customers(as_of)``), so the graph
and the layout cannot drift apart (a test checks that too).
"""

from __future__ import annotations

from dataclasses import dataclass

# Artefacts that come from outside a run: the user's files and the demo's generator, the configs.
INPUTS = ("raw", "configs")


@dataclass(frozen=True)
class Step:
    """One stage: what it does, what it reads, what it alone writes."""

    name: str
    does: str
    reads: tuple[str, ...]
    writes: tuple[str, ...]


GRAPH: tuple[Step, ...] = (
    Step(
        "ingest",
        "reads, maps, validates and merges the tables; sets bad rows aside",
        ("raw", "configs"),
        ("tables", "quarantined", "ingest_summary"),
    ),
    Step(
        "features",
        "plans the cutoffs; features as of each (labels after it); the scoring features of as_of",
        ("tables", "configs"),
        ("plan", "labelled", "scoring_features"),
    ),
    Step(
        "train",
        "fits the candidate on the production fold's cutoffs; registers it in MLflow",
        ("plan", "labelled", "champion", "configs"),
        ("candidate", "explain"),
    ),
    Step(
        "evaluate",
        "backtests the recipe and the baselines out of time; decides the value blend and the scorer",
        ("plan", "labelled", "scoring_features", "candidate", "champion", "configs"),
        ("metrics", "latest_fold", "verdict"),
    ),
    Step(
        "promote",
        "makes the candidate the champion when the rules say so; records why",
        ("plan", "scoring_features", "candidate", "verdict", "champion", "promotions", "configs"),
        ("champion", "promotions"),
    ),
    Step(
        "uplift",
        "measures what each kind of contact saved on past lists; learns who a contact helps, with which action, and "
        "tests that out of time",
        ("plan", "tables", "customers", "configs"),
        ("uplift_model", "uplift_backtest", "effects"),
    ),
    Step(
        "score",
        "risk, value and exact reasons for every customer of as_of, with the champion (or a backfill's candidate)",
        (
            "plan",
            "scoring_features",
            "champion",
            "candidate",
            "verdict",
            "effects",
            "uplift_model",
            "uplift_backtest",
            "configs",
        ),
        ("customers", "drivers"),
    ),
    Step(
        "report",
        "the week's lists, workbook, report and model card",
        ("plan", "tables", "customers", "drivers", "metrics", "latest_fold", "champion", "uplift_backtest", "configs"),
        ("at_risk", "at_risk_xlsx", "win_back", "report", "model_card", "plot"),
    ),
)

STAGE_NAMES = tuple(step.name for step in GRAPH)
TRAINING_RUN = STAGE_NAMES  # stage=all
WEEKLY_RUN = ("ingest", "features", "uplift", "score", "report")  # stage=weekly: this week's list, no retraining
OTHER_CHOICES = ("all", "weekly", "tune")  # stage= values that are runs, not stages (tune: a hyperparameter search)


def step(name: str) -> Step:
    return next(s for s in GRAPH if s.name == name)


def writer(artefact: str) -> str:
    """The one stage that writes ``artefact``."""
    (found,) = [s.name for s in GRAPH if artefact in s.writes]
    return found


def artefacts() -> tuple[str, ...]:
    return tuple(dict.fromkeys(a for s in GRAPH for a in s.writes))


def diagram() -> str:
    """The graph as a Mermaid flowchart (docs/architecture.md embeds it; a test keeps the two equal)."""
    lines = ["flowchart LR"]
    for s in GRAPH:
        lines.append(f"    {s.name}[[{s.name}]]")
        for artefact in s.writes:
            lines.append(f"    {s.name} --> {artefact}({artefact})")
    for s in GRAPH:
        for artefact in s.reads:
            if artefact not in INPUTS and writer(artefact) != s.name:
                lines.append(f"    {artefact} -.-> {s.name}")
    return "\n".join(lines)


def table() -> str:
    """The graph as a Markdown table: stage, what it does, reads, writes."""
    rows = ["| stage | does | reads | writes (it alone) |", "|---|---|---|---|"]
    for s in GRAPH:
        rows.append(f"| `{s.name}` | {s.does} | {', '.join(s.reads)} | {', '.join(s.writes)} |")
    return "\n".join(rows)
