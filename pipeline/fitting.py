"""Training: customers as of many past cutoffs, stacked, and the models fitted on them.

Which cutoffs train and test is the plan's (``pipeline.plan``); this module fits on the rows it is given. Early
stopping, the churn blend's weights, its calibration and the value blend are chosen on out-of-fold predictions: the
customers are split in two halves (by a seeded hash of their ID, so a customer's rows at every cutoff fall in the
same half), and each half is predicted by models fitted on the other. The final models are then fitted on every row.

The churn model learns from the active base (``pipeline.population``); the win-back group gets its own estimate; the
value models learn from everyone.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import log_loss

from pipeline import extend, models
from pipeline.config import ModelConfig
from pipeline.errors import PipelineError
from pipeline.featurize.build import feature_columns
from pipeline.models import crossfit

log = logging.getLogger(__name__)
MIN_CLASS_ROWS = crossfit.MIN_CLASS_ROWS  # the churn model needs this many churned and retained active customers


class NotEnoughHistory(PipelineError):
    """The data before as_of is too short even for the label-free BG/NBD fallback."""


@dataclass(frozen=True)
class TrainedModels:
    """The fitted models. ``churn`` is the active base's churn model and ``win_back`` the win-back group's estimate
    (see ``pipeline.population``); the baselines are fitted per population the same way (``models.PerPopulation``)."""

    churn: models.CalibratedChurnModel
    value: models.ValueModel
    baseline: models.PerPopulation
    logistic: models.PerPopulation
    features: list[str]
    calibration: str
    churn_iterations: int
    value_iterations: int
    recency: models.PerPopulation | None = None
    # a short history (see pipeline.extend): learnt over label_days, forecasts extended to target_days
    label_days: int | None = None
    target_days: int | None = None
    win_back: models.WinBackModel | None = None  # None: the churn model scores everyone
    horizon_days: int | None = None  # the horizon the labels it learnt judge

    @property
    def days(self) -> tuple[int, int]:
        """(label_days, target_days) of a model whose forecasts are extended (see ``extended``)."""
        assert self.label_days is not None and self.target_days is not None, "only an extended model has them"
        return self.label_days, self.target_days

    @property
    def horizon(self) -> int:
        """The horizon its labels judged."""
        assert self.horizon_days is not None, "set by fit"
        return self.horizon_days

    @property
    def extended(self) -> bool:
        return bool(self.label_days and self.target_days and self.target_days > self.label_days)

    @property
    def scorer(self) -> models.ChurnByPopulation:
        """The churn model and the win-back model together, as the pipeline scores churn (and MLflow registers it)."""
        return models.ChurnByPopulation(self.churn, self.win_back)

    def active(self, frame: pd.DataFrame) -> np.ndarray:
        """Which rows the churn model scores (the active base); the win-back model scores the others."""
        return self.scorer.active(frame)


def churn_rows(rows: pd.DataFrame) -> tuple[pd.DataFrame, bool]:
    """The rows the churn model learns from, and whether they are the active base alone.

    Where the active base holds too few churned or retained customers to learn from (a young or tiny base), every
    customer is used, and the win-back group is left without a model of its own.
    """
    if "active" not in rows:
        return rows, False
    active = rows[rows["active"].to_numpy(bool)]
    if len(active) < len(rows) and crossfit.both_outcomes(active["churned"], MIN_CLASS_ROWS):
        return active, True
    if len(active) < len(rows):
        log.warning(
            "train: the active base holds too few churned or retained customers to learn from (%s rows): the churn "
            "model learns from every customer",
            f"{len(active):,}",
        )
    return rows, False


def validation_log_loss(rows: pd.DataFrame, cfg: ModelConfig, seed: int) -> float:
    """Cross-fitted log loss of the churn trees on the training rows' active base (what a tuning sweep selects on;
    never the backtest's tests)."""
    learn, _ = churn_rows(rows)
    features = feature_columns(learn.drop(columns=["churned", "future_spend"]))
    signs = crossfit.monotone_signs(features, list(cfg.monotone_increasing))
    trees = crossfit.HalvesAverage(models.churn_classifier(cfg.churn, seed, signs), cfg.churn.early_stopping_rounds)
    y = learn["churned"].to_numpy()
    half = crossfit.halves(learn["customer_id"], seed)
    p = trees.fit_oof(learn[features], y, half)
    return float(np.mean([log_loss(y[half == k], p[half == k], labels=[0, 1]) for k in (0, 1)]))


