"""Fault injection: a run killed (SIGKILL) at each stage boundary and inside each multi-file write leaves the last
good set of every artefact whole, the next run cleans up after it, and a rerun completes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from pipeline.infra.catalog import Catalog

pytestmark = pytest.mark.slow
# small and quick: these tests check the machinery, the regime tests the models at full size
SMALL = (
    "data.demo.n_customers=1500",
    "data.demo.years=2",
    "model.n_backtest_folds=1",
    "model.n_train_cutoffs=6",
    "data.demo.past_lists=0",
)
WEEK = pd.Timestamp("2026-10-31")


def _run(root: Path, *overrides: str, fault: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PIPELINE_FAULT"}
    if fault:
        env["PIPELINE_FAULT"] = fault
    return subprocess.run(
        [sys.executable, "-m", "pipeline", f"paths.root={root}", *SMALL, *overrides],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


def _catalog(root: Path) -> Catalog:
    return Catalog.of_project(root)


def _week_set(catalog: Catalog) -> dict:
    """The published week: every file present, all from one scoring (the list, the report and the card agree)."""
    folder = catalog.scored_dir(WEEK)
    names = sorted(p.name for p in folder.iterdir())
    assert names == [
        "at_risk.csv",
        "at_risk.xlsx",
        "customers.parquet",
        "drivers.parquet",
        "model_card.md",
        "report.html",
        "win_back.csv",
    ], names
    customers = pd.read_parquet(folder / "customers.parquet")
    listed = pd.read_csv(folder / "at_risk.csv")
    assert set(listed["Customer ID"].astype(str)) <= set(customers["customer_id"].astype(str))
    version = customers["model_version"].iloc[0]
    assert version in (folder / "model_card.md").read_text() and version in (folder / "report.html").read_text()
    return {"target": os.readlink(folder), "list": (folder / "at_risk.csv").read_bytes(), "version": version}


def _champion_set(catalog: Catalog, root: Path) -> str:
    """The champion file, the promotion log's last promotion and the MLflow alias name the same model."""
    import mlflow

    champion = catalog.read_bundle(catalog.champion)
    promoted = [r for r in catalog.read_promotions() if r["promoted"]]
    assert promoted[-1]["candidate"] == champion.version
    client = mlflow.tracking.MlflowClient(f"sqlite:///{root / 'mlruns' / 'mlflow.db'}")
    name, number = champion.version.split("/v")
    assert str(client.get_model_version_by_alias(name, "champion").version) == number
    return champion.version


def _running_runs(root: Path) -> int:
    import mlflow

    client = mlflow.tracking.MlflowClient(f"sqlite:///{root / 'mlruns' / 'mlflow.db'}")
    experiments = [e.experiment_id for e in client.search_experiments()]
    return len(client.search_runs(experiments, filter_string="attributes.status = 'RUNNING'"))


def test_a_kill_anywhere_leaves_the_last_good_set_and_a_rerun_completes(tmp_path):
    root = tmp_path
    first = _run(root)
    assert first.returncode == 0, first.stderr[-3000:]
    catalog = _catalog(root)
    good_week, good_champion = _week_set(catalog), _champion_set(catalog, root)
    tables = json.loads(catalog.tables_manifest.read_text())

    # the weekly loop, killed inside the ingest's multi-file write and at each boundary after it
    for fault in ("write_together:renaming", "stage:features:done", "stage:score:done", "publish:staged"):
        killed = _run(root, "stage=weekly", fault=fault)
        assert killed.returncode == -9, (fault, killed.stderr[-2000:])
        assert _week_set(catalog) == good_week, fault  # readers still see last week's complete set
        assert _champion_set(catalog, root) == good_champion
        if fault == "write_together:renaming":  # the part was renamed, the manifest naming it was not
            assert json.loads(catalog.tables_manifest.read_text()) == tables
            assert catalog.stale_table_files()
    assert _running_runs(root) > 0  # the killed runs' MLflow runs, until the next run ends them

    # a promotion (of a model with another recipe) killed between the champion file and its alias and record
    killed = _run(root, "stage=all", "model.churn.n_estimators=150", "promote=force", fault="promote:champion-written")
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert _week_set(catalog) == good_week

    # the next run cleans up, completes the half-done promotion, and publishes a new complete week
    rerun = _run(root, "stage=weekly")
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    said = rerun.stdout + rerun.stderr
    assert "left by a run that did not finish" in said and "stopped before recording it: completed" in said
    assert _running_runs(root) == 0
    new_champion = _champion_set(catalog, root)
    assert new_champion != good_champion
    week = _week_set(catalog)
    assert week["target"] != good_week["target"] and week["version"] == new_champion
    assert catalog.leftovers() == [] and not catalog.stale_table_files()


def test_two_runs_at_once_and_scoring_after_a_failed_run_refuses_stale_features(tmp_path):
    root = tmp_path
    assert _run(root).returncode == 0
    # two runs at once: the second stops at once and names the first, which finishes undisturbed
    env = {k: v for k, v in os.environ.items() if k != "PIPELINE_FAULT"}
    first = subprocess.Popen(
        [sys.executable, "-m", "pipeline", f"paths.root={root}", *SMALL, "as_of=2026-09-30"],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    held = root / "data" / ".pipeline.lock"
    deadline = time.monotonic() + 120
    while f"pid {first.pid}," not in (held.read_text() if held.exists() else "") and time.monotonic() < deadline:
        time.sleep(0.05)
    second = _run(root, "stage=weekly")
    assert second.returncode == 2
    assert f"another run is working in this project (pid {first.pid}" in second.stderr
    assert "stage=all as_of=2026-09-30" in second.stderr
    _, err = first.communicate(timeout=900)
    assert first.returncode == 0, err[-3000:]
    # a run for another horizon builds its features, then dies in training
    killed = _run(root, "stage=all", "horizon_days=60", fault="stage:features:done")
    assert killed.returncode == -9
    score = _run(root, "stage=score")
    assert score.returncode == 2
    assert "built for horizon_days=60, this run asks for horizon_days=90" in score.stderr
    # a new load after the features were built: scoring them would miss its rows
    assert _run(root, "stage=features").returncode == 0
    assert _run(root, "stage=ingest").returncode == 0
    stale = _run(root, "stage=score")
    assert stale.returncode == 2 and "before the latest load of the validated tables" in stale.stderr
    # an identical rerun registers nothing new
    before = _catalog(root).read_promotions()
    again = _run(root, "stage=all")
    assert again.returncode == 0, again.stderr[-3000:]
    assert "nothing new is trained or registered" in again.stdout + again.stderr
    assert _catalog(root).read_promotions()[-1]["reason"].startswith("identical to the champion")
    assert len(_catalog(root).read_promotions()) == len(before) + 1
