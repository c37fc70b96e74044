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
# # Why customers leave
# What raises churn risk across the base, per segment and per loyalty stage, in probability points; how the drivers
# moved since the last list; and a few customers' reasons beside their own purchases and complaints.
# Run `make demo` (and a `make score`) first, or point `CHURN_PROJECT` at a project folder.

# %%
import os
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from pipeline.config import PROJECT_ROOT, load_reasons
from pipeline.infra import io
from pipeline.infra.catalog import Catalog

ROOT = Path(os.environ.get("CHURN_PROJECT", PROJECT_ROOT))
catalog = Catalog.of_project(ROOT)
weeks = catalog.published_weeks()
latest = weeks[-1]
customers = io.read_parquet(catalog.customers(latest))
labels = {name: driver.label for name, driver in load_reasons().drivers.items()}
points = io.read_parquet(catalog.drivers(latest)).set_index("customer_id").clip(lower=0).rename(columns=labels)
print(f"list of {latest:%Y-%m-%d}: {len(customers):,} customers scored")

# %% [markdown]
# ## What adds most to churn risk (average percentage points, customers on the save list and everyone)

# %%
listed = customers.loc[customers["on_list"], "customer_id"]
overall = pd.DataFrame({"save list": points.loc[listed].mean(), "everyone": points.mean()})
ax = overall.sort_values("everyone").plot.barh(figsize=(8, 5), title="Points added to churn risk, by driver")
ax.set(xlabel="average percentage points", ylabel="")

# %% [markdown]
# ## By segment and by loyalty stage

# %%
fig, axes = plt.subplots(1, 2, figsize=(15, 5))
for ax, column in zip(axes, ("rfm_segment", "loyalty_stage"), strict=False):
    mean = points.join(customers.set_index("customer_id")[column]).groupby(column, observed=True).mean()
    image = ax.imshow(mean.to_numpy(), cmap="Reds", aspect="auto")
    ax.set_xticks(range(len(mean.columns)), mean.columns, rotation=60, ha="right")
    ax.set_yticks(range(len(mean.index)), mean.index)
    ax.set_title(f"Average points by {column.replace('_', ' ')}")
    fig.colorbar(image, ax=ax, label="points")
plt.tight_layout()

# %% [markdown]
# ## How the drivers moved since the last list

# %%
if len(weeks) >= 2:
    before = io.read_parquet(catalog.drivers(weeks[-2])).set_index("customer_id").clip(lower=0).rename(columns=labels)
    moved = (points.mean() - before.mean()).dropna().sort_values()
    ax = moved.plot.barh(figsize=(8, 4), title=f"Change in average points, {weeks[-2]:%Y-%m-%d} to {latest:%Y-%m-%d}")
    ax.set(xlabel="percentage points", ylabel="")
else:
    print("Only one list so far: run `make score AS_OF=...` for the next week to see the drivers move.")

# %% [markdown]
# ## A few customers: their reasons beside their own history

# %%
tx = catalog.read_table("transactions")
complaints = catalog.read_table("complaints") if "complaints" in catalog.existing_tables() else None
for row in customers[customers["on_list"]].sort_values("list_rank").head(3).itertuples():
    print(f"\n{row.customer_id}: churn risk {row.churn_probability:.0%}, {row.suggested_action}")
    for reason in (row.reason_1, row.reason_2, row.reason_3):
        if reason:
            print(f"  - {reason}")
    history = tx[(tx["customer_id"] == row.customer_id) & (tx["timestamp"] < latest)]
    fig, ax = plt.subplots(figsize=(9, 2.2))
    ax.vlines(history["timestamp"], 0, history["amount"], color="#2c7fb8")
    if complaints is not None:
        for opened in complaints.loc[complaints["customer_id"] == row.customer_id, "opened_at"]:
            ax.axvline(opened, color="#c0392b", ls="--", lw=1)
    ax.set(title=f"{row.customer_id}: purchases (blue) and complaints (red)", ylabel="amount")
