"""The value model as scored: expected spend over the horizon, and spend if the customer keeps buying.

Five forecasts of the horizon's spend compete, and are blended with convex weights chosen by RMSE on customers the
models were not fitted on (out of fold in training; then by the backtest, see ``pipeline.backtest``):

* ``two_part``: P(any purchase) from the churn model x spend given a purchase (a gamma regressor on buyers);
* ``tweedie``: spend of every customer, buyers or not, directly (a zero-inflated Tweedie regressor);
* ``bgnbd_gg``: BG/NBD's expected purchases x Gamma-Gamma's spend per purchase (needs no labels);
* ``daily_spend``: the customer's average daily spend since their first purchase x the horizon (spend so far x
  horizon / max(days since the first purchase day, horizon)): the plainest forecast, hard to beat on a short, noisy
  log;
* ``daily_retained``: the same average daily spend, shifted towards the customers likely to buy: daily spend x
  P(any purchase) from the churn model x a level fitted on the training rows (their total of daily spend over their
  total of daily spend x P(any purchase)), so the base's total stays that of ``daily_spend`` while a customer who has
  probably stopped is forecast less than one who keeps buying. On the real log it cut the RMSE of the plain average
  by a tenth in both tasks (docs/real-data.md).

A single forecast wins where it gets all the weight.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from pipeline.config import ModelConfig
from pipeline.models.crossfit import HalvesAverage, halves
from pipeline.models.estimators import align, categories_of, spend_regressor, value_regressor

CANDIDATES = ("two_part", "tweedie", "bgnbd_gg", "daily_spend", "daily_retained")


class ValueModel(BaseEstimator):
    """The value regressors, the blend of the candidates, and the level of spend given a purchase.

    Hyperparameters: ``features``, ``config`` (``ModelConfig``: the regressors' settings), ``seed``,
    ``horizon_days`` (the horizon the labels measure). Learnt: ``regressor_`` (spend given a purchase, on the buyers)
    and ``tweedie_`` (spend of everyone), each a pair of halves; ``weights_`` (the blend, chosen on out-of-fold
    forecasts, later by the backtest: ``bundle.settled``); ``scale_``; ``retained_level_``; ``categories_``.

    ``predict`` is spend if retained (the buyers' regressor, levelled on the out-of-fold buyers); ``expected`` is the
    blended expected spend given the churn probabilities.
    """

    def __init__(
        self,
        features: list[str] | None = None,
        config: ModelConfig | None = None,
        seed: int = 0,
        horizon_days: int = 90,
    ):
        self.features = features
        self.config = config
        self.seed = seed
        self.horizon_days = horizon_days

    def fit(self, X: pd.DataFrame, y, p: np.ndarray, categories: dict[str, list] | None = None) -> ValueModel:
        """Fit on the rows of ``X`` (with ``customer_id`` and ``churned``); ``y``: their spend over the horizon;
        ``p``: their out-of-fold churn probabilities, for the blend."""
        cfg, features, actual = self.config or ModelConfig(), list(self.features or ()), np.asarray(y, float)
        self.categories_ = categories if categories is not None else categories_of(X[features])
        half = halves(X["customer_id"], self.seed)
        buyer = (X["churned"].to_numpy() == 0) & (actual > 0)
        rounds = cfg.value.early_stopping_rounds
        self.regressor_ = HalvesAverage(value_regressor(cfg.value, self.seed), rounds)
        if_retained = self.regressor_.fit_oof(X[features], actual, half, learn_from=buyer)
        self.tweedie_ = HalvesAverage(spend_regressor(cfg.value, self.seed), rounds)
        tweedie = self.tweedie_.fit_oof(X[features], actual, half)
        self.retained_level_ = retained_level(X, p, self.horizon_days)
        self.scale_ = 1.0
        found = self.candidates(X, p, oof={"two_part": (1 - p) * if_retained, "tweedie": tweedie})
        self.weights_ = blend_weights(found, actual)
        self.scale_ = float(actual[buyer].sum() / if_retained[buyer].sum()) if if_retained[buyer].sum() > 0 else 1.0
        return self

    @property
    def iterations(self) -> int:
        return int(self.regressor_.n_estimators)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self.regressor_.predict(align(X, list(self.features or ()), self.categories_)) * self.scale_

    def candidates(
        self, X: pd.DataFrame, p: np.ndarray, names=CANDIDATES, oof: dict[str, np.ndarray] | None = None
    ) -> dict[str, np.ndarray]:
        """Each candidate's (of ``names``) expected spend over the horizon for customers with churn probabilities
        ``p``. BG/NBD x Gamma-Gamma falls back to two-part where it could not be fitted. ``oof``: the regressors'
        forecasts already made (out of fold, in training), used instead of predicting."""
        oof = oof or {}
        aligned = align(X, list(self.features or ()), self.categories_)
        out = {}
        if "two_part" in names or "bgnbd_gg" in names:
            out["two_part"] = oof["two_part"] if "two_part" in oof else (1 - p) * self.regressor_.predict(aligned)
        if "tweedie" in names:
            out["tweedie"] = oof["tweedie"] if "tweedie" in oof else self.tweedie_.predict(aligned)
        if "bgnbd_gg" in names:
            out["bgnbd_gg"] = np.where(np.isnan(bg := bgnbd_value(X)), out["two_part"], bg)
        if "daily_spend" in names:
            out["daily_spend"] = daily_spend(X, self.horizon_days)
        if "daily_retained" in names:
            out["daily_retained"] = self.daily_retained(X, p, self.horizon_days)
        return {k: v for k, v in out.items() if k in names}

    def daily_retained(self, X: pd.DataFrame, p: np.ndarray, horizon_days: int) -> np.ndarray:
        """Average daily spend x the horizon x P(any purchase) x the level fitted in training (see the module)."""
        return daily_spend(X, horizon_days) * (1 - np.asarray(p, float)) * self.retained_level_

    def expected(self, X: pd.DataFrame, p: np.ndarray) -> np.ndarray:
        """The blended expected spend (spend if retained x P(buying) for a model saved without weights)."""
        weights = {k: w for k, w in (self.weights_ or {}).items() if w > 0}
        if not weights:
            return (1 - p) * self.predict(X)
        found = self.candidates(X, p, tuple(weights))
        return np.sum([w * found[name] for name, w in weights.items()], axis=0)


def retained_level(X: pd.DataFrame, p: np.ndarray, horizon_days: int) -> float:
    """The factor keeping the total of daily spend x P(any purchase) at the total of daily spend (1 when none)."""
    daily = daily_spend(X, horizon_days)
    weighted = float(np.sum(daily * (1 - np.asarray(p, float))))
    return float(daily.sum() / weighted) if weighted > 0 else 1.0


def bgnbd_value(X: pd.DataFrame) -> np.ndarray:
    """BG/NBD x Gamma-Gamma expected spend from the per-cutoff features (missing where they are)."""
    if "bgnbd_expected_purchases" not in X or "gg_expected_spend" not in X:
        return np.full(len(X), np.nan)
    return X["bgnbd_expected_purchases"].to_numpy(float) * X["gg_expected_spend"].to_numpy(float)


def daily_spend(X: pd.DataFrame, horizon_days: int) -> np.ndarray:
    """Average daily spend since the first purchase x the horizon: spend so far x horizon / max(days since the first
    purchase day, counting it, horizon). ``tenure_days`` runs to the cutoff, so it counts the first day already."""
    spent = np.clip(X["spend_total"].to_numpy(float), 0, None)
    return spent * horizon_days / np.maximum(X["tenure_days"].to_numpy(float), horizon_days)


GRID = np.linspace(0, 1, 5)  # the blend weights tried, in quarters


# From the plainest forecast to the most fitted: the order the one-standard-error rule prefers (see blend_weights).
SIMPLEST_FIRST = ("daily_spend", "daily_retained", "bgnbd_gg", "two_part", "tweedie")


def blend_weights(found: dict[str, np.ndarray], actual: np.ndarray) -> dict[str, float]:
    """Convex weights of the candidates (in quarters, summing to 1): the simplest blend whose squared error is within
    one standard error of the least.

    Convex, not free least squares: spend is long-tailed, so free weights chase the few largest spenders of one
    cutoff and move the level with them; a mix of forecasts keeps their own levels. (A level factor fitted out of
    time, so the blend's total matches the actual, was tried on the real log: learnt in a quiet season, it cut the
    forecast of the peak season ahead to 63 % of the actual; without a year of history the level does not carry.)

    The one-standard-error rule (Breiman et al.): the least RMSE on one short fold is mostly its few largest
    spenders, so any blend whose mean squared error is within one standard error of the best one's (the standard
    error of their per-row difference) counts as as good, and of those the simplest wins: the fewest candidates,
    then the weight on the plainest forecasts (``SIMPLEST_FIRST``). Plenty of rows: the best blend; one thin fold:
    the plain forecast unless the evidence is clear.
    """
    names = list(found)
    matrix = np.column_stack([found[n] for n in names])
    combos = [np.array(w) for w in itertools.product(GRID, repeat=len(names)) if abs(sum(w) - 1) <= 1e-9]
    mse = np.array([np.mean((matrix @ w - actual) ** 2) for w in combos])
    best = int(np.argmin(mse))
    least = (matrix @ combos[best] - actual) ** 2  # per-row errors are recomputed, not kept: memory stays O(rows)
    n = max(len(actual), 2)
    order = {name: SIMPLEST_FIRST.index(name) if name in SIMPLEST_FIRST else len(SIMPLEST_FIRST) for name in names}
    rank = np.array([order[name] for name in names], dtype=float)

    def complexity(k: int) -> tuple:
        w = combos[k]
        return (int((w > 0).sum()), float(w @ rank), float(mse[k]))

    def within_one_se(k: int) -> bool:
        gap = (matrix @ combos[k] - actual) ** 2 - least
        return bool(mse[k] - mse[best] <= np.std(gap, ddof=1) / np.sqrt(n))

    good = [k for k in range(len(combos)) if within_one_se(k)]
    chosen = combos[min(good, key=complexity)]
    return {name: float(v) for name, v in zip(names, chosen, strict=True)}


def value_if_retained(p: np.ndarray, expected_value: np.ndarray) -> np.ndarray:
    """Spend given the customer buys, from an unconditional expected spend: expected value ÷ P(any purchase)."""
    return expected_value / np.maximum(1 - p, 1e-9)
