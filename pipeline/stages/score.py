"""Stage score: the champion scores as_of; each customer's risk, value, rank and exact reasons."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import pandas as pd

from pipeline import io, score, threads
from pipeline.bundle import ModelBundle
from pipeline.catalog import Catalog
from pipeline.config import Config
from pipeline.features import engine

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Scored:
    """What scoring produced: the ranked list, each customer's driver contributions, and the champion that scored."""

    customers: pd.DataFrame
    drivers: pd.DataFrame
    champion: ModelBundle


def run_score(cfg: Config, catalog: Catalog) -> Scored:
    """Score as_of with the exported champion; write customers.parquet and drivers.parquet for the as_of date."""
    as_of = catalog.read_plan().as_of
    bundle = catalog.read_bundle(catalog.champion)
    if bundle is None:
        raise ValueError(
            f"no champion model in {catalog.models}: run stage=train and stage=evaluate first (or stage=all)"
        )
    features = io.read_parquet(catalog.scoring_features)
    started = time.monotonic()
    if bundle.is_fallback:
        scored, drivers = score.run_fallback(features, cfg.report.n_reasons)
    elif cfg.features.engine == "spark":  # predictions and exact reasons on the executors
        session = engine.spark_session(engine.connect("spark", threads.count(), cfg.features.spark_master))
        scored, drivers = score.run_on_spark(session, bundle.trained, features, bundle.version, cfg.report.n_reasons)
    else:
        scored, drivers = score.score_customers(bundle.trained, features, bundle.version, cfg.report.n_reasons)
    log.info(
        "score: %s customers scored and explained in %.1f s (%s)",
        f"{len(scored):,}",
        time.monotonic() - started,
        cfg.features.engine,
    )
    io.write_parquet(drivers.assign(customer_id=scored["customer_id"]), catalog.drivers(as_of))
    io.write_parquet(scored, catalog.customers(as_of))
    return Scored(scored, drivers, bundle)


def read_scored(catalog: Catalog, as_of: pd.Timestamp) -> Scored:
    """What an earlier score stage wrote for as_of (for a report made in a run of its own)."""
    if not catalog.customers(as_of).exists():
        raise ValueError(f"no scored list for {as_of:%Y-%m-%d} in {catalog.scored}: run stage=score first")
    drivers = io.read_parquet(catalog.drivers(as_of)).drop(columns="customer_id")
    return Scored(io.read_parquet(catalog.customers(as_of)), drivers, catalog.read_bundle(catalog.champion))
