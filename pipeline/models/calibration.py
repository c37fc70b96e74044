"""Calibration of churn scores to probabilities, fitted out of time on the validation cutoff."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression


class ProbabilityCalibrator(BaseEstimator):
    """Maps raw scores to calibrated probabilities: isotonic, sigmoid (Platt) or identity."""

    def __init__(self, method: str = "isotonic"):
        self.method = method

    def fit(self, raw: np.ndarray, y: np.ndarray) -> ProbabilityCalibrator:
        if self.method == "isotonic":
            self.model_ = IsotonicRegression(y_min=1e-4, y_max=1 - 1e-4, out_of_bounds="clip").fit(raw, y)
        elif self.method == "sigmoid":
            self.model_ = LogisticRegression(C=1e6).fit(logit(raw).reshape(-1, 1), y)
        elif self.method != "none":
            raise ValueError(f"unknown calibration method {self.method!r}")
        return self

    def transform(self, raw: np.ndarray) -> np.ndarray:
        if self.method == "isotonic":
            return self.model_.predict(raw)
        if self.method == "sigmoid":
            return self.model_.predict_proba(logit(raw).reshape(-1, 1))[:, 1]
        return np.clip(raw, 1e-4, 1 - 1e-4)


def logit(p: np.ndarray) -> np.ndarray:
    """Log-odds of probabilities, clipped to [1e-12, 1 - 1e-12] (the one definition every module uses)."""
    p = np.clip(np.asarray(p, dtype=float), 1e-12, 1 - 1e-12)
    return np.log(p / (1 - p))
