"""Training: stack customers as of many past cutoffs (each with a fully observed horizon) and fit the models.

Which cutoffs train, validate and test is the plan's (``pipeline.plan``); this module fits on the rows it is given.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.metrics import log_loss
from sklearn.model_selection import StratifiedKFold

from pipeline import models
from pipeline.config import ModelConfig
from pipeline.errors import PipelineError
from pipeline.features.build import feature_columns

log = logging.getLogger(__name__)


class NotEnoughHistory(PipelineError):
    """The data before as_of is too short even for the label-free BG/NBD fallback."""


@dataclass(frozen=True)
class TrainedModels:
    churn: models.CalibratedChurnModel
    value: models.ValueModel
    baseline: models.RfmBaseline
    logistic: models.LogisticBaseline
    features: list[str]
    calibration: str
    churn_iterations: int
    value_iterations: int


def monotone_signs(features: list[str], increasing: list[str]) -> list[int]:
    """+1 for features whose rise must never lower churn risk, 0 elsewhere."""
    return [1 if f in increasing else 0 for f in features]


def choose_calibration(raw: np.ndarray, y: np.ndarray, method: str, seed: int) -> str:
    """Pick isotonic or sigmoid by out-of-fold log loss on the validation cutoff (2-fold cross-fitting)."""
    if method != "auto":
        return method
    losses = {}
    for candidate in ("isotonic", "sigmoid"):
        folds = StratifiedKFold(2, shuffle=True, random_state=seed).split(raw.reshape(-1, 1), y)
        losses[candidate] = np.mean(
            [
                log_loss(
                    y[b], models.ProbabilityCalibrator(candidate).fit(raw[a], y[a]).transform(raw[b]), labels=[0, 1]
                )
                for a, b in folds
            ]
        )
    return min(losses, key=losses.get)


def validation_log_loss(train: pd.DataFrame, validation: pd.DataFrame, cfg: ModelConfig, seed: int) -> float:
    """Log loss on the validation cutoff of the churn classifier (early-stopped on it, before calibration)."""
    clf = _fit_classifier(train, validation, cfg, seed)
    features = feature_columns(train.drop(columns=["churned", "future_spend"]))
    return float(log_loss(validation["churned"], clf.predict_proba(validation[features])[:, 1], labels=[0, 1]))


def _fit_classifier(train: pd.DataFrame, validation: pd.DataFrame, cfg: ModelConfig, seed: int):
    features = feature_columns(train.drop(columns=["churned", "future_spend"]))
    clf = models.churn_classifier(cfg.churn, seed, monotone_signs(features, list(cfg.monotone_increasing)))
    clf.fit(
        train[features],
        train["churned"],
        eval_X=(validation[features],),
        eval_y=(validation["churned"],),
        callbacks=[lgb.early_stopping(cfg.churn.early_stopping_rounds, verbose=False)],
    )
    return clf


def fit(train: pd.DataFrame, validation: pd.DataFrame, cfg: ModelConfig, seed: int, horizon_days: int) -> TrainedModels:
    """Fit churn (early-stopped, then calibrated out of time) and value models on labelled feature rows."""
    features = feature_columns(train.drop(columns=["churned", "future_spend"]))
    started = time.monotonic()
    clf = _fit_classifier(train, validation, cfg, seed)
    log.info(
        "train: churn model fitted on %s rows, %d trees, %.0f s",
        f"{len(train):,}",
        clf.best_iteration_ or clf.n_estimators,
        time.monotonic() - started,
    )
    raw_val = clf.predict_proba(validation[features])[:, 1]
    y_val = validation["churned"].to_numpy()
    method = choose_calibration(raw_val, y_val, cfg.calibration, seed)
    categories = models.categories_of(train[features])
    churn = models.CalibratedChurnModel(
        clf, models.ProbabilityCalibrator(method).fit(raw_val, y_val), features, categories
    )
    buyers, val_buyers = (f[(f["churned"] == 0) & (f["future_spend"] > 0)] for f in (train, validation))
    reg = models.value_regressor(cfg.value, seed)
    reg.fit(
        buyers[features],
        buyers["future_spend"],
        eval_X=(val_buyers[features],),
        eval_y=(val_buyers["future_spend"],),
        callbacks=[lgb.early_stopping(cfg.value.early_stopping_rounds, verbose=False)],
    )
    log.info(
        "train: value model fitted on %s buyers, %.0f s since start", f"{len(buyers):,}", time.monotonic() - started
    )
    baseline = models.RfmBaseline(horizon_days).fit(train, train["churned"].to_numpy())
    logistic = models.LogisticBaseline(features, seed).fit(train, train["churned"].to_numpy())
    return TrainedModels(
        churn,
        models.ValueModel(reg, features, categories),
        baseline,
        logistic,
        features,
        method,
        int(clf.best_iteration_ or clf.n_estimators),
        int(reg.best_iteration_ or reg.n_estimators),
    )


def predict(trained: TrainedModels, frame: pd.DataFrame, raw: np.ndarray | None = None) -> pd.DataFrame:
    """Churn probability, spend if retained, expected value and value at risk for each row.

    ``raw``: the churn classifier's uncalibrated probabilities of these rows, when the caller has them already.
    """
    p = trained.churn.calibrated(raw) if raw is not None else trained.churn.predict_proba(frame)[:, 1]
    if_retained = trained.value.predict(frame)
    return pd.DataFrame(
        {
            "customer_id": frame["customer_id"].to_numpy(),
            "churn_probability": p,
            "value_if_retained": if_retained,
            "expected_value": (1 - p) * if_retained,
            "value_at_risk": p * if_retained,
        },
        index=frame.index,
    )
