# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Explore the data
# What the validated tables hold, who leaves, and how complaints, segments and loyalty relate to leaving.
# It reads the project's validated tables (run `make demo` first, or point `CHURN_PROJECT` at a project folder) and
# computes features and outcomes with the pipeline's own code at one cutoff, one horizon before the data ends.

# %%
import os
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import display

from pipeline import labels
from pipeline.config import PROJECT_ROOT, FeaturesConfig
from pipeline.featurize.build import FeatureInputs, build
from pipeline.infra.catalog import Catalog

ROOT = Path(os.environ.get("CHURN_PROJECT", PROJECT_ROOT))
catalog = Catalog.of_project(ROOT)
tables = {name: catalog.read_table(name) for name in catalog.existing_tables()}
HORIZON_DAYS = 90

# %% [markdown]
# ## Each table's profile

# %%
for name, table in tables.items():
    print(f"{name}: {len(table):,} rows, {table['customer_id'].nunique():,} customers")
    display(table.drop(columns=["_key"], errors="ignore").describe(include="all").T.iloc[:, :6])

# %%
tx = tables["transactions"]
fig, axes = plt.subplots(1, 2, figsize=(11, 3.5))
tx.set_index("timestamp")["amount"].resample("W").sum().plot(ax=axes[0], title="Spend per week")
axes[0].set(xlabel="", ylabel="net spend")
tx.groupby("customer_id").size().clip(upper=100).plot.hist(bins=50, ax=axes[1], title="Lines per customer")
axes[1].set(xlabel="transaction lines (capped at 100)", ylabel="customers")
plt.tight_layout()

# %% [markdown]
# ## Who leaves
# Features as of one cutoff and the outcome in the horizon after it: churned = no purchase in the next 90 days.

# %%
cutoff = (tx["timestamp"].max() - pd.Timedelta(days=HORIZON_DAYS)).normalize()
inputs = FeatureInputs(tx, tables.get("complaints"), tables.get("customers"), tables.get("surveys"))
features = build(inputs, [cutoff], FeaturesConfig())
frame = features.assign(churned=labels.outcomes(tx, features, HORIZON_DAYS)["churned"])
print(f"cutoff {cutoff:%Y-%m-%d}: {len(frame):,} customers, {frame['churned'].mean():.0%} leave in the next 90 days")


def churn_rate_by(column: pd.Series, title: str, ax) -> None:
    """Churn rate and customer count per group, as bars with the count on top."""
    grouped = frame.groupby(column, observed=True)["churned"].agg(["mean", "size"])
    bars = ax.bar(grouped.index.astype(str), grouped["mean"], color="#c0392b")
    ax.bar_label(bars, labels=[f"{n:,}" for n in grouped["size"]], fontsize=7)
    ax.set(title=title, ylabel="share who left", ylim=(0, 1))
    ax.tick_params(axis="x", rotation=45)


# %%
cohort = (cutoff - pd.to_timedelta(frame["tenure_days"], unit="D")).dt.to_period("Q").astype(str)
fig, ax = plt.subplots(figsize=(11, 3.5))
churn_rate_by(cohort, "Churn rate by acquisition cohort (quarter of first purchase; bars labelled with customers)", ax)

# %%
fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
churn_rate_by(frame["rfm_segment"], "By RFM segment", axes[0])
churn_rate_by(frame["loyalty_stage"], "By loyalty stage", axes[1])
churn_rate_by(frame["loyalty_quadrant"], "By loyalty quadrant (NPS x repeat buying)", axes[2])
plt.tight_layout()

# %% [markdown]
# ## Complaints: resolved quickly or left open
# The classic early warning: a complaint resolved quickly usually keeps the customer; one left open often does not.

# %%
if "open_complaints" in frame:
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.5))
    open_now = frame["open_complaints"].clip(upper=3).astype(int).astype(str)
    churn_rate_by(open_now, "By open complaints (3 = 3 or more)", axes[0])
    bins, names = [0, 2, 7, 14, 30, 10_000], ["<2", "2-7", "7-14", "14-30", "30+"]
    speed = pd.cut(frame["max_resolution_days"], bins, labels=names, include_lowest=True)
    churn_rate_by(speed.cat.add_categories("none").fillna("none"), "By slowest resolution (days)", axes[1])
    plt.tight_layout()
else:
    print("No complaints table: nothing to show here.")
