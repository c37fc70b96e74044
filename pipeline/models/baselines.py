"""The simple baselines every model is compared with: RFM score, recency, logistic regression, BG/NBD x Gamma-Gamma."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

CHUNK_ROWS = 100_000  # rows transformed at once for the linear contributions (memory stays bounded)


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

    def fit(self, X: pd.DataFrame, churned: np.ndarray) -> RfmBaseline:
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


class RecencyBaseline(BaseEstimator):
    """Days since the last purchase alone, mapped to the churn rate seen for it in training (isotonic: the longer
    ago, the likelier gone). The simplest rule a retention team uses."""

    def fit(self, X: pd.DataFrame, churned: np.ndarray) -> RecencyBaseline:
        from sklearn.isotonic import IsotonicRegression

        recency = X["recency_days"].to_numpy(float)
        self.model_ = IsotonicRegression(y_min=1e-4, y_max=1 - 1e-4, out_of_bounds="clip").fit(recency, churned)
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        p = self.model_.predict(X["recency_days"].to_numpy(float))
        return np.column_stack([1 - p, p])


class LogisticBaseline(BaseEstimator):
    """Logistic regression on the same features: median-imputed (with missing indicators) and standardised numbers,
    one-hot categories. The linear baseline a tree model has to beat. ``log_scale``: numbers enter as
    sign(x) log(1 + |x|), which suits counts, days and money (long right tails) on their own."""

    def __init__(self, features: list[str], seed: int = 0, log_scale: bool = False):
        self.features = features
        self.seed = seed
        self.log_scale = log_scale

    def fit(self, X: pd.DataFrame, churned: np.ndarray) -> LogisticBaseline:
        from sklearn.compose import ColumnTransformer
        from sklearn.impute import SimpleImputer
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import OneHotEncoder, StandardScaler

        categorical = [f for f in self.features if isinstance(X[f].dtype, pd.CategoricalDtype)]
        self.categorical_ = categorical  # by name: data that lost its categories (JSON input) is read the same way
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
            z = self._transformed(X)
        self.z_mean_ = z.mean(axis=0)
        self.source_ = self._sources(numeric, categorical)
        self.n_scaled_ = int(np.sum(~np.isnan(self.model_[0].named_transformers_["num"][0].statistics_)))
        return self

    def monotone_coef(self, increasing: list[str]) -> np.ndarray:
        """The coefficients with a negative slope on any of the ``increasing`` features set to zero (their rise must
        never lower the risk)."""
        coef = self.model_[-1].coef_[0].copy()
        for j in range(self.n_scaled_):
            if self.features[self.source_[j]] in increasing and coef[j] < 0:
                coef[j] = 0.0
        return coef

    def _transformed(self, X: pd.DataFrame) -> np.ndarray:
        z = self.model_[:-1].transform(self._frame(X))
        return np.asarray(z.toarray() if hasattr(z, "toarray") else z, dtype=float)

    def _sources(self, numeric: list[str], categorical: list[str]) -> np.ndarray:
        """For each column the logistic regression sees, the index of the feature it comes from."""
        prep = self.model_[0]
        index = {f: i for i, f in enumerate(self.features)}
        imputer = prep.named_transformers_["num"][0]
        kept = [f for f, ok in zip(numeric, ~np.isnan(imputer.statistics_), strict=True) if ok]
        flagged = [numeric[j] for j in imputer.indicator_.features_] if imputer.indicator_ is not None else []
        encoder = prep.named_transformers_["cat"]
        one_hot = (
            [f for f, cats in zip(categorical, encoder.categories_, strict=True) for _ in cats] if categorical else []
        )
        return np.array([index[f] for f in (*kept, *flagged, *one_hot)], dtype=int)

    def contributions(self, X: pd.DataFrame, coef: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Exact additive contributions of each feature to the log-odds, and the base log-odds they add to.

        A linear model's contribution of a column is its coefficient times the column's distance from its training
        mean; the columns a feature became (scaled value, missing flag, one-hot levels) are summed back to it.
        ``coef`` replaces the fitted coefficients (per transformed column) when given.
        """
        lr = self.model_[-1]
        coef = lr.coef_[0] if coef is None else coef
        out = np.zeros((len(X), len(self.features)))
        for start in range(0, len(X), CHUNK_ROWS):  # the scaled and one-hot columns of a chunk at a time
            with threadpool_limits(limits=1, user_api="blas"):
                z = self._transformed(X.iloc[start : start + CHUNK_ROWS])
            per_column = (z - self.z_mean_) * coef
            for j, src in enumerate(self.source_):
                out[start : start + len(z), src] += per_column[:, j]
        return out, float(lr.intercept_[0] + self.z_mean_ @ coef) * np.ones(len(X))

    def _frame(self, X: pd.DataFrame) -> pd.DataFrame:
        out = X[self.features].copy()
        categorical = getattr(self, "categorical_", None)
        for c in out.columns:
            if c in categorical if categorical is not None else isinstance(out[c].dtype, pd.CategoricalDtype):
                out[c] = out[c].astype(object).where(out[c].notna(), "missing")
            elif getattr(self, "log_scale", False):
                values = out[c].to_numpy(dtype=float)
                out[c] = np.sign(values) * np.log1p(np.abs(values))
        return out

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return self.model_.predict_proba(self._frame(X))


class ConstantRate(BaseEstimator):
    """The churn rate seen in training, smoothed towards ``prior``: what a group too small to model is given."""

    def __init__(self, prior: float = 0.5, strength: float = 10.0):
        self.prior = prior
        self.strength = strength

    def fit(self, X: pd.DataFrame, churned: np.ndarray) -> ConstantRate:
        y = np.asarray(churned, dtype=float)
        self.rate_ = float((y.sum() + self.prior * self.strength) / (len(y) + self.strength))
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        p = np.full(len(X), self.rate_)
        return np.column_stack([1 - p, p])


class PerPopulation(BaseEstimator):
    """A churn baseline fitted twice, on the active base and on the win-back group (the ``active`` column of the
    feature rows), each part scoring its own customers: compared with the model on the same footing. A part with
    too few rows or a single outcome gets its smoothed churn rate instead (``ConstantRate``)."""

    MIN_ROWS = 50

    def __init__(self, baseline: BaseEstimator):
        self.baseline = baseline

    def fit(self, X: pd.DataFrame, churned: np.ndarray, active: BaseEstimator | None = None) -> PerPopulation:
        """Fit both parts; ``active``: the active part, already fitted on the active rows (not refitted)."""
        from sklearn.base import clone

        y = np.asarray(churned)
        rows_of = {"active": X["active"].to_numpy(bool)}
        rows_of["win_back"] = ~rows_of["active"]
        prior = float(y.mean()) if len(y) else 0.5
        self.parts_ = {}
        for name, rows in rows_of.items():
            if name == "active" and active is not None:
                self.parts_[name] = active
                continue
            fittable = rows.sum() >= self.MIN_ROWS and len(np.unique(y[rows])) == 2
            model = clone(self.baseline) if fittable else ConstantRate(prior)
            self.parts_[name] = model.fit(X[rows], y[rows])
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        active = X["active"].to_numpy(bool)
        p = np.zeros(len(X))
        for name, rows in (("active", active), ("win_back", ~active)):
            if rows.any():
                p[rows] = self.parts_[name].predict_proba(X[rows])[:, 1]
        return np.column_stack([1 - p, p])


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
