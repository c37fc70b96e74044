"""The demo team's past lists, contacts and the hidden truth of what each action does (pipeline.demo_lists)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline import demo, demo_lists

pytestmark = pytest.mark.data
PACKAGE = Path(demo.__file__).parent


@pytest.fixture(scope="module")
def tables():
    return demo.generate(n_customers=20_000, years=2.0, seed=5, past_lists=52)


def test_a_year_of_weekly_lists_with_random_hold_outs_explored_actions_and_a_contact_log(tables):
    lists, contacts = tables.lists, tables.contacts
    assert lists["list_date"].nunique() == 52 and lists["list_date"].max() < pd.Timestamp("2026-10-31")
    assert lists["holdout"].mean() == pytest.approx(demo_lists.HOLDOUT_SHARE, abs=0.02)
    assert lists["explored"].mean() == pytest.approx(demo_lists.EXPLORE_SHARE, abs=0.03)
    assert set(lists["action"]) == set(demo_lists.TRIED)
    # the contact log holds exactly the listed customers who were not held out, within days of their list
    sent = lists[~lists["holdout"]]
    assert len(contacts) == len(sent) and set(contacts["customer_id"]) == set(sent["customer_id"])
    assert not set(
        lists.loc[lists["holdout"], "customer_id"] + "@" + lists.loc[lists["holdout"], "list_date"].astype(str)
    ) & set(sent["customer_id"] + "@" + sent["list_date"].astype(str))


def test_the_truth_covers_every_customer_who_bought_and_every_action_with_plausible_effects(tables):
    truth = tables.action_truth
    bought = set(tables.transactions["customer_id"])
    assert set(truth["action"]) == set(demo_lists.ACTIONS)
    assert truth.groupby("action")["customer_id"].nunique().eq(truth["customer_id"].nunique()).all()
    assert set(truth["customer_id"]) <= bought
    assert truth["true_save_probability"].between(-1, 1).all()
    # on the customers each action was used on: average effects of 0-15 points, and the discount harms some
    used = tables.list_truth.groupby("action")["true_effect"].mean()
    assert used.between(-0.005, 0.15).all(), used
    assert (truth.loc[truth["action"] == "targeted_discount", "true_save_probability"] < 0).any()


def test_the_contacts_change_who_keeps_buying(tables):
    """Held-out customers of the past lists leave more often than the contacted ones (the effects are in the data)."""
    lists, tx = tables.lists, tables.transactions
    lists = lists[lists["list_date"] + pd.Timedelta(days=91) <= pd.Timestamp("2026-10-31")]
    merged = lists.merge(tx[["customer_id", "timestamp"]], on="customer_id", how="left")
    window = (merged["timestamp"] >= merged["list_date"]) & (
        merged["timestamp"] < merged["list_date"] + pd.Timedelta(days=91)
    )
    bought = merged.assign(w=window).groupby(["customer_id", "list_date"])["w"].any()
    frame = lists.set_index(["customer_id", "list_date"]).assign(bought=bought)
    rates, n = frame.groupby("holdout")["bought"].mean(), frame.groupby("holdout").size()
    se = np.sqrt(sum(rates[k] * (1 - rates[k]) / n[k] for k in (False, True)))
    assert rates[False] - rates[True] > 2 * se  # effects of a few points on average: about 3.5 standard errors


def test_the_pipeline_never_reads_the_hidden_truth():
    readers = [
        p.relative_to(PACKAGE).as_posix()
        for p in PACKAGE.rglob("*.py")
        if ("_truth" in (text := p.read_text(encoding="utf-8")) or "true_save_probability" in text)
        and p.name not in ("demo.py", "demo_lists.py")  # the generator, which writes it
    ]
    assert readers == []
