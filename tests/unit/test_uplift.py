"""The uplift model (pipeline.models.xlearner), its out-of-time judgement and the explore share (issue 26)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline import targeting
from pipeline.config import RetentionConfig, load_reasons
from pipeline.models import xlearner

pytestmark = pytest.mark.model


def _experiment(n: int, seed: int, held_share: float = 0.15):
    """A randomised past list with a known effect: a call helps customers with an open complaint (+30 points of
    buying again) and no one else; a discount helps price-sensitive customers (+20) and harms the others (-5)."""
    rng = np.random.default_rng(seed)
    x = pd.DataFrame(
        {
            "open_complaints": rng.integers(0, 2, n).astype(float),
            "price_sensitive": rng.integers(0, 2, n).astype(float),
            "recency_days": rng.gamma(2.0, 30.0, n),
        }
    )
    t = pd.Series(np.where(rng.random(n) < held_share, "none", rng.choice(["call", "discount"], n)), dtype=object)
    base = 0.6 - 0.002 * np.minimum(x["recency_days"], 150)
    effect = np.select(
        [t == "call", t == "discount"],
        [0.30 * x["open_complaints"], np.where(x["price_sensitive"] == 1, 0.20, -0.05)],
        default=0.0,
    )
    retained = (rng.random(n) < np.clip(base + effect, 0, 1)).astype(int)
    return x, t, retained


def test_the_x_learner_finds_who_each_action_helps_on_a_randomised_sample():
    x, t, retained = _experiment(12_000, seed=0)
    model = xlearner.XLearner(list(x.columns), min_rows=100, seed=0, threads=1).fit(x, t, retained)
    assert model.actions == ["call", "discount"]
    up = model.uplift(x)
    complaint, sensitive = x["open_complaints"] == 1, x["price_sensitive"] == 1
    assert up.loc[complaint, "call"].mean() == pytest.approx(0.30, abs=0.08)
    assert up.loc[~complaint, "call"].mean() == pytest.approx(0.0, abs=0.06)
    assert up.loc[sensitive, "discount"].mean() == pytest.approx(0.20, abs=0.08)
    assert up.loc[~sensitive, "discount"].mean() < 0.0  # the sleeping dogs
    action, gain = xlearner.best_action(up, np.ones(len(x)), {})
    right = np.where(complaint, "call", np.where(sensitive, "discount", "call"))
    both = complaint & sensitive  # +30 vs +20: the call
    assert (action[complaint.to_numpy() & ~sensitive.to_numpy()] == "call").mean() > 0.9
    assert (action[~complaint.to_numpy() & sensitive.to_numpy()] == "discount").mean() > 0.9
    assert (action[both.to_numpy()] == right[both.to_numpy()]).mean() > 0.7


def test_thin_evidence_learns_nothing_and_the_list_keeps_todays_ranking():
    x, t, retained = _experiment(600, seed=1, held_share=0.1)  # about 60 held out: fewer than min_rows
    model = xlearner.XLearner(list(x.columns), min_rows=100, seed=0, threads=1).fit(x, t, retained)
    assert model.actions == [] and model.uplift(x).shape == (len(x), 0)
    use, reason = xlearner.decide(pd.DataFrame())
    assert not use and "keeps today's ranking" in reason


def test_the_qini_curve_credits_a_ranking_that_puts_the_helped_first():
    x, t, retained = _experiment(20_000, seed=2)
    control = (t == "none").to_numpy()
    called = (t == "call").to_numpy()
    shares, good = xlearner.qini(x["open_complaints"].to_numpy(), called, control, retained)
    _, bad = xlearner.qini(-x["open_complaints"].to_numpy(), called, control, retained)
    assert good[-1] == pytest.approx(bad[-1])  # the same customers in the end
    assert xlearner.qini_area(shares, good) > 0.03 > 0.0 > xlearner.qini_area(shares, bad)
    won = pd.DataFrame(
        [{"customers": 100, "held_out": 10, "qini_uplift": 0.05, "qini_as_sent": 0.03, "qini_value_at_risk": 0.04}]
    )
    assert xlearner.decide(won)[0] and not xlearner.decide(won.assign(qini_value_at_risk=0.06))[0]


def _scored(n: int = 2000) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    return pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(n)],
            "as_of": pd.Timestamp("2026-10-31"),
            "churn_probability": rng.uniform(0.3, 0.9, n),
            "value_at_risk": rng.uniform(50, 500, n),
            "value_if_retained": rng.uniform(100, 800, n),
            "action": "reminder",
        }
    )


def test_the_explore_share_is_random_recorded_and_the_same_on_a_rerun():
    scored, reasons = _scored(), load_reasons()
    cfg = RetentionConfig(holdout_share=0.1, explore_share=0.2, above_typical_only=False)
    out = targeting.assign(scored, cfg, reasons, top_n=1500, seed=7)
    contacted = out["on_list"] & ~out["holdout"]
    assert out.loc[out["explored"], "on_list"].all() and not (out["explored"] & out["holdout"]).any()
    assert out.loc[contacted, "explored"].mean() == pytest.approx(0.2, abs=0.03)
    drawn = out.loc[out["explored"], "action"]
    assert drawn.nunique() >= 8 and "none" not in set(drawn)  # drawn from every action the team has
    assert (out.loc[contacted & ~out["explored"], "action"] == "reminder").all()
    assert out.loc[~out["explored"], "explore_cost"].eq(0).all() and out["explore_cost"].notna().all()
    again = targeting.assign(scored, cfg, reasons, top_n=1500, seed=7)
    pd.testing.assert_series_equal(out["explored"], again["explored"])
    other_week = targeting.assign(scored.assign(as_of=pd.Timestamp("2026-11-07")), cfg, reasons, top_n=1500, seed=7)
    assert (other_week["explored"] != out["explored"]).any()


def test_the_uplift_ranking_suggests_the_action_with_the_largest_expected_gain():
    scored, reasons = _scored(6), load_reasons()
    up = pd.DataFrame(
        {"reminder": [0.01, 0.20, 0.0, 0.05, -0.1, 0.0], "complaint_call": [0.30, 0.0, 0.0, 0.05, -0.1, 0.0]}
    )
    scored = scored.assign(value_if_retained=[100.0, 100.0, 100.0, 1000.0, 100.0, 100.0])
    cfg = RetentionConfig(holdout_share=0.0, explore_share=0.0, above_typical_only=False)
    out = targeting.assign(scored, cfg, reasons, top_n=10, seed=1, uplift=up)
    # gains: 0.3*100-8=22 (call), 0.2*100-1=19 (reminder), -1, 0.05*1000-1=49 (reminder), <0, -1
    assert out["action"].tolist()[:4] == ["complaint_call", "reminder", "none", "reminder"]
    assert out.loc[out["on_list"], "customer_id"].tolist() == ["c0", "c1", "c3"]
    assert out.sort_values("list_rank")["customer_id"].head(3).tolist() == ["c3", "c0", "c1"]
    assert (out["ranked_by"] == "uplift").all() and out["reason_action"].eq("reminder").all()


def test_the_shift_check_tells_the_customers_an_uplift_model_learnt_from_from_others():
    rng = np.random.default_rng(4)
    learnt = pd.DataFrame({"recency_days": rng.gamma(2.0, 30.0, 3000), "spend": rng.gamma(2.0, 50.0, 3000)})
    alike = pd.DataFrame({"recency_days": rng.gamma(2.0, 30.0, 3000), "spend": rng.gamma(2.0, 50.0, 3000)})
    other = alike.assign(recency_days=alike["recency_days"] + 120.0)
    assert xlearner.shift(learnt, alike) < 0.6 < 0.95 < xlearner.shift(learnt, other)
    assert np.isnan(xlearner.shift(learnt, alike.head(10)))  # too few to tell: unknown, and unknown is not used
