"""The demo's public tables from its simulated purchase occasions and complaints: invoice lines (with free items
and later returns) and complaint records (with resolution times and satisfaction)."""

from __future__ import annotations

import numpy as np
import pandas as pd

CATEGORIES = np.array(["grocery", "home", "beauty", "electronics", "apparel"])
BRANDS = np.array(["own_label", "brand_a", "brand_b"])
COMPLAINT_CATEGORIES = np.array(["delivery", "quality", "billing", "service"])


def transaction_lines(rng: np.random.Generator, occasions: pd.DataFrame, cust: pd.DataFrame) -> pd.DataFrame:
    """Expand purchase occasions into 1-3 lines each, with free items and later returns."""
    n_lines = rng.choice([1, 2, 3], len(occasions), p=[0.6, 0.3, 0.1])
    occ = occasions.loc[occasions.index.repeat(n_lines)].reset_index(drop=True)
    c = occ["cust"].to_numpy()
    mean_line = cust["_mean_spend"].to_numpy()[c] / n_lines.mean()
    amount = rng.gamma(5.0, mean_line / 5.0)
    amount = np.where(occ["discounted"], amount * 0.8, amount)
    amount = np.where(rng.random(len(occ)) < 0.003, 0.0, np.round(amount, 2))
    category = np.where(
        rng.random(len(occ)) < 0.5,
        cust["_favourite_category"].to_numpy()[c],
        rng.integers(0, len(CATEGORIES), len(occ)),
    )
    brand = np.where(
        rng.random(len(occ)) < 0.6, cust["_favourite_brand"].to_numpy()[c], rng.integers(0, len(BRANDS), len(occ))
    )
    lines = pd.DataFrame(
        {
            "cust": c,
            "timestamp": occ["ts"],
            "amount": amount,
            "category": CATEGORIES[category],
            "brand": BRANDS[brand],
            "discount": np.where(occ["discounted"], np.round(amount * 0.25, 2), 0.0),
        }
    )
    returned = lines[(rng.random(len(lines)) < 0.04) & (lines["amount"] > 0)]
    returns = returned.assign(
        timestamp=returned["timestamp"] + pd.to_timedelta(rng.integers(3, 21, len(returned)), unit="D"),
        amount=-returned["amount"],
        discount=0.0,
    )
    return pd.concat([lines, returns], ignore_index=True)


def complaint_table(rng: np.random.Generator, raw: pd.DataFrame) -> pd.DataFrame:
    """Complaint records with resolution time, category and satisfaction after resolution."""
    resolved_at = raw["opened_at"] + pd.to_timedelta(
        np.where(np.isfinite(raw["res_days"]), raw["res_days"], np.nan), unit="D"
    )
    sat = np.clip(np.round(5.2 - raw["res_days"].to_numpy() / 6 + rng.normal(0, 0.7, len(raw))), 1, 5)
    sat = np.where(np.isfinite(raw["res_days"]) & (rng.random(len(raw)) < 0.7), sat, np.nan)
    return pd.DataFrame(
        {
            "cust": raw["cust"],
            "opened_at": raw["opened_at"],
            "resolved_at": resolved_at.dt.floor("s"),
            "category": rng.choice(COMPLAINT_CATEGORIES, len(raw), p=[0.4, 0.25, 0.2, 0.15]),
            "severity": raw["severity"],
            "satisfaction": pd.array(sat, dtype="Int64"),
        }
    )


def empty(**dtypes) -> pd.DataFrame:
    """A frame with no rows and these columns' types."""
    return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in dtypes.items()})


def assemble(
    rng: np.random.Generator,
    cust: pd.DataFrame,
    s,
    out: dict[str, list],
    start: pd.Timestamp,
    end: pd.Timestamp,
) -> dict:
    """Turn simulation output into the public tables (string IDs, no latent columns) and the truth."""
    ids = cust["customer_id"].to_numpy()
    tx = transaction_lines(rng, pd.concat(out["occasions"], ignore_index=True), cust)
    tx = tx[tx["timestamp"] < end].sort_values(["timestamp", "cust"], kind="stable").reset_index(drop=True)
    tx = tx.assign(
        transaction_id=[f"T{i:08d}" for i in range(len(tx))],
        customer_id=ids[tx["cust"]],
        timestamp=tx["timestamp"].dt.floor("s"),
    )
    raw_complaints = out["complaints"] or [
        empty(cust=int, opened_at="datetime64[ns]", res_days=float, severity=int)  # the retail regime has none
    ]
    complaints = complaint_table(rng, pd.concat(raw_complaints, ignore_index=True))
    complaints = (
        complaints[complaints["opened_at"] < end].sort_values("opened_at", kind="stable").reset_index(drop=True)
    )
    complaints = complaints.assign(
        complaint_id=[f"K{i:07d}" for i in range(len(complaints))],
        customer_id=ids[complaints["cust"]],
        opened_at=complaints["opened_at"].dt.floor("s"),
        resolved_at=complaints["resolved_at"].where(complaints["resolved_at"] < end),
    )
    surveys = pd.concat(out["surveys"] or [empty(cust=int, answered_at="datetime64[ns]", score=int)], ignore_index=True)
    surveys = surveys[surveys["answered_at"] < end].sort_values("answered_at", kind="stable")
    surveys = surveys.assign(customer_id=ids[surveys["cust"]], answered_at=surveys["answered_at"].dt.floor("s"))
    churned = s.churned_week >= 0
    truth = pd.DataFrame(
        {
            "customer_id": ids,
            "dropout_at": pd.Series(
                start + pd.to_timedelta(np.where(churned, s.churned_week + 1, 0) * 7, unit="D")
            ).where(churned),
            "driver": np.where(churned, s.driver, ""),
            "rate_per_week": cust["_rate_per_week"],
            "mean_spend": cust["_mean_spend"],
            "price_sensitive": cust["_price_sensitive"],
            "ever_faded": s.fading,
        }
    )
    public_customers = cust.loc[:, ~cust.columns.str.startswith("_")]
    return dict(
        customers=public_customers,
        transactions=tx[["transaction_id", "customer_id", "timestamp", "amount", "category", "brand", "discount"]],
        complaints=complaints[
            ["complaint_id", "customer_id", "opened_at", "resolved_at", "category", "severity", "satisfaction"]
        ],
        surveys=surveys[["customer_id", "answered_at", "score"]].reset_index(drop=True),
        truth=truth,
    )
