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

from pipeline import extend, models
from pipeline.config import ModelConfig
from pipeline.errors import PipelineError
from pipeline.features import sampling
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
    recency: models.RecencyBaseline | None = None
    # a short history (see pipeline.extend): learnt over label_days, forecasts extended to target_days
    label_days: int | None = None
    target_days: int | None = None

    @property
    def extended(self) -> bool:
        return bool(self.label_days and self.target_days and self.target_days > self.label_days)


def monotone_signs(features: list[str], increasing: list[str]) -> list[int]:
    """+1 for features whose rise must never lower churn risk, 0 elsewhere."""
    return [1 if f in increasing else 0 for f in features]


def _calibration_loss(raw: np.ndarray, y: np.ndarray, method: str, seed: int) -> tuple[str, float]:
    """The calibration (``method``, or the better of isotonic and sigmoid for auto) and its cross-fitted log loss."""
    losses = {}
    for candidate in ("isotonic", "sigmoid") if method == "auto" else (method,):
        folds = StratifiedKFold(2, shuffle=True, random_state=seed).split(raw.reshape(-1, 1), y)
        losses[candidate] = np.mean(
            [
                log_loss(
                    y[b], models.ProbabilityCalibrator(candidate).fit(raw[a], y[a]).transform(raw[b]), labels=[0, 1]
                )
                for a, b in folds
            ]
        )
    best = min(losses, key=losses.get)
    return best, float(losses[best])


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
    """Fit churn (early-stopped, blended with the linear model, then calibrated out of time) and value models."""
    features = feature_columns(train.drop(columns=["churned", "future_spend"]))
    started = time.monotonic()
    clf = _fit_classifier(train, validation, cfg, seed)
    log.info(
        "train: churn model fitted on %s rows, %d trees, %.0f s",
        f"{len(train):,}",
        clf.best_iteration_ or clf.n_estimators,
        time.monotonic() - started,
    )
    y_train, y_val = train["churned"].to_numpy(), validation["churned"].to_numpy()
    logistic = models.LogisticBaseline(features, seed).fit(train, y_train)
    categories = models.categories_of(train[features])
    churn = models.CalibratedChurnModel(
        clf, None, features, categories, logistic, 1.0, logistic.monotone_coef(list(cfg.monotone_increasing))
    )
    if "bgnbd_p_no_purchase" in features:
        odds = models.churn.bgnbd_log_odds(validation, np.nan)
        churn.bgnbd_center = float(np.nanmean(odds)) if np.isfinite(odds).any() else float("nan")
    parts = churn.parts(validation)
    pick = sampling.by_customer(validation["customer_id"], BLEND_MAX_ROWS, seed)  # the weights need no more rows
    (churn.tree_weight, churn.bgnbd_weight), method = choose_blend(
        churn, tuple(part[pick] for part in parts), y_val[pick], cfg.calibration, seed
    )
    churn.bgnbd_center = float(np.nan_to_num(churn.bgnbd_center))
    raw_val = churn.combine(*parts)
    churn.calibrator = models.ProbabilityCalibrator(method).fit(raw_val, y_val)
    value = _fit_value(train, validation, features, categories, churn.calibrated(raw_val), cfg, seed)
    log.info(
        "train: churn blend %.1f trees, %.1f linear, %.1f BG/NBD (%s calibration); value blend %s; %.0f s since start",
        churn.tree_weight,
        churn.linear_weight,
        churn.bgnbd_weight,
        method,
        ", ".join(f"{k} {v:.2f}" for k, v in value.weights.items()),
        time.monotonic() - started,
    )
    return TrainedModels(
        churn,
        value,
        models.RfmBaseline(horizon_days).fit(train, y_train),
        logistic,
        features,
        method,
        int(clf.best_iteration_ or clf.n_estimators),
        int(value.regressor.best_iteration_ or value.regressor.n_estimators),
        models.RecencyBaseline().fit(train, y_train),
    )


BLEND_STEP = 0.1  # the blend's weights are tried in tenths
BLEND_MAX_ROWS = 50_000  # validation customers the weights are chosen on (a fixed sample, beyond this many)


