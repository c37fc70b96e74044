"""The simple baselines every model is compared with: RFM score, logistic regression, BG/NBD x Gamma-Gamma."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits


class RfmBaseline(BaseEstimator):
    """The classic RFM heuristic: quintile scores for recency, frequency and monetary value, summed.

    Each summed score (3-15) is mapped to the churn rate seen for it in training, so its probabilities can be compared
    with the model's; its value forecast is last year's spend scaled to the horizon.
    """

    def __init__(self, horizon_days: int = 90):
        self.horizon_days = horizon_days

    def _scores(self, X: pd.DataFrame) -> np.ndarray:
        def quintile(values: pd.Series, edges: np.ndarray) -> np.ndarray:
            return np.searchsorted(edges, values.to_numpy(), side="right") + 1

        r = 6 - quintile(X["recency_days"], self.recency_edges_)  # recent buyers score 5
        f = quintile(X["n_purchase_days"], self.frequency_edges_)
        m = quintile(X["spend_365d"], self.monetary_edges_)
        return r + f + m

    def fit(self, X: pd.DataFrame, churned: np.ndarray) -> "RfmBaseline":
        qs = [0.2, 0.4, 0.6, 0.8]
        self.recency_edges_ = np.quantile(X["recency_days"], qs)
        self.frequency_edges_ = np.quantile(X["n_purchase_days"], qs)
        self.monetary_edges_ = np.quantile(X["spend_365d"], qs)
        score = self._scores(X)
        table = pd.DataFrame({"score": score, "y": churned}).groupby("score")["y"].agg(["sum", "count"])
        prior = float(np.mean(churned))
        self.rate_by_score_ = ((table["sum"] + prior * 10) / (table["count"] + 10)).to_dict()
        self.prior_ = prior
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        p = pd.Series(self._scores(X)).map(self.rate_by_score_).fillna(self.prior_).to_numpy()
        return np.column_stack([1 - p, p])

    def predict_value(self, X: pd.DataFrame) -> np.ndarray:
        return np.clip(X["spend_365d"].to_numpy() * self.horizon_days / 365.0, 0, None)


class LogisticBaseline(BaseEstimator):
    """Logistic regression on the same features: median-imputed (with missing indicators) and standardised numbers,
    one-hot categories. The linear baseline a tree model has to beat."""

    def __init__(self, features: list[str], seed: int = 0):
        self.features = features
        self.seed = seed

    def fit(self, X: pd.DataFrame, churned: np.ndarray) -> "LogisticBaseline":
        from sklearn.compose import ColumnTransformer
        from sklearn.impute import SimpleImputer
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import OneHotEncoder, StandardScaler

        categorical = [f for f in self.features if isinstance(X[f].dtype, pd.CategoricalDtype)]
        numeric = [f for f in self.features if f not in categorical and X[f].notna().any()]
        prep = ColumnTransformer(
            [
                ("num", make_pipeline(SimpleImputer(strategy="median", add_indicator=True), StandardScaler()), numeric),
                ("cat", OneHotEncoder(handle_unknown="ignore"), categorical),
            ]
        )
        self.model_ = make_pipeline(prep, LogisticRegression(C=1.0, max_iter=2000, random_state=self.seed))
        # one BLAS thread: a multi-threaded BLAS adds in a varying order, which moved its log loss by ~1e-10 per run
        with threadpool_limits(limits=1, user_api="blas"):
            self.model_.fit(self._frame(X), churned)
        return self

    def _frame(self, X: pd.DataFrame) -> pd.DataFrame:
        out = X[self.features].copy()
        for c in out.columns:
            if isinstance(out[c].dtype, pd.CategoricalDtype):
                out[c] = out[c].astype(object).where(out[c].notna(), "missing")
        return out

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return self.model_.predict_proba(self._frame(X))


class BgNbdBaseline(BaseEstimator):
    """BG/NBD x Gamma-Gamma from the per-cutoff features: churn = P(no purchase in the horizon), value = expected
    purchases x expected spend per purchase. Fitted on purchase histories only, so it needs no labels."""

    COLUMNS = ("bgnbd_p_no_purchase", "bgnbd_expected_purchases", "gg_expected_spend")

    @classmethod
    def available(cls, X: pd.DataFrame) -> bool:
        return all(c in X for c in cls.COLUMNS) and X[list(cls.COLUMNS)].notna().all().all()

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        p = X["bgnbd_p_no_purchase"].to_numpy(float)
        return np.column_stack([1 - p, p])

    def predict_value(self, X: pd.DataFrame) -> np.ndarray:
        return X["bgnbd_expected_purchases"].to_numpy(float) * X["gg_expected_spend"].to_numpy(float)
