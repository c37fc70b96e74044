"""The three notebooks run from top to bottom on a small project, and each draws its plots."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
NOTEBOOKS = sorted(p for p in (Path(__file__).resolve().parents[2] / "notebooks").glob("*.py") if p.name[0] != "_")


def test_there_are_three_notebooks():
    assert [p.stem for p in NOTEBOOKS] == ["explore_the_data", "review_a_model", "why_customers_leave"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_the_notebook_runs_and_draws(path, weeks, monkeypatch, tmp_path):
    import jupytext
    from nbclient import NotebookClient

    monkeypatch.setenv("CHURN_PROJECT", str(weeks))
    notebook = jupytext.read(path)
    NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 3, f"{path.name} drew {len(images)} plots"
