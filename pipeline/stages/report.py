"""Stage report: the at-risk list, the HTML report and the model card, from what scoring produced."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

import pandas as pd

from pipeline import evaluate, io, plan, report, score
from pipeline.catalog import Catalog
from pipeline.config import Config
from pipeline.stages.score import Scored, read_scored

log = logging.getLogger(__name__)


def run_report(cfg: Config, catalog: Catalog, tracker, scored: Optional[Scored] = None) -> tuple[Path, Path]:
    """Write at_risk.csv, report.html and model_card.md beside the scored list (from ``scored`` when given)."""
    the_plan = catalog.read_plan()
    as_of = the_plan.as_of
    scored = scored or read_scored(catalog, as_of)
    customers, champion = scored.customers, scored.champion
    summary = evaluate.summarise(pd.read_csv(catalog.metrics))
    fallback = customers["model_version"].iloc[0] == score.FALLBACK_VERSION
    figs = report.figures(
        io.read_parquet(catalog.latest_fold) if catalog.latest_fold.exists() else None,
        scored.drivers,
        "warning-sign priority (rules; no labelled model)" if fallback else "mean |SHAP| (log-odds)",
        cfg.campaign,
    )
    names = list(evaluate.CHURN_METRICS + evaluate.VALUE_METRICS)
    rows = {m: {k: (summary.loc[m, (k, "mean")], summary.loc[m, (k, "std")]) for k in names} for m in summary.index}
    html = report.render(
        customers,
        summary,
        figs,
        {
            "as_of": f"{as_of:%Y-%m-%d}",
            "horizon_days": cfg.horizon_days,
            "model_version": customers["model_version"].iloc[0],
            "metric_names": names,
            "metric_rows": rows,
            "n_folds": len(the_plan.folds),
            "fallback_reason": the_plan.fallback_reason,
        },
        cfg.report.top_n,
    )
    csv_path = io.write_csv(report.at_risk_list(customers, cfg.report.top_n), catalog.at_risk(as_of))
    html_path = io.write_text(html, catalog.report(as_of))
    for name, png in (
        ("calibration", figs.calibration),
        ("gains", figs.gains),
        ("drivers", figs.drivers),
        ("profit_curve", figs.profit),
        ("value_deciles", figs.value_deciles),
    ):
        if png is None:
            continue
        tracker.log_artifact(io.write_bytes(png, catalog.plot(name)), "plots")
    tracker.log_artifact(html_path, "report")
    card = report.model_card(
        {
            "model_version": customers["model_version"].iloc[0],
            "as_of": f"{as_of:%Y-%m-%d}",
            "horizon_days": cfg.horizon_days,
            **_data_window(the_plan, catalog, as_of),
            "n_customers": len(customers),
            "train_cutoffs": ", ".join(champion.train_cutoffs) if champion else "",
            "validation_cutoff": champion.validation_cutoff if champion else None,
            "features": list(champion.features) if champion else [],
            "calibration": champion.calibration if champion else None,
        },
        summary,
    )
    card_path = io.write_text(card, catalog.model_card(as_of))
    tracker.log_artifact(card_path, "report")
    return csv_path, html_path


def _data_window(the_plan: plan.Plan, catalog: Catalog, as_of: pd.Timestamp) -> dict[str, str]:
    """The first and last transaction before as_of, from the plan (older plans: from the transactions table)."""
    first, last = the_plan.first_transaction, the_plan.last_transaction
    if first is None or last is None:
        tx = catalog.read_table("transactions", columns=["timestamp"])["timestamp"]
        first, last = tx.min(), tx[tx < as_of].max()
    return {"first_transaction": f"{first:%Y-%m-%d}", "last_transaction": f"{last:%Y-%m-%d}"}
