"""The weekly loop's checks on hand-made weeks: what changed, how a past list turned out, drift and the model's age."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline import monitor
from pipeline.config import HealthConfig, RetentionConfig
from pipeline.targeting import NOT_LISTED, SAVE, WIN_BACK


def _week(as_of: str, **cols) -> pd.DataFrame:
    n = len(cols["customer_id"])
    base = {"as_of": [pd.Timestamp(as_of)] * n, "holdout": [False] * n, "reason_1": [""] * n}
    return pd.DataFrame({**base, **cols})


def test_what_changed_names_new_entries_sharp_rises_and_why_customers_left_the_list():
    before = _week(
        "2026-11-07",
        customer_id=["stay", "jump", "bought", "closed", "gone", "fell"],
        churn_probability=[0.5, 0.40, 0.6, 0.5, 0.7, 0.6],
        on_list=[True] * 6,
        group=[SAVE] * 6,
        open_complaints=[0, 0, 0, 2, 0, 0],
        last_order_date=pd.to_datetime(["2026-10-01"] * 6),
        saveable_value=[5.0] * 6,
    )
    now = _week(
        "2026-11-14",
        customer_id=["stay", "jump", "bought", "closed", "gone", "fell", "newbie"],
        churn_probability=[0.52, 0.55, 0.2, 0.3, 0.97, 0.3, 0.8],
        on_list=[True, True, False, False, False, False, True],
        group=[SAVE, SAVE, NOT_LISTED, NOT_LISTED, WIN_BACK, NOT_LISTED, SAVE],
        open_complaints=[0, 0, 0, 0, 0, 0, 0],
        last_order_date=pd.to_datetime(["2026-10-01", "2026-10-01", "2026-11-09", *["2026-10-01"] * 3, "2026-11-01"]),
        saveable_value=[5.0] * 7,
    )
    ch = monitor.changes(now, before, RetentionConfig(risk_rise_points=10))
    assert ch.new["customer_id"].tolist() == ["newbie"]
    assert ch.risen["customer_id"].tolist() == ["jump"] and ch.risen["change_points"].iloc[0] == pytest.approx(15)
    why = dict(zip(ch.left["customer_id"], ch.left["why"], strict=True))
    assert why == {
        "bought": "bought again",
        "closed": "complaint closed",
        "gone": "moved to win-back (likely gone)",
        "fell": "risk fell",
    }
    assert np.isnan(ch.change_points.iloc[-1]) and ch.change_points.iloc[0] == pytest.approx(2)


def test_a_past_list_is_judged_against_the_base_the_customers_below_the_cut_and_its_hold_out():
    past = _week(
        "2026-08-01",
        customer_id=list("abcdefgh"),
        churn_probability=[0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.99],
        value_if_retained=[100.0, 50, 80, 10, 10, 10, 10, 500],
        on_list=[True, True, True, False, False, False, False, False],
        group=[SAVE, SAVE, SAVE, NOT_LISTED, NOT_LISTED, NOT_LISTED, NOT_LISTED, WIN_BACK],
        saveable_value=[9.0, 8, 7, 6, 5, 4, 0, 20],
    ).assign(holdout=[False, False, True, False, False, False, False, False])
    churned = pd.Series([1, 0, 1, 1, 0, 0, 0, 1])
    contacts = pd.DataFrame({"customer_id": ["a"], "contacted_at": [pd.Timestamp("2026-08-03")]})
    out = monitor.list_outcome(past, churned, contacts)
    assert out["listed"] == 3 and out["churn_rate_listed"] == pytest.approx(2 / 3)
    assert out["churn_rate_base"] == pytest.approx(4 / 8)
    assert out["churn_rate_below_cut"] == pytest.approx(1 / 3)  # d, e, f: the next three worth a contact
    assert out["value_lost"] == pytest.approx(180.0)  # a and c, what they would have spent
    assert (out["held_out"], out["churn_rate_held_out"], out["churn_rate_not_held_out"]) == (1, 1.0, 0.5)
    assert (out["contacted"], out["churn_rate_contacted"], out["churn_rate_not_contacted"]) == (1, 1.0, 0.5)


def test_drift_and_age_warnings_speak_plainly_and_stay_quiet_when_nothing_moved():
    rng = np.random.default_rng(0)
    train = pd.DataFrame({"recency_days": rng.exponential(30, 5000), "region": rng.choice(["n", "s"], 5000)})
    scores = rng.uniform(size=5000)
    reference = monitor.reference_profile(train, scores)
    same = pd.DataFrame({"recency_days": rng.exponential(30, 5000), "region": rng.choice(["n", "s"], 5000)})
    labels = {"recency_days": "Overdue for a purchase"}
    quiet = monitor.health(
        reference,
        same,
        pd.Series(rng.uniform(size=5000)),
        pd.Timestamp("2026-10-01"),
        pd.Timestamp("2026-10-31"),
        HealthConfig(),
        labels,
    )
    assert quiet.warnings == [] and quiet.psi.max() < 0.05
    moved = same.assign(recency_days=same["recency_days"] * 3, region=np.where(rng.uniform(size=5000) < 0.3, None, "n"))
    loud = monitor.health(
        reference,
        moved,
        pd.Series(rng.uniform(size=5000) ** 3),
        pd.Timestamp("2026-05-01"),
        pd.Timestamp("2026-10-31"),
        HealthConfig(),
        labels,
    )
    text = " ".join(loud.warnings)
    assert "The model is 183 days old" in text and "make train" in text
    assert "Overdue for a purchase" in text and "churn score" in loud.psi[loud.psi > 0.25].index
    assert "missing for more customers" in text and "region" in text
