"""Stage features: the plan, then one feature file per cutoff (labelled for training) and the scoring features."""

from __future__ import annotations

import dataclasses
import logging
import time

import ibis
import pandas as pd

from pipeline import labels, plan, registry, sources
from pipeline.config import Config, ConfigError, as_of_date
from pipeline.featurize import engine, sampling
from pipeline.featurize.build import build_on, concat_cutoffs, excluded
from pipeline.infra import threads
from pipeline.infra.catalog import Catalog

log = logging.getLogger(__name__)


def interim_tables(con, catalog: Catalog) -> dict:
    """The validated tables as tables of the feature engine, read from their Parquet files where they lie."""
    found = catalog.existing_tables()
    if "transactions" not in found:
        raise sources.IngestError(f"no validated transactions at {catalog.interim}; run stage=ingest first")
    return {name: engine.read_parquet(con, name, p) for name, p in found.items()}


def resolve_as_of(cfg: Config, last_transaction: pd.Timestamp) -> pd.Timestamp:
    """The configured as_of, or the day after the last transaction."""
    return as_of_date(cfg) or last_transaction.normalize() + pd.Timedelta(days=1)


def sample_customers(con, tables: dict, max_customers: int, seed: int) -> dict:
    """The tables restricted to at most ``max_customers`` customers, sampled by customer (0 = all).

    Training uses at most this many customers per cutoff, so the labelled cutoffs are built from the sample alone:
    their cost stays bounded however large the base grows. Scoring always uses every customer.
    """
    tx = tables["transactions"]
    ids = engine.execute(con, tx.select("customer_id").distinct().order_by("customer_id"))["customer_id"]
    if max_customers <= 0 or len(ids) <= max_customers:
        return tables
    keep = ids.iloc[sampling.by_customer(ids, max_customers, seed)].astype("string").to_frame()
    sample = engine.load(con, "customer_sample", keep)
    log.info(
        "features: training cutoffs use %s of %s customers (model.max_rows_per_cutoff)",
        f"{len(keep):,}",
        f"{len(ids):,}",
    )
    return {name: t.semi_join(sample, "customer_id") for name, t in tables.items()}


def check_as_of(as_of: pd.Timestamp, first: pd.Timestamp, last: pd.Timestamp, horizon_days: int) -> None:
    """Stop when as_of lies outside the data: before its first transaction, or more than a horizon after its last."""
    if as_of <= first.normalize():
        raise ConfigError(
            f"as_of={as_of:%Y-%m-%d} is {(first.normalize() - as_of).days:,} days before the first "
            f"transaction ({first:%Y-%m-%d}): there is no history before it to score. "
            f"Choose an as_of after {first:%Y-%m-%d}"
        )
    gap = (as_of - last.normalize()).days
    if gap > horizon_days:
        raise ConfigError(
            f"as_of={as_of:%Y-%m-%d} is {gap:,} days after the last transaction ({last:%Y-%m-%d}), more than "
            f"horizon_days={horizon_days}: every customer would look gone. Load newer transactions, or "
            f"choose an as_of up to {last.normalize() + pd.Timedelta(days=horizon_days):%Y-%m-%d}"
        )


def left_out(con, tables: dict, as_of: pd.Timestamp) -> dict[str, int]:
    """Customers known at as_of who are not scored, by reason: in the customers table with no transaction before it."""
    if "customers" not in tables:
        return {}
    tx, customers = tables["transactions"], tables["customers"]
    seen = tx.filter(tx.timestamp < as_of.to_pydatetime()).select("customer_id").distinct()
    known = customers
    if "signup_date" in customers.columns:
        known = customers.filter(customers.signup_date.isnull() | (customers.signup_date < as_of.to_pydatetime()))
    unseen = known.anti_join(seen, "customer_id")
    missing = int(engine.execute(con, unseen.aggregate(n=ibis._.count()))["n"].iloc[0])
    if missing:
        log.info("features: %s customers in the customers table have no transaction before as_of: not scored", missing)
    return {"customers with no transaction before as_of (customers table only)": missing} if missing else {}


