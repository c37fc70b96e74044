"""Stage promote: the pure promotion decision applied to the registry, and recorded."""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Optional

import pandas as pd

from pipeline import io, promotion
from pipeline.catalog import Catalog
from pipeline.config import Config
from pipeline.stages.evaluate import Evaluation

log = logging.getLogger(__name__)


def run_promotion(cfg: Config, catalog: Catalog, tracker, evaluation: Evaluation) -> Optional[promotion.Decision]:
    """Decide whether the candidate from train becomes the champion that scores the list; record why."""
    as_of = catalog.read_plan().as_of
    candidate = catalog.read_bundle(catalog.candidate)
    if candidate is None or candidate.as_of != as_of.isoformat():
        log.warning("no candidate trained for as_of %s: the champion is unchanged", f"{as_of:%Y-%m-%d}")
        return None
    decision = promotion.decide(
        candidate,
        catalog.read_bundle(catalog.champion),
        io.parquet_columns(catalog.scoring_features),
        evaluation.candidate_log_loss,
        evaluation.champion_log_loss,
        cfg.model.promotion_margin,
    )
    if decision.promoted:
        catalog.write_bundle(candidate, catalog.champion)
        tracker.set_champion(candidate.versions)
    catalog.append_promotion({"at": pd.Timestamp.now("UTC").isoformat(), **asdict(decision)})
    tracker.set_tags({"promotion": ("promoted: " if decision.promoted else "not promoted: ") + decision.reason})
    return decision
