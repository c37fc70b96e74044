"""Buy-till-you-die models: BG/NBD (Fader, Hardie & Lee 2005) and Gamma-Gamma spend (Fader, Hardie & Lee 2005, "RFM
and CLV"), fitted by maximum likelihood from each customer's summary as of a cutoff.

A customer's summary is (x, t_x, T): repeat purchases (purchase days after the first), the time from the first to the
last purchase, and the time from the first purchase to the cutoff, all in weeks. Fits use only these summaries, so
they see nothing at or after the cutoff. Identical summaries are fitted once, weighted by how often they occur.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize, special

from pipeline.featurize import sampling

DAYS_PER_UNIT = 7.0  # times in weeks: keeps the parameters near 1 and the optimiser well scaled
MIN_CUSTOMERS = 20  # fewer customers than this (or no repeat buyer) gives no fit
# Converge to the optimum itself, not near it: then the fit does not depend on last-bit differences in its inputs
# (e.g. sums added in another order by another engine).
_TIGHT = {"ftol": 1e-15, "gtol": 1e-10, "maxiter": 2000}


@dataclass(frozen=True)
class BgNbd:
    """Purchase rate λ ~ Gamma(r, α); after each purchase the customer drops out with p ~ Beta(a, b)."""

    r: float
    alpha: float
    a: float
    b: float

    @classmethod
    def fit(cls, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> BgNbd:
        x, t_x, T, w = _compress(x, t_x, T)
        if w.sum() < MIN_CUSTOMERS or not (x > 0).any():
            raise ValueError("BG/NBD needs at least 20 customers and one repeat purchase")

        def nll(log_params: np.ndarray) -> float:
            return -float(np.sum(w * _bgnbd_ll(np.exp(log_params), x, t_x, T))) / w.sum()

        best = optimize.minimize(
            nll,
            np.log([0.5, max(float(np.average(T, weights=w)), 1.0), 1.0, 1.0]),
            method="L-BFGS-B",
            bounds=[(-9, 9)] * 4,
            options=_TIGHT,
        )
        return cls(*np.exp(best.x))

    def p_alive(self, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
        """P(still active at T | x, t_x, T); a customer without repeat purchases has not had a chance to drop out."""
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
        log_ratio = (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))
        odds = np.where(x > 0, a / np.maximum(b + x - 1, 1e-12) * np.exp(np.minimum(log_ratio, 700)), 0.0)
        return 1.0 / (1.0 + odds)

    def expected_purchases(self, t: float, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
        """E[purchases in (T, T + t] | x, t_x, T] (equation 10 of the paper)."""
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
        z = t / (alpha + T + t)
        hyp = special.hyp2f1(r + x, b + x, a + b + x - 1, z)
        head = (a + b + x - 1) / (a - 1)
        body = 1 - np.exp((r + x) * (np.log(alpha + T) - np.log(alpha + T + t))) * hyp
        return head * body * self.p_alive(x, t_x, T)

    def p_no_purchase(self, t: float, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
        """P(no purchase in (T, T + t] | x, t_x, T): dropped out, or alive (λ ~ Gamma(r + x, α + T)) and no event."""
        alive = self.p_alive(x, t_x, T)
        quiet = np.exp((self.r + np.asarray(x, float)) * (np.log(self.alpha + T) - np.log(self.alpha + T + t)))
        return 1 - alive + alive * quiet

    def log_likelihood(self, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> float:
        return float(
            np.sum(
                _bgnbd_ll(np.array([self.r, self.alpha, self.a, self.b]), *(np.asarray(v, float) for v in (x, t_x, T)))
            )
        )


def _bgnbd_ll(params: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """Per-customer log-likelihood (equation 6 of Fader, Hardie & Lee 2005)."""
    r, alpha, a, b = params
    common = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
    first = special.betaln(a, b + x) - special.betaln(a, b) - (r + x) * np.log(alpha + T)
    with np.errstate(divide="ignore", invalid="ignore"):
        second = np.where(
            x > 0,
            special.betaln(a + 1, np.maximum(b + x - 1, 1e-12)) - special.betaln(a, b) - (r + x) * np.log(alpha + t_x),
            -np.inf,
        )
    return common + np.logaddexp(first, second)


@dataclass(frozen=True)
class GammaGamma:
    """Spend per purchase ~ Gamma(p, ν) with ν ~ Gamma(q, γ), independent of the purchase process."""

    p: float
    q: float
    gamma: float

    @classmethod
    def fit(cls, n: np.ndarray, mean_spend: np.ndarray) -> GammaGamma:
        """Fit on customers with at least one purchase of positive mean spend (n = purchases behind the mean)."""
        keep = (np.asarray(n) > 0) & (np.asarray(mean_spend) > 0)
        n, m = np.asarray(n, float)[keep], np.asarray(mean_spend, float)[keep]
        if len(n) < MIN_CUSTOMERS:
            raise ValueError("Gamma-Gamma needs at least 20 customers with positive spend")
        scale = float(np.median(m))  # fit in units of the median spend, then scale γ back

        def nll(log_params: np.ndarray) -> float:
            p, q, g = np.exp(log_params)
            ll = (
                special.gammaln(p * n + q)
                - special.gammaln(p * n)
                - special.gammaln(q)
                + q * np.log(g)
                + (p * n - 1) * np.log(m / scale)
                + p * n * np.log(n)
                - (p * n + q) * np.log(g + n * m / scale)
            )
            return -float(np.mean(ll))

        best = optimize.minimize(nll, np.log([1.0, 2.0, 1.0]), method="L-BFGS-B", bounds=[(-9, 9)] * 3, options=_TIGHT)
        p, q, g = np.exp(best.x)
        return cls(p, q, g * scale)

    def expected_spend(self, n: np.ndarray, mean_spend: np.ndarray) -> np.ndarray:
        """E[spend per purchase | n purchases with this mean]; the population mean for customers without one."""
        n = np.asarray(n, float)
        m = np.nan_to_num(np.maximum(np.asarray(mean_spend, float), 0.0))
        population = self.p * self.gamma / (self.q - 1) if self.q > 1 else np.nan
        conditional = self.p * (self.gamma + n * m) / (self.p * n + self.q - 1)
        return np.where(n > 0, conditional, population)


def _compress(x, t_x, T) -> tuple[np.ndarray, ...]:
    """Unique (x, t_x, T) rows and their counts."""
    frame = pd.DataFrame({"x": np.asarray(x, float), "t_x": np.asarray(t_x, float), "T": np.asarray(T, float)})
    counts = frame.value_counts(sort=False).reset_index(name="w")
    return counts["x"].to_numpy(), counts["t_x"].to_numpy(), counts["T"].to_numpy(), counts["w"].to_numpy(float)


def summaries(features: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, t_x, T) in weeks from purchase-day features: repeat purchase days, first-to-last, first-to-cutoff."""
    n = features["n_purchase_days"].to_numpy(float)
    x = np.maximum(n - 1, 0)  # a customer with lines but no purchase yet counts from their first line, like a buyer
    T = features["tenure_days"].to_numpy(float) / DAYS_PER_UNIT
    t_x = np.where(n >= 2, (features["tenure_days"] - features["recency_days"]).to_numpy(float), 0.0) / DAYS_PER_UNIT
    return x, t_x, T


