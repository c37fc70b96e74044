"""Model behaviour on demo data: beats the RFM baseline out of time; more open complaints never lower risk."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline import evaluate, labels, train
from pipeline.config import FeaturesConfig, ModelConfig
from pipeline.features.build import build

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def backtest(demo_inputs):
    cfg = ModelConfig(n_backtest_folds=1, n_train_cutoffs=6)
    as_of = demo_inputs.transactions["timestamp"].max().normalize() + pd.Timedelta(days=1)
    _, folds = train.plan(as_of, demo_inputs.transactions["timestamp"].min(), 90, cfg)
    fold = folds[0]
    frame = build(demo_inputs, [*fold.train, fold.validation, fold.test], FeaturesConfig())
    labelled = frame.merge(labels.build(demo_inputs.transactions, frame, 90), on=["customer_id", "cutoff"])
    trained = train.fit(labelled[labelled["cutoff"].isin(fold.train)], labelled[labelled["cutoff"] == fold.validation], cfg, 42, 90)
    return trained, labelled[labelled["cutoff"] == fold.test]


def test_churn_model_beats_rfm_baseline_out_of_time(backtest):
    trained, test = backtest
    rows, _ = evaluate.evaluate_fold(trained, test)
    model, base = rows
    assert model["roc_auc"] > base["roc_auc"] + 0.02
    assert model["log_loss"] < base["log_loss"]
    assert model["spearman"] > base["spearman"]


def test_more_open_complaints_never_lower_risk(backtest):
    trained, test = backtest
    p = [trained.churn.predict_proba(test.assign(open_complaints=test["open_complaints"] + k))[:, 1] for k in range(4)]
    for lower, higher in zip(p, p[1:]):
        assert np.all(higher >= lower - 1e-12)
    assert np.mean(p[3] > p[0]) > 0.1  # and it does raise risk for many customers


def test_probabilities_are_calibrated_out_of_time(backtest):
    trained, test = backtest
    p = trained.churn.predict_proba(test)[:, 1]
    assert abs(p.mean() - test["churned"].mean()) < 0.05
