"""Stage evaluate: the out-of-time backtest against the baselines (and the champion's recipe, to compare)."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Optional

import pandas as pd

from pipeline import backtest, promotion, registry
from pipeline.bundle import Verdict
from pipeline.config import Config
from pipeline.featurize.build import excluded
from pipeline.infra import io
from pipeline.infra.catalog import Catalog
from pipeline.plan import Plan
from pipeline.stages.features import load_labelled

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Evaluation:
    """The backtest summary on the active base (mean/std per model), the candidate's mean log loss, and the champion
    recipe's on the same folds when promotion has to compare the two (None otherwise)."""

    summary: pd.DataFrame
    candidate_log_loss: Optional[float] = None
    champion_log_loss: Optional[float] = None
    scorer_reason: Optional[str] = None  # why a baseline scores the list instead of the model (None = the model)
    scorer_note: Optional[str] = None  # the model scores, though a baseline was ahead of it on one metric
    summaries: Optional[dict] = None  # every population's summary (``backtest.summaries``), the active base first


def run_evaluate(cfg: Config, catalog: Catalog, tracker) -> Evaluation:
    """Out-of-time backtest of model and baselines over the planned folds, and of the champion's recipe if needed."""
    the_plan = catalog.read_plan()
    folds = list(the_plan.folds)
    catalog.latest_fold.unlink(missing_ok=True)
    catalog.verdict.unlink(missing_ok=True)
    if not folds:
        log.warning("no backtest fold fits in the history before as_of: the model is not evaluated out of time")
        empty = pd.DataFrame(
            columns=["fold", "test_cutoff", "population", "model", *backtest.CHURN_METRICS, *backtest.VALUE_METRICS]
        )
        io.write_csv(empty, catalog.metrics)
        return Evaluation(backtest.summarise(empty))
    labelled = load_labelled(catalog, [c for f in folds for c in f.cutoffs], the_plan)
    bt = backtest.backtest(labelled, folds, cfg.model, cfg.seed, the_plan.label_days, cfg.campaign)
    io.write_csv(bt.metrics, catalog.metrics)
    io.write_parquet(bt.latest, catalog.latest_fold)
    every = backtest.summaries(bt.metrics)
    summary = every["active"]  # the model is judged, chosen and promoted on the active base
    for (fold, test_cutoff), rows in bt.metrics.groupby(["fold", "test_cutoff"], sort=True):
        with tracker.child(f"backtest fold {fold} (test cutoff {pd.Timestamp(test_cutoff):%Y-%m-%d})") as run:
            run.log_params({"fold": fold, "test_cutoff": f"{pd.Timestamp(test_cutoff):%Y-%m-%d}"})
            run.log_metrics(
                {
                    f"{r['population']}.{r['model']}.{m}": r[m]
                    for r in rows.to_dict("records")
                    for m in (*backtest.CHURN_METRICS, *backtest.VALUE_METRICS)
                }
            )
    tracker.log_metrics(
        {
            f"{population}.{m}.{metric}.{stat}": v
            for population, table in every.items()
            for (metric, stat), col in table.items()
            for m, v in col.items()
        }
    )
    tracker.log_artifact(catalog.metrics, "evaluation")
    scorer = backtest.choose_scorer(summary)
    champion_loss = _champion_recipe_log_loss(cfg, catalog, the_plan, labelled)
    verdict = _verdict(catalog, the_plan, scorer, bt.value_weights, tracker)
    if verdict is not None:
        catalog.write_verdict(
            dataclasses.replace(verdict, candidate_log_loss=scorer.log_loss, champion_log_loss=champion_loss)
        )
    return Evaluation(summary, scorer.log_loss, champion_loss, scorer.reason, scorer.note, every)


def _verdict(catalog: Catalog, the_plan: Plan, scorer, value_weights, tracker) -> Optional[Verdict]:
    """What the backtest decided for this plan's candidate: the value blend, and whether a baseline scores instead.
    Written as the verdict artefact; promote and score apply it (``bundle.settled``), the candidate file stays as
    train wrote it."""
    candidate = catalog.read_bundle(catalog.candidate)
    if candidate is None or candidate.trained is None or candidate.as_of != the_plan.as_of.isoformat():
        return None
    if value_weights:
        tracker.log_params({f"evaluate.value_weight.{k}": v for k, v in value_weights.items()})
        log.info(
            "evaluate: value blend by backtest RMSE: %s", ", ".join(f"{k} {v:.2f}" for k, v in value_weights.items())
        )
    if scorer.reason or scorer.note:
        log.warning("evaluate: %s", scorer.reason or scorer.note)
    tracker.set_tags({"scorer": scorer.name})
    return Verdict(
        candidate.version,
        candidate.training_digest,
        candidate.as_of,
        value_weights=dict(value_weights) if value_weights else None,
        scorer=None if scorer.name == "lightgbm" else scorer.name,
        scorer_reason=scorer.reason,
        backtest_note=scorer.note,
    )


def _champion_recipe_log_loss(cfg: Config, catalog: Catalog, the_plan: Plan, labelled: pd.DataFrame) -> Optional[float]:
    """The champion's recipe backtested on the same folds and rows, when promotion has to compare it (else None)."""
    candidate, champion = catalog.read_bundle(catalog.candidate), catalog.read_bundle(catalog.champion)
    if candidate is None or champion is None or not catalog.scoring_features.exists():
        return None
    if candidate.as_of != the_plan.as_of.isoformat():  # promotion will not consider a stale candidate
        return None
    columns = io.parquet_columns(catalog.scoring_features)
    if not promotion.needs_comparison(candidate, champion, columns):
        return None
    saved = champion.recipe
    kept = [c for c in labelled.columns if c not in excluded(labelled.columns, saved["features"].get("exclude", []))]
    log.info("evaluate: backtesting the champion's recipe (%s) on the same folds to compare", champion.version)
    model = registry.model_config(saved["model"])
    bt = backtest.backtest(labelled[kept], list(the_plan.folds), model, saved["seed"], the_plan.label_days)
    return float(bt.metrics.query("model == 'lightgbm' and population == 'active'")["log_loss"].mean())
