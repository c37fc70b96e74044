"""Model factories and the baseline: unfitted scikit-learn-compatible estimators; fitted attributes end in '_'."""

from __future__ import annotations

from dataclasses import asdict

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from pipeline import threads
from pipeline.config import LgbmParams


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
        monotone_constraints_method="advanced",
        **_lgbm_kwargs(params, seed),
    )


def value_regressor(params: LgbmParams, seed: int) -> lgb.LGBMRegressor:
    """Spend over the horizon given the customer buys at all: positive and long-tailed, so a gamma objective."""
    return lgb.LGBMRegressor(objective="gamma", **_lgbm_kwargs(params, seed))


class ProbabilityCalibrator(BaseEstimator):
    """Maps raw scores to calibrated probabilities: isotonic, sigmoid (Platt) or identity."""

    def __init__(self, method: str = "isotonic"):
        self.method = method

    def fit(self, raw: np.ndarray, y: np.ndarray) -> "ProbabilityCalibrator":
        if self.method == "isotonic":
            self.model_ = IsotonicRegression(y_min=1e-4, y_max=1 - 1e-4, out_of_bounds="clip").fit(raw, y)
        elif self.method == "sigmoid":
            self.model_ = LogisticRegression(C=1e6).fit(_logit(raw).reshape(-1, 1), y)
        elif self.method != "none":
            raise ValueError(f"unknown calibration method {self.method!r}")
        return self

    def transform(self, raw: np.ndarray) -> np.ndarray:
        if self.method == "isotonic":
            return self.model_.predict(raw)
        if self.method == "sigmoid":
            return self.model_.predict_proba(_logit(raw).reshape(-1, 1))[:, 1]
        return np.clip(raw, 1e-4, 1 - 1e-4)


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def categories_of(X: pd.DataFrame) -> dict[str, list]:
    """The categories of each categorical column, to restore them on data that lost them (e.g. JSON input)."""
    return {c: list(X[c].cat.categories) for c in X.columns if isinstance(X[c].dtype, pd.CategoricalDtype)}


def align(X: pd.DataFrame, features: list[str], categories: dict[str, list]) -> pd.DataFrame:
    """``X[features]`` with categorical columns cast to the training categories (unseen values become missing)."""
    out = X[features]
    if not categories:
        return out
    return out.assign(**{c: pd.Categorical(out[c].astype("object"), categories=cats) for c, cats in categories.items()})


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

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        raw = self.classifier.predict_proba(align(X, self.features, self.categories))[:, 1]
        p = self.calibrator.transform(raw)
        return np.column_stack([1 - p, p])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)


class ValueModel(BaseEstimator):
    """A fitted LightGBM spend regressor that restores training categories before predicting."""

    def __init__(self, regressor: lgb.LGBMRegressor, features: list[str], categories: dict[str, list]):
        self.regressor = regressor
        self.features = features
        self.categories = categories

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self.regressor.predict(align(X, self.features, self.categories))


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
        from sklearn.linear_model import LogisticRegression
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


def value_if_retained(p: np.ndarray, expected_value: np.ndarray) -> np.ndarray:
    """Spend given the customer buys, from an unconditional expected spend: expected value ÷ P(any purchase)."""
    return expected_value / np.maximum(1 - p, 1e-9)


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
