"""Stage train: the candidate models fitted on the production fold (and the tuning trial)."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline import explain, fitting, monitor, registry, views
from pipeline.bundle import LIGHTGBM, ModelBundle
from pipeline.config import Config
from pipeline.infra import io
from pipeline.infra.catalog import Catalog
from pipeline.stages.features import load_labelled

log = logging.getLogger(__name__)


def run_train(cfg: Config, catalog: Catalog, tracker) -> str:
    """Fit the candidate models on the latest fully observed cutoffs; export and log them; return the version.

    The candidate scores nothing until promotion makes it the champion (see ``pipeline.promotion``).
    """
    the_plan = catalog.read_plan()
    production, as_of = the_plan.production, the_plan.as_of.isoformat()
    if production is None:
        bundle = ModelBundle.fallback(registry.recipe(cfg), as_of)
        tracker.log_params({"train.model": "bgnbd_gamma_gamma (no labelled history)"})
    else:
        labelled = load_labelled(catalog, production.train, the_plan)
        digest = rows_digest(labelled)
        champion = catalog.read_bundle(catalog.champion)
        if champion is not None and (champion.recipe, champion.training_digest) == (registry.recipe(cfg), digest):
            log.info(
                "train: the champion %s was fitted with this recipe on these very rows: nothing new is trained or "
                "registered",
                champion.version,
            )
            tracker.set_tags({"train": f"identical to champion {champion.version}: not refitted"})
            catalog.write_bundle(champion, catalog.candidate)
            return champion.version
        latest = labelled[labelled["cutoff"] == production.latest]  # the nearest to the customers it will score
        trained = fitting.fit(labelled, cfg.model, cfg.seed, the_plan.label_days)
        if the_plan.extended:
            trained = dataclasses.replace(trained, label_days=the_plan.label_days, target_days=cfg.horizon_days)
        tracker.log_params(
            {
                "train.calibration": trained.calibration,
                "train.churn_iterations": trained.churn_iterations,
                "train.value_iterations": trained.value_iterations,
                "train.n_features": len(trained.features),
            }
        )
        tracker.log_dataset(labelled, "training", "training", catalog.features / "labelled")
        for path in _explain_artifacts(trained, latest[trained.active(latest)], catalog):
            tracker.log_artifact(path, "explain")
        version, versions = tracker.log_models(
            trained, labelled, (cfg.tracking.churn_model_name, cfg.tracking.value_model_name)
        )
        bundle = ModelBundle(
            LIGHTGBM,
            version,
            registry.recipe(cfg),
            as_of,
            trained=trained,
            versions=versions,
            features=tuple(trained.features),
            calibration=trained.calibration,
            train_cutoffs=tuple(f"{c:%Y-%m-%d}" for c in production.train),
            training_digest=digest,
            reference=monitor.reference_profile(
                latest[trained.features], fitting.predict(trained, latest)["churn_probability"]
            ),
        )
    catalog.write_bundle(bundle, catalog.candidate)
    return bundle.version


def rows_digest(frame: pd.DataFrame) -> str:
    """A digest of a frame's rows whatever their order (features are bit-reproducible, so equal data gives equal)."""
    hashes = pd.util.hash_pandas_object(frame[sorted(frame.columns)], index=False).to_numpy()
    return f"{len(frame)}:{int(hashes.sum(dtype=np.uint64)):016x}"


def _explain_artifacts(trained: fitting.TrainedModels, rows: pd.DataFrame, catalog: Catalog) -> list[Path]:
    """Feature importance (gain) of both models and the churn model's mean |SHAP| per feature on the latest training
    cutoff's active base."""
    churn_gain = trained.churn.classifier_.booster_.feature_importance("gain")
    value_gain = trained.value.regressor_.feature_importance("gain")
    importance = pd.DataFrame({"feature": trained.features, "churn_gain": churn_gain, "value_gain": value_gain})
    shap_mean = explain.contributions(trained.churn, rows).abs().mean().rename("mean_abs_shap")
    summary = shap_mean.sort_values(ascending=False).rename_axis("feature").reset_index()
    return [
        io.write_csv(importance.sort_values("churn_gain", ascending=False), catalog.feature_importance),
        io.write_csv(summary, catalog.shap_summary),
        io.write_bytes(views.shap_summary_plot(shap_mean), catalog.shap_summary_plot),
    ]


def run_tune(cfg: Config, catalog: Catalog, tracker) -> float:
    """One tuning trial: the churn trees with this config's LightGBM parameters, cross-fitted on the production
    training cutoffs; returns their log loss, the only figure a sweep may select on (never the backtest's tests).
    """
    the_plan = catalog.read_plan()
    production = the_plan.production
    if production is None:
        raise fitting.NotEnoughHistory(
            "nothing to tune: the history holds no labelled training cutoff (see stage=features)"
        )
    labelled = load_labelled(catalog, production.train, the_plan)
    loss = fitting.validation_log_loss(labelled, cfg.model, cfg.seed)
    tracker.log_metrics({"validation.log_loss": loss})
    return loss
