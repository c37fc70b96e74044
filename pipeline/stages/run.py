"""One runner per stage of ``pipeline.graph``: call the stage, print what it produced. ``__main__`` runs them in the
graph's order; what one stage hands the next in the same run travels in ``Run``, typed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np
import pandas as pd

from pipeline import backtest, scoring
from pipeline.config import Config
from pipeline.infra.catalog import Catalog
from pipeline.stages.evaluate import run_evaluate
from pipeline.stages.features import run_features
from pipeline.stages.ingest import run_ingest
from pipeline.stages.promote import run_promotion
from pipeline.stages.report import run_report
from pipeline.stages.score import Scored, run_score
from pipeline.stages.train import run_train
from pipeline.stages.uplift import run_uplift


@dataclass
class Run:
    """One run of stages: its settings, the project, the tracker, and what earlier stages of it handed on."""

    cfg: Config
    catalog: Catalog
    tracker: Any
    weekly: bool = False  # stage=weekly: the features of as_of alone, no labels
    staged: Optional[Catalog] = None  # the week being written, published whole at the end of the run
    scored: Optional[Scored] = None  # what score produced, for the report of the same run


def ingest(run: Run) -> None:
    print_summary(run_ingest(run.cfg, run.catalog, run.tracker))


def features(run: Run) -> None:
    plan = run_features(run.cfg, run.catalog, training=not run.weekly)
    if plan.production is None:
        print(
            f"as_of {plan.as_of:%Y-%m-%d}: {plan.fallback_reason}.\n  No model can be trained on labels; "
            f"the list is scored with BG/NBD x Gamma-Gamma (model_version '{scoring.FALLBACK_VERSION}')."
        )
    elif not run.weekly:
        print(
            f"as_of {plan.as_of:%Y-%m-%d}: {len(plan.folds)} backtest folds, "
            f"{len(plan.production.train)} training cutoffs for the production model"
        )
        if plan.extended:
            print(
                f"  a short history: no cutoff has a whole {plan.horizon_days}-day horizon observed; the model "
                f"learns {plan.trained_horizon_days}-day labels (and is backtested on them), and its forecasts "
                f"are extended to {plan.horizon_days} days with BG/NBD's shape"
            )


def train(run: Run) -> None:
    print(f"trained model {run_train(run.cfg, run.catalog, run.tracker)}")


def evaluate(run: Run) -> None:
    evaluation = run_evaluate(run.cfg, run.catalog, run.tracker)
    print_metrics(evaluation.summary, evaluation.summaries or {})
    if said := evaluation.scorer_reason or evaluation.scorer_note:
        print(f"  {said[0].upper()}{said[1:]}.")


def promote(run: Run) -> None:
    decision = run_promotion(run.cfg, run.catalog, run.tracker)
    if decision is not None:
        verdict = (
            "is now the champion"
            if decision.promoted
            else f"is not promoted; champion stays {decision.champion_before}"
        )
        print(f"model {decision.candidate} {verdict}: {decision.reason}")


def uplift(run: Run) -> None:
    found = run_uplift(run.cfg, run.catalog)
    print(f"uplift: {found.get('reason', '')}")


def score(run: Run) -> None:
    assert run.staged is not None, "the runner stages the week before score"
    run.scored = run_score(run.cfg, run.staged)
    print(f"scored list: {run.catalog.customers(run.catalog.read_plan().as_of)}")


def report(run: Run) -> None:
    assert run.staged is not None, "the runner stages the week before report"
    as_of = run.catalog.read_plan().as_of
    if run.scored is None:  # a report of its own: it starts from the published scored list
        run.staged.carry_scored(run.catalog, as_of)
    run_report(run.cfg, run.staged, run.tracker, run.scored, run.catalog)
    print(
        f"save list:    {run.catalog.at_risk(as_of)} (and at_risk.xlsx)\nwin-back:     {run.catalog.win_back(as_of)}\n"
        f"report:       {run.catalog.report(as_of)}"
    )


RUNNERS: dict[str, Callable[[Run], None]] = {
    "ingest": ingest,
    "features": features,
    "train": train,
    "evaluate": evaluate,
    "promote": promote,
    "uplift": uplift,
    "score": score,
    "report": report,
}


def print_summary(summary: pd.DataFrame) -> None:
    print(
        "ingest: rows read = loaded + quarantined + held for later cutoffs   (loaded = new + updated + already there"
        + (" + lines grouped into another line's transaction)" if summary["rows_grouped"].any() else ")")
    )
    for r in summary.itertuples():
        grouped = f", {r.rows_grouped:,} lines grouped into {r.rows_loaded - r.rows_grouped:,} transactions"
        print(
            f"  {r.table:<13} {r.rows_read:>10,} = {r.rows_loaded:>10,} + {r.rows_quarantined:>7,} + {r.rows_held:>7,} "
            f"({r.rows_new:,} new, {r.rows_updated:,} updated, {r.rows_unchanged:,} already there"
            f"{grouped if r.rows_grouped else ''}; table now {r.rows_in_table:,})  {r.source}"
        )


def print_metrics(summary: pd.DataFrame, others: dict) -> None:
    """The backtest on the active base in full; the win-back group's and everyone's churn metrics beside it."""
    if summary.empty:
        print("out-of-time backtest: none (the history is too short for a fold); the model is not evaluated")
        return
    print("out-of-time backtest on the active base (mean ± std over folds; '-' = the model makes no such forecast):")
    churn = [m for m in backtest.MODELS if m in summary.index]
    value = [m for m in summary.index if np.isfinite(summary.loc[m, ("rmse", "mean")])]
    for models, kind in ((churn, backtest.CHURN_METRICS), (value, backtest.VALUE_METRICS)):
        metrics = [m for m in backtest.SHOWN_METRICS if m in kind]
        print(f"  {'':<21}" + "".join(f"{m:>22}" for m in models))
        for metric in metrics:
            cells = "".join(
                f"{_cell(summary.loc[m, (metric, 'mean')], summary.loc[m, (metric, 'std')]):>22}" for m in models
            )
            print(f"  {metric:<21}{cells}")
    print("  (value_*: the value model's candidates alone; lightgbm's value is their blend, chosen by backtest RMSE)")
    for population, table in others.items():
        if population == "active" or "lightgbm" not in table.index:
            continue
        means = table.xs("mean", axis=1, level=1)
        churn = means.loc[[m for m in backtest.MODELS if m in means.index], ["roc_auc", "log_loss"]].dropna()
        if "lightgbm" not in churn.index:  # e.g. a group where everyone left: no ranking to judge
            continue
        best = churn.drop(index="lightgbm")
        line = f"  {population}: the model ROC AUC {churn.loc['lightgbm', 'roc_auc']:.3f}, log loss "
        line += f"{churn.loc['lightgbm', 'log_loss']:.3f}"
        if len(best):
            line += f" (best baseline {best['roc_auc'].max():.3f}, {best['log_loss'].min():.3f})"
        print(line)


def _cell(mean: float, std: float) -> str:
    if mean != mean:
        return "-"
    digits = 0 if abs(mean) >= 1000 else 3
    return f"{mean:,.{digits}f} ± {std:,.{digits}f}"
