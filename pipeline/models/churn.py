"""The churn model as scored: a fitted LightGBM classifier followed by its out-of-time calibrator."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin

from pipeline.models.calibration import ProbabilityCalibrator
from pipeline.models.estimators import align


class CalibratedChurnModel(ClassifierMixin, BaseEstimator):
    """A fitted LightGBM churn classifier, optionally blended, then an out-of-time probability calibrator.

    The blend adds the log-odds of the trees, of a linear model and of BG/NBD's P(no purchase) with weights chosen
    on the validation cutoff (``tree_weight`` + ``linear_weight`` + ``bgnbd_weight`` = 1). Where churn follows a few
    smooth trends (a single fading cohort) the linear model ranks as well as the trees; where the history is short,
    the labelled cutoffs are young and BG/NBD, fitted on each cutoff's own customers, carries what the trees cannot
    learn from them. Each part explains itself exactly (TreeSHAP; coefficient x distance from the mean; BG/NBD's
    log-odds' distance from its mean, credited to ``bgnbd_p_no_purchase``), so the reasons still add up to the risk.
    """

    def __init__(
        self,
        classifier: lgb.LGBMClassifier,
        calibrator: ProbabilityCalibrator,
        features: list[str],
        categories: dict[str, list],
        linear=None,
        tree_weight: float = 1.0,
        linear_coef: np.ndarray | None = None,
        bgnbd_weight: float = 0.0,
        bgnbd_center: float = 0.0,
    ):
        self.classifier = classifier
        self.calibrator = calibrator
        self.features = features
        self.categories = categories
        self.linear = linear
        self.tree_weight = tree_weight
        self.linear_coef = linear_coef
        self.bgnbd_weight = bgnbd_weight
        self.bgnbd_center = bgnbd_center

    @property
    def blended(self) -> bool:
        return getattr(self, "tree_weight", 1.0) < 1.0

    @property
    def linear_weight(self) -> float:
        return round(1.0 - getattr(self, "tree_weight", 1.0) - getattr(self, "bgnbd_weight", 0.0), 9)

    def tree_probability(self, X: pd.DataFrame) -> np.ndarray:
        return self.classifier.predict_proba(align(X, self.features, self.categories))[:, 1]

    def linear_contributions(self, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """The linear part's per-feature log-odds contributions and base (see ``LogisticBaseline.contributions``)."""
        if getattr(self, "linear", None) is None:
            return np.zeros((len(X), len(self.features))), np.zeros(len(X))
        return self.linear.contributions(X, self.linear_coef)

    def parts(self, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The log-odds of the trees, the linear model and BG/NBD for each row (before weighting)."""
        contrib, base = self.linear_contributions(X)
        return (
            logit(self.tree_probability(X)),
            base + contrib.sum(axis=1),
            bgnbd_log_odds(X, getattr(self, "bgnbd_center", 0.0)),
        )

    def combine(self, trees: np.ndarray, linear: np.ndarray, bgnbd: np.ndarray) -> np.ndarray:
        """The blend's uncalibrated probability from its parts' log-odds."""
        z = self.tree_weight * trees
        if self.linear_weight > 0:
            z = z + self.linear_weight * linear
        if getattr(self, "bgnbd_weight", 0.0) > 0:
            z = z + self.bgnbd_weight * bgnbd
        return 1 / (1 + np.exp(-z))

    def raw_probability(self, X: pd.DataFrame) -> np.ndarray:
        """The uncalibrated probability of churn (what the contributions of ``explain.contributions`` explain)."""
        if not self.blended:
            return self.tree_probability(X)
        return self.combine(*self.parts(X))

    def other_contributions(self, X: pd.DataFrame) -> np.ndarray:
        """The weighted contributions of the linear and BG/NBD parts, per row and feature (log-odds)."""
        out = self.linear_weight * self.linear_contributions(X)[0] if self.linear_weight > 0 else 0.0
        out = np.zeros((len(X), len(self.features))) + out
        if getattr(self, "bgnbd_weight", 0.0) > 0 and "bgnbd_p_no_purchase" in self.features:
            j = self.features.index("bgnbd_p_no_purchase")
            out[:, j] += self.bgnbd_weight * (bgnbd_log_odds(X, self.bgnbd_center) - self.bgnbd_center)
        return out

    def calibrated(self, raw: np.ndarray) -> np.ndarray:
        """Calibrated probabilities of churn from ``raw_probability``'s output."""
        return self.calibrator.transform(raw)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        p = self.calibrated(self.raw_probability(X))
        return np.column_stack([1 - p, p])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)


def bgnbd_log_odds(X: pd.DataFrame, missing: float) -> np.ndarray:
    """BG/NBD's log-odds of no purchase in the horizon; ``missing`` where it could not be fitted."""
    if "bgnbd_p_no_purchase" not in X:
        return np.full(len(X), missing)
    p = X["bgnbd_p_no_purchase"].to_numpy(float)
    return np.where(np.isnan(p), missing, logit(np.clip(np.nan_to_num(p, nan=0.5), 1e-6, 1 - 1e-6)))


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, float), 1e-12, 1 - 1e-12)
    return np.log(p / (1 - p))
