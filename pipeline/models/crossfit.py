"""Cross-fitting: the customers split in two halves (by a seeded hash of their ID, so a customer's rows at every
cutoff fall in the same half), each half predicted by a model fitted on the other and early-stopped on it. Early
stopping, the churn blend's weights, its calibration and the value blend are all chosen on such out-of-fold
forecasts. Also the choices made on them: the blend's stacking weights and the calibration method."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd
from scipy import optimize
from sklearn.base import BaseEstimator, clone
from sklearn.metrics import log_loss
from sklearn.model_selection import StratifiedKFold

from pipeline.models.calibration import ProbabilityCalibrator, logit

MIN_CLASS_ROWS = 20  # a churn model needs this many churned and retained customers to learn from


def halves(customer_ids: pd.Series, seed: int) -> np.ndarray:
    """0 or 1 per row, by a seeded hash of the customer ID: a customer is in the same half at every cutoff."""
    u = pd.util.hash_array(customer_ids.astype(str).to_numpy(dtype=object), hash_key=f"{seed:016d}"[-16:])
    return (u % 2).astype(int)


def monotone_signs(features: list[str], increasing: list[str]) -> list[int]:
    """+1 for features whose rise must never lower churn risk, 0 elsewhere."""
    return [1 if f in increasing else 0 for f in features]


def both_outcomes(churned: pd.Series | np.ndarray, least: int) -> bool:
    counts = pd.Series(churned).value_counts()
    return counts.get(0, 0) >= least and counts.get(1, 0) >= least


def fit_stopped(estimator, X: pd.DataFrame, y, X_held: pd.DataFrame, y_held, rounds: int):
    """``estimator`` fitted on (X, y), early-stopped on the held rows."""
    return estimator.fit(
        X, y, eval_X=(X_held,), eval_y=(y_held,), callbacks=[lgb.early_stopping(rounds, verbose=False)]
    )


class HalvesAverage(BaseEstimator):
    """One LightGBM model per half of the customers, each early-stopped on the other half: their average forecast
    (probabilities averaged in log-odds). What cross-fitting already fitted serves as the final model where no
    per-customer explanation is needed, instead of a third fit on every row.

    ``estimator``: the unfitted LightGBM model (cloned for each half); ``early_stopping_rounds``: its patience.
    """

    def __init__(self, estimator=None, early_stopping_rounds: int = 50):
        self.estimator = estimator
        self.early_stopping_rounds = early_stopping_rounds

    def fit_oof(self, X: pd.DataFrame, y, half: np.ndarray, learn_from: np.ndarray | None = None) -> np.ndarray:
        """Fit both halves; return each row's forecast by the model of the other half (P(1) for a classifier).
        ``learn_from``: the rows the models learn and stop on (all by default); every row is forecast."""
        y = np.asarray(y)
        rows = np.ones(len(X), dtype=bool) if learn_from is None else np.asarray(learn_from, bool)
        out, self.estimators_ = np.zeros(len(X)), []
        for k in (0, 1):
            on, held = (half != k) & rows, (half == k) & rows
            model = fit_stopped(clone(self.estimator), X[on], y[on], X[held], y[held], self.early_stopping_rounds)
            out[half == k] = self._forecast(model, X[half == k])
            self.estimators_.append(model)
        return out

    def fit(self, X: pd.DataFrame, y, half: np.ndarray, learn_from: np.ndarray | None = None) -> HalvesAverage:
        self.fit_oof(X, y, half, learn_from)
        return self

    @staticmethod
    def _forecast(model, X: pd.DataFrame) -> np.ndarray:
        return model.predict_proba(X)[:, 1] if hasattr(model, "predict_proba") else model.predict(X)

    @property
    def n_estimators(self) -> int:
        return int(round(np.mean([m.best_iteration_ or m.n_estimators for m in self.estimators_])))

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return np.mean([m.predict(X) for m in self.estimators_], axis=0)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        z = np.mean([logit(m.predict_proba(X)[:, 1]) for m in self.estimators_], axis=0)
        p = 1 / (1 + np.exp(-z))
        return np.column_stack([1 - p, p])

    def feature_importance(self, kind: str = "gain") -> np.ndarray:
        return np.sum([m.booster_.feature_importance(kind) for m in self.estimators_], axis=0)


def stack_weights(parts: dict[str, np.ndarray], y: np.ndarray) -> dict[str, float]:
    """Non-negative weights of the parts' log-odds, summing to 1: those of the logistic regression of the outcome on
    them with the least log loss (its intercept and scale are left to the calibration). Non-negative, so no part
    enters turned around, and every part's monotone promise holds for the blend."""
    names = list(parts)
    x = np.column_stack([parts[n] for n in names])

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        z = theta[0] + x @ theta[1:]
        p = 1 / (1 + np.exp(-np.clip(z, -35, 35)))
        value = -np.mean(y * np.log(np.clip(p, 1e-12, 1)) + (1 - y) * np.log(np.clip(1 - p, 1e-12, 1)))
        grad = np.concatenate([[np.mean(p - y)], x.T @ (p - y) / len(y)])
        return float(value), grad

    start = np.concatenate([[0.0], np.full(len(names), 1.0 / len(names))])
    bounds = [(None, None)] + [(0.0, None)] * len(names)
    found = optimize.minimize(loss, start, jac=True, method="L-BFGS-B", bounds=bounds, options={"maxiter": 500})
    weights = np.round(np.maximum(found.x[1:], 0.0), 6)
    if weights.sum() <= 0:
        return {"trees": 1.0}
    return {n: float(w / weights.sum()) for n, w in zip(names, weights, strict=True)}


def choose_calibration(raw: np.ndarray, y: np.ndarray, method: str, seed: int) -> str:
    """The calibration (``method``, or for auto the better of isotonic and sigmoid by cross-fitted log loss)."""
    if method != "auto":
        return method
    losses: dict[str, float] = {}
    for candidate in ("isotonic", "sigmoid"):
        folds = StratifiedKFold(2, shuffle=True, random_state=seed).split(raw.reshape(-1, 1), y)
        losses[candidate] = float(
            np.mean(
                [
                    log_loss(y[b], ProbabilityCalibrator(candidate).fit(raw[a], y[a]).transform(raw[b]), labels=[0, 1])
                    for a, b in folds
                ]
            )
        )
    return min(losses, key=lambda k: losses[k])
