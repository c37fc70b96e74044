"""Who a contact helps, and with which action: an uplift model learned from past lists' random hold-outs (issue 26).

On a past list the hold-out is random, and a share of the actions was drawn at random (the explore share), so for
each action the customers it was used on and the held-out ones differ only by the contact. From them an
**X-learner** (Künzel et al., 2019) estimates, per customer and action, the change in the chance of buying again in
the horizon that the contact makes (its *uplift*):

1. outcome models on LightGBM: the chance of buying again without a contact (fitted on the held-out customers) and
   with each action (fitted on the customers it was used on);
2. imputed effects: for a contacted customer their outcome minus the no-contact model's prediction; for a held-out
   customer the action model's prediction minus their outcome;
3. effect models fitted on each set of imputed effects, combined with the weight of the group they were fitted on.

The X-learner suits the data a hold-out gives: many contacted customers and few held out (a T-learner's
difference of two models is as noisy as the model of the small group; here the large group's model does most of
the work). Rows come from ``pipeline.history``, features are computed as of each list's date (``stages.uplift``).

**Does it beat today's ranking?** Out of time: fitted on the lists before a date, judged on the lists after it by
the Qini curve (the customers the ranking puts first, the retained among those given the ranking's action minus the
retained among the held out, scaled to the same number; ``qini``), against the list's own order and actions. The
list uses the uplift ranking only when its area is larger over the folds' lists together (``decide``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import lightgbm as lgb
import numpy as np
import pandas as pd

NONE = "none"
# Small, strongly regularised trees: a past list gives hundreds to a few thousand customers per action, and an
# effect is a small difference of two noisy outcomes (on the demo, larger trees found effects that were not there).
PARAMS: dict = {
    "n_estimators": 60,
    "learning_rate": 0.1,
    "num_leaves": 4,
    "min_child_samples": 100,
    "subsample": 0.8,
    "subsample_freq": 1,
    "colsample_bytree": 0.8,
    "verbose": -1,
    "deterministic": True,
    "force_row_wise": True,
}


def treatment(rows: pd.DataFrame) -> pd.Series:
    """What each past-list row received: ``none`` when held out, the action when contacted; NaN otherwise (listed,
    not held out, not in the contact log: not part of the experiment)."""
    out = pd.Series(np.nan, index=rows.index, dtype=object)
    out[rows["holdout"].astype(bool).to_numpy()] = NONE
    contacted = rows["contacted"].astype(bool).to_numpy() & ~rows["holdout"].astype(bool).to_numpy()
    out[contacted] = rows.loc[contacted, "action"].astype(str)
    return out


def _model(seed: int, kind: str, threads: int) -> Any:
    params = PARAMS | {"random_state": seed, "n_jobs": threads}
    return lgb.LGBMClassifier(**params) if kind == "classifier" else lgb.LGBMRegressor(**params)


@dataclass
class XLearner:
    """Per-action uplift in the chance of buying again (positive: the contact helps)."""

    features: list[str]
    min_rows: int = 100  # an action needs this many contacted customers (and the hold-out this many) to be learned
    seed: int = 0
    threads: int = 1
    actions: list[str] = field(default_factory=list)
    reference: Optional[pd.DataFrame] = None  # a sample of the customers it learnt from (for ``shift``)
    _control: Optional[lgb.LGBMClassifier] = None
    _effects: dict = field(default_factory=dict)

    def fit(self, x: pd.DataFrame, t: pd.Series, retained: np.ndarray) -> XLearner:
        x = x[self.features]
        self.reference = x.sample(min(len(x), SHIFT_SAMPLE), random_state=self.seed)
        control = (t == NONE).to_numpy()
        y = np.asarray(retained, dtype=float)
        self.actions, self._effects = [], {}
        if control.sum() < self.min_rows:
            return self
        control_model = _model(self.seed, "classifier", self.threads).fit(x[control], y[control].astype(int))
        self._control = control_model
        mu0 = control_model.predict_proba(x)[:, 1]
        for action in sorted(set(t.dropna()) - {NONE}):
            treated = (t == action).to_numpy()
            if treated.sum() < self.min_rows or len(set(y[treated])) < 2:
                continue
            mu1 = _model(self.seed, "classifier", self.threads).fit(x[treated], y[treated].astype(int))
            on_treated = _model(self.seed, "regressor", self.threads).fit(x[treated], y[treated] - mu0[treated])
            on_control = _model(self.seed, "regressor", self.threads).fit(
                x[control], mu1.predict_proba(x[control])[:, 1] - y[control]
            )
            share = treated.sum() / (treated.sum() + control.sum())  # the propensity of the action vs no contact
            self._effects[action] = (on_treated, on_control, share)
            self.actions.append(action)
        return self

    def stay_without_contact(self, x: pd.DataFrame) -> np.ndarray:
        """The chance of buying again in the horizon without a contact (the held-out customers' model)."""
        if self._control is None:
            return np.full(len(x), np.nan)
        return np.asarray(self._control.predict_proba(x[self.features]))[:, 1]

    def uplift(self, x: pd.DataFrame) -> pd.DataFrame:
        """One column per learned action: the change in the chance of buying again in the horizon."""
        x = x[self.features]
        out = {}
        for action, (on_treated, on_control, share) in self._effects.items():
            out[action] = share * on_control.predict(x) + (1 - share) * on_treated.predict(x)
        return pd.DataFrame(out, index=x.index)


def prognosis(x: pd.DataFrame, t: pd.Series, retained: np.ndarray, seed: int = 0, folds: int = 5) -> np.ndarray:
    """Each customer's chance of buying again without a contact, from the held-out customers, cross-fitted: a
    held-out customer's comes from the models fitted without them, a contacted customer's is the models' average
    (``pipeline.effects`` adjusts the measured effects by it)."""
    control = np.flatnonzero((t == NONE).to_numpy())
    out = np.zeros(len(x))
    if len(control) < 2 * folds:
        return np.full(len(x), np.nan)
    part = np.random.default_rng(seed).permutation(len(control)) % folds
    y = np.asarray(retained, dtype=int)
    others = np.setdiff1d(np.arange(len(x)), control)
    for k in range(folds):
        fit, out_of_fold = control[part != k], control[part == k]
        model = _model(seed, "classifier", 1).fit(x.iloc[fit], y[fit])
        out[out_of_fold] = model.predict_proba(x.iloc[out_of_fold])[:, 1]
        out[others] += model.predict_proba(x.iloc[others])[:, 1] / folds
    return out


SHIFT_SAMPLE = 5000


def shift(reference: pd.DataFrame, candidates: pd.DataFrame, seed: int = 0, threads: int = 1) -> float:
    """How well a classifier tells the customers an uplift model learnt from apart from the ones it would rank:
    the cross-validated ROC AUC (0.5: alike; near 1: other customers, where its effects are extrapolation)."""
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import cross_val_predict

    if reference is None or len(reference) < 50 or len(candidates) < 50:
        return float("nan")
    now = candidates[reference.columns].sample(min(len(candidates), SHIFT_SAMPLE), random_state=seed)
    x = pd.concat([reference, now], ignore_index=True)
    y = np.r_[np.zeros(len(reference)), np.ones(len(now))]
    model = lgb.LGBMClassifier(
        **(PARAMS | {"n_estimators": 100, "num_leaves": 15, "random_state": seed, "n_jobs": threads})
    )
    p = cross_val_predict(model, x, y, cv=3, method="predict_proba")[:, 1]
    return float(roc_auc_score(y, p))


def best_action(uplift: pd.DataFrame, value: np.ndarray, costs: dict[str, float]) -> tuple[np.ndarray, np.ndarray]:
    """Per customer, the action with the largest expected gain (uplift x value if retained - cost) and that gain."""
    if uplift.shape[1] == 0:
        return np.full(len(uplift), NONE, dtype=object), np.zeros(len(uplift))
    gain = uplift.to_numpy() * np.asarray(value, dtype=float)[:, None] - np.array([costs.get(a, 0.0) for a in uplift])
    pick = gain.argmax(axis=1)
    return np.asarray(uplift.columns, dtype=object)[pick], gain[np.arange(len(gain)), pick]


def qini(score: np.ndarray, matched: np.ndarray, control: np.ndarray, retained: np.ndarray, points: int = 21):
    """The Qini curve of a ranking: for the top share s of customers by ``score``, the retained among those who got
    the ranking's action (``matched``) minus the retained among the held out, scaled to the matched count, per
    customer of the whole group. Returns (shares, curve); the curve's mean above the straight line is its area."""
    order = np.argsort(-np.asarray(score, dtype=float), kind="stable")
    m, c, y = matched[order], control[order], np.asarray(retained, dtype=float)[order]
    n_t, n_c = np.cumsum(m), np.cumsum(c)
    r_t, r_c = np.cumsum(y * m), np.cumsum(y * c)
    with np.errstate(invalid="ignore", divide="ignore"):
        gain = np.where(n_c > 0, r_t - r_c * n_t / np.maximum(n_c, 1), 0.0)
    per_customer = gain / max(int(m.sum()), 1)
    shares = np.linspace(0, 1, points)
    at = np.clip(np.round(shares * len(order)).astype(int) - 1, 0, len(order) - 1)
    curve = np.where(shares == 0, 0.0, per_customer[at]) if len(order) else np.zeros(points)
    return shares, curve


def qini_area(shares: np.ndarray, curve: np.ndarray) -> float:
    """The area between the Qini curve and the straight line to its end (a random ranking's)."""
    line = shares * curve[-1]
    return float(np.trapezoid(curve - line, shares))


def decide(pooled: pd.DataFrame) -> tuple[bool, str]:
    """Use the uplift ranking only when, over every out-of-time fold's lists together, its Qini area beats both
    references: the lists as sent and the value-at-risk order (each with the lists' own actions)."""
    if not len(pooled):
        return False, (
            "the list keeps today's ranking (value at risk x save rate): no past list could test an uplift model out "
            "of time yet (each action needs retention.uplift.min_rows contacted customers in the lists before a fold)"
        )
    row = pooled.iloc[0]
    said = (
        f"out of time on {int(row['customers']):,} listed customers ({int(row['held_out']):,} held out), the Qini "
        f"area of the uplift ranking is {row['qini_uplift']:.4f} against {row['qini_as_sent']:.4f} for the lists as "
        f"sent and {row['qini_value_at_risk']:.4f} for the value-at-risk order"
    )
    if row["qini_uplift"] > max(row["qini_as_sent"], row["qini_value_at_risk"]):
        return True, f"the uplift model ranks the list: {said}"
    return False, f"the list keeps today's ranking (value at risk x save rate): the uplift model did not win; {said}"
