"""Out-of-time evaluation: fit on the past, score a later cutoff, compare with the RFM baseline, fold by fold."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import spearmanr
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, mean_absolute_error, roc_auc_score

from pipeline import train as training
from pipeline.config import ModelConfig

CHURN_METRICS = ("roc_auc", "pr_auc", "log_loss", "brier", "top_decile_lift")
VALUE_METRICS = ("rmse", "mae", "spearman", "normalised_gini")


@dataclass(frozen=True)
class Backtest:
    """Per-fold metrics (one row per fold x model) and the latest fold's test predictions, for plots."""

    metrics: pd.DataFrame
    latest: pd.DataFrame


def top_decile_lift(y: np.ndarray, p: np.ndarray) -> float:
    """Churn rate among the 10% highest-risk customers divided by the overall churn rate."""
    n = max(int(np.ceil(len(p) * 0.1)), 1)
    top = np.argsort(-p, kind="stable")[:n]
    return float(y[top].mean() / y.mean()) if y.mean() > 0 else float("nan")


def normalised_gini(actual: np.ndarray, predicted: np.ndarray) -> float:
    """Gini of ``actual`` ordered by ``predicted``, divided by the Gini of the perfect order (1 = perfect ranking)."""
    def gini(order_by: np.ndarray) -> float:
        order = np.argsort(-order_by, kind="stable")
        cum = np.cumsum(actual[order]) / actual.sum()
        return float(np.sum(cum - np.arange(1, len(actual) + 1) / len(actual)) / len(actual))

    return gini(predicted) / gini(actual) if actual.sum() > 0 else float("nan")


def churn_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    both = len(np.unique(y)) == 2
    return {
        "roc_auc": roc_auc_score(y, p) if both else float("nan"),
        "pr_auc": average_precision_score(y, p) if both else float("nan"),
        "log_loss": log_loss(y, np.clip(p, 1e-6, 1 - 1e-6), labels=[0, 1]),
        "brier": brier_score_loss(y, p),
        "top_decile_lift": top_decile_lift(y, p),
    }


def value_metrics(actual: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    return {
        "rmse": float(np.sqrt(np.mean((actual - predicted) ** 2))),
        "mae": mean_absolute_error(actual, predicted),
        "spearman": float(spearmanr(actual, predicted).statistic),
        "normalised_gini": normalised_gini(actual, predicted),
    }


def evaluate_fold(trained: training.TrainedModels, test: pd.DataFrame) -> tuple[list[dict], pd.DataFrame]:
    """Metrics of the model and the baseline on one test cutoff, plus the row-level predictions."""
    y, spend = test["churned"].to_numpy(), test["future_spend"].to_numpy()
    pred = training.predict(trained, test)
    base_p = trained.baseline.predict_proba(test)[:, 1]
    base_v = trained.baseline.predict_value(test)
    rows = [
        {"model": "lightgbm", **churn_metrics(y, pred["churn_probability"].to_numpy()), **value_metrics(spend, pred["expected_value"].to_numpy())},
        {"model": "rfm_baseline", **churn_metrics(y, base_p), **value_metrics(spend, base_v)},
    ]
    detail = pred.assign(churned=y, future_spend=spend, baseline_probability=base_p, baseline_value=base_v)
    return rows, detail


def backtest(labelled: pd.DataFrame, folds: list[training.Fold], cfg: ModelConfig, seed: int, horizon_days: int) -> Backtest:
    """Fit and test every fold; the first fold (latest test cutoff) keeps its predictions."""
    rows, latest = [], None
    for i, fold in enumerate(folds):
        trained = training.fit(labelled[labelled["cutoff"].isin(fold.train)], labelled[labelled["cutoff"] == fold.validation],
                               cfg, seed, horizon_days)
        fold_rows, detail = evaluate_fold(trained, labelled[labelled["cutoff"] == fold.test])
        rows += [{"fold": i, "test_cutoff": fold.test, **r} for r in fold_rows]
        latest = detail if latest is None else latest
    return Backtest(pd.DataFrame(rows), latest)


def summarise(metrics: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation over folds, one row per model."""
    cols = list(CHURN_METRICS + VALUE_METRICS)
    grouped = metrics.groupby("model", sort=False)[cols]
    mean, std = grouped.mean(), grouped.std(ddof=0)
    return pd.concat({"mean": mean, "std": std}, axis=1).swaplevel(axis=1).reindex(columns=cols, level=0)
