"""The Hydra app: ``python -m pipeline stage=ingest|features|train|evaluate|score|report|all|weekly [overrides]``.

``stage=weekly`` scores one week with the current champion, no retraining: ingest, features for as_of, score, report.

The only place that turns a config into calls of the stage functions.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from pathlib import Path
from typing import Optional

import hydra
import numpy as np
from omegaconf import DictConfig, OmegaConf

from pipeline import backtest, scoring, stages
from pipeline.config import STAGES, WEEKLY, Config, refuse_url_passwords, register, url_passwords, validate
from pipeline.errors import PipelineError
from pipeline.infra import faults, lock, threads, tracking
from pipeline.infra.catalog import Catalog

log = logging.getLogger("pipeline")
CONFIG_DIR = str(Path(__file__).resolve().parent.parent / "configs")


def make_tracker(cfg: Config, catalog: Catalog):
    """An MLflow tracker for the configured store, or a no-op one when tracking is off."""
    if not cfg.tracking.enabled:
        return tracking.NullTracker()
    catalog.mlruns.mkdir(parents=True, exist_ok=True)
    uri = cfg.tracking.uri or f"sqlite:///{catalog.mlflow_db.resolve()}"
    return tracking.MlflowTracker(
        uri,
        cfg.tracking.experiment,
        catalog.mlflow_artifacts,
        cfg.tracking.register,
        cfg.tracking.run_name or cfg.stage,
        str(catalog.models.resolve().parent),
    )


def run(cfg: Config, resolved: dict) -> Optional[float]:
    """Run the selected stage(s) in order and print where the results are."""
    catalog = Catalog.from_config(cfg)
    threads.configure(cfg.threads)
    with lock.exclusive(catalog.run_lock, f"stage={cfg.stage}" + (f" as_of={cfg.as_of}" if cfg.as_of else "")):
        return _run_locked(cfg, catalog, resolved)


def _run_locked(cfg: Config, catalog: Catalog, resolved: dict) -> Optional[float]:
    """The stages of this run, with the project to itself."""
    if cfg.stage == "tune":
        with make_tracker(cfg, catalog) as tracker:
            tracker.log_params(tracking.flatten(resolved))
            loss = stages.run_tune(cfg, catalog, tracker)
        print(f"validation log loss {loss:.5f}")
        return loss
    todo = WEEKLY if cfg.stage == "weekly" else STAGES[: STAGES.index("all")] if cfg.stage == "all" else (cfg.stage,)
    for path in catalog.remove_leftovers():
        log.info("removed %s, left by a run that did not finish", path)
    with make_tracker(cfg, catalog) as tracker, contextlib.ExitStack() as publish:
        tracker.log_params({**tracking.flatten(resolved), "threads.resolved": threads.count()})
        stages.complete_champion(catalog, tracker)
        produced: dict = {}  # what a stage hands the next one in this run (the report takes scoring's frames)
        if {"score", "report"} & set(todo):  # this run's week is staged, and published whole when every stage is done
            produced["staged"] = publish.enter_context(catalog.staging_scored())
        for stage in todo:
            started = time.monotonic()
            log.info("stage %s", stage)
            run_stage(stage, cfg, catalog, tracker, produced)
            seconds = time.monotonic() - started
            log.info("stage %s done in %.1f s", stage, seconds)
            faults.point(f"stage:{stage}:done")
            tracker.log_metrics({f"stage_seconds.{stage}": seconds})
        print(f"MLflow:       {tracker.ui_hint}")


def run_stage(stage: str, cfg: Config, catalog: Catalog, tracker, produced: dict) -> None:
    """Run one stage and print what it produced; ``produced`` carries results to later stages of the same run."""
    if stage == "ingest":
        print_summary(stages.run_ingest(cfg, catalog, tracker))
    elif stage in ("features", "weekly_features"):
        plan = stages.run_features(cfg, catalog, training=stage == "features")
        if plan.production is None:
            print(
                f"as_of {plan.as_of:%Y-%m-%d}: {plan.fallback_reason}.\n  No model can be trained on labels; "
                f"the list is scored with BG/NBD x Gamma-Gamma (model_version '{scoring.FALLBACK_VERSION}')."
            )
        elif stage == "features":
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
    elif stage == "train":
        print(f"trained model {stages.run_train(cfg, catalog, tracker)}")
    elif stage == "evaluate":
        evaluation = stages.run_evaluate(cfg, catalog, tracker)
        print_metrics(evaluation.summary, evaluation.summaries or {})
        if said := evaluation.scorer_reason or evaluation.scorer_note:
            print(f"  {said[0].upper()}{said[1:]}.")
        decision = stages.run_promotion(cfg, catalog, tracker, evaluation)
        if decision is not None:
            verdict = (
                "is now the champion"
                if decision.promoted
                else f"is not promoted; champion stays {decision.champion_before}"
            )
            print(f"model {decision.candidate} {verdict}: {decision.reason}")
    elif stage == "score":
        produced["scored"] = stages.run_score(cfg, produced["staged"])
        print(f"scored list: {catalog.customers(catalog.read_plan().as_of)}")
    elif stage == "report":
        as_of = catalog.read_plan().as_of
        if "scored" not in produced:  # a report of its own: it starts from the published scored list
            produced["staged"].carry_scored(catalog, as_of)
        stages.run_report(cfg, produced["staged"], tracker, produced.get("scored"), catalog)
        print(
            f"save list:    {catalog.at_risk(as_of)} (and at_risk.xlsx)\nwin-back:     {catalog.win_back(as_of)}\n"
            f"report:       {catalog.report(as_of)}"
        )


def print_summary(summary) -> None:
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


def print_metrics(summary, others: dict) -> None:
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


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="config")
def main(cfg: DictConfig) -> Optional[float]:
    resolved = OmegaConf.to_container(cfg, resolve=True)
    try:
        if found := url_passwords(resolved):
            scrub_saved_configs([secret for _, secret in found])
            refuse_url_passwords(found)
        return run(validate(OmegaConf.to_object(cfg)), resolved)
    except PipelineError as err:  # a failure the user can fix; anything else is a bug and keeps its traceback
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)


def scrub_saved_configs(secrets: list[str]) -> None:
    """Blank ``secrets`` out of what Hydra saved for this run (its .hydra/*.yaml) before anything else sees them."""
    from hydra.core.hydra_config import HydraConfig

    saved = Path(HydraConfig.get().runtime.output_dir) / ".hydra"
    for path in saved.glob("*.yaml"):
        text = path.read_text(encoding="utf-8")
        for secret in secrets:
            text = text.replace(secret, "***")
        path.write_text(text, encoding="utf-8")


def start() -> None:
    """Set up what the app needs before Hydra composes the config: the schemas, logging, a file-only plot backend."""
    import matplotlib

    matplotlib.use("Agg")  # plots are written to files and the report; never a window
    register()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


if __name__ == "__main__":
    if "--version" in sys.argv[1:]:
        from pipeline import __version__

        print(f"churn-clv-pipeline {__version__}")
        sys.exit(0)
    start()
    main()