def load_labelled(catalog: Catalog, cutoffs, the_plan: plan.Plan) -> pd.DataFrame:
    """The labelled feature rows of ``cutoffs`` as one frame (stale files stop the run: see ``check_provenance``)."""
    return concat_cutoffs(catalog.read_labelled(cutoffs, the_plan))


def run_features(cfg: Config, catalog: Catalog, training: bool = True) -> plan.Plan:
    """Features for every planned cutoff (labelled, one file per cutoff) and for as_of (to score); returns the plan.

    Cutoffs are built one at a time from the interim Parquet files, so memory stays at one pass over the events.
    ``training=False`` (the weekly run) builds only as_of.
    """
    con = engine.connect(
        cfg.features.engine, threads.count(), cfg.features.spark_master, cfg.features.memory_limit, catalog.engine_tmp
    )
    tables = interim_tables(con, catalog)
    tx = tables["transactions"]
    span = engine.execute(con, tx.aggregate(first=tx.timestamp.min(), last=tx.timestamp.max()))
    first, last = pd.Timestamp(span["first"].iloc[0]), pd.Timestamp(span["last"].iloc[0])
    as_of = resolve_as_of(cfg, last)
    check_as_of(as_of, first, last, cfg.horizon_days)
    data_end = last
    if last >= as_of:  # a backfill: the data goes on past as_of; the plan records the last transaction before it
        last = pd.Timestamp(engine.execute(con, tx.filter(tx.timestamp < as_of).timestamp.max()))
    the_plan = dataclasses.replace(
        plan.make(as_of, first, last, cfg.horizon_days, cfg.model),
        tables_digest=catalog.tables_digest(),
        data_end=data_end,
        explicit_as_of=cfg.as_of is not None,
        features_digest=registry.features_digest(cfg),
    )
    if the_plan.production is None:
        log.warning("%s: scoring with BG/NBD x Gamma-Gamma, which needs no labels", the_plan.fallback_reason)
    elif the_plan.extended:
        log.warning(
            "features: a short history: no cutoff has a whole %d-day horizon observed before as_of, so the model "
            "learns %d-day labels and its forecasts are extended to %d days with BG/NBD's shape",
            cfg.horizon_days,
            the_plan.trained_horizon_days,
            cfg.horizon_days,
        )
    cutoffs = the_plan.labelled_cutoffs
    started = time.monotonic()
    todo = [*cutoffs, as_of] if training else [as_of]
    sampled = sample_customers(con, tables, cfg.model.max_rows_per_cutoff, cfg.seed) if training and cutoffs else tables
    for k, cutoff in enumerate(todo, 1):
        labelled = cutoff < as_of
        frame = build_on(
            con,
            sampled if labelled else tables,
            [cutoff],
            cfg.features,
            the_plan.label_days,
            describe=not labelled,
            target_days=cfg.horizon_days if the_plan.extended else None,
            base=cfg.population,
        )
        frame = frame.drop(columns=excluded(frame.columns, cfg.features.exclude))
        if labelled:
            outcome = labels.outcomes_on(con, tx, frame, the_plan.label_days, cfg.model.label_gap_days)
            catalog.write_labelled(
                frame.assign(churned=outcome["churned"], future_spend=outcome["future_spend"]), cutoff, the_plan
            )
        else:
            catalog.write_scoring_features(frame, the_plan)
        log.info(
            "features: cutoff %d of %d (%s): %s customers, %.0f s elapsed",
            k,
            len(todo),
            f"{cutoff:%Y-%m-%d}",
            f"{len(frame):,}",
            time.monotonic() - started,
        )
    if training:
        catalog.remove_labelled_except(cutoffs)
    catalog.write_plan(dataclasses.replace(the_plan, left_out=left_out(con, tables, as_of)))
    return the_plan
