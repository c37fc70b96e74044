"""Both demo regimes at full size, as `make demo` and `make demo-retail` run them: the backtest table shows the churn
model ahead of every baseline and the value model ahead of BG/NBD x Gamma-Gamma with a total within 10%; a short
history trains on shorter labels and is extended, or a baseline scores and the run says so; everyone is scored.
The churn comparisons are on the active base (what the model is judged on) and on everyone."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline import backtest
from pipeline.infra.catalog import Catalog

pytestmark = pytest.mark.slow
VALUE_REPORTED = ("rmse", "mae", "spearman", "normalised_gini", "total_ratio", "top_decile_capture")


def _customers_before(raw: Path, as_of: str) -> set[str]:
    tx = pd.read_csv(raw, dtype={"customer_id": str}, usecols=["customer_id", "timestamp"])
    return set(tx.loc[pd.to_datetime(tx["timestamp"]) < as_of, "customer_id"])


@pytest.mark.parametrize("preset", ["demo", "demo_retail"])
def test_each_demo_regime_has_models_ahead_of_every_baseline(tmp_path, preset, run_app):
    """On everyone, the churn model is ahead of every baseline on ROC AUC and log loss. On the active base (what it
    is judged on) it is ahead on the mixed demo; the retail demo's customers follow BG/NBD's own story, and there the
    model must be level with BG/NBD or ahead, and the list is scored by whichever the rule finds best."""
    folds = 2 if preset == "demo" else 4  # the retail cohort fades: its value level needs the older folds too
    proc = run_app(tmp_path, "tracking.enabled=false", f"data={preset}", f"model.n_backtest_folds={folds}", small=False)
    metrics = pd.read_csv(tmp_path / "data" / "interim" / "evaluation" / "metrics.csv")
    every = {p: t.xs("mean", axis=1, level=1) for p, t in backtest.summaries(metrics).items()}
    whole, active = every["all"], every["active"]
    level = 0.0 if preset == "demo" else 0.002
    for baseline in backtest.BASELINES:
        assert whole.loc["lightgbm", "roc_auc"] > whole.loc[baseline, "roc_auc"], (preset, baseline)
        assert whole.loc["lightgbm", "log_loss"] < whole.loc[baseline, "log_loss"], (preset, baseline)
        assert active.loc["lightgbm", "roc_auc"] > active.loc[baseline, "roc_auc"] - level, (preset, baseline)
        assert active.loc["lightgbm", "log_loss"] < active.loc[baseline, "log_loss"] + level, (preset, baseline)
    assert whole.loc["lightgbm", "rmse"] <= whole.loc["bgnbd_gg_baseline", "rmse"], whole["rmse"].to_dict()
    assert 0.9 <= whole.loc["lightgbm", "total_ratio"] <= 1.1, whole["total_ratio"].to_dict()
    # every value forecast, candidate or baseline, is reported on every value metric
    for name in ("lightgbm", "rfm_baseline", "bgnbd_gg_baseline", *backtest.VALUE_CANDIDATES):
        assert np.isfinite(whole.loc[name, list(VALUE_REPORTED)].to_numpy(float)).all(), name
    for column in ("recency_baseline", "value_tweedie", "top_decile_capture", "mae", "win-back:", "all:"):
        assert column in proc.stdout
    scored = pd.read_parquet(tmp_path / "data" / "scored" / "2026-10-31" / "customers.parquet")
    chosen = backtest.choose_scorer(backtest.summarise(metrics, "active"))
    if chosen.name == "lightgbm":
        assert (scored["model_version"] == "local").all()  # the model scores (unregistered: tracking is off)
    else:
        assert preset == "demo_retail" and scored["model_version"].str.startswith(chosen.name).all()
    raw = tmp_path / "data" / "raw" / preset / "transactions.csv"
    assert set(scored["customer_id"]) == _customers_before(raw, "2026-10-31")  # everyone in the input


def test_a_short_history_is_extended_and_scored_by_whichever_the_backtest_found_best(tmp_path, run_app):
    """The retail regime cut to its first 39 weeks, with a 39-week horizon: no cutoff has a whole horizon behind it.
    The model learns shorter labels and is backtested on them; the list is scored by it only if it beat every
    baseline there, else by the best baseline, and the run and the report say so. Judged afterwards on the 39 weeks
    that followed (the demo goes on), the list's forecasts of every kind are scored on the horizon they forecast."""
    as_of, horizon = "2026-01-31", 273
    proc = run_app(
        tmp_path, "tracking.enabled=false", "data=demo_retail", f"as_of={as_of}", f"horizon_days={horizon}", small=False
    )
    catalog = Catalog.of_project(tmp_path)
    the_plan = catalog.read_plan()
    assert the_plan.extended and the_plan.trained_horizon_days < horizon and the_plan.folds
    assert "a short history" in proc.stdout
    metrics = pd.read_csv(catalog.metrics)
    chosen = backtest.choose_scorer(backtest.summarise(metrics))
    out = tmp_path / "data" / "scored" / as_of
    scored = pd.read_parquet(out / "customers.parquet")
    report = (out / "report.html").read_text()
    assert "A short history" in report
    if chosen.name == "lightgbm":
        assert (scored["model_version"] == "local").all()
        assert "A simple rule scores this list" not in report
    else:
        assert scored["model_version"].str.startswith(chosen.name).all()
        assert "A simple rule scores this list" in report and "is not ahead of every simple baseline" in proc.stdout
        assert "A baseline scores the list" in (out / "model_card.md").read_text()
    raw = tmp_path / "data" / "raw" / "demo_retail" / "transactions.csv"
    assert set(scored["customer_id"]) == _customers_before(raw, as_of)
    assert scored["churn_probability"].between(0, 1).all() and (scored["expected_value"] >= 0).all()

    # Afterwards: every forecast on the 39 weeks it forecast, against what the demo's customers then did.
    bundle = catalog.read_bundle(catalog.champion)
    tx = pd.read_csv(raw, dtype={"customer_id": str}, parse_dates=["timestamp"])
    after = backtest.hindsight(bundle.trained, catalog.read_scoring_features(the_plan), tx, horizon)
    after = after[after["population"] == "all"].set_index("model")  # everyone on the list, as the list forecast
    for name in backtest.MODELS:
        assert 0.6 < after.loc[name, "roc_auc"] < 1 and np.isfinite(after.loc[name, "log_loss"]), name
    # extended over 39 weeks, the model ranks better than a coin and better than RFM, and its total is in range
    assert after.loc["lightgbm", "roc_auc"] > after.loc["rfm_baseline", "roc_auc"]
    assert 0.7 < after.loc["lightgbm", "total_ratio"] < 1.3
