"""End to end: `python -m pipeline` as a user runs it, on small demo data and on a plain transactions file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.slow
CONTRACT = [
    "customer_id",
    "churn_probability",
    "expected_value",
    "value_at_risk",
    "risk_rank",
    "reason_1",
    "reason_2",
    "reason_3",
    "model_version",
]


def _run(cwd: Path, *overrides: str) -> subprocess.CompletedProcess:
    """The app run from ``cwd`` with its project folder there too (data, models and MLflow under ``cwd``)."""
    return subprocess.run(
        [sys.executable, "-m", "pipeline", f"paths.root={cwd}", *overrides],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=900,
    )


def test_demo_end_to_end_with_mlflow(tmp_path):
    proc = _run(tmp_path, "data.demo.n_customers=1500", "data.demo.years=2", "model.n_backtest_folds=2")
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = tmp_path / "data" / "scored" / "2026-10-31"
    scored = pd.read_parquet(out / "customers.parquet")
    assert set(CONTRACT) <= set(scored.columns)
    assert {"rfm_segment", "loyalty_stage", "loyalty_quadrant"} <= set(
        scored.columns
    )  # for retention teams to filter by
    assert scored["customer_id"].is_unique and list(scored["risk_rank"]) == list(range(1, len(scored) + 1))
    assert np.all(np.diff(scored["value_at_risk"].to_numpy()) <= 1e-9)
    assert scored["churn_probability"].between(0, 1).all()
    assert np.allclose(scored["value_at_risk"], scored["churn_probability"] * scored["value_if_retained"])
    assert scored["model_version"].iloc[0] == "churn_classifier/v1"
    assert scored.loc[scored["on_list"], "reason_1"].str.len().gt(0).all()  # everyone to call has a reason
    assert scored.loc[scored["risk_band"] == "high", "reason_1"].str.len().gt(0).mean() > 0.9
    assert (out / "at_risk.csv").exists() and "Customers to contact this week" in (out / "report.html").read_text()
    for model in ("lightgbm", "rfm_baseline", "logistic_baseline", "bgnbd_gg_baseline"):
        assert model in proc.stdout
    assert "churn_classifier/v1 is now the champion: no champion yet" in proc.stdout and "make mlflow-ui" in proc.stdout
    assert (tmp_path / "mlruns" / "mlflow.db").exists()
    assert (out / "model_card.md").read_text().startswith("# Model card: churn_classifier/v1")
    metrics = pd.read_csv(tmp_path / "data" / "interim" / "evaluation" / "metrics.csv")
    # the demo team's past lists: effects measured, an uplift model tested out of time, and the list says how it ranked
    found = json.loads((tmp_path / "models" / "uplift" / "2026-10-31" / "uplift.json").read_text())
    assert found["lists"] > 20 and found["held_out"] > 100 and found["folds"] and found["pooled"]
    assert {e["action"] for e in found["effects"] if e["contacted"]} >= {"complaint_call", "targeted_discount"}
    assert scored["ranked_by"].iloc[0] in ("uplift", "value at risk") and scored["ranking_note"].iloc[0]
    assert scored.loc[scored["explored"], "on_list"].all() and not (scored["explored"] & scored["holdout"]).any()
    assert "Uplift model: out-of-time backtest on past lists" in (out / "model_card.md").read_text()

    # Reproducible: the same config and data give the same metrics and the same list; an identical rerun trains and
    # registers nothing new (the champion stays v1).
    again = _run(tmp_path, "data.demo.n_customers=1500", "data.demo.years=2", "model.n_backtest_folds=2")
    assert again.returncode == 0, again.stderr[-3000:]
    assert "is not promoted; champion stays churn_classifier/v1: identical to the champion" in again.stdout
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "data" / "interim" / "evaluation" / "metrics.csv"), metrics)
    rescored = pd.read_parquet(out / "customers.parquet")
    pd.testing.assert_frame_equal(rescored, scored)

    # A different recipe that does not beat the champion's by the margin is not promoted; the list keeps the champion.
    # (Not a crippled one: with tiny trees the blend leans on the logistic regression and BG/NBD and, on this small
    # demo, really is better, by 0.018 in log loss.)
    worse = _run(
        tmp_path,
        "data.demo.n_customers=1500",
        "data.demo.years=2",
        "model.n_backtest_folds=2",
        "model.churn.reg_lambda=1.5",  # another recipe, about as good: short of the margin
        "model.promotion_margin=0.01",
    )
    assert worse.returncode == 0, worse.stderr[-3000:]
    assert "churn_classifier/v2 is not promoted; champion stays churn_classifier/v1" in worse.stdout
    assert (pd.read_parquet(out / "customers.parquet")["model_version"] == "churn_classifier/v1").all()
    log = (tmp_path / "models" / "promotions.jsonl").read_text().splitlines()
    assert len(log) == 3 and '"promoted": false' in log[-1]
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}")
    for name in ("churn_classifier", "value_regressor"):
        assert str(client.get_model_version_by_alias(name, "champion").version) == "1"

    # The weekly run scores with the champion and trains nothing: the champion's list again, no new model version.
    weekly = _run(tmp_path, "stage=weekly", "data.demo.n_customers=1500", "data.demo.years=2")
    assert weekly.returncode == 0, weekly.stderr[-3000:]
    assert "trained model" not in weekly.stdout and "backtest" not in weekly.stdout
    pd.testing.assert_frame_equal(pd.read_parquet(out / "customers.parquet"), rescored)
    assert len((tmp_path / "models" / "promotions.jsonl").read_text().splitlines()) == 3
    assert len(client.search_model_versions("name='churn_classifier'")) == 2  # v1, and the worse recipe's v2


def test_plain_transactions_file_with_mapped_columns(tmp_path, demo_tables):
    tx = demo_tables.transactions.rename(columns={"timestamp": "date"})[["customer_id", "date", "amount"]]
    tx.to_csv(tmp_path / "some.csv", index=False)
    proc = _run(
        tmp_path,
        "data=files",
        "data.transactions=some.csv",
        "data.complaints=null",
        "data.columns.transactions.timestamp=date",
        "as_of=2026-09-01",
        "horizon_days=60",
        "tracking.enabled=false",
        "model.n_backtest_folds=1",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    scored = pd.read_parquet(tmp_path / "data" / "scored" / "2026-09-01" / "customers.parquet")
    assert set(CONTRACT) <= set(scored.columns)
    bought = (pd.to_datetime(tx["date"]) < "2026-09-01") & (tx["amount"] > 0)  # a return alone is not a purchase
    assert len(scored) == tx.loc[bought, "customer_id"].nunique()
    quarantined = pd.read_csv(tmp_path / "data" / "quarantine" / "transactions" / "quarantined.csv")
    assert quarantined["_reason"].str.contains("on or after as_of").all()


def test_bad_input_exits_with_a_clear_message(tmp_path):
    (tmp_path / "bad.csv").write_text("customer_id,when,amount\na,2024-01-01,1\n")
    proc = _run(tmp_path, "data=files", "data.transactions=bad.csv", "tracking.enabled=false")
    assert proc.returncode == 2
    assert "bad.csv has no column 'timestamp'" in proc.stderr and "Traceback" not in proc.stderr


def _run_recent(tmp_path: Path, demo_tables, since: str, file_name: str) -> tuple[subprocess.CompletedProcess, Path]:
    """Run on the demo transactions from ``since`` only, as of 2026-10-01; check that the output covers the input:
    every customer with a line before as_of is scored, whatever their lines' amounts."""
    tx = demo_tables.transactions
    recent = tx[tx["timestamp"] >= since][["customer_id", "timestamp", "amount"]]
    path = tmp_path / file_name
    if path.suffix == ".parquet":
        recent.to_parquet(path, index=False)
    else:
        recent.to_csv(path, index=False)
    proc = _run(tmp_path, "data=files", f"data.transactions={file_name}", "as_of=2026-10-01", "tracking.enabled=false")
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = tmp_path / "data" / "scored" / "2026-10-01"
    known = recent.loc[recent["timestamp"] < "2026-10-01", "customer_id"]
    scored = pd.read_parquet(out / "customers.parquet")
    assert set(scored["customer_id"]) == set(known) and scored["customer_id"].is_unique
    assert scored[["churn_probability", "expected_value", "value_at_risk"]].notna().all().all()
    return proc, out


