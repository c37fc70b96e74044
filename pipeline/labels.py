"""Labels: what happened in the horizon after a cutoff. Only events at or after the cutoff are looked at.

churned = 1 when the customer made no purchase (no line of positive amount) in [cutoff + gap, cutoff + gap +
horizon_days); future_spend = net spend in the same window, floored at 0 (a window of only returns is worth nothing,
not less). The gap (``model.label_gap_days``, default 0) leaves time to act between scoring and the window judged.
"""
from __future__ import annotations

import ibis
import pandas as pd

from pipeline.features import engine


def build(transactions: pd.DataFrame, population: pd.DataFrame, horizon_days: int, gap_days: int = 0) -> pd.DataFrame:
    """Labels for every (customer_id, cutoff) row of ``population``."""
    con = engine.connect()
    keys = population[["customer_id", "cutoff"]].astype({"cutoff": "datetime64[us]"})
    pop = engine.load(con, "population", keys)
    cut = engine.load(con, "cutoffs", keys[["cutoff"]].drop_duplicates())
    tx = engine.load(con, "transactions", transactions[["customer_id", "timestamp", "amount"]])
    joined = tx.cross_join(cut)
    start = joined.cutoff + ibis.interval(days=gap_days)
    window = joined.filter((joined.timestamp >= start) & (joined.timestamp < start + ibis.interval(days=horizon_days)))
    outcome = window.group_by(["customer_id", "cutoff"]).aggregate(
        purchases=(window.amount > 0).sum(), net_spend=window.amount.sum()
    )
    labelled = pop.left_join(outcome, ["customer_id", "cutoff"]).select(
        pop.customer_id, pop.cutoff,
        churned=(outcome.purchases.fill_null(0) == 0).cast("int8"),
        future_spend=ibis.greatest(outcome.net_spend.fill_null(0.0), 0.0),
    )
    out = labelled.execute()
    out = out.assign(cutoff=pd.to_datetime(out["cutoff"]), customer_id=out["customer_id"].astype(str))
    return population[["customer_id", "cutoff"]].merge(out, on=["customer_id", "cutoff"], how="left", validate="one_to_one")
