"""BG/NBD and Gamma-Gamma against the published CDNOW results (Fader, Hardie & Lee 2005).

The CDNOW data itself is not shipped: a fixture of our own is simulated from the published parameters, and the fit
must recover them; the conditional expectation must reproduce the paper's worked example.
"""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.btyd import BgNbd, GammaGamma

CDNOW = BgNbd(r=0.243, alpha=4.414, a=0.793, b=2.426)


def simulate(model: BgNbd, n: int, rng: np.random.Generator, horizon: float = 0.0):
    """(x, t_x, T) for n customers with a first purchase at 0, observed until T ~ U(27, 39) weeks like CDNOW's
    calibration period, and the number of purchases in (T, T + horizon]."""
    lam = rng.gamma(model.r, 1 / model.alpha, n)
    p = rng.beta(model.a, model.b, n)
    T = rng.uniform(27, 39, n)
    x, t_x, future = np.zeros(n), np.zeros(n), np.zeros(n)
    now, alive = np.zeros(n), np.ones(n, bool)
    while alive.any():
        now = now + rng.exponential(1 / np.maximum(lam, 1e-12))
        inside = alive & (now <= T)
        later = alive & (now > T) & (now <= T + horizon)
        x[inside] += 1
        t_x[inside] = now[inside]
        future[later] += 1
        alive &= now <= T + horizon
        alive &= ~(rng.random(n) < p)  # drop out right after a purchase
    return x, t_x, T, future


def test_the_papers_worked_example():
    # x = 2 repeat purchases, the last at week 30.43, observed for 38.86 weeks: 1.226 purchases expected in 39 weeks.
    assert CDNOW.expected_purchases(39, np.array([2.0]), np.array([30.43]), np.array([38.86]))[0] == pytest.approx(
        1.226, abs=5e-4
    )


def test_fit_recovers_the_published_cdnow_parameters():
    x, t_x, T, _ = simulate(CDNOW, 30_000, np.random.default_rng(1))
    fitted = BgNbd.fit(x, t_x, T)
    assert fitted.r == pytest.approx(CDNOW.r, rel=0.10)
    assert fitted.alpha == pytest.approx(CDNOW.alpha, rel=0.15)
    assert fitted.a == pytest.approx(CDNOW.a, rel=0.30)
    assert fitted.b == pytest.approx(CDNOW.b, rel=0.40)
    assert fitted.log_likelihood(x, t_x, T) >= CDNOW.log_likelihood(x, t_x, T)  # it is the maximum


def test_conditional_predictions_match_what_happens_next():
    x, t_x, T, future = simulate(CDNOW, 100_000, np.random.default_rng(2), horizon=39)
    expected = CDNOW.expected_purchases(39, x, t_x, T)
    none = CDNOW.p_no_purchase(39, x, t_x, T)
    assert expected.sum() == pytest.approx(future.sum(), rel=0.05)
    for k in (0, 1, 2, 3):  # conditional on the number of repeat purchases, as in the paper's figure 4
        group = x == k
        assert expected[group].mean() == pytest.approx(future[group].mean(), rel=0.12, abs=0.02)
        assert none[group].mean() == pytest.approx((future[group] == 0).mean(), abs=0.02)


def test_gamma_gamma_recovers_its_parameters_and_shrinks_to_the_mean():
    rng = np.random.default_rng(3)
    p, q, gamma = 6.25, 3.74, 15.44  # the paper's CDNOW spend model
    nu = rng.gamma(q, 1 / gamma, 20_000)
    n = rng.integers(1, 8, 20_000)
    mean_spend = rng.gamma(p * n, 1 / (nu * n))  # the mean of n Gamma(p, nu) purchases
    fitted = GammaGamma.fit(n, mean_spend)
    assert (fitted.p, fitted.q, fitted.gamma) == pytest.approx((p, q, gamma), rel=0.15)
    population = p * gamma / (q - 1)
    one, many = fitted.expected_spend(np.array([1, 7]), np.array([100.0, 100.0]))
    assert population < one < many < 100  # few purchases pull the estimate harder toward the population mean
