"""Out-of-time evaluation: fit on the past, score a later cutoff, compare with the RFM baseline, fold by fold."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import spearmanr
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, mean_absolute_error, roc_auc_score

from pipeline import economics, labels, models
from pipeline import fitting as training
from pipeline.config import CampaignConfig, ModelConfig
from pipeline.plan import Fold

CHURN_METRICS = ("roc_auc", "pr_auc", "log_loss", "brier", "ece", "top_decile_lift", "empc", "best_campaign_profit")
VALUE_METRICS = ("rmse", "mae", "spearman", "normalised_gini", "total_ratio", "top_decile_capture")
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
    "mae",
    "spearman",
    "normalised_gini",
    "total_ratio",
    "top_decile_capture",
)
BASELINES = ("rfm_baseline", "recency_baseline", "logistic_baseline", "bgnbd_gg_baseline")
# the value model's blend and each of its candidates on their own (value metrics only; see models.value)
VALUE_CANDIDATES = tuple(f"value_{c}" for c in models.value.CANDIDATES)
MODELS = ("lightgbm", *BASELINES)


@dataclass(frozen=True)
class Backtest:
    """Per-fold metrics (one row per fold x model), the latest fold's test predictions (for plots), and the value
    blend the backtest chose (None with fewer than two folds: then each fit keeps its validation cutoff's)."""

    metrics: pd.DataFrame
    latest: pd.DataFrame
    value_weights: dict[str, float] | None = None


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


def top_decile_capture(actual: np.ndarray, predicted: np.ndarray) -> float:
    """Share of the actual spend made by the 10% of customers with the highest forecast."""
    n = max(int(np.ceil(len(predicted) * 0.1)), 1)
    top = np.argsort(-predicted, kind="stable")[:n]
    return float(actual[top].sum() / actual.sum()) if actual.sum() > 0 else float("nan")


def value_metrics(actual: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    return {
        "top_decile_capture": top_decile_capture(actual, predicted),
        "rmse": float(np.sqrt(np.mean((actual - predicted) ** 2))),
        "mae": mean_absolute_error(actual, predicted),
        "spearman": float(spearmanr(actual, predicted).statistic),
        "normalised_gini": normalised_gini(actual, predicted),
        "total_ratio": float(predicted.sum() / actual.sum()) if actual.sum() > 0 else float("nan"),
    }


POPULATIONS = ("active", "win-back", "all")  # the active base first: what the model is judged and promoted on


def populations(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """Each population's rows: the active base, the win-back group and everyone (without an ``active`` column,
    everyone is taken as active)."""
    active = frame["active"].to_numpy(bool) if "active" in frame else np.ones(len(frame), dtype=bool)
    return {"active": active, "win-back": ~active, "all": np.ones(len(frame), dtype=bool)}


def evaluate_fold(
    trained: training.TrainedModels, test: pd.DataFrame, campaign: CampaignConfig = CampaignConfig()
) -> tuple[list[dict], pd.DataFrame]:
    """Metrics of the model and every baseline on one test cutoff, per population, plus the row-level predictions."""
    y, spend = test["churned"].to_numpy(), test["future_spend"].to_numpy()
    pred = training.predict(trained, test)
    clv = pred["value_if_retained"].to_numpy()  # the value model's customer value, the same for every model's campaign
    candidates = {
        "lightgbm": (
            pred["churn_probability"].to_numpy(),
            pred["expected_value"].to_numpy(),
            pred["value_at_risk"].to_numpy(),
        ),
        "rfm_baseline": _with_value(
            training.baseline_probability(trained, "rfm_baseline", test), training.rfm_value(trained, test)
        ),
        "logistic_baseline": (p := training.baseline_probability(trained, "logistic_baseline", test), None, p * clv),
    }
    if trained.recency is not None:
        p = training.baseline_probability(trained, "recency_baseline", test)
        candidates["recency_baseline"] = (p, None, p * clv)
    if models.BgNbdBaseline.available(test):
        p = training.baseline_probability(trained, "bgnbd_gg_baseline", test)
        candidates["bgnbd_gg_baseline"] = _with_value(p, training.bgnbd_value(trained, test))
    candidates = {k: candidates[k] for k in MODELS if k in candidates}
    detail = pred.assign(churned=y, future_spend=spend, active=populations(test)["active"])
    for name, (p, value, at_risk) in candidates.items():
        detail[f"{name}_probability"], detail[f"{name}_value_at_risk"] = p, at_risk
        if value is not None:
            detail[f"{name}_value"] = value
    weights = trained.value.weights_ or {}
    found = training.value_candidates(trained, test, pred["churn_probability"].to_numpy())
    for name, value in found.items():
        detail[f"value_{name}"] = value
    rows = []
    for population, m in populations(test).items():
        if not m.any():
            continue
        for name, (p, value, at_risk) in candidates.items():
            row = {
                "population": population,
                "model": name,
                **churn_metrics(y[m], p[m]),
                **campaign_metrics(y[m], p[m], at_risk[m], clv[m], campaign),
            }
            row.update(_value_metrics_or_none(spend[m], None if value is None else value[m]))
            rows.append(row)
        for name, value in found.items():
            row = {"population": population, "model": f"value_{name}", **dict.fromkeys(CHURN_METRICS, float("nan"))}
            rows.append({**row, **value_metrics(spend[m], value[m]), "blend_weight": weights.get(name, 0.0)})
    return rows, detail


def _value_metrics_or_none(actual: np.ndarray, predicted: np.ndarray | None) -> dict[str, float]:
    return value_metrics(actual, predicted) if predicted is not None else dict.fromkeys(VALUE_METRICS, float("nan"))


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
    """Fit and test every fold; the first fold (latest test cutoff) keeps its predictions.

    The value blend is chosen by backtest RMSE: each fold's model is scored with the weights that do best on the
    other folds' tests (so the table judges the rule, not weights fitted to the fold itself), and the production
    weights are the best on all folds together.
    """
    rows, latest, started, tests = [], None, time.monotonic(), []
    for i, fold in enumerate(folds):
        log.info(
            "backtest: fold %d of %d (test cutoff %s), %.0f s elapsed",
            i + 1,
            len(folds),
            f"{fold.test:%Y-%m-%d}",
            time.monotonic() - started,
        )
        trained = training.fit(labelled[labelled["cutoff"].isin(fold.train)], cfg, seed, horizon_days)
        fold_rows, detail = evaluate_fold(trained, labelled[labelled["cutoff"] == fold.test], campaign)
        rows += [{"fold": i, "test_cutoff": fold.test, **r} for r in fold_rows]
        latest = detail if latest is None else latest
        tests.append(detail[["future_spend", "active", *[c for c in VALUE_CANDIDATES if c in detail]]])
    metrics, weights = pd.DataFrame(rows), None
    assert latest is not None, "a backtest needs at least one fold"
    if len(tests) >= 2:
        metrics, weights = _value_blend_by_backtest(metrics, tests)
        latest = latest.assign(expected_value=blended(tests[0], weights))
    elif tests:  # one fold: the table shows the fit's own blend; production takes the fold's best
        weights = choose_value_blend(tests)
    return Backtest(metrics, latest, weights)


def blended(candidates: pd.DataFrame, weights: dict[str, float]) -> np.ndarray:
    return sum(w * candidates[f"value_{name}"].to_numpy() for name, w in weights.items())


def _value_blend_by_backtest(metrics: pd.DataFrame, tests: list[pd.DataFrame]) -> tuple[pd.DataFrame, dict]:
    """Each fold's value metrics of the model with the blend chosen on the other folds; the blend of all folds."""
    metrics = metrics.copy()
    for i, test in enumerate(tests):
        others = choose_value_blend([t for j, t in enumerate(tests) if j != i])
        value = blended(test, others)
        for population, m in populations(test).items():
            at = (metrics["fold"] == i) & (metrics["population"] == population)
            if not m.any():
                continue
            for metric, v in value_metrics(test["future_spend"].to_numpy()[m], value[m]).items():
                metrics.loc[at & (metrics["model"] == "lightgbm"), metric] = v
            for name, w in others.items():
                metrics.loc[at & (metrics["model"] == f"value_{name}"), "blend_weight"] = w
    return metrics, choose_value_blend(tests)


def choose_value_blend(tests: list[pd.DataFrame]) -> dict[str, float]:
    """The value blend with the least RMSE over the given folds' test rows together."""
    pooled = pd.concat(tests, ignore_index=True)
    names = [c[len("value_") :] for c in VALUE_CANDIDATES if c in pooled]
    return models.blend_weights({n: pooled[f"value_{n}"].to_numpy() for n in names}, pooled["future_spend"].to_numpy())


def summarise(metrics: pd.DataFrame, population: str = "active") -> pd.DataFrame:
    """Mean and standard deviation over folds, one row per model, on one population (see ``POPULATIONS``; metrics
    without a population column are taken as they are)."""
    if "population" in metrics:
        metrics = metrics[metrics["population"] == population]
    cols = list(CHURN_METRICS + VALUE_METRICS)
    grouped = metrics.groupby("model", sort=False)[cols]
    mean, std = grouped.mean(), grouped.std(ddof=0)
    return pd.concat({"mean": mean, "std": std}, axis=1).swaplevel(axis=1).reindex(columns=cols, level=0)


def summaries(metrics: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """``summarise`` of every population the metrics hold, the active base first."""
    found = set(metrics["population"]) if "population" in metrics else {"active"}
    return {p: summarise(metrics, p) for p in POPULATIONS if p in found}


@dataclass(frozen=True)
class Scorer:
    """Which model scores the list: the trained model, or a baseline that did better in the backtest."""

    name: str
    reason: str | None = None  # why a baseline scores, in words for the report (None = the model)
    log_loss: float | None = None  # its mean backtest log loss
    note: str | None = None  # the model scores but is not ahead of every baseline on both metrics: where it is not


def choose_scorer(summary: pd.DataFrame) -> Scorer:
    """The model when it beats every baseline on mean ROC AUC and log loss at once. Otherwise whichever of the model
    and the baselines ranks best on the two together (the sum of its ranks, then the lower log loss): a baseline
    that does scores the list; a model that still does scores with a note of where it fell short."""
    means = summary.xs("mean", axis=1, level=1) if isinstance(summary.columns, pd.MultiIndex) else summary
    scored = means.loc[[m for m in MODELS if m in means.index], ["roc_auc", "log_loss"]].dropna()
    if "lightgbm" not in scored.index:
        return Scorer("lightgbm")
    model = scored.loc["lightgbm"]
    beaten = scored.drop(index="lightgbm")
    beaten = beaten[(model["roc_auc"] <= beaten["roc_auc"]) | (model["log_loss"] >= beaten["log_loss"])]
    if beaten.empty:
        return Scorer("lightgbm", None, float(model["log_loss"]))
    ranks = scored["roc_auc"].rank(ascending=False) + scored["log_loss"].rank()
    best = min(scored.index, key=lambda m: (ranks[m], scored.loc[m, "log_loss"]))
    shortfall = (
        f"the trained model (ROC AUC {model['roc_auc']:.3f}, log loss {model['log_loss']:.3f}) is not ahead of every "
        f"simple baseline in the backtest: "
        + "; ".join(
            f"{label(m)} has ROC AUC {beaten.loc[m, 'roc_auc']:.3f} and log loss {beaten.loc[m, 'log_loss']:.3f}"
            for m in beaten.index
        )
    )
    if best == "lightgbm":
        return Scorer("lightgbm", None, float(model["log_loss"]), f"{shortfall}; it still ranks best on the two")
    reason = f"{shortfall}, so this list's risks come from {label(best)}, which ranks best on the two"
    return Scorer(best, reason, float(scored.loc[best, "log_loss"]))


LABELS = {
    "lightgbm": "the trained model",
    "rfm_baseline": "the RFM score",
    "recency_baseline": "days since the last purchase",
    "logistic_baseline": "the logistic regression",
    "bgnbd_gg_baseline": "BG/NBD",
}


def label(model: str) -> str:
    return LABELS.get(model, model)


def hindsight(
    trained: training.TrainedModels,
    features: pd.DataFrame,
    transactions: pd.DataFrame,
    horizon_days: int,
    campaign: CampaignConfig = CampaignConfig(),
) -> pd.DataFrame:
    """How a list turned out once its horizon has passed: the metrics of the model and every baseline, scored as
    they would have scored as_of (a short history's forecasts extended the same way), against what happened.

    ``features``: the scoring features of that as_of; ``transactions``: the validated transactions, now reaching at
    least ``horizon_days`` past it. The same regime as the list itself, judged on the horizon it forecast.
    """
    outcome = labels.outcomes(transactions, features[["customer_id", "cutoff"]], horizon_days)
    test = features.assign(churned=outcome["churned"].to_numpy(), future_spend=outcome["future_spend"].to_numpy())
    return pd.DataFrame(evaluate_fold(trained, test, campaign)[0])