def test_a_history_with_room_to_train_but_not_to_test_learns_labels_it_can_test(tmp_path, demo_tables):
    """200 days of data and a 90-day horizon: a 90-day model would fit but could not be tested out of time, so the
    model learns shorter labels that leave room for a backtest fold (never an untested model)."""
    proc, out = _run_recent(tmp_path, demo_tables, "2026-03-15", "recent.parquet")
    assert "a short history" in proc.stdout and "out-of-time backtest on the active base" in proc.stdout
    assert "out-of-time backtest: none" not in proc.stdout
    card = (out / "model_card.md").read_text()
    assert "No backtest" not in card and "A short history" in card


def test_files_source_without_a_transactions_path_says_what_to_set(tmp_path):
    proc = _run(tmp_path, "data=files", "tracking.enabled=false")
    assert proc.returncode == 2
    assert "data.transactions must be set" in proc.stderr and "Traceback" not in proc.stderr


def test_a_history_shorter_than_two_horizons_is_extended_and_says_so(tmp_path, demo_tables):
    """Four months of data and a 90-day horizon: the model learns four-week labels and is extended to 90 days."""
    proc, out = _run_recent(tmp_path, demo_tables, "2026-06-01", "recent.csv")
    assert "a short history" in proc.stdout and "28-day labels" in proc.stdout
    scored = pd.read_parquet(out / "customers.parquet")
    assert set(CONTRACT) <= set(scored.columns) and scored["churn_probability"].between(0, 1).all()
    assert "A short history" in (out / "report.html").read_text()
    assert "A short history" in (out / "model_card.md").read_text()


