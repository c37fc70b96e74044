"""LightGBM estimator factories: unfitted, with the run's seed and thread count; and the column alignment they share."""

from __future__ import annotations

from dataclasses import asdict

import lightgbm as lgb
import pandas as pd

from pipeline.config import LgbmParams
from pipeline.infra import threads


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
