"""The report on a small scored list: the at-risk CSV's rows and columns, the page, and the model card."""

from __future__ import annotations

import pandas as pd

from pipeline import evaluate, report, score


def _scored():
    frame = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c"],
            "cutoff": [pd.Timestamp("2026-10-31")] * 3,
            "n_purchase_days": [1, 8, 5],
            "recency_days": [10, 200, 5],
            "overdue_ratio": [float("nan"), 6.0, 0.2],
            "spend_trend": [0.0, -0.8, 0.1],
            "spend_365d": [20.0, 300.0, 150.0],
            "bgnbd_p_alive": [1.0, 0.1, 0.9],
            "bgnbd_expected_purchases": [0.5, 0.1, 2.0],
            "bgnbd_p_no_purchase": [0.6, 0.95, 0.1],
            "gg_expected_spend": [20.0, 40.0, 30.0],
            "rfm_segment": pd.Categorical(["new customers", "at risk", "champions"]),
        }
    )
    return score.run_fallback(frame, 3)


def test_the_at_risk_list_keeps_the_ranking_and_the_columns_a_team_acts_on():
    scored, _ = _scored()
    top = report.at_risk_list(scored, 2)
    assert top["customer_id"].tolist() == scored["customer_id"].head(2).tolist()
    assert {"customer_id", "churn_probability", "value_at_risk", "reason_1", "suggested_action", "rfm_segment"} <= set(
        top.columns
    )


def test_the_page_and_the_card_say_there_is_no_backtest_when_there_is_none():
    scored, signs = _scored()
    summary = evaluate.summarise(
        pd.DataFrame(columns=["fold", "model", *evaluate.CHURN_METRICS, *evaluate.VALUE_METRICS])
    )
    figs = report.figures(None, signs, "warning-sign priority")
    context = {
        "as_of": "2026-10-31",
        "horizon_days": 90,
        "model_version": score.FALLBACK_VERSION,
        "metric_names": [],
        "metric_rows": {},
        "n_folds": 0,
        "fallback_reason": "too little history",
    }
    html = report.render(scored, summary, figs, context, 500)
    assert html.lstrip().lower().startswith("<!doctype html>")
    assert all(c in html for c in scored["customer_id"]) and "too little history" in html
    card = report.model_card(
        {
            **context,
            "first_transaction": "2026-01-01",
            "last_transaction": "2026-10-30",
            "n_customers": 3,
            "train_cutoffs": "",
            "validation_cutoff": None,
            "features": [],
        },
        summary,
    )
    assert card.startswith(f"# Model card: {score.FALLBACK_VERSION}") and "No backtest" in card