def test_too_short_for_labels_scores_with_bgnbd_and_says_so(tmp_path, demo_tables):
    """Seven weeks of data: not even four-week labels fit after the 60 days of history a cutoff needs."""
    proc, out = _run_recent(tmp_path, demo_tables, "2026-08-15", "recent.csv")
    assert "No model can be trained on labels" in proc.stdout and "BG/NBD" in proc.stdout
    scored = pd.read_parquet(out / "customers.parquet")
    assert set(CONTRACT) <= set(scored.columns)
    assert (scored["model_version"] == "bgnbd-gamma-gamma (no labelled history)").all()
    assert scored["churn_probability"].between(0, 1).all() and (scored["value_at_risk"] >= 0).all()
    assert scored["reason_1"].str.len().gt(0).mean() > 0.3
    assert "No trained model yet" in (out / "report.html").read_text()
    assert "No backtest" in (out / "model_card.md").read_text()


def test_tuning_sweep_selects_on_the_validation_cutoff_and_tracks_every_trial(tmp_path):
    small = ("data.demo.n_customers=800", "data.demo.years=2")
    for stage in ("ingest", "features"):
        assert _run(tmp_path, f"stage={stage}", *small, "tracking.enabled=false").returncode == 0
    proc = subprocess.run(
        [sys.executable, "-m", "pipeline", "--config-name", "tune", "--multirun", "hydra.sweeper.n_trials=2"]
        + [f"paths.root={tmp_path}", *small],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = list((tmp_path / "data" / "logs" / "tune").glob("*/optimization_results.yaml"))
    assert len(results) == 1 and "model.churn.num_leaves" in results[0].read_text()
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("churn-clv").experiment_id])
    losses = [r.data.metrics["validation.log_loss"] for r in runs if r.info.run_name == "tune-trial"]
    assert len(losses) == 2 and all(0 < v < 1 for v in losses)


def test_a_password_inside_a_url_is_refused_and_written_nowhere(tmp_path):
    secret = "S3cr3t-Pa55"
    proc = _run(
        tmp_path,
        "stage=ingest",
        "data=files",
        "data.transactions=tx.csv",
        f"data.complaints=postgresql://reader:{secret}@db.internal/support",
        f"data.postgres.host=postgresql://reader:{secret}@db.internal",
    )
    assert proc.returncode == 2
    assert "data.complaints, data.postgres.host holds a password inside a URL" in proc.stderr
    assert "password_env" in proc.stderr and secret not in proc.stdout + proc.stderr
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.parent.name == ".hydra" for p in written)  # Hydra saved the run's config, with the password blanked
    assert not [p for p in written if secret in p.read_text(errors="ignore")]
