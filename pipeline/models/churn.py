"""The churn model as scored: a blend of log-odds from four parts, then a probability calibrator.

The parts (each explains itself exactly, so the reasons still add up to the risk):

* ``trees``: a LightGBM classifier (TreeSHAP);
* ``linear``: a logistic regression on the log-scaled features (coefficient x distance from the mean), its
  coefficients on ``model.monotone_increasing`` features clamped at >= 0;
* ``rfm``: the RFM quintile score, 15 - (R + F + M), through a one-variable logistic fit: the classic heuristic,
  whose equal weights rank well where a log is short and noisy (each score's distance from its mean is credited to
  recency, frequency or spend);
* ``bgnbd``: BG/NBD's log-odds of no purchase in the horizon, fitted per cutoff on the customers' own histories
  (its distance from its mean is credited to ``bgnbd_p_no_purchase``).

The weights are non-negative, chosen on cross-fitted predictions (``pipeline.fitting``); a part with no weight is
neither computed nor explained. Where churn follows a few smooth trends the linear and RFM parts rank as well as the
trees; where the history is short, BG/NBD carries what the trees cannot learn from few cutoffs.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression

from pipeline.config import ModelConfig
from pipeline.featurize import sampling
from pipeline.models.baselines import LogisticBaseline
from pipeline.models.calibration import ProbabilityCalibrator, logit
from pipeline.models.crossfit import HalvesAverage, choose_calibration, halves, monotone_signs, stack_weights
from pipeline.models.estimators import align, categories_of, churn_classifier

PARTS = ("trees", "linear", "rfm", "bgnbd")
BLEND_MAX_ROWS = 50_000  # out-of-fold rows the blend's weights are chosen on (a fixed sample, beyond this many)
RFM_SCORES = {"r_score": "recency_days", "f_score": "n_purchase_days", "m_score": "spend_total"}


class RfmScore(BaseEstimator):
    """P(churn) from the RFM quintile score (R + F + M of the feature rows) by a one-variable logistic fit."""

    def fit(self, X: pd.DataFrame, churned: np.ndarray) -> RfmScore:
        score = self._score(X)
        self.model_ = LogisticRegression(C=1e6, max_iter=1000).fit(score.reshape(-1, 1), churned)
        self.mean_ = X[list(RFM_SCORES)].to_numpy(float).mean(axis=0)
        return self

    @staticmethod
    def available(X: pd.DataFrame, features: list[str]) -> bool:
        """The scores are in the rows, and the features they are credited to among the model's inputs."""
        return all(c in X for c in RFM_SCORES) and all(f in features for f in RFM_SCORES.values())

    @staticmethod
    def _score(X: pd.DataFrame) -> np.ndarray:
        return X[list(RFM_SCORES)].to_numpy(float).sum(axis=1)

    def log_odds(self, X: pd.DataFrame) -> np.ndarray:
        return self.model_.decision_function(self._score(X).reshape(-1, 1))

    def contributions(self, X: pd.DataFrame, features: list[str]) -> np.ndarray:
        """The log-odds' distance from the mean customer's, split by score, credited to the features behind them."""
        out = np.zeros((len(X), len(features)))
        slope = float(self.model_.coef_[0, 0])
        scores = X[list(RFM_SCORES)].to_numpy(float) - self.mean_
        for k, feature in enumerate(RFM_SCORES.values()):
            out[:, features.index(feature)] += slope * scores[:, k]
        return out

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        p = 1 / (1 + np.exp(-self.log_odds(X)))
        return np.column_stack([1 - p, p])


