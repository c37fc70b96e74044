"""The lists and the report on a small scored list: who is on which list, readable columns, the page, the card."""

from __future__ import annotations

import pandas as pd

from pipeline import backtest, explain, monitor, scoring, targeting, views
from pipeline.config import RetentionConfig, load_reasons

LIST = views.ListContext("EUR", 90)


def _scored(**retention):
    frame = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c", "d"],
            "cutoff": [pd.Timestamp("2026-10-31")] * 4,
            "n_purchase_days": [1, 8, 5, 6],
            "recency_days": [10, 400, 5, 30],
            "gap_mean_days": [float("nan"), 20.0, 30.0, 10.0],
            "overdue_ratio": [float("nan"), 20.0, 0.2, 3.0],
            "spend_trend": [0.0, -0.8, 0.1, -0.5],
            "spend_365d": [20.0, 300.0, 150.0, 500.0],
            "open_complaints": [0.0, 1.0, 0.0, 1.0],
            "oldest_open_complaint_days": [0.0, 400.0, 0.0, 12.0],
            "bgnbd_p_alive": [1.0, 0.1, 0.9, 0.5],
            "bgnbd_expected_purchases": [0.5, 0.1, 2.0, 1.0],
            "bgnbd_p_no_purchase": [0.6, 0.95, 0.1, 0.5],
            "gg_expected_spend": [20.0, 40.0, 30.0, 400.0],
            "rfm_segment": pd.Categorical(["new customers", "lost", "champions", "at risk"]),
            "last_order_date": pd.to_datetime(["2026-10-21", "2025-09-26", "2026-10-26", "2026-10-01"]),
            "last_order_amount": [20.0, 40.5, 31.0, 420.0],
            "return_window_days": [60.0] * 4,
            "active": [True, False, True, True],  # b: silent 400 days, outside the active base
        }
    )
    reasons = load_reasons()
    scored, drivers = scoring.run_fallback(frame, explain.Wording(reasons))
    cfg = RetentionConfig(**{"holdout_share": 0.0, "explore_share": 0.0, **retention})
    return targeting.assign(scored, cfg, reasons, top_n=10, seed=1), drivers


def test_the_gone_go_to_win_back_and_the_save_list_is_ranked_by_what_a_contact_saves():
    scored, _ = _scored()
    groups = scored.set_index("customer_id")["group"]
    assert groups["b"] == targeting.WIN_BACK  # outside the active base: the win-back group, never the save list
    listed = scored[scored["on_list"]].sort_values("list_rank")
    assert (listed["saveable_value"] > 0).all() and listed["saveable_value"].is_monotonic_decreasing
    assert "b" in scored.loc[scored["data_warning"] != "", "customer_id"].tolist()  # a complaint open 400 days
    save = views.save_list(scored, LIST)
    assert save["Rank"].tolist() == list(range(1, len(save) + 1))
    assert {"Churn risk (%)", "Value at risk (EUR)", "Value a contact can save (EUR)", "Reason 1"} <= set(save.columns)
    assert save["Churn risk (%)"].dtype.kind == "i" and "b" not in save["Customer ID"].tolist()
    assert views.win_back_list(scored, LIST)["Customer ID"].tolist() == ["b"]


def test_a_hold_out_is_seeded_kept_off_the_file_and_never_contacted():
    scored, _ = _scored(holdout_share=0.5)
    again, _ = _scored(holdout_share=0.5)
    assert scored["holdout"].tolist() == again["holdout"].tolist()
    held = scored.loc[scored["holdout"], "customer_id"].tolist()
    assert set(held) <= set(scored.loc[scored["on_list"], "customer_id"])
    assert not set(held) & set(views.save_list(scored, LIST)["Customer ID"])


