"""Which model scores the list: the champion, which changes only when a candidate earns it.

The local registry (``models/champion.joblib`` and ``models/promotions.jsonl``) is what scoring reads, so it works with
tracking off; with MLflow registration on, the ``champion`` alias of both registered models follows it.

A candidate replaces the champion when
  * there is no champion yet, or the champion cannot score this data (it needs features the data does not have), or
    it is the label-free BG/NBD fallback and the candidate is a trained model, or the candidate is that fallback
    (the data holds no labelled history, and such data is scored with it);
  * it has the champion's recipe (same model and feature settings, newer data): the backtest of a recipe is
    deterministic, so the two would tie on it, and the fresher fit wins;
  * otherwise it must beat the champion's recipe, backtested on the same folds and data, by ``model.promotion_margin``
    in mean log loss. If it does not, or there is no backtest to compare on, the champion stays and the reason is
    recorded.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Optional

import joblib
import pandas as pd
from omegaconf import OmegaConf

from pipeline import evaluate, io
from pipeline.config import Config, ModelConfig
from pipeline.features.build import excluded


@dataclass(frozen=True)
class Decision:
    promoted: bool
    reason: str
    candidate: str
    champion_before: Optional[str]


def recipe(cfg: Config) -> dict:
    """What determines a model given the data: horizon, seed, model and feature settings (not threads or engine)."""
    model = asdict(cfg.model)
    features = {k: v for k, v in asdict(cfg.features).items() if k not in ("engine", "spark_master", "memory_limit")}
    return {"horizon_days": cfg.horizon_days, "seed": cfg.seed, "model": model, "features": features}


def model_config(saved: dict) -> ModelConfig:
    """A ModelConfig from a recipe's saved model settings."""
    base = OmegaConf.structured(ModelConfig)
    return OmegaConf.to_object(OmegaConf.merge(base, saved))


def load(path: Path) -> Optional[dict]:
    return joblib.load(path) if Path(path).exists() else None


def save(bundle: dict, path: Path) -> None:
    with io.atomic_path(path) as tmp:
        joblib.dump(bundle, tmp)


def decide(
    candidate: dict,
    champion: Optional[dict],
    scoring_columns: list[str],
    load_labelled: Callable[[], pd.DataFrame],
    folds: list,
    candidate_log_loss: Optional[float],
    margin: float,
    horizon_days: int,
) -> Decision:
    """Whether ``candidate`` replaces ``champion`` (see the module docstring), and why."""
    name = candidate["version"]
    if champion is None:
        return Decision(True, "no champion yet", name, None)
    before = champion["version"]
    if candidate.get("kind") == "bgnbd":
        return Decision(
            True, "this data holds no labelled history, so the label-free BG/NBD x Gamma-Gamma scores it", name, before
        )
    if champion.get("kind") == "bgnbd":
        return Decision(True, "the champion is the label-free fallback; a trained model replaces it", name, before)
    missing = sorted(set(champion.get("features", [])) - set(scoring_columns))
    if missing:
        return Decision(
            True, f"the champion needs features this data does not have ({', '.join(missing[:5])})", name, before
        )
    if champion.get("recipe") == candidate.get("recipe"):
        return Decision(True, "same recipe as the champion, fitted on newer data", name, before)
    if not folds or candidate_log_loss is None:
        return Decision(False, "different recipe and no backtest to compare it with the champion on", name, before)
    saved = champion["recipe"]
    labelled = load_labelled()
    kept = [c for c in labelled.columns if c not in excluded(labelled.columns, saved["features"].get("exclude", []))]
    champion_bt = evaluate.backtest(labelled[kept], folds, model_config(saved["model"]), saved["seed"], horizon_days)
    champ_ll = float(champion_bt.metrics.query("model == 'lightgbm'")["log_loss"].mean())
    if candidate_log_loss <= champ_ll - margin:
        return Decision(
            True,
            f"backtest log loss {candidate_log_loss:.4f} beats the champion recipe's {champ_ll:.4f} "
            f"by at least {margin}",
            name,
            before,
        )
    return Decision(
        False,
        f"backtest log loss {candidate_log_loss:.4f} does not beat the champion recipe's {champ_ll:.4f} "
        f"by the margin {margin} (model.promotion_margin)",
        name,
        before,
    )


def record(decision: Decision, path: Path) -> None:
    """Append the decision to the promotion log (one JSON line per decision)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps({"at": pd.Timestamp.now("UTC").isoformat(), **asdict(decision)})
    previous = path.read_text() if path.exists() else ""
    io.write_text(previous + line + "\n", path)
