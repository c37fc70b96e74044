"""The churn model as scored: a fitted LightGBM classifier followed by its out-of-time calibrator."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin

from pipeline.models.calibration import ProbabilityCalibrator
from pipeline.models.estimators import align


class CalibratedChurnModel(ClassifierMixin, BaseEstimator):
    """A fitted LightGBM churn classifier followed by an out-of-time probability calibrator."""

    def __init__(
        self,
        classifier: lgb.LGBMClassifier,
        calibrator: ProbabilityCalibrator,
        features: list[str],
        categories: dict[str, list],
    ):
        self.classifier = classifier
        self.calibrator = calibrator
        self.features = features
        self.categories = categories

    def raw_probability(self, X: pd.DataFrame) -> np.ndarray:
        """The classifier's uncalibrated probability of churn (what its TreeSHAP contributions explain)."""
        return self.classifier.predict_proba(align(X, self.features, self.categories))[:, 1]

    def calibrated(self, raw: np.ndarray) -> np.ndarray:
        """Calibrated probabilities of churn from ``raw_probability``'s output."""
        return self.calibrator.transform(raw)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        p = self.calibrated(self.raw_probability(X))
        return np.column_stack([1 - p, p])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)
