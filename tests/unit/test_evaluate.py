"""Backtest metrics on hand-made frames: against scikit-learn and scipy where they have one, by hand where not."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

from pipeline import backtest

Y = np.array([1, 0, 1, 1, 0, 0, 1, 0, 1, 1])
P = np.array([0.9, 0.2, 0.65, 0.4, 0.3, 0.1, 0.8, 0.55, 0.7, 0.35])


def test_churn_metrics_agree_with_scikit_learn():
    m = backtest.churn_metrics(Y, P)
    assert m["roc_auc"] == pytest.approx(roc_auc_score(Y, P))
    assert m["pr_auc"] == pytest.approx(average_precision_score(Y, P))
    assert m["log_loss"] == pytest.approx(log_loss(Y, P))
    assert m["brier"] == pytest.approx(brier_score_loss(Y, P))


def test_one_class_has_no_ranking_metric_but_still_a_loss():
    m = backtest.churn_metrics(np.ones(4, int), np.array([0.9, 0.8, 0.7, 0.6]))
    assert np.isnan(m["roc_auc"]) and np.isnan(m["pr_auc"]) and m["log_loss"] > 0


def test_top_decile_lift_by_hand():
    y = np.array([1] + [0] * 9 + [1] * 5 + [0] * 5)  # 20 customers, 6 churners; the top 2 by p: one churner
    p = np.linspace(1, 0, 20)
    assert backtest.top_decile_lift(y, p) == pytest.approx((1 / 2) / (6 / 20))


def test_expected_calibration_error_by_hand():
    y = np.array([1, 0, 0, 0, 1, 1])
    p = np.array([0.05, 0.05, 0.05, 0.05, 0.95, 0.95])  # bin 0: 1/4 observed vs 0.05; bin 9: 1 vs 0.95
    assert backtest.expected_calibration_error(y, p) == pytest.approx((4 * 0.2 + 2 * 0.05) / 6)
    assert backtest.expected_calibration_error(np.array([0, 1]), np.array([0.0, 1.0])) == 0.0


def test_value_metrics_by_hand_and_against_scipy():
    actual = np.array([0.0, 10.0, 0.0, 30.0, 60.0])
    predicted = np.array([5.0, 10.0, 0.0, 20.0, 50.0])
    m = backtest.value_metrics(actual, predicted)
    assert m["rmse"] == pytest.approx(np.sqrt((25 + 0 + 0 + 100 + 100) / 5))
    assert m["mae"] == pytest.approx(25 / 5)
    assert m["spearman"] == pytest.approx(spearmanr(actual, predicted).statistic)
    assert m["total_ratio"] == pytest.approx(85 / 100)
    assert backtest.normalised_gini(actual, actual) == pytest.approx(1.0)
    assert backtest.normalised_gini(actual, -actual) < 0 < m["normalised_gini"] <= 1


def test_the_summary_is_mean_and_spread_over_folds_per_model():
    import pandas as pd

    rows = [
        {"fold": f, "model": m, **dict.fromkeys(backtest.CHURN_METRICS + backtest.VALUE_METRICS, v)}
        for f, (m, v) in enumerate([("lightgbm", 0.2), ("lightgbm", 0.4), ("rfm_baseline", 0.5)])
    ]
    summary = backtest.summarise(pd.DataFrame(rows))
    assert summary.loc["lightgbm", ("log_loss", "mean")] == pytest.approx(0.3)
    assert summary.loc["lightgbm", ("log_loss", "std")] == pytest.approx(0.1)
    assert list(summary.index) == ["lightgbm", "rfm_baseline"]
