"""EMPC and the profit curve against cases with a known answer."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from pipeline.config import CampaignConfig
from pipeline.economics import empc, profit_curve

CFG = CampaignConfig()  # the paper's defaults: f = 1, d = 10, γ ~ Beta(6, 14)
CLV = 200.0


def _data(n=20_000, churn=0.2, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.random(n) < churn).astype(float), rng


def test_perfect_ranking_contacts_exactly_the_churners():
    y, _ = _data()
    # Contacting only churners pays whenever γ (CLV − d) > f: EMPC = π0 E[max(γ (CLV − d) − f, 0)].
    gamma = stats.beta(CFG.acceptance_alpha, CFG.acceptance_beta)
    expected = y.mean() * (gamma.expect(lambda g: max(g * (CLV - CFG.incentive_cost) - CFG.contact_cost, 0.0)))
    result = empc(y, y + 0.0, CLV, CFG)
    assert result.value == pytest.approx(expected, rel=1e-3)
    assert result.share_contacted == pytest.approx(y.mean(), rel=1e-3)


def test_a_random_ranking_is_worth_the_better_of_everyone_or_no_one():
    y, rng = _data(n=200_000)
    result = empc(y, rng.random(len(y)), CLV, CFG)
    gamma = stats.beta(CFG.acceptance_alpha, CFG.acceptance_beta)
    everyone = gamma.expect(
        lambda g: max(
            y.mean() * (g * (CLV - CFG.incentive_cost) - CFG.contact_cost)
            - (1 - y.mean()) * (CFG.incentive_cost + CFG.contact_cost),
            0.0,
        )
    )
    assert result.value == pytest.approx(everyone, abs=0.05)
    assert empc(y, y + 0.0, CLV, CFG).value > result.value


def test_better_rankings_earn_more():
    y, rng = _data()
    noisy = [y + rng.normal(0, s, len(y)) for s in (0.3, 0.8, 2.0)]
    values = [empc(y, s, CLV, CFG).value for s in noisy]
    assert values[0] > values[1] > values[2]


def test_profit_curve_adds_each_contacts_profit():
    y = np.array([1.0, 0.0, 1.0])
    value = np.array([100.0, 50.0, 20.0])
    curve = profit_curve(y, np.array([3.0, 2.0, 1.0]), value, CFG)
    accept = 0.3
    steps = [accept * (100 - 10) - 1, -(10 + 1), accept * (20 - 10) - 1]
    assert curve == pytest.approx(np.r_[0, np.cumsum(steps)])