def fit(rows: pd.DataFrame, cfg: ModelConfig, seed: int, horizon_days: int) -> TrainedModels:
    """Fit the churn model on the active base, the win-back group's estimate, the value models on everyone, and the
    baselines per population, from the labelled rows of the training cutoffs."""
    started = time.monotonic()
    features = feature_columns(rows.drop(columns=["churned", "future_spend"]))
    categories = models.categories_of(rows[features])
    learn, split = churn_rows(rows)
    churn = models.CalibratedChurnModel(features, cfg, seed)
    oof_raw = churn.fit_oof(learn, learn["churned"].to_numpy(), categories)
    y = rows["churned"].to_numpy()
    p = np.empty(len(rows))  # every row's out-of-fold churn probability, for the value blend
    win_back = None
    if split:
        win_back = models.WinBackModel(features, cfg, seed)
        p[~rows["active"].to_numpy(bool)] = win_back.fit_oof(rows, y, categories)
    p[rows.index.get_indexer(learn.index)] = churn.calibrated(oof_raw)
    value = models.ValueModel(features, cfg, seed, horizon_days).fit(rows, rows["future_spend"], p, categories)
    log.info(
        "train: churn model on %s rows of the %s (%d trees; blend %s; %s calibration)%s; value blend %s; %.0f s",
        f"{len(learn):,}",
        "active base" if split else "customers",
        churn.n_iterations_,
        ", ".join(f"{k} {w:.2f}" for k, w in churn.blend.items()),
        churn.calibrator_.method,
        "; the win-back group by its own model" if split else "",
        ", ".join(f"{k} {v:.2f}" for k, v in value.weights_.items()),
        time.monotonic() - started,
    )
    return TrainedModels(
        churn,
        value,
        models.PerPopulation(models.RfmBaseline(horizon_days)).fit(rows, y),
        models.PerPopulation(models.LogisticBaseline(features, seed)).fit(rows, y),
        features,
        churn.calibrator_.method,
        churn.n_iterations_,
        value.iterations,
        models.PerPopulation(models.RecencyBaseline()).fit(rows, y),
        win_back=win_back,
        horizon_days=horizon_days,
    )


def churn_probability(trained: TrainedModels, frame: pd.DataFrame, raw: np.ndarray | None = None) -> np.ndarray:
    """Calibrated P(no purchase in the label horizon): the churn model's for the active base, the win-back model's
    for the rest. ``raw``: the churn model's uncalibrated probabilities of the active rows, when the caller has them.
    """
    return trained.scorer.probability(frame, raw)


def predict(trained: TrainedModels, frame: pd.DataFrame, raw: np.ndarray | None = None) -> pd.DataFrame:
    """Churn probability, spend if retained, expected value and value at risk for each row.

    ``raw``: the churn model's uncalibrated probabilities of the active rows, when the caller has them already.
    A model of a short history forecasts over its label horizon, extended to the horizon asked for.
    """
    p = churn_probability(trained, frame, raw)
    if_retained = trained.value.predict(frame)
    out = pd.DataFrame(
        {
            "customer_id": frame["customer_id"].to_numpy(),
            "churn_probability": p,
            "value_if_retained": if_retained,
            "expected_value": trained.value.expected(frame, p),
            "value_at_risk": p * if_retained,
        },
        index=frame.index,
    )
    if not trained.extended:
        return out
    weights = {k: w for k, w in (trained.value.weights_ or {}).items() if w > 0}
    extended = extend.predictions(out, frame, *trained.days)
    if not weights:
        return extended
    found = value_candidates(trained, frame, p)
    return extended.assign(expected_value=sum(w * found[name] for name, w in weights.items()))


def baseline_probability(trained: TrainedModels, name: str, frame: pd.DataFrame) -> np.ndarray:
    """A baseline's churn probability over the horizon the model forecasts (a short history's extended like the
    model's; BG/NBD's straight over the longer horizon)."""
    if name == "bgnbd_gg_baseline":
        column = "bgnbd_p_no_purchase_target" if trained.extended else "bgnbd_p_no_purchase"
        return frame[column].to_numpy(float)
    model = {
        "rfm_baseline": trained.baseline,
        "logistic_baseline": trained.logistic,
        "recency_baseline": trained.recency,
    }
    found = model[name]
    if found is None:
        raise ValueError(f"{name} was not fitted with this model")
    p = found.predict_proba(frame)[:, 1]
    if trained.extended:
        p = p * extend.churn_factor(p, frame, *trained.days)
    return p


def bgnbd_value(trained: TrainedModels, frame: pd.DataFrame) -> np.ndarray:
    """BG/NBD x Gamma-Gamma expected spend over the horizon the model forecasts."""
    if trained.extended and "bgnbd_expected_purchases_target" in frame:
        return frame["bgnbd_expected_purchases_target"].to_numpy(float) * frame["gg_expected_spend"].to_numpy(float)
    return models.BgNbdBaseline().predict_value(frame)


def rfm_value(trained: TrainedModels, frame: pd.DataFrame) -> np.ndarray:
    """The RFM baseline's spend forecast (last year's spend, scaled to the horizon the model forecasts)."""
    value = models.RfmBaseline(trained.horizon).predict_value(frame)
    if not trained.extended:
        return value
    label_days, target_days = trained.days
    return value * target_days / label_days


def value_candidates(trained: TrainedModels, frame: pd.DataFrame, p: np.ndarray) -> dict[str, np.ndarray]:
    """Each value candidate's expected spend over the horizon the model forecasts (see models.value). A short
    history's learnt candidates are extended with BG/NBD's shape; the label-free ones are computed over the full
    horizon directly."""
    if not trained.extended:
        return trained.value.candidates(frame, p)
    label_p = churn_probability(trained, frame)
    grow = extend.value_factor(frame, *trained.days)
    found = {k: v * grow for k, v in trained.value.candidates(frame, label_p).items()}
    if "bgnbd_gg" in found:
        bg = bgnbd_value(trained, frame)
        found["bgnbd_gg"] = np.where(np.isnan(bg), found["bgnbd_gg"], bg)
    if "daily_spend" in found:
        found["daily_spend"] = models.value.daily_spend(frame, trained.days[1])
    if "daily_retained" in found:
        found["daily_retained"] = trained.value.daily_retained(frame, label_p, trained.days[1])
    return found
