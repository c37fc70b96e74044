"""The value model as scored: spend over the horizon if the customer keeps buying."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from pipeline.models.estimators import align


class ValueModel(BaseEstimator):
    """A fitted LightGBM spend regressor that restores training categories before predicting."""

    def __init__(self, regressor: lgb.LGBMRegressor, features: list[str], categories: dict[str, list]):
        self.regressor = regressor
        self.features = features
        self.categories = categories

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self.regressor.predict(align(X, self.features, self.categories))


def value_if_retained(p: np.ndarray, expected_value: np.ndarray) -> np.ndarray:
    """Spend given the customer buys, from an unconditional expected spend: expected value ÷ P(any purchase)."""
    return expected_value / np.maximum(1 - p, 1e-9)
