"""Churn as the pipeline scores it: the active base's churn model, and the win-back group's own estimate.

A customer silent for longer than nearly every returning customer took (outside the active base, see
``pipeline.population``) is not scored by the active base's churn model, which never saw such customers. The group's
estimate is a model of the whole base (LightGBM fitted on every customer of the training cutoffs, so it knows how far
the win-back group's chances fall below the active base's), calibrated on the win-back group alone. Models of the
win-back rows only were tried (a logistic regression, the full blend): on the real log they ranked the group little
better than chance and broke the order between the two groups (docs/pipeline.md).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin

from pipeline.config import ModelConfig
from pipeline.models.calibration import ProbabilityCalibrator
from pipeline.models.churn import CalibratedChurnModel
from pipeline.models.crossfit import (
    MIN_CLASS_ROWS,
    HalvesAverage,
    both_outcomes,
    choose_calibration,
    halves,
    monotone_signs,
)
from pipeline.models.estimators import align, categories_of, churn_classifier


class WinBackModel(BaseEstimator):
    """The whole base's churn trees (one per half of the customers, averaged: ``crossfit.HalvesAverage``) and a
    calibrator fitted on the win-back group's out-of-fold forecasts.

    Hyperparameters: ``features``, ``config`` (``ModelConfig``), ``seed``. Learnt: ``trees_``, ``calibrator_``,
    ``categories_``.
    """

    def __init__(self, features: list[str] | None = None, config: ModelConfig | None = None, seed: int = 0):
        self.features = features
        self.config = config
        self.seed = seed

    def fit(self, X: pd.DataFrame, y, categories: dict[str, list] | None = None) -> WinBackModel:
        self.fit_oof(X, y, categories)
        return self

    def fit_oof(self, X: pd.DataFrame, y, categories: dict[str, list] | None = None) -> np.ndarray:
        """Fit on every row of ``X`` (with ``customer_id`` and ``active``); return the win-back rows' calibrated
        out-of-fold forecasts."""
        cfg, features, y = self.config or ModelConfig(), list(self.features or ()), np.asarray(y)
        self.categories_ = categories if categories is not None else categories_of(X[features])
        signs = monotone_signs(features, list(cfg.monotone_increasing))
        self.trees_ = HalvesAverage(churn_classifier(cfg.churn, self.seed, signs), cfg.churn.early_stopping_rounds)
        raw = self.trees_.fit_oof(X[features], y, halves(X["customer_id"], self.seed))
        gone = ~X["active"].to_numpy(bool)
        method = "none"
        if both_outcomes(y[gone], MIN_CLASS_ROWS // 4):  # too few to calibrate on: the trees' own level
            method = choose_calibration(raw[gone], y[gone], cfg.calibration, self.seed)
        self.calibrator_ = ProbabilityCalibrator(method).fit(raw[gone], y[gone])
        return self.calibrator_.transform(raw[gone])

    @property
    def inputs(self) -> list[str]:
        return list(self.features or ())

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        if not len(X):
            return np.empty((0, 2))
        raw = self.trees_.predict_proba(align(X, list(self.features or ()), self.categories_))[:, 1]
        p = self.calibrator_.transform(raw)
        return np.column_stack([1 - p, p])


class ChurnByPopulation(ClassifierMixin, BaseEstimator):
    """What the pipeline scores churn with: the active base's churn model for rows whose ``active`` is true, the
    win-back model for the others (without an ``active`` column, or without a win-back model, every row is active).
    Registered in MLflow as the churn model, so a user loading it scores as the pipeline does."""

    def __init__(self, churn: CalibratedChurnModel, win_back: WinBackModel | None = None):
        self.churn = churn  # fitted: this is how the pipeline serves its two fitted models together, not a learner
        self.win_back = win_back

    @property
    def inputs(self) -> list[str]:
        """The columns it reads: the churn model's (and the win-back model's, and ``active``, where there is one)."""
        if self.win_back is None:
            return self.churn.inputs
        return list(dict.fromkeys([*self.churn.inputs, *self.win_back.inputs, "active"]))

    def active(self, X: pd.DataFrame) -> np.ndarray:
        if self.win_back is None or "active" not in X:
            return np.ones(len(X), dtype=bool)
        return X["active"].to_numpy(bool)

    def probability(self, X: pd.DataFrame, raw: np.ndarray | None = None) -> np.ndarray:
        """Calibrated P(churn) per row; ``raw``: the churn model's raw probabilities of the active rows, if known."""
        active = self.active(X)
        p = np.empty(len(X))
        if active.any():
            p[active] = self.churn.calibrated(raw if raw is not None else self.churn.raw_probability(X[active]))
        if (~active).any() and self.win_back is not None:  # (without one, every row is active)
            p[~active] = self.win_back.predict_proba(X[~active])[:, 1]
        return p

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        p = self.probability(X)
        return np.column_stack([1 - p, p])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return (self.probability(X) >= 0.5).astype(int)
