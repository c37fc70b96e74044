"""Out-of-time evaluation: fit on the past, score a later cutoff, compare with the RFM baseline, fold by fold."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import spearmanr
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, mean_absolute_error, roc_auc_score

from pipeline import economics, models
from pipeline import train as training
from pipeline.config import CampaignConfig, ModelConfig
from pipeline.plan import Fold

CHURN_METRICS = ("roc_auc", "pr_auc", "log_loss", "brier", "ece", "top_decile_lift", "empc", "best_campaign_profit")
VALUE_METRICS = ("rmse", "mae", "spearman", "normalised_gini", "total_ratio")
log = logging.getLogger(__name__)
# The metrics printed after a backtest and shown in the model card, in this order.
SHOWN_METRICS = (
    "roc_auc",
    "pr_auc",
    "log_loss",
    "brier",
    "ece",
    "top_decile_lift",
    "empc",
    "best_campaign_profit",
    "rmse",
    "spearman",
    "normalised_gini",
    "total_ratio",
)
MODELS = ("lightgbm", "rfm_baseline", "logistic_baseline", "bgnbd_gg_baseline")


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


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """Mean |observed rate − mean prediction| over ten equal-width probability bins, weighted by their size."""
    which = np.minimum((p * bins).astype(int), bins - 1)
    frame = pd.DataFrame({"bin": which, "y": y, "p": p}).groupby("bin")[["y", "p"]].agg(["mean", "size"])
    gap = (frame[("y", "mean")] - frame[("p", "mean")]).abs()
    return float((gap * frame[("y", "size")]).sum() / len(y))


def churn_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    both = len(np.unique(y)) == 2
    return {
        "roc_auc": roc_auc_score(y, p) if both else float("nan"),
        "pr_auc": average_precision_score(y, p) if both else float("nan"),
        "log_loss": log_loss(y, np.clip(p, 1e-6, 1 - 1e-6), labels=[0, 1]),
        "brier": brier_score_loss(y, p),
        "ece": expected_calibration_error(y, p),
        "top_decile_lift": top_decile_lift(y, p),
    }


def campaign_metrics(
    y: np.ndarray, p: np.ndarray, value_at_risk: np.ndarray, clv: np.ndarray, cfg: CampaignConfig
) -> dict[str, float]:
    """EMPC of the churn ranking (CLV = mean customer value), and the realised profit of the best list size when the
    list is ranked by value at risk, with every model's list valued by the same customer values ``clv``."""
    curve = economics.profit_curve(y, value_at_risk, clv, cfg)
    return {"empc": economics.empc(y, p, float(np.mean(clv)), cfg).value, "best_campaign_profit": float(curve.max())}


def value_metrics(actual: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    return {
        "rmse": float(np.sqrt(np.mean((actual - predicted) ** 2))),
        "mae": mean_absolute_error(actual, predicted),
        "spearman": float(spearmanr(actual, predicted).statistic),
        "normalised_gini": normalised_gini(actual, predicted),
        "total_ratio": float(predicted.sum() / actual.sum()) if actual.sum() > 0 else float("nan"),
    }


def evaluate_fold(
    trained: training.TrainedModels, test: pd.DataFrame, campaign: CampaignConfig = CampaignConfig()
) -> tuple[list[dict], pd.DataFrame]:
    """Metrics of the model and every baseline on one test cutoff, plus the row-level predictions."""
    y, spend = test["churned"].to_numpy(), test["future_spend"].to_numpy()
    pred = training.predict(trained, test)
    clv = pred["value_if_retained"].to_numpy()  # the value model's customer value, the same for every model's campaign
    candidates = {
        "lightgbm": (
            pred["churn_probability"].to_numpy(),
            pred["expected_value"].to_numpy(),
            pred["value_at_risk"].to_numpy(),
        ),
        "rfm_baseline": _with_value(trained.baseline.predict_proba(test)[:, 1], trained.baseline.predict_value(test)),
        "logistic_baseline": (p := trained.logistic.predict_proba(test)[:, 1], None, p * clv),
    }
    if models.BgNbdBaseline.available(test):
        bg = models.BgNbdBaseline()
        candidates["bgnbd_gg_baseline"] = _with_value(bg.predict_proba(test)[:, 1], bg.predict_value(test))
    rows, detail = [], pred.assign(churned=y, future_spend=spend)
    for name, (p, value, at_risk) in candidates.items():
        row = {"model": name, **churn_metrics(y, p), **campaign_metrics(y, p, at_risk, clv, campaign)}
        row.update(value_metrics(spend, value) if value is not None else dict.fromkeys(VALUE_METRICS, float("nan")))
        rows.append(row)
        detail[f"{name}_probability"], detail[f"{name}_value_at_risk"] = p, at_risk
        if value is not None:
            detail[f"{name}_value"] = value
    return rows, detail


def _with_value(p: np.ndarray, expected_value: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(probability, expected value, value at risk) for a baseline that forecasts expected spend directly."""
    return p, expected_value, p * models.value_if_retained(p, expected_value)


def backtest(
    labelled: pd.DataFrame,
    folds: list[Fold],
    cfg: ModelConfig,
    seed: int,
    horizon_days: int,
    campaign: CampaignConfig = CampaignConfig(),
) -> Backtest:
    """Fit and test every fold; the first fold (latest test cutoff) keeps its predictions."""
    rows, latest, started = [], None, time.monotonic()
    for i, fold in enumerate(folds):
        log.info(
            "backtest: fold %d of %d (test cutoff %s), %.0f s elapsed",
            i + 1,
            len(folds),
            f"{fold.test:%Y-%m-%d}",
            time.monotonic() - started,
        )
        trained = training.fit(
            labelled[labelled["cutoff"].isin(fold.train)],
            labelled[labelled["cutoff"] == fold.validation],
            cfg,
            seed,
            horizon_days,
        )
        fold_rows, detail = evaluate_fold(trained, labelled[labelled["cutoff"] == fold.test], campaign)
        rows += [{"fold": i, "test_cutoff": fold.test, **r} for r in fold_rows]
        latest = detail if latest is None else latest
    return Backtest(pd.DataFrame(rows), latest)


def summarise(metrics: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation over folds, one row per model."""
    cols = list(CHURN_METRICS + VALUE_METRICS)
    grouped = metrics.groupby("model", sort=False)[cols]
    mean, std = grouped.mean(), grouped.std(ddof=0)
    return pd.concat({"mean": mean, "std": std}, axis=1).swaplevel(axis=1).reindex(columns=cols, level=0)
