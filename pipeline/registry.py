"""A model's recipe: what determines it given the data, so two fits can be told apart (or known to be the same).

The local registry itself (candidate, champion and the promotion log) lives in the catalog, and the decision in
``pipeline.promotion``; with MLflow registration on, the ``champion`` alias of both registered models follows it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from typing import cast

from omegaconf import OmegaConf

from pipeline.config import Config, ModelConfig


def recipe(cfg: Config) -> dict:
    """What determines a model given the data: horizon, seed, model, feature and population settings (not threads or
    engine)."""
    model = asdict(cfg.model)
    features = {k: v for k, v in asdict(cfg.features).items() if k not in ("engine", "spark_master", "memory_limit")}
    return {
        "horizon_days": cfg.horizon_days,
        "seed": cfg.seed,
        "model": model,
        "features": features,
        "population": asdict(cfg.population),
    }


def features_digest(cfg: Config) -> str:
    """Names the feature settings (``features.*`` but the engine's, and ``population.*``, which decides the
    ``active`` column): features built with others are not these."""
    made = recipe(cfg)
    settings = json.dumps({**made["features"], "population": made["population"]}, sort_keys=True, default=str)
    return hashlib.sha256(settings.encode()).hexdigest()[:12]


def model_config(saved: dict) -> ModelConfig:
    """A ModelConfig from a recipe's saved model settings."""
    base = OmegaConf.structured(ModelConfig)
    return cast(ModelConfig, OmegaConf.to_object(OmegaConf.merge(base, saved)))
