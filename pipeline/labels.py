"""Labels: what happened in the horizon after a cutoff. Only events at or after the cutoff are looked at.

churned = 1 when the customer made no purchase (no line of positive amount) in [cutoff + gap, cutoff + gap +
horizon_days); future_spend = net spend in the same window, floored at 0 (a window of only returns is worth nothing,
not less). The gap (``model.label_gap_days``, default 0) leaves time to act between scoring and the window judged.
Labels run on the same engine as the features (DuckDB or Spark): only the per-customer outcome comes back.
"""

from __future__ import annotations

import ibis
import pandas as pd

from pipeline.featurize import engine
from pipeline.featurize.transactions import MONEY


def outcomes(
    transactions: pd.DataFrame, population: pd.DataFrame, horizon_days: int, gap_days: int = 0
) -> pd.DataFrame:
    """Labels for every (customer_id, cutoff) row of ``population``, from a pandas transactions table."""
    con = engine.connect()
    tx = engine.load(con, "transactions", transactions[["customer_id", "timestamp", "amount"]])
    return outcomes_on(con, tx, population, horizon_days, gap_days)


def outcomes_on(
    con: ibis.BaseBackend, transactions: ibis.Table, population: pd.DataFrame, horizon_days: int, gap_days: int = 0
) -> pd.DataFrame:
    """Labels for every (customer_id, cutoff) row of ``population``, computed where ``transactions`` lives."""
    keys = population[["customer_id", "cutoff"]].astype({"customer_id": "string", "cutoff": "datetime64[us]"})
    pop = engine.load(con, "population", keys)
    cut = engine.load(con, "label_cutoffs", keys[["cutoff"]].drop_duplicates())
    joined = transactions.select("customer_id", "timestamp", "amount").cross_join(cut)
    start = joined.cutoff + ibis.interval(days=gap_days)
    window = joined.filter((joined.timestamp >= start) & (joined.timestamp < start + ibis.interval(days=horizon_days)))
    window = window.semi_join(pop, ["customer_id", "cutoff"])
    outcome = window.group_by(["customer_id", "cutoff"]).aggregate(
        purchases=(window.amount > 0).sum(),
        net_spend=window.amount.cast(MONEY).sum().cast("float64"),
    )
    out = engine.execute(con, outcome)
    out = out.assign(
        cutoff=pd.to_datetime(out["cutoff"]).astype("datetime64[us]"), customer_id=out["customer_id"].astype(str)
    )
    labelled = keys.astype({"customer_id": str}).merge(
        out, on=["customer_id", "cutoff"], how="left", validate="one_to_one"
    )
    return pd.DataFrame(
        {
            "customer_id": population["customer_id"].to_numpy(),
            "cutoff": population["cutoff"].to_numpy(),
            "churned": (labelled["purchases"].fillna(0).to_numpy() == 0).astype("int8"),
            "future_spend": labelled["net_spend"].fillna(0.0).clip(lower=0.0).to_numpy(),
        },
        index=population.index,
    )
