"""Stage promote: the pure promotion decision applied to the registry, and recorded."""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Optional

import pandas as pd

from pipeline import promotion
from pipeline.bundle import settled
from pipeline.config import Config
from pipeline.infra import faults, io
from pipeline.infra.catalog import Catalog

log = logging.getLogger(__name__)


def complete_champion(catalog: Catalog, tracker) -> bool:
    """Finish a promotion a killed run left half done; True when there was one.

    A promotion writes the champion file, then points the MLflow alias at it, then appends its line to the
    promotion log (the record that it happened). A champion file the log's last promotion does not name was written
    by a run that stopped before the end: the alias and the record are completed now.
    """
    champion = catalog.read_bundle(catalog.champion)
    if champion is None:
        return False
    promoted = [r for r in catalog.read_promotions() if r.get("promoted")]
    if promoted and promoted[-1].get("candidate") == champion.version:
        return False
    tracker.set_champion(champion.versions)
    record = {
        "at": pd.Timestamp.now("UTC").isoformat(),
        "promoted": True,
        "reason": "completed after a run stopped between writing the champion and recording it",
        "candidate": champion.version,
        "champion_before": promoted[-1].get("candidate") if promoted else None,
    }
    catalog.append_promotion(record)
    log.warning("the champion %s was written by a run that stopped before recording it: completed", champion.version)
    return True


def run_promotion(cfg: Config, catalog: Catalog, tracker) -> Optional[promotion.Decision]:
    """Decide whether the candidate from train becomes the champion that scores the list; record why.

    The champion written is the candidate with its backtest's verdict applied (the value blend, the scorer).
    """
    as_of = catalog.read_plan().as_of
    candidate = catalog.read_bundle(catalog.candidate)
    if candidate is None or candidate.as_of != as_of.isoformat():
        log.warning("no candidate trained for as_of %s: the champion is unchanged", f"{as_of:%Y-%m-%d}")
        return None
    verdict = catalog.read_verdict()
    candidate = settled(candidate, verdict)
    applies = verdict is not None and verdict.applies_to(candidate)
    champion = catalog.read_bundle(catalog.champion)
    decision = promotion.decide(
        candidate,
        champion,
        io.parquet_columns(catalog.scoring_features),
        verdict.candidate_log_loss if verdict is not None and applies else None,
        verdict.champion_log_loss if verdict is not None and applies else None,
        cfg.model.promotion_margin,
        force=cfg.promote == "force",
    )
    same_model = champion is not None and (champion.version, champion.training_digest) == (
        candidate.version,
        candidate.training_digest,
    )
    if not decision.promoted and same_model and applies:
        # the same model, refitted on the same rows: what its backtest decided holds for the champion too
        catalog.write_bundle(candidate, catalog.champion)
    if decision.promoted:
        catalog.write_bundle(candidate, catalog.champion)
        faults.point("promote:champion-written")
        tracker.set_champion(candidate.versions)
    catalog.append_promotion({"at": pd.Timestamp.now("UTC").isoformat(), **asdict(decision)})
    tracker.set_tags({"promotion": ("promoted: " if decision.promoted else "not promoted: ") + decision.reason})
    return decision