def choose_blend(
    churn: models.CalibratedChurnModel, parts: tuple, y: np.ndarray, method: str, seed: int
) -> tuple[tuple[float, float], str]:
    """The trees' and BG/NBD's weights in the blend (the linear model has the rest) and the calibration, by
    cross-fitted log loss on the validation cutoff. Ties go to more weight on the trees: a part joins only where it
    helps. A model without BG/NBD features blends trees and the linear model alone.
    """
    steps = int(round(1 / BLEND_STEP))
    with_bgnbd = "bgnbd_p_no_purchase" in churn.features and bool(np.isfinite(churn.bgnbd_center))
    best = None
    for t in range(steps, -1, -1):
        for b in range(0, steps - t + 1) if with_bgnbd else (0,):
            churn.tree_weight, churn.bgnbd_weight = t / steps, b / steps
            chosen, loss = _calibration_loss(churn.combine(*parts), y, method, seed)
            if best is None or loss < best[2] - 1e-6:
                best = ((t / steps, b / steps), chosen, loss)
    return best[0], best[1]


def _fit_value(
    train: pd.DataFrame,
    validation: pd.DataFrame,
    features: list[str],
    categories: dict,
    p_val: np.ndarray,
    cfg: ModelConfig,
    seed: int,
) -> models.ValueModel:
    """The buyers' spend regressor, the Tweedie regressor on everyone, and their blend with BG/NBD x Gamma-Gamma."""
    buyers, val_buyers = (f[(f["churned"] == 0) & (f["future_spend"] > 0)] for f in (train, validation))
    stop = [lgb.early_stopping(cfg.value.early_stopping_rounds, verbose=False)]
    reg, tweedie = (
        estimator(cfg.value, seed).fit(
            rows[features],
            rows["future_spend"],
            eval_X=(held[features],),
            eval_y=(held["future_spend"],),
            callbacks=stop,
        )
        for estimator, rows, held in (
            (models.value_regressor, buyers, val_buyers),
            (models.spend_regressor, train, validation),
        )
    )
    value = models.ValueModel(reg, features, categories, tweedie)
    actual = validation["future_spend"].to_numpy(float)
    value.weights = models.blend_weights(value.candidates(validation, p_val), actual)
    predicted = value.regressor.predict(models.align(val_buyers, features, categories))
    value.scale = float(val_buyers["future_spend"].sum() / predicted.sum()) if predicted.sum() > 0 else 1.0
    return value


def predict(trained: TrainedModels, frame: pd.DataFrame, raw: np.ndarray | None = None) -> pd.DataFrame:
    """Churn probability, spend if retained, expected value and value at risk for each row.

    ``raw``: the churn classifier's uncalibrated probabilities of these rows, when the caller has them already.
    A model of a short history forecasts over its label horizon, extended to the horizon asked for.
    """
    p = trained.churn.calibrated(raw) if raw is not None else trained.churn.predict_proba(frame)[:, 1]
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
    return extend.predictions(out, frame, trained.label_days, trained.target_days) if trained.extended else out


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
    p = model[name].predict_proba(frame)[:, 1]
    if trained.extended:
        p = p * extend.churn_factor(p, frame, trained.label_days, trained.target_days)
    return p


def bgnbd_value(trained: TrainedModels, frame: pd.DataFrame) -> np.ndarray:
    """BG/NBD x Gamma-Gamma expected spend over the horizon the model forecasts."""
    if trained.extended and "bgnbd_expected_purchases_target" in frame:
        return frame["bgnbd_expected_purchases_target"].to_numpy(float) * frame["gg_expected_spend"].to_numpy(float)
    return models.BgNbdBaseline().predict_value(frame)


def rfm_value(trained: TrainedModels, frame: pd.DataFrame) -> np.ndarray:
    """The RFM baseline's spend forecast (last year's spend, scaled to the horizon the model forecasts)."""
    value = trained.baseline.predict_value(frame)
    return value * trained.target_days / trained.label_days if trained.extended else value


def value_candidates(trained: TrainedModels, frame: pd.DataFrame, p: np.ndarray) -> dict[str, np.ndarray]:
    """Each value candidate's expected spend over the horizon the model forecasts (see models.value)."""
    if not trained.extended:
        return trained.value.candidates(frame, p)
    label_p = trained.churn.predict_proba(frame)[:, 1]
    grow = extend.value_factor(frame, trained.label_days, trained.target_days)
    return {k: v * grow for k, v in trained.value.candidates(frame, label_p).items()}
