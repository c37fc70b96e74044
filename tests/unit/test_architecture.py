"""The shape of the code: data flows one way through the stages, and only the catalog spells artefact names."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from pipeline.graph import STAGE_NAMES

PACKAGE = Path(__file__).resolve().parents[2] / "pipeline"
ORDER = list(STAGE_NAMES)


def _imported_stages(module: str) -> set[str]:
    tree = ast.parse((PACKAGE / "stages" / f"{module}.py").read_text())
    names = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    return {m.rsplit(".", 1)[1] for m in names if m.startswith("pipeline.stages.")}


def test_no_stage_imports_a_later_one():
    for k, stage in enumerate(ORDER):
        later = _imported_stages(stage) & set(ORDER[k:])
        assert not later, f"stage {stage} imports {later}"


def test_only_the_catalog_spells_an_artefact_file_name():
    layout = ("catalog.py", "tables.py", "publish.py")  # the catalog, and the table store and publisher it mixes in
    catalog = "".join((PACKAGE / "infra" / name).read_text() for name in layout)
    names = set(re.findall(r'"([a-z_]+\.(?:parquet|csv|json|jsonl|joblib|html|md|png|db))"', catalog))
    assert {"plan.json", "champion.joblib", "customers.parquet", "metrics.csv", "report.html"} <= names
    for path in PACKAGE.rglob("*.py"):
        if path.parent.name == "infra" and path.name in layout:
            continue
        text = path.read_text()
        spelled = sorted(n for n in names if f'"{n}"' in text or f"'{n}'" in text or f"/ {n}" in text)
        assert not spelled, f"{path.relative_to(PACKAGE)} spells {spelled}"
