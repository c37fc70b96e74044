"""A small project that has lived through the weekly loop, shared by the weekly-loop and notebook tests: the list of
one horizon ago (a backfill), this week's training run, then two weekly runs a week apart."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

# small and quick: these tests check the machinery, the regime tests the models at full size; without the demo team's
# past lists (the uplift stage's ~20 s a run): test_e2e's end-to-end test runs with them
SMALL = (
    "data.demo.n_customers=1500",
    "data.demo.years=2",
    "model.n_backtest_folds=1",
    "model.n_train_cutoffs=6",
    "data.demo.past_lists=0",
)
WEEKS = ("2026-08-01", "2026-10-31", "2026-11-07", "2026-11-14")


def run_pipeline(root: Path, *overrides: str, small: bool = True) -> subprocess.CompletedProcess:
    """``python -m pipeline`` with its project in ``root``; ``small``: on the small demo. Fails the test on an error."""
    proc = subprocess.run(
        [sys.executable, "-m", "pipeline", f"paths.root={root}", *(SMALL if small else ()), *overrides],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


@pytest.fixture(scope="session")
def run_app():
    """``run_pipeline``, for test modules."""
    return run_pipeline


@pytest.fixture(scope="session")
def weeks(tmp_path_factory) -> Path:
    past, _, *weekly = WEEKS
    root = tmp_path_factory.mktemp("weekly")
    run_pipeline(root, f"as_of={past}")
    run_pipeline(root)
    for week in weekly:
        proc = run_pipeline(root, "stage=weekly", f"as_of={week}")
        assert "trained model" not in proc.stdout  # the weekly run only scores
        assert "FutureWarning" not in proc.stderr and "WARNING mlflow" not in proc.stderr  # a quiet console
    return root