class CalibratedChurnModel(ClassifierMixin, BaseEstimator):
    """The churn blend: its parts fitted on the rows given, their weights (part -> weight >= 0) chosen on the parts'
    cross-fitted log-odds, and a calibrator fitted on the blend's cross-fitted probabilities.

    Hyperparameters: ``features`` (the columns the parts read), ``config`` (``ModelConfig``: the trees' settings,
    early stopping, the monotone features, the calibration), ``seed``. Learnt: ``classifier_``, ``linear_`` and
    ``linear_coef_``, ``rfm_``, ``bgnbd_center_``, ``weights_``, ``calibrator_``, ``categories_``, ``n_iterations_``.
    """

    def __init__(self, features: list[str] | None = None, config: ModelConfig | None = None, seed: int = 0):
        self.features = features
        self.config = config
        self.seed = seed

    def fit(self, X: pd.DataFrame, y, categories: dict[str, list] | None = None) -> CalibratedChurnModel:
        self.fit_oof(X, y, categories)
        return self

    def fit_oof(self, X: pd.DataFrame, y, categories: dict[str, list] | None = None) -> np.ndarray:
        """Fit on the rows of ``X`` (with ``customer_id``, for the halves); return the blend's cross-fitted raw
        probabilities, which the calibrator was fitted on. ``categories``: those of the whole training frame."""
        cfg, features, seed = self.config or ModelConfig(), list(self.features or ()), self.seed
        y = np.asarray(y)
        self.categories_ = categories if categories is not None else categories_of(X[features])
        half = halves(X["customer_id"], seed)
        increasing = list(cfg.monotone_increasing)
        signs = monotone_signs(features, increasing)
        with_rfm = RfmScore.available(X, features)
        oof = {name: np.zeros(len(X)) for name in PARTS if name != "rfm" or with_rfm}
        trees = HalvesAverage(churn_classifier(cfg.churn, seed, signs), cfg.churn.early_stopping_rounds)
        oof["trees"] = logit(trees.fit_oof(X[features], y, half))
        for k in (0, 1):
            fit_on, held = half != k, half == k
            linear = LogisticBaseline(features, seed, log_scale=True).fit(X[fit_on], y[fit_on])
            contrib, base = linear.contributions(X[held], linear.monotone_coef(increasing))
            oof["linear"][held] = base + contrib.sum(axis=1)
            if with_rfm:
                oof["rfm"][held] = RfmScore().fit(X[fit_on], y[fit_on]).log_odds(X[held])
        self.n_iterations_ = max(1, trees.n_estimators)
        tuned = dataclasses.replace(cfg.churn, n_estimators=self.n_iterations_)
        self.classifier_ = churn_classifier(tuned, seed, signs).fit(X[features], y)
        self.linear_ = LogisticBaseline(features, seed, log_scale=True).fit(X, y)
        self.linear_coef_ = self.linear_.monotone_coef(increasing)
        self.rfm_ = RfmScore().fit(X, y) if with_rfm else None
        centre = bgnbd_log_odds(X, np.nan)
        self.bgnbd_center_ = float(np.nanmean(centre)) if np.isfinite(centre).any() else 0.0
        oof["bgnbd"] = bgnbd_log_odds(X, self.bgnbd_center_)
        pick = sampling.by_customer(X["customer_id"], BLEND_MAX_ROWS, seed)  # the weights need no more rows
        self.weights_ = stack_weights({k: v[pick] for k, v in oof.items()}, y[pick])
        raw = self.combine(oof)
        method = choose_calibration(raw, y, cfg.calibration, seed)
        self.calibrator_ = ProbabilityCalibrator(method).fit(raw, y)
        return raw

    @property
    def cols(self) -> list[str]:
        """The feature columns the parts read (``features``, as a list)."""
        return list(self.features or ())

    @property
    def blend(self) -> dict[str, float]:
        """The parts with a weight, in ``PARTS`` order (the trees alone when no blend was chosen)."""
        found = self.weights_ or {"trees": 1.0}
        return {k: found[k] for k in PARTS if found.get(k, 0.0) > 0}

    def weight(self, part: str) -> float:
        return self.blend.get(part, 0.0)

    @property
    def inputs(self) -> list[str]:
        """The columns it reads: the features, and the RFM quintile scores where the RFM part has a weight."""
        return [*self.cols, *(list(RFM_SCORES) if self.weight("rfm") > 0 else [])]

    def tree_probability(self, X: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.classifier_.predict_proba(align(X, self.cols, self.categories_)))[:, 1]

    def linear_contributions(self, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """The linear part's per-feature log-odds contributions and base (see ``LogisticBaseline.contributions``)."""
        if self.linear_ is None:
            return np.zeros((len(X), len(self.cols))), np.zeros(len(X))
        return self.linear_.contributions(X, self.linear_coef_)

    def part_log_odds(self, X: pd.DataFrame, names=PARTS) -> dict[str, np.ndarray]:
        """Each named part's log-odds for each row (before weighting)."""
        out = {}
        if "trees" in names:
            out["trees"] = logit(self.tree_probability(X))
        if "linear" in names and self.linear_ is not None:
            contrib, base = self.linear_contributions(X)
            out["linear"] = base + contrib.sum(axis=1)
        if "rfm" in names and self.rfm_ is not None:
            out["rfm"] = self.rfm_.log_odds(X)
        if "bgnbd" in names:
            out["bgnbd"] = bgnbd_log_odds(X, self.bgnbd_center_)
        return out

    def combine(self, parts: dict[str, np.ndarray], weights: dict[str, float] | None = None) -> np.ndarray:
        """The blend's uncalibrated probability from its parts' log-odds."""
        weights = self.blend if weights is None else weights
        z = sum(w * parts[k] for k, w in weights.items() if w > 0)
        return 1 / (1 + np.exp(-np.asarray(z, dtype=float)))

    def raw_probability(self, X: pd.DataFrame) -> np.ndarray:
        """The uncalibrated probability of churn (what the contributions of ``explain.contributions`` explain)."""
        return self.combine(self.part_log_odds(X, tuple(self.blend)))

    def other_contributions(self, X: pd.DataFrame) -> np.ndarray:
        """The weighted contributions of the parts other than the trees, per row and feature (log-odds)."""
        out = np.zeros((len(X), len(self.cols)))
        if (w := self.weight("linear")) > 0:
            out += w * self.linear_contributions(X)[0]
        if (w := self.weight("rfm")) > 0 and self.rfm_ is not None:
            out += w * self.rfm_.contributions(X, self.cols)
        if (w := self.weight("bgnbd")) > 0 and "bgnbd_p_no_purchase" in self.cols:
            j = self.cols.index("bgnbd_p_no_purchase")
            out[:, j] += w * (bgnbd_log_odds(X, self.bgnbd_center_) - self.bgnbd_center_)
        return out

    def calibrated(self, raw: np.ndarray) -> np.ndarray:
        """Calibrated probabilities of churn from ``raw_probability``'s output."""
        return self.calibrator_.transform(raw)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        p = self.calibrated(self.raw_probability(X))
        return np.column_stack([1 - p, p])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)


def bgnbd_log_odds(X: pd.DataFrame, missing: float) -> np.ndarray:
    """BG/NBD's log-odds of no purchase in the horizon; ``missing`` where it could not be fitted."""
    if "bgnbd_p_no_purchase" not in X:
        return np.full(len(X), missing)
    p = np.clip(X["bgnbd_p_no_purchase"].to_numpy(float), 1e-6, 1 - 1e-6)  # BG/NBD's own certainty is capped
    return np.where(np.isnan(p), missing, logit(np.nan_to_num(p, nan=0.5)))