TARGET_COLUMNS = ("bgnbd_p_no_purchase_target", "bgnbd_expected_purchases_target")


def features(
    frame: pd.DataFrame, horizon_days: int, fit_max_customers: int = 0, target_days: int | None = None
) -> pd.DataFrame:
    """Per cutoff: BG/NBD P(alive), expected purchase days and P(no purchase) over the horizon, Gamma-Gamma spend.

    Each cutoff's models are fitted on that cutoff's customers only (at most ``fit_max_customers`` of them, a fixed
    sample by customer: four or five parameters are pinned down long before a million customers, and the fit's cost
    grows with them), then predict for every customer. Too little data for a fit gives missing values.
    ``target_days`` (a short history, see ``pipeline.extend``) adds P(no purchase) and expected purchases over that
    longer horizon as ``TARGET_COLUMNS``: what the model's forecasts are extended with; never model inputs.
    """
    columns = ["bgnbd_p_alive", "bgnbd_expected_purchases", "bgnbd_p_no_purchase", "gg_expected_spend"]
    out = pd.DataFrame(
        index=frame.index, columns=columns + (list(TARGET_COLUMNS) if target_days else []), dtype="float64"
    )
    t = horizon_days / DAYS_PER_UNIT
    for _, rows in frame.groupby("cutoff", sort=False, observed=True):
        x, t_x, T = summaries(rows)
        fit = sampling.by_customer(rows["customer_id"], fit_max_customers, seed=0)
        fit = fit[rows["n_purchase_days"].to_numpy()[fit] >= 1]  # fitted on buyers; predicts for everyone
        try:
            bg = BgNbd.fit(x[fit], t_x[fit], T[fit])
        except ValueError:
            continue
        out.loc[rows.index, "bgnbd_p_alive"] = bg.p_alive(x, t_x, T)
        out.loc[rows.index, "bgnbd_expected_purchases"] = bg.expected_purchases(t, x, t_x, T)
        out.loc[rows.index, "bgnbd_p_no_purchase"] = bg.p_no_purchase(t, x, t_x, T)
        if target_days:
            target = target_days / DAYS_PER_UNIT
            out.loc[rows.index, TARGET_COLUMNS[0]] = bg.p_no_purchase(target, x, t_x, T)
            out.loc[rows.index, TARGET_COLUMNS[1]] = bg.expected_purchases(target, x, t_x, T)
        try:
            gg = GammaGamma.fit(rows["n_purchase_days"].to_numpy()[fit], rows["avg_basket"].to_numpy()[fit])
        except ValueError:
            continue
        out.loc[rows.index, "gg_expected_spend"] = gg.expected_spend(
            rows["n_purchase_days"].to_numpy(), rows["avg_basket"].to_numpy()
        )
    return out
