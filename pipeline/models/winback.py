"""The win-back group's own estimate: P(no purchase in the horizon) for customers outside the active base.

A customer silent for longer than nearly every returning customer took is a different population from the active
base: most never buy again, and whether one does depends on plain facts (how long ago, how often and how much they
bought, for how long, complaints and answers where there are any). So the group gets a model of its own, not the
active base's churn model: a logistic regression on the log-scaled features, fitted on the win-back rows of the
training cutoffs. Its level is the training cutoffs' own (stacked over the seasons); too few rows of either outcome
for a fit, and the group gets its smoothed churn rate.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin

from pipeline.models.baselines import ConstantRate, LogisticBaseline

MIN_ROWS = 50  # rows needed to fit the logistic regression (and a tenth of this of each outcome)


class WinBackModel(BaseEstimator):
    """Fitted by ``fit(rows, features)`` on the win-back rows; ``predict_proba`` as a classifier."""

    def __init__(self, seed: int = 0):
        self.seed = seed

    def fit(self, rows: pd.DataFrame, features: list[str]) -> "WinBackModel":
        y = rows["churned"].to_numpy()
        if _fittable(y):
            usable = [f for f in features if rows[f].notna().any()]
            self.model_ = LogisticBaseline(usable, self.seed, log_scale=True).fit(rows, y)
        else:
            self.model_ = ConstantRate(0.9).fit(rows, y)  # a group too small to model: likely gone, as most are
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        if not len(X):
            return np.empty((0, 2))
        return self.model_.predict_proba(X)


def _fittable(y: np.ndarray) -> bool:
    """Enough rows, and enough of each outcome, to fit a logistic regression."""
    return len(y) >= MIN_ROWS and min(int(np.sum(y == 1)), int(np.sum(y == 0))) >= MIN_ROWS // 10


class ChurnByPopulation(ClassifierMixin, BaseEstimator):
    """What the pipeline scores churn with: the active base's churn model for rows whose ``active`` is true, the
    win-back model for the others (without an ``active`` column, or without a win-back model, every row is active).
    Registered in MLflow as the churn model, so a user loading it scores as the pipeline does."""

    def __init__(self, churn, win_back: WinBackModel | None = None):
        self.churn = churn
        self.win_back = win_back

    @property
    def inputs(self) -> list[str]:
        """The columns it reads: the churn model's, and ``active`` where there is a win-back model."""
        return [*self.churn.inputs, *(["active"] if self.win_back is not None else [])]

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
