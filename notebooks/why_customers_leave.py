# %% [markdown]
# # Why customers leave
# Reads the latest scored list (run `make demo` first) and shows the churn drivers across the base and per segment.
# Paired-script notebook (percent format): open it in Jupyter with jupytext, or run it as a script.

# %%
from pathlib import Path

import pandas as pd

scored_dirs = sorted(Path("data/scored").glob("*/customers.parquet"))
latest = scored_dirs[-1].parent
scored = pd.read_parquet(latest / "customers.parquet")
drivers = pd.read_parquet(latest / "drivers.parquet").set_index("customer_id")
print(f"{latest.name}: {len(scored):,} customers, value at risk {scored['value_at_risk'].sum():,.0f}")

# %% [markdown]
# Mean contribution of each driver to churn risk (log-odds), across the whole base.

# %%
print(drivers.abs().mean().sort_values(ascending=False).round(3).to_string())

# %% [markdown]
# Main driver of the 500 customers with most value at risk, per region (where a customers table exists).

# %%
top = scored.head(500)
segment = "region" if "region" in top else None
if segment:
    print(pd.crosstab(top["top_driver"], top[segment]).to_string())
else:
    print(top["top_driver"].value_counts().to_string())
