"""Stage score: the champion scores as_of; each customer's risk, value, rank and exact reasons."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Optional

import pandas as pd

from pipeline import economics, effects, explain, registry, scoring, targeting
from pipeline.bundle import ModelBundle, settled
from pipeline.config import Config, ListSize, as_of_date
from pipeline.errors import StaleArtefact
from pipeline.featurize import engine
from pipeline.infra import io, threads
from pipeline.infra.catalog import Catalog, MissingArtefact
from pipeline.models import xlearner
from pipeline.plan import Plan

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Scored:
    """What scoring produced: the ranked list, each customer's driver contributions, and the champion that scored."""

    customers: pd.DataFrame
    drivers: pd.DataFrame
    champion: Optional[ModelBundle]  # None for a report of its own when no champion is left


def run_score(cfg: Config, catalog: Catalog) -> Scored:
    """Score as_of with the exported champion; write customers.parquet and drivers.parquet for the as_of date."""
    the_plan = catalog.read_plan()
    as_of = the_plan.as_of
    check_plan(cfg, catalog, the_plan)
    bundle = scoring_model(catalog, the_plan)
    features = catalog.read_scoring_features(the_plan)
    missing = sorted(set(bundle.features) - set(features.columns))
    if missing:
        raise StaleArtefact(
            f"model {bundle.version} needs features the scoring features lack ({', '.join(missing[:5])}): they were "
            f"built with other feature settings. Run stage=weekly with the champion's settings, or retrain (stage=all)"
        )
    started = time.monotonic()
    wording = explain.Wording(
        cfg.reasons, cfg.report.currency, cfg.retention.stale_complaint_days, cfg.report.n_reasons
    )
    if bundle.is_fallback or bundle.trained is None:
        scored, drivers = scoring.run_fallback(features, wording)
    elif bundle.scorer:  # the backtest found the model no better than this baseline
        log.warning("score: %s", bundle.scorer_reason)
        scored, drivers = scoring.run_baseline(bundle.trained, bundle.scorer, features, bundle.version, wording)
    elif cfg.features.engine == "spark":  # predictions and exact reasons on the executors
        session = engine.spark_session(engine.connect("spark", threads.count(), cfg.features.spark_master))
        scored, drivers = scoring.run_on_spark(session, bundle.trained, features, bundle.version, wording)
    else:
        scored, drivers = scoring.score_customers(bundle.trained, features, bundle.version, wording)
    scored = scoring.with_outlook(scored)
    uplift, ranking_note = uplift_in_use(cfg, catalog, features, scored)
    log.info("score: %s", ranking_note or "ranked by value at risk x save rate")
    scored = targeting.assign(
        scored,
        cfg.retention,
        cfg.reasons,
        cfg.report.top_n,
        cfg.seed,
        optimal_share(cfg, catalog),
        measured_rates(cfg, catalog, as_of),
        uplift,
    ).assign(ranking_note=ranking_note)
    groups = scored["group"].value_counts()
    log.info(
        "score: %s customers scored and explained in %.1f s (%s): %s on the save list (%s held out), %s win-back",
        f"{len(scored):,}",
        time.monotonic() - started,
        cfg.features.engine,
        f"{groups.get(targeting.SAVE, 0):,}",
        f"{int(scored['holdout'].sum()):,}",
        f"{groups.get(targeting.WIN_BACK, 0):,}",
    )
    io.write_parquet(drivers.assign(customer_id=scored["customer_id"]), catalog.drivers(as_of))
    io.write_parquet(scored, catalog.customers(as_of))
    return Scored(scored, drivers, bundle)


def optimal_share(cfg: Config, catalog: Catalog) -> float | None:
    """The profit-optimal share of customers to contact, from the latest backtest fold (retention.list_size=optimal)."""
    if cfg.retention.list_size != ListSize.optimal:
        return None
    if not catalog.latest_fold.exists():
        log.warning("score: no backtest to take the profit-optimal list size from; the list has report.top_n rows")
        return None
    fold = io.read_parquet(catalog.latest_fold)
    curve = economics.profit_curve(
        fold["churned"].to_numpy(),
        fold["lightgbm_value_at_risk"].to_numpy(),
        fold["value_if_retained"].to_numpy(),
        cfg.campaign,
    )
    return int(curve.argmax()) / len(fold)


def check_plan(cfg: Config, catalog: Catalog, the_plan: Plan) -> None:
    """Stop when the features on disk are not the ones this run asks to score: another as_of, horizon or data."""
    rebuild = "Run stage=weekly (or stage=features) for it first"
    if the_plan.tables_digest != catalog.tables_digest():
        raise StaleArtefact(
            f"the features were built before the latest load of the validated tables (ingest ran since): scoring "
            f"them would miss the new rows. {rebuild}"
        )
    if the_plan.horizon_days is not None and the_plan.horizon_days != cfg.horizon_days:
        raise StaleArtefact(
            f"the features were built for horizon_days={the_plan.horizon_days}, this run asks for "
            f"horizon_days={cfg.horizon_days}. {rebuild}"
        )
    if the_plan.features_digest is not None and the_plan.features_digest != registry.features_digest(cfg):
        raise StaleArtefact(
            f"the features were built with other feature settings (features.*) than this run's. {rebuild}"
        )
    wanted = as_of_date(cfg)
    if wanted is None and the_plan.explicit_as_of and the_plan.data_end is not None:
        wanted = the_plan.data_end.normalize() + pd.Timedelta(days=1)  # a plain run scores the latest data
    if wanted is not None and wanted != the_plan.as_of:
        raise StaleArtefact(
            f"the features were built for as_of {the_plan.as_of:%Y-%m-%d}, this run asks for {wanted:%Y-%m-%d}. "
            f"{rebuild} (with as_of={wanted:%Y-%m-%d})"
        )


