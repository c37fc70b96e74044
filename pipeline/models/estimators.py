"""LightGBM estimator factories: unfitted, with the run's seed and thread count; and the column alignment they share."""

from __future__ import annotations

from dataclasses import asdict

import lightgbm as lgb
import numpy as np
import pandas as pd

from pipeline.config import LgbmParams
from pipeline.infra import threads
from pipeline.models.calibration import logit


def _lgbm_kwargs(params: LgbmParams, seed: int) -> dict:
    kwargs = {k: v for k, v in asdict(params).items() if k != "early_stopping_rounds"}
    return {
        **kwargs,
        "random_state": seed,
        "n_jobs": threads.count(),
        "verbose": -1,
        "deterministic": True,
        "force_row_wise": True,
    }


def churn_classifier(params: LgbmParams, seed: int, monotone: list[int]) -> lgb.LGBMClassifier:
    """Gradient-boosted churn classifier; ``monotone`` gives +1/0/-1 per feature."""
    return lgb.LGBMClassifier(
        objective="binary",
        monotone_constraints=monotone,
        monotone_constraints_method="basic",
        **_lgbm_kwargs(params, seed),
    )


def value_regressor(params: LgbmParams, seed: int) -> lgb.LGBMRegressor:
    """Spend over the horizon given the customer buys at all: positive and long-tailed, so a gamma objective."""
    return lgb.LGBMRegressor(objective="gamma", **_lgbm_kwargs(params, seed))


def categories_of(X: pd.DataFrame) -> dict[str, list]:
    """The categories of each categorical column, to restore them on data that lost them (e.g. JSON input)."""
    return {c: list(X[c].cat.categories) for c in X.columns if isinstance(X[c].dtype, pd.CategoricalDtype)}


def align(X: pd.DataFrame, features: list[str], categories: dict[str, list]) -> pd.DataFrame:
    """``X[features]`` with categorical columns cast to the training categories (unseen values become missing)."""
    out = X[features]
    if not categories:
        return out
    return out.assign(**{c: pd.Categorical(out[c].astype("object"), categories=cats) for c, cats in categories.items()})


def spend_regressor(params: LgbmParams, seed: int) -> lgb.LGBMRegressor:
    """Spend over the horizon of every customer, buyers or not: zero-inflated and long-tailed, so a Tweedie objective
    (a compound Poisson-gamma: a number of purchases times their amounts)."""
    return lgb.LGBMRegressor(objective="tweedie", tweedie_variance_power=1.5, **_lgbm_kwargs(params, seed))


class HalvesAverage:
    """Two fitted LightGBM models, each fitted on one half of the customers and early-stopped on the other: their
    average forecast (probabilities averaged in log-odds). What cross-fitting already fitted serves as the final
    model where no per-customer explanation is needed, instead of a third fit on every row."""

    def __init__(self, first, second):
        self.first = first
        self.second = second

    @property
    def n_estimators(self) -> int:
        return int(round((_trees(self.first) + _trees(self.second)) / 2))

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return (self.first.predict(X) + self.second.predict(X)) / 2

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        z = sum(logit(m.predict_proba(X)[:, 1]) for m in (self.first, self.second)) / 2
        p = 1 / (1 + np.exp(-z))
        return np.column_stack([1 - p, p])

    def feature_importance(self, kind: str = "gain") -> np.ndarray:
        return sum(m.booster_.feature_importance(kind) for m in (self.first, self.second))


def _trees(model) -> int:
    return int(model.best_iteration_ or model.n_estimators)
