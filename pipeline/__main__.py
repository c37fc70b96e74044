"""The Hydra app: ``python -m pipeline stage=<a stage of pipeline.graph>|all|weekly|tune [overrides]``.

``stage=all`` runs the graph's stages in order; ``stage=weekly`` scores one week with the current champion, no
retraining (``graph.WEEKLY_RUN``: ingest, the features of as_of, score, report).

The only place that turns a config into calls of the stage functions.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from pathlib import Path
from typing import Optional, cast

import hydra
from omegaconf import DictConfig, OmegaConf

from pipeline import graph, stages
from pipeline.config import Config, register
from pipeline.config_checks import refuse_url_passwords, url_passwords, validate
from pipeline.errors import PipelineError
from pipeline.infra import faults, lock, threads, tracking
from pipeline.infra.catalog import Catalog
from pipeline.stages.run import RUNNERS, Run

log = logging.getLogger("pipeline")
CONFIG_DIR = str(Path(__file__).resolve().parent.parent / "configs")


def make_tracker(cfg: Config, catalog: Catalog):
    """An MLflow tracker for the configured store (guarded: its failures never stop a run), or a no-op one when
    tracking is off."""
    if not cfg.tracking.enabled:
        return tracking.NullTracker()
    catalog.mlruns.mkdir(parents=True, exist_ok=True)
    uri = cfg.tracking.uri or f"sqlite:///{catalog.mlflow_db.resolve()}"
    return tracking.GuardedTracker(
        lambda: tracking.MlflowTracker(
            uri,
            cfg.tracking.experiment,
            catalog.mlflow_artifacts,
            cfg.tracking.register,
            cfg.tracking.run_name or cfg.stage,
            str(catalog.models.resolve().parent),
        ),
        uri,
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
    todo = graph.WEEKLY_RUN if cfg.stage == "weekly" else graph.TRAINING_RUN if cfg.stage == "all" else (cfg.stage,)
    for path in catalog.remove_leftovers():
        log.info("removed %s, left by a run that did not finish", path)
    with make_tracker(cfg, catalog) as tracker, contextlib.ExitStack() as publish:
        tracker.log_params({**tracking.flatten(resolved), "threads.resolved": threads.count()})
        stages.complete_champion(catalog, tracker)
        run = Run(cfg, catalog, tracker, weekly=cfg.stage == "weekly")
        if {"score", "report"} & set(todo):  # this run's week is staged, and published whole when every stage is done
            run.staged = publish.enter_context(catalog.staging_scored())
        for stage in todo:
            started = time.monotonic()
            log.info("stage %s", stage)
            RUNNERS[stage](run)
            seconds = time.monotonic() - started
            log.info("stage %s done in %.1f s", stage, seconds)
            faults.point(f"stage:{stage}:done")
            tracker.log_metrics({f"stage_seconds.{stage}": seconds})
        print(f"MLflow:       {tracker.ui_hint}")
    return None


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="config")
def main(cfg: DictConfig) -> Optional[float]:
    resolved = cast(dict, OmegaConf.to_container(cfg, resolve=True))
    try:
        if found := url_passwords(resolved):
            scrub_saved_configs([secret for _, secret in found])
            refuse_url_passwords(found)
        return run(validate(cast(Config, OmegaConf.to_object(cfg))), resolved)
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
