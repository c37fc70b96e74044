"""RFM segments, the loyalty ladder and quadrant, reason sentences and the label-free fallback, on hand-made rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline import explain, scoring
from pipeline.config import LoyaltyConfig, load_reasons
from pipeline.featurize import segments
from pipeline.fitting import NotEnoughHistory


def _rows(**cols) -> pd.DataFrame:
    n = len(next(iter(cols.values())))
    base = {"customer_id": [f"c{i}" for i in range(n)], "cutoff": [pd.Timestamp("2026-01-01")] * n}
    return pd.DataFrame({**base, **cols})


def test_rfm_quintiles_rank_within_the_cutoff_and_name_every_segment():
    f = _rows(
        recency_days=[1, 2, 3, 4, 5, 300, 301, 302, 303, 304],
        n_purchase_days=[10, 9, 8, 7, 6, 5, 4, 3, 2, 1],
        spend_total=[1000, 900, 800, 700, 600, 500, 400, 300, 200, 100],
    )
    s = segments.rfm_segments(f)
    assert s["r_score"].tolist() == [5, 5, 4, 4, 3, 3, 2, 2, 1, 1]  # fewer days since the last purchase is better
    assert s["f_score"].tolist() == s["m_score"].tolist() == [5, 5, 4, 4, 3, 3, 2, 2, 1, 1]
    assert s["rfm_segment"].iloc[0] == "champions" and s["rfm_segment"].iloc[-1] == "lost"
    assert s["rfm_segment"].notna().all()
    # a weekly buyer silent for two months is not a champion, however recent that is for the base
    lapsed = segments.rfm_segments(f.assign(overdue_ratio=[9.0] + [0.5] * 9))
    assert lapsed["r_score"].iloc[0] == 2 and lapsed["rfm_segment"].iloc[0] == "can't lose"


def test_the_loyalty_ladder_and_quadrant_follow_the_rules():
    rules = LoyaltyConfig()
    f = _rows(
        n_purchase_days=[1, 2, 10, 10, 10],
        tenure_days=[5, 100, 400, 400, 400],
        overdue_ratio=[np.nan, 0.5, 0.5, 0.5, 9.0],
        nps_last=[np.nan, 3.0, 10.0, 2.0, 10.0],
    )
    assert list(segments.loyalty_stage(f, rules)) == [
        "first-time buyer",
        "repeat buyer",
        "advocate",
        "loyal",
        "lapsed",  # ten purchase days, then silent for nine usual gaps
    ]
    assert list(segments.loyalty_quadrant(f, rules)) == ["unknown", "spurious", "true", "spurious", "latent"]


WORDING = explain.Wording(load_reasons(), currency="EUR", n_reasons=2)


def test_reasons_are_the_drivers_that_raise_risk_in_order_with_the_customers_numbers():
    frame = _rows(
        recency_days=[58.0, 3.0],
        gap_mean_days=[6.0, np.nan],
        n_purchase_days=[9.0, 2.0],
        spend_90d=[10.0, 500.0],
        spend_180d=[130.0, 900.0],
        spend_365d=[190.0, 1200.0],
        spend_trend=[-0.85, 0.1],
    )
    points = pd.DataFrame({"lapsing": [12.4, -4.0], "spending_less": [3.0, -1.0]}, index=frame.index)
    out = explain.reasons(frame, points, WORDING, {})
    assert out.loc[0, "reason_1"] == "No purchase for 58 days; usually buys every 6 days (+12 pts)"
    assert out.loc[0, "reason_2"] == "Spent €10 in the last 90 days, down from €120 in the 90 days before (+3 pts)"
    assert out.loc[0, "top_driver"] == "lapsing" and out.loc[0, "action"] == "reminder"
    assert (out.loc[1, ["reason_1", "reason_2", "top_driver"]] == "").all()  # nothing raises it
    assert out.loc[1, "action"] == "none"


def test_every_reason_template_renders_against_the_demo_without_unknowns_or_zero_counts(demo_inputs):
    """Each driver's sentences, filled in for every demo customer it applies to: no 'nan', 'unknown' or a zero count."""
    from pipeline.config import FeaturesConfig
    from pipeline.featurize.build import build
    from pipeline.sentences import Template, render

    features = build(demo_inputs, [pd.Timestamp("2026-10-31")], FeaturesConfig())
    wording = explain.Wording(load_reasons())
    typical = explain.typical_values(features, wording)
    variables = {**typical, "stale_complaint_days": 90}
    for name, driver in wording.reasons.drivers.items():
        for sentence in driver.sentences:
            template = Template.parse(sentence.text, sentence.when)
            unknown = template.names - set(features.columns) - set(variables)
            assert not unknown, f"{name}: {sentence.text!r} names {unknown}, which the demo's features lack"
            text = pd.Series(render(features, [template], variables, "EUR"))
            used = text[text != ""]
            assert len(used), f"{name}: {sentence.text!r} applies to no demo customer"
            for bad in ("nan", "unknown", "None", " 0 complaints", " 0 days in", "(s)", "inf"):
                assert not used.str.contains(bad, regex=False).any(), (name, bad, used[used.str.contains(bad)].iloc[0])


def test_the_label_free_fallback_scores_everyone_with_warning_signs_as_reasons():
    frame = _rows(
        n_purchase_days=[1, 8, 5],
        recency_days=[10, 200, 5],
        overdue_ratio=[np.nan, 6.0, 0.2],
        spend_trend=[0.0, -0.8, 0.1],
        spend_365d=[20.0, 300.0, 150.0],
        open_complaints=[0, 1, 0],
        oldest_open_complaint_days=[0, 30, 0],
        bgnbd_p_alive=[1.0, 0.1, 0.9],
        bgnbd_expected_purchases=[0.5, 0.1, 2.0],
        bgnbd_p_no_purchase=[0.6, 0.95, 0.1],
        gg_expected_spend=[20.0, 40.0, 30.0],
    )
    scored, signs = scoring.run_fallback(frame, explain.Wording(load_reasons()))
    assert sorted(scored["customer_id"]) == ["c0", "c1", "c2"] and scored["risk_rank"].tolist() == [1, 2, 3]
    gone = scored.set_index("customer_id").loc["c1"]
    assert gone["churn_probability"] == pytest.approx(0.95) and gone["top_driver"] == "open_complaint"
    assert (scored["model_version"] == scoring.FALLBACK_VERSION).all()
    with pytest.raises(NotEnoughHistory, match="BG/NBD"):
        scoring.run_fallback(frame.drop(columns="bgnbd_p_no_purchase"), explain.Wording(load_reasons()))
