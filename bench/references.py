"""Two references for the feature stage, timed on the interim transactions for one cutoff (reading included).

Usage: ``references.py pandas|duckdb <cutoff> <part.parquet>...`` (the interim table's parts).

``pandas``: the idiomatic pandas version of the core RFM features (what a data scientist would write first).
``duckdb``: the floor, one scan of the Parquet file with a group-by in DuckDB.
Both compute the same 16 core features; prints {"seconds": ..., "customers": ...} as its last line.
"""

from __future__ import annotations

import json
import sys
import time

import pandas as pd

WINDOWS = (30, 90, 180, 365)


def with_pandas(paths: list[str], cutoff: pd.Timestamp) -> pd.DataFrame:
    columns = ["customer_id", "timestamp", "amount"]
    tx = pd.concat([pd.read_parquet(p, columns=columns) for p in paths], ignore_index=True)
    tx = tx[tx["timestamp"] < cutoff]
    tx = tx.assign(
        day=tx["timestamp"].dt.normalize(),
        **{f"in_{w}d": tx["timestamp"] >= cutoff - pd.Timedelta(days=w) for w in WINDOWS},
    )
    g = tx.groupby("customer_id", observed=True)
    out = pd.DataFrame(
        {
            "first": g["timestamp"].min(),
            "last": g["timestamp"].max(),
            "n_lines": g.size(),
            "spend_total": g["amount"].sum(),
            "n_return_lines": g["amount"].agg(lambda a: (a < 0).sum()),
            "n_purchase_days": tx[tx["amount"] > 0].groupby("customer_id", observed=True)["day"].nunique(),
        }
    )
    for w in WINDOWS:
        out[f"spend_{w}d"] = tx["amount"].where(tx[f"in_{w}d"], 0.0).groupby(tx["customer_id"]).sum()
        out[f"lines_{w}d"] = tx[f"in_{w}d"].groupby(tx["customer_id"]).sum()
    out["recency_days"] = (cutoff - out["last"]).dt.days
    out["tenure_days"] = (cutoff - out["first"]).dt.days
    return out


def with_duckdb(paths: list[str], cutoff: pd.Timestamp) -> pd.DataFrame:
    import duckdb

    c = f"TIMESTAMP '{cutoff:%Y-%m-%d}'"
    windows = ",\n".join(
        f"sum(amount) FILTER (WHERE timestamp >= {c} - INTERVAL {w} DAY) AS spend_{w}d, "
        f"count(*) FILTER (WHERE timestamp >= {c} - INTERVAL {w} DAY) AS lines_{w}d"
        for w in WINDOWS
    )
    sql = f"""
        SELECT customer_id, min(timestamp) AS first, max(timestamp) AS last, count(*) AS n_lines,
               sum(amount) AS spend_total, count(*) FILTER (WHERE amount < 0) AS n_return_lines,
               count(DISTINCT date_trunc('day', timestamp)) FILTER (WHERE amount > 0) AS n_purchase_days,
               date_diff('day', max(timestamp), {c}) AS recency_days,
               date_diff('day', min(timestamp), {c}) AS tenure_days,
               {windows}
        FROM read_parquet({paths!r}) WHERE timestamp < {c} GROUP BY customer_id"""
    return duckdb.sql(sql).df()


def main() -> None:
    which, cutoff, paths = sys.argv[1], pd.Timestamp(sys.argv[2]), sys.argv[3:]
    started = time.monotonic()
    frame = (with_pandas if which == "pandas" else with_duckdb)(paths, cutoff)
    print(json.dumps({"seconds": time.monotonic() - started, "customers": len(frame)}))


if __name__ == "__main__":
    main()
