"""The active base and the win-back group: the rule on hand-made histories, and what it means for the reasons' points
and the report's counts."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from pipeline import explain, population
from pipeline.config import FeaturesConfig, PopulationConfig
from pipeline.featurize.build import FeatureInputs, build


def _gaps(counts: dict[int, int]) -> pd.DataFrame:
    return pd.DataFrame({"gap_days": list(counts), "n": list(counts.values())})


def test_the_window_is_the_quantile_of_the_bases_repeat_purchase_gaps():
    gaps = _gaps({5: 50, 10: 30, 30: 15, 200: 5})  # 80 % within 10 days, 95 % within 30
    assert population.window_days(gaps, PopulationConfig(return_quantile=0.8)) == 10
    assert population.window_days(gaps, PopulationConfig(return_quantile=0.9)) == 30
    assert population.window_days(gaps, PopulationConfig(return_quantile=0.99)) == 200
    assert population.window_days(gaps, PopulationConfig(max_silence_days=45)) == 45  # a person's number wins
    assert population.window_days(_gaps({}), PopulationConfig()) == math.inf  # no repeat purchase yet: all active


def test_a_customer_is_active_within_the_bases_window_or_their_own_rhythm():
    rules = PopulationConfig(return_quantile=0.9)
    frame = pd.DataFrame(
        {
            "recency_days": [10.0, 40.0, 40.0, 200.0, 400.0],
            "gap_mean_days": [np.nan, np.nan, 20.0, 100.0, 100.0],
        }
    )
    own = -math.log(0.1)  # 2.3 usual gaps
    active = population.is_active(frame, 30.0, rules)
    # within the window; a one-time buyer past it; a repeat buyer within 2.3 x 20 days; a slow buyer within
    # 2.3 x 100 days; the same slow buyer past it
    assert active.tolist() == [True, False, 40 <= own * 20, True, False]
    assert not population.is_active(frame, 30.0, PopulationConfig(own_rhythm=False))[3]
    said = population.describe(30.0, rules)
    assert "bought in the last 30 days" in said and "90% of repeat purchases" in said and "2.3 times" in said


def test_features_mark_the_active_base_from_the_histories_before_the_cutoff():
    day = pd.Timestamp("2026-01-01")
    rows = []
    for k in range(20):  # a base that comes back every 7 days
        rows += [(f"w{k}", day + pd.Timedelta(days=7 * j)) for j in range(10)]
    rows += [("gone", day), ("gone", day + pd.Timedelta(days=7))]  # silent since day 7
    rows += [("slow", day), ("slow", day + pd.Timedelta(days=30))]  # a 30-day rhythm, silent 33 days
    tx = pd.DataFrame(rows, columns=["customer_id", "timestamp"]).assign(amount=10.0)
    tx = tx.assign(customer_id=tx["customer_id"].astype("string"), timestamp=tx["timestamp"].astype("datetime64[us]"))
    cutoff = day + pd.Timedelta(days=63)
    out = build(FeatureInputs(tx), [cutoff], FeaturesConfig(probabilistic=False)).set_index("customer_id")
    assert out["return_window_days"].iloc[0] == 7
    assert out.loc["w3", "active"] and not out.loc["gone", "active"] and out.loc["slow", "active"]
    # nothing after the cutoff changes it
    later = pd.concat([tx, pd.DataFrame({"customer_id": ["gone"], "timestamp": [cutoff], "amount": [5.0]})])
    again = build(FeatureInputs(later.astype({"customer_id": "string"})), [cutoff], FeaturesConfig(probabilistic=False))
    pd.testing.assert_series_equal(out["active"], again.set_index("customer_id")["active"])


def test_points_are_measured_from_the_typical_customer_below_the_riskiest():
    """On a hand-made linear score: the reference is the typical customer's risk; the riskiest customers are above
    it, with positive points that add up to their distance from it."""
    rng = np.random.default_rng(0)
    contributions = pd.DataFrame({"lapsing": rng.normal(0, 1.0, 1000), "complaint": rng.normal(0, 0.5, 1000)})
    log_odds = -1.5 + contributions.sum(axis=1).to_numpy()
    raw = 1 / (1 + np.exp(-log_odds))

    class Identity:
        def transform(self, p):
            return np.asarray(p, dtype=float)

    ref = explain.reference(contributions, raw, Identity())
    assert ref.probability == pytest.approx(1 / (1 + np.exp(-np.mean(log_odds))))
    points = explain.to_points(contributions, raw, Identity(), ref)
    np.testing.assert_allclose(points.sum(axis=1), 100 * (raw - ref.probability))
    listed = np.argsort(-raw)[:100]  # the riskiest tenth, as a save list would be
    assert (raw[listed] > ref.probability).all() and (points.iloc[listed].sum(axis=1) > 0).all()
    assert np.median(100 * raw[listed]) - 100 * ref.probability > 5
