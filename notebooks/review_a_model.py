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
# # Review a model
# A run from MLflow (by `CHURN_RUN_ID`, or the run that registered the `champion` alias), its backtest against the
# baselines, calibration, gains and lift, the profit curve and the list size it suggests, errors by segment, and two
# runs side by side. Run `make demo` first, or point `CHURN_PROJECT` at a project folder.

# %%
import os
from pathlib import Path

import mlflow
import pandas as pd
from IPython.display import Image, display

from pipeline import backtest, economics, views
from pipeline.config import PROJECT_ROOT, CampaignConfig
from pipeline.infra import io
from pipeline.infra.catalog import Catalog

ROOT = Path(os.environ.get("CHURN_PROJECT", PROJECT_ROOT))
catalog = Catalog.of_project(ROOT)
client = mlflow.MlflowClient(f"sqlite:///{catalog.mlflow_db}")

# %%
run_id = os.environ.get("CHURN_RUN_ID") or client.get_model_version_by_alias("churn_classifier", "champion").run_id
run = client.get_run(run_id)
print(f"run {run.info.run_name} ({run_id[:12]}), {run.info.status}")
shown = ["horizon_days", "as_of", "model.churn.num_leaves", "model.churn.learning_rate", "train.calibration"]
display(pd.Series({k: run.data.params.get(k) for k in shown}, name="setting"))

# %% [markdown]
# ## The backtest: the model beside three baselines (mean ± spread over out-of-time folds)

# %%
summary = backtest.summarise(pd.read_csv(catalog.metrics))
models = summary.index
table = pd.DataFrame(
    {
        metric: [
            f"{summary.loc[m, (metric, 'mean')]:.3f} ± {summary.loc[m, (metric, 'std')]:.3f}" for m in summary.index
        ]
        for metric in backtest.SHOWN_METRICS
    },
    index=summary.index,
)
display(table.T)

# %% [markdown]
# ## Calibration, gains, profit and value on the latest test cutoff

# %%
latest = io.read_parquet(catalog.latest_fold)
for _name, png in views.figures(latest, CampaignConfig()).items():
    display(Image(data=png))

# %%
curve = economics.profit_curve(
    latest["churned"].to_numpy(),
    latest["lightgbm_value_at_risk"].to_numpy(),
    latest["value_if_retained"].to_numpy(),
    CampaignConfig(),
)
best = int(curve.argmax())
print(
    f"profit-optimal list: the top {best:,} of {len(latest):,} customers ({best / len(latest):.0%}), "
    f"profit {curve[best]:,.0f}"
)

# %% [markdown]
# ## Errors by segment: predicted against observed churn on the latest test cutoff

# %%
test_cutoff = pd.Timestamp(pd.read_csv(catalog.metrics)["test_cutoff"].max())  # the latest fold's
segments = io.read_parquet(catalog.labelled(test_cutoff), ["customer_id", "rfm_segment", "loyalty_stage"])
joined = latest.merge(segments, on="customer_id")
for column in ("rfm_segment", "loyalty_stage"):
    by = joined.groupby(column, observed=True).agg(
        customers=("churned", "size"), observed=("churned", "mean"), predicted=("lightgbm_probability", "mean")
    )
    ax = by[["observed", "predicted"]].plot.bar(figsize=(9, 3), title=f"Churn rate by {column.replace('_', ' ')}")
    ax.set(ylabel="share who left", xlabel="")

# %% [markdown]
# ## Two runs side by side
# The two latest runs with a backtest (set `CHURN_COMPARE` to two run ids, comma-separated, to choose).

# %%
experiment = client.get_experiment_by_name("churn-clv")
runs = client.search_runs([experiment.experiment_id], filter_string="metrics.`lightgbm.roc_auc.mean` > 0")
chosen = os.environ.get("CHURN_COMPARE", "")
pair = [client.get_run(r) for r in chosen.split(",")] if chosen else runs[:2]
keys = [f"lightgbm.{m}.mean" for m in ("roc_auc", "log_loss", "brier", "ece", "rmse", "total_ratio")]
display(
    pd.DataFrame({f"{r.info.run_name} {r.info.run_id[:8]}": {k: r.data.metrics.get(k) for k in keys} for r in pair})
)
