"""The second demo regime looks like a real retail log: one cohort, mostly one-time buyers, transactions alone."""

from __future__ import annotations

import hashlib

import pandas as pd
import pytest

from pipeline import demo


@pytest.fixture(scope="module")
def retail():
    return demo.generate(n_customers=4000, years=1.5, end_date="2026-10-31", seed=5, regime="retail")


def test_the_retail_regime_is_one_cohort_of_mostly_one_time_buyers_over_eighteen_months(retail):
    tx = retail.transactions
    first = tx.groupby("customer_id")["timestamp"].min()
    start = pd.Timestamp("2026-10-31") - pd.Timedelta(weeks=round(1.5 * 52.18))
    assert first.min() >= start and first.max() < start + pd.Timedelta(weeks=demo.RETAIL_COHORT_WEEKS)
    assert tx["timestamp"].max() >= pd.Timestamp("2026-10-01")  # the history runs on for the 18 months
    days = tx[tx["amount"] > 0].assign(day=tx["timestamp"].dt.normalize()).groupby("customer_id")["day"].nunique()
    assert 0.5 <= (days == 1).mean() <= 0.7
    assert 0 < (tx["amount"] == 0).mean() < 0.01 and (tx["amount"] < 0).any()  # a few free items, some returns
    assert tx["customer_id"].str.fullmatch(r"\d+").all()  # plain numbers, read as strings
    assert retail.complaints.empty and retail.surveys.empty and retail.customers.empty


def test_the_retail_regime_writes_a_transactions_table_alone(retail, tmp_path):
    paths = demo.write(retail, tmp_path, demo.RETAIL_TABLES)
    assert set(paths) == {"transactions"} and sorted(p.name for p in tmp_path.glob("*.csv")) == ["transactions.csv"]


def test_the_mixed_regime_is_unchanged_by_the_retail_one():
    """The default demo draws exactly what release 0.2.0 drew (same seed, same lines): the digest was taken from it."""
    tables = demo.generate(n_customers=300, years=1.0, seed=11)
    hashes = pd.util.hash_pandas_object(tables.transactions, index=False).to_numpy().tobytes()
    assert hashlib.sha256(hashes).hexdigest()[:16] == "7ee91ab6924e2f04"
    assert len(tables.complaints) > 0 and len(tables.surveys) > 0
    assert tables.customers["customer_id"].str.startswith("C").all()


def test_an_unknown_regime_is_refused():
    with pytest.raises(ValueError, match="regime='shop' is not one of mixed, retail"):
        demo.generate(n_customers=10, regime="shop")
