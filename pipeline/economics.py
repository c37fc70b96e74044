"""Retention economics: the profit of contacting the top of a ranked list, and EMPC.

EMPC, the expected maximum profit measure for customer churn (Verbraken, Verbeke & Baesens 2013, IEEE TKDE 25(5)),
scores a classifier by the profit of the best campaign it allows, averaged over an uncertain acceptance rate
γ ~ Beta(α, β). A campaign contacts the top share of the ranking and costs f per contact; a contacted would-be
churner accepts the incentive d with probability γ and stays, worth CLV; a contacted non-churner takes the incentive.
Per customer in the base, at threshold t:

    P(t; γ) = CLV (γ (1 − δ) − φ) π₀ F₀(t) − CLV (δ + φ) π₁ F₁(t),   δ = d / CLV, φ = f / CLV,

with π₀, π₁ the churner and non-churner shares and F₀, F₁ the shares of each that are contacted. EMPC is
∫ max_t P(t; γ) h(γ) dγ. The maximum over thresholds lies on the upper convex hull of the ROC curve, so it is taken
over the hull's vertices; the integral is a quadrature over Beta quantiles.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from pipeline.config import CampaignConfig

_QUADRATURE_POINTS = 2000


@dataclass(frozen=True)
class Empc:
    value: float  # expected maximum profit per customer in the base
    share_contacted: float  # expected share of the base contacted at the optimum


def _roc_points(y: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(F1, F0): shares of non-churners and churners contacted, at every distinct threshold (contact none first)."""
    order = np.argsort(-score, kind="stable")
    s, yy = score[order], y[order]
    last_of_tie = np.r_[s[1:] != s[:-1], True]
    churners = np.cumsum(yy)[last_of_tie]
    contacted = np.arange(1, len(y) + 1)[last_of_tie]
    f0 = np.r_[0.0, churners / max(yy.sum(), 1)]
    f1 = np.r_[0.0, (contacted - churners) / max(len(y) - yy.sum(), 1)]
    return f1, f0


def _upper_hull(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Indices of the upper convex hull of points sorted by x (Andrew's monotone chain)."""
    hull: list[int] = []
    for i in range(len(x)):
        while len(hull) >= 2:
            a, b = hull[-2], hull[-1]
            if (x[b] - x[a]) * (y[i] - y[a]) - (y[b] - y[a]) * (x[i] - x[a]) >= 0:
                hull.pop()
            else:
                break
        hull.append(i)
    return np.array(hull)


def empc(y: np.ndarray, score: np.ndarray, clv: float, cfg: CampaignConfig) -> Empc:
    """EMPC of a ranking ``score`` (higher = contact first) for churn labels ``y`` (1 = churned)."""
    y = np.asarray(y, dtype=float)
    f1, f0 = _roc_points(y, np.asarray(score, dtype=float))
    hull = _upper_hull(f1, f0)
    f1, f0 = f1[hull], f0[hull]
    pi0 = y.mean()
    pi1 = 1 - pi0
    gamma = stats.beta.ppf(
        (np.arange(_QUADRATURE_POINTS) + 0.5) / _QUADRATURE_POINTS, cfg.acceptance_alpha, cfg.acceptance_beta
    )
    gain = (gamma[:, None] * (clv - cfg.incentive_cost) - cfg.contact_cost) * pi0 * f0[None, :]
    loss = (cfg.incentive_cost + cfg.contact_cost) * pi1 * f1[None, :]
    profit = gain - loss
    best = profit.argmax(axis=1)
    share = pi0 * f0[best] + pi1 * f1[best]
    return Empc(float(profit[np.arange(len(gamma)), best].mean()), float(share.mean()))


def profit_curve(y: np.ndarray, order_by: np.ndarray, value: np.ndarray, cfg: CampaignConfig) -> np.ndarray:
    """Cumulative campaign profit (currency) of contacting the top k customers by ``order_by``, k = 0..n.

    Uses the mean acceptance rate and each customer's own value (``value``: spend over the horizon if retained).
    """
    accept = cfg.acceptance_alpha / (cfg.acceptance_alpha + cfg.acceptance_beta)
    order = np.argsort(-np.asarray(order_by, float), kind="stable")
    yy, v = np.asarray(y, float)[order], np.asarray(value, float)[order]
    each = yy * (accept * (v - cfg.incentive_cost) - cfg.contact_cost) - (1 - yy) * (
        cfg.incentive_cost + cfg.contact_cost
    )
    return np.r_[0.0, np.cumsum(each)]