def test_the_page_shows_the_lists_and_says_there_is_no_backtest_or_history_yet():
    scored, drivers = _scored()
    health = monitor.Health(pd.Series(dtype=float), pd.Series(dtype=float), 200, ["The model is 200 days old"])
    page = views.render(
        views.PageInputs(
            customers=scored,
            drivers=drivers,
            previous_drivers=None,
            save=views.save_list(scored, LIST),
            win_back=views.win_back_list(scored, LIST),
            changes=None,
            past=pd.DataFrame(),
            health=health,
            driver_labels={k: d.label for k, d in load_reasons().drivers.items()},
            context={
                "as_of": "2026-10-31",
                "horizon_days": 90,
                "model_version": scoring.FALLBACK_VERSION,
                "currency": "EUR",
                "fallback_reason": "too little history",
                "left_out": {"customers with no transaction before as_of": 3},
            },
        )
    )
    assert page.lstrip().lower().startswith("<!doctype html>") and 'name="viewport"' in page
    assert "too little history" in page and "The model is 200 days old" in page and "nothing to compare" in page
    assert all(c in page for c in scored.loc[scored["on_list"], "customer_id"])
    assert "nan" not in page.replace("nance", "") and "unknown" not in page.lower()
    summary = backtest.summarise(
        pd.DataFrame(columns=["fold", "model", *backtest.CHURN_METRICS, *backtest.VALUE_METRICS])
    )
    card = views.model_card(
        {
            "model_version": scoring.FALLBACK_VERSION,
            "as_of": "2026-10-31",
            "horizon_days": 90,
            "first_transaction": "2026-01-01",
            "last_transaction": "2026-10-30",
            "n_customers": 3,
            "train_cutoffs": "",
            "features": [],
        },
        summary,
    )
    assert card.startswith(f"# Model card: {scoring.FALLBACK_VERSION}") and "No backtest" in card


def test_the_list_size_follows_the_configured_rule():
    from pipeline.config import ListSize

    scored, _ = _scored()
    worth = int(((scored["saveable_value"] > 0) & (scored["group"] != targeting.WIN_BACK)).sum())
    assert worth >= 1
    by_count, _ = _scored(list_size=ListSize.count)
    assert by_count["on_list"].sum() == min(worth, 10)
    top = scored.loc[scored["on_list"], "saveable_value"].max()
    by_threshold, _ = _scored(list_size=ListSize.threshold, min_saveable=top)
    assert by_threshold["on_list"].sum() == 1  # only the customer worth at least that much
    saveable = targeting.saveable_value(scored, load_reasons())
    assert targeting.list_count(worth, saveable, RetentionConfig(list_size=ListSize.optimal), 10, 0.5) == min(worth, 2)
    assert targeting.list_count(worth, saveable, RetentionConfig(list_size=ListSize.optimal), 10, None) == min(
        worth, 10
    )


def test_the_headline_counts_do_not_overlap_and_add_up_to_the_customers_scored():
    from pipeline.views.page import headline

    scored, drivers = _scored()
    inputs = views.PageInputs(
        customers=scored,
        drivers=drivers,
        previous_drivers=None,
        save=views.save_list(scored, LIST),
        win_back=views.win_back_list(scored, LIST),
        changes=None,
        past=pd.DataFrame(),
        health=monitor.Health(pd.Series(dtype=float), pd.Series(dtype=float), 0, []),
        driver_labels={},
        context={"as_of": "2026-10-31", "currency": "EUR"},
    )
    head = headline(inputs)
    bands = sum(int(v.replace(",", "")) for v in head["bands"].values())
    assert bands == int(head["active"]) and bands + int(head["win_back"]) == len(scored) == int(head["scored"])
    assert int(head["win_back"]) == 1  # b, outside the active base, is counted there and in no risk band


def test_the_change_column_names_the_list_it_compares_with():
    scored, _ = _scored()
    change = pd.Series([5.0, None, -3.0, 12.0], index=scored.index)
    weekly = views.ListContext("EUR", 90, 0.2, change, pd.Timestamp("2026-10-24"), pd.Timestamp("2026-10-31"))
    assert "Change since 2026-10-24 (pts)" in views.save_list(scored, weekly).columns
    late = views.ListContext("EUR", 90, 0.2, change, pd.Timestamp("2026-08-01"), pd.Timestamp("2026-10-31"))
    assert "Change since 2026-08-01, 13 weeks earlier (pts)" in views.save_list(scored, late).columns
    assert "whose risk is 20%" in views.column_help(late)["Reason 1"]
