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

from pipeline.models.estimators import align


class WinBackModel(BaseEstimator):
    """The whole base's churn trees (two halves averaged, see ``estimators.HalvesAverage``) and a calibrator fitted
    on the win-back group's out-of-fold forecasts."""

    def __init__(self, trees, calibrator, features: list[str], categories: dict):
        self.trees = trees
        self.calibrator = calibrator
        self.features = features
        self.categories = categories

    @property
    def inputs(self) -> list[str]:
        return list(self.features)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        if not len(X):
            return np.empty((0, 2))
        p = self.calibrator.transform(self.trees.predict_proba(align(X, self.features, self.categories))[:, 1])
        return np.column_stack([1 - p, p])


class ChurnByPopulation(ClassifierMixin, BaseEstimator):
    """What the pipeline scores churn with: the active base's churn model for rows whose ``active`` is true, the
    win-back model for the others (without an ``active`` column, or without a win-back model, every row is active).
    Registered in MLflow as the churn model, so a user loading it scores as the pipeline does."""

    def __init__(self, churn, win_back=None):
        self.churn = churn
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
        if (~active).any():
            p[~active] = self.win_back.predict_proba(X[~active])[:, 1]
        return p

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        p = self.probability(X)
        return np.column_stack([1 - p, p])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return (self.probability(X) >= 0.5).astype(int)