def measured_rates(cfg: Config, catalog: Catalog, as_of: pd.Timestamp) -> dict[str, float]:
    """Each action's save rate as measured on the lists before as_of (this week's uplift stage; else the latest
    measurement; the configured ones until there is one)."""
    priors = {k: a.save_rate for k, a in cfg.reasons.actions.items()}
    found = (catalog.read_uplift_summary(as_of) or {}).get("effects")
    return effects.rates_in_use(found if found is not None else catalog.read_effects(), priors)


def uplift_in_use(
    cfg: Config, catalog: Catalog, features: pd.DataFrame, scored: pd.DataFrame
) -> tuple[Optional[pd.DataFrame], str]:
    """Each customer's uplift per learned action, when the uplift model won its out-of-time test and this week's
    candidates look like the past lists' customers it learnt from (else None: the list ranks by value at risk x
    save rate); and why, in words."""
    summary, model = catalog.read_uplift(pd.Timestamp(scored["as_of"].iloc[0]) if len(scored) else pd.Timestamp(0))
    if not summary:
        return None, ""
    if not summary.get("use") or model is None:
        return None, summary.get("reason", "")
    if missing := sorted(set(model.features) - set(features.columns)):
        return None, f"the uplift model needs features this week's lack ({', '.join(missing[:5])}): not used"
    rows = features.assign(customer_id=features["customer_id"].astype(str)).set_index("customer_id")
    x = rows.loc[scored["customer_id"].astype(str).to_numpy()]
    candidates = ~targeting.outside_active_base(scored) & targeting.above_typical(scored)
    auc = xlearner.shift(model.reference, x[candidates], cfg.seed, threads.count())
    if not auc <= cfg.retention.uplift.max_shift_auc:  # unknown (too few to compare) counts as unlike
        return None, (
            f"the list keeps today's ranking (value at risk x save rate): the past lists' customers the uplift model "
            f"learnt from are unlike this week's candidates (a classifier tells them apart with ROC AUC {auc:.2f}, "
            f"above retention.uplift.max_shift_auc={cfg.retention.uplift.max_shift_auc}), so its effects would be "
            f"guesses here. It won on the past lists themselves: {summary.get('reason', '')}"
        )
    said = f"{summary.get('reason', '')}; this week's candidates resemble those lists' customers (ROC AUC {auc:.2f})"
    return model.uplift(x).set_axis(scored.index), said


def scoring_model(catalog: Catalog, the_plan: Plan) -> ModelBundle:
    """The champion; for a backfill (as_of before the champion's), the model trained for that as_of.

    A champion fitted for a later as_of has learnt from labels after this one, so it must not score it.
    """
    champion = catalog.read_bundle(catalog.champion)
    if champion is None:
        raise MissingArtefact(
            f"no champion model in {catalog.models}: run stage=train, stage=evaluate and stage=promote first "
            "(or stage=all)"
        )
    if pd.Timestamp(champion.as_of) <= the_plan.as_of:
        return champion
    candidate = catalog.read_bundle(catalog.candidate)
    if candidate is not None and pd.Timestamp(candidate.as_of) == the_plan.as_of:
        candidate = settled(candidate, catalog.read_verdict())  # what its backtest decided
        log.info(
            "score: as_of %s is before the champion's (%s): a backfill, scored with the model trained for it (%s); "
            "the production champion is unchanged",
            f"{the_plan.as_of:%Y-%m-%d}",
            champion.as_of[:10],
            candidate.version,
        )
        return candidate
    raise StaleArtefact(
        f"as_of {the_plan.as_of:%Y-%m-%d} is before the champion's as_of {champion.as_of[:10]}: the champion learnt "
        f"from what happened after it. Run stage=all as_of={the_plan.as_of:%Y-%m-%d} (a backfill: it trains a model "
        f"for that date and leaves the champion alone)"
    )


def read_scored(catalog: Catalog, as_of: pd.Timestamp) -> Scored:
    """What an earlier score stage wrote for as_of (for a report made in a run of its own)."""
    if not catalog.customers(as_of).exists():
        raise MissingArtefact(f"no scored list for {as_of:%Y-%m-%d} in {catalog.scored}: run stage=score first")
    drivers = io.read_parquet(catalog.drivers(as_of)).drop(columns="customer_id")
    return Scored(io.read_parquet(catalog.customers(as_of)), drivers, catalog.read_bundle(catalog.champion))
