"""Labels on a small hand-made table: the horizon is [cutoff, cutoff + horizon_days)."""

import pandas as pd

from pipeline import labels


def test_labels_on_a_hand_made_table():
    tx = pd.DataFrame(
        {
            "customer_id": pd.array(["a", "a", "b", "c", "d", "d"], dtype="string"),
            "timestamp": pd.to_datetime(
                ["2024-03-01 00:00", "2024-03-10", "2024-05-30 23:59", "2024-05-31 00:00", "2024-03-05", "2024-03-06"],
                format="mixed",
            ).astype("datetime64[us]"),
            "amount": [10.0, 5.0, 7.0, 50.0, 20.0, -30.0],
        }
    )
    population = pd.DataFrame({"customer_id": ["a", "b", "c", "d", "e"], "cutoff": pd.Timestamp("2024-03-01")})
    out = labels.outcomes(tx, population, horizon_days=91).set_index("customer_id")
    # a buys exactly at the cutoff (the future belongs to the label); b on the last day of the horizon;
    # c the first moment after it; d buys and returns more than it bought; e never buys.
    assert out["churned"].to_dict() == {"a": 0, "b": 0, "c": 1, "d": 0, "e": 1}
    assert out["future_spend"].to_dict() == {"a": 15.0, "b": 7.0, "c": 0.0, "d": 0.0, "e": 0.0}


def test_a_label_gap_moves_the_window_and_the_plan_keeps_it_observed():
    from pipeline import plan
    from pipeline.config import ModelConfig

    tx = pd.DataFrame(
        {
            "customer_id": pd.array(["a", "b", "b"], dtype="string"),
            "timestamp": pd.to_datetime(["2024-03-20", "2024-03-31", "2024-06-29"]).astype("datetime64[us]"),
            "amount": [10.0, 5.0, 8.0],
        }
    )
    population = pd.DataFrame({"customer_id": ["a", "b"], "cutoff": pd.Timestamp("2024-03-01")})
    out = labels.outcomes(tx, population, horizon_days=90, gap_days=30).set_index("customer_id")
    # window [2024-03-31, 2024-06-29): a's purchase falls in the gap; b's first is the window's first day, its second
    # the first moment after the window.
    assert out["churned"].to_dict() == {"a": 1, "b": 0}
    assert out["future_spend"].to_dict() == {"a": 0.0, "b": 5.0}
    as_of = pd.Timestamp("2026-01-01")
    production, folds = plan.folds_for(as_of, pd.Timestamp("2023-01-01"), 90 + 30, ModelConfig())
    observed = pd.Timedelta(days=120)
    assert max(production.train) + observed <= as_of
    for f in folds:
        assert max(f.train) + observed <= f.test
