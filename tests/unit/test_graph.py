"""The stage graph is the one list of stages: every artefact has one writer, reads are written earlier, the catalog
locates every artefact, the runners and stage= choices follow it, and the docs' diagram is the graph's."""

from __future__ import annotations

import ast
from pathlib import Path

from pipeline import graph
from pipeline.config import Stage
from pipeline.infra.catalog import Catalog
from pipeline.stages import RUNNERS

PACKAGE = Path(__file__).resolve().parents[2] / "pipeline"
DOCS = PACKAGE.parent / "docs" / "architecture.md"


def test_every_artefact_has_exactly_one_writer():
    written = [a for step in graph.GRAPH for a in step.writes]
    assert len(written) == len(set(written)), sorted({a for a in written if written.count(a) > 1})
    assert not set(written) & set(graph.INPUTS)


def test_every_read_is_an_input_or_written_by_a_stage():
    written = {a for step in graph.GRAPH for a in step.writes}
    for step in graph.GRAPH:
        unknown = set(step.reads) - written - set(graph.INPUTS)
        assert not unknown, f"{step.name} reads {unknown}, which no stage writes"


def test_reads_come_from_earlier_stages_or_the_previous_run():
    order = {name: k for k, name in enumerate(graph.STAGE_NAMES)}
    # a stage may read what a later stage wrote in an earlier run: the champion (train reuses it, evaluate compares
    # with it), the promotion log, the measured effects and the past weeks' lists (uplift learns from them); anything
    # else must be written before it in the same run
    across_runs = {"champion", "promotions", "effects", "customers"}
    for step in graph.GRAPH:
        for artefact in set(step.reads) - set(graph.INPUTS) - across_runs:
            assert order[graph.writer(artefact)] <= order[step.name], f"{step.name} reads {artefact} before it exists"


def test_the_catalog_locates_every_artefact_by_its_graph_name():
    for artefact in (*graph.artefacts(), "raw"):
        assert hasattr(Catalog, artefact) or artefact in Catalog.__dataclass_fields__, artefact


def test_runners_and_choices_follow_the_graph():
    assert tuple(RUNNERS) == graph.STAGE_NAMES
    assert [s.value for s in Stage] == [*graph.STAGE_NAMES, *graph.OTHER_CHOICES]
    assert set(graph.WEEKLY_RUN) <= set(graph.STAGE_NAMES)
    assert graph.TRAINING_RUN == graph.STAGE_NAMES


def test_library_modules_never_import_stages():
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE)
        if relative.parts[0] == "stages" or relative.name == "__main__.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        assert not {m for m in imported if m.startswith("pipeline.stages")}, f"{relative} imports a stage"


def test_no_stage_module_shares_a_library_module_name():
    stages = {p.stem for p in (PACKAGE / "stages").glob("*.py")} - {"__init__"}
    library = {p.stem for p in PACKAGE.glob("*.py")} | {p.name for p in PACKAGE.iterdir() if p.is_dir()}
    library |= {p.stem for sub in PACKAGE.iterdir() if sub.is_dir() and sub.name != "stages" for p in sub.glob("*.py")}
    assert not stages & (library - {"__init__"}), stages & library


def test_no_module_is_over_400_lines():
    long = {
        str(p.relative_to(PACKAGE)): n for p in PACKAGE.rglob("*.py") if (n := len(p.read_text().splitlines())) > 400
    }
    assert not long, long


def test_the_architecture_page_shows_the_graph():
    text = DOCS.read_text(encoding="utf-8")
    assert graph.diagram() in text, "docs/architecture.md: paste pipeline.graph.diagram() (make docs)"
    assert graph.table() in text, "docs/architecture.md: paste pipeline.graph.table() (make docs)"
