"""Every artefact of a run by name: where it lives, its format, and how it is read and written.

No other module spells an artefact's file name. Stages ask the catalog for ``labelled(cutoff)`` or
``customers(as_of)``; every write goes through ``pipeline.infra.io``'s atomic writes (a temporary file, then a
rename).

| artefact (graph name) | path | format |
|---|---|---|
| ``raw`` | ``data/raw/`` (the user's files; the demo's generator writes its own) | CSV, Parquet |
| ``tables`` | ``interim/tables/<table>/part-*.parquet``, ``tables.json`` | Parquet |
| ``quarantined`` | ``quarantine/<table>/quarantined.csv`` | CSV |
| ``ingest_summary`` | ``interim/ingest_summary.csv`` | CSV |
| ``labelled`` | ``interim/features/labelled/cutoff=<date>.parquet`` | Parquet |
| ``scoring_features`` | ``interim/features/scoring.parquet`` | Parquet |
| ``plan`` | ``interim/features/plan.json`` | JSON |
| ``explain`` | ``interim/explain/*`` | CSV, PNG |
| ``metrics``, ``latest_fold`` | ``interim/evaluation/metrics.csv``, ``latest_fold.parquet`` | CSV, Parquet |
| ``verdict`` | ``interim/evaluation/verdict.json`` (the backtest's decisions for one candidate) | JSON |
| ``plot`` | ``interim/evaluation/<plot>.png`` | PNG |
| ``candidate``, ``champion`` | ``models/{candidate,champion}.joblib`` (``pipeline.infra.bundles``) | joblib |
| ``promotions`` | ``models/promotions.jsonl`` | JSON lines |
| ``effects`` | ``models/action_effects.json`` (the save rates the lists rank by) | JSON |
| ``uplift_model``, ``uplift_backtest`` | ``models/uplift/<as_of>/uplift.joblib``, ``uplift.json`` | joblib, JSON |
| ``customers``, ``drivers`` | ``scored/<as_of>/customers.parquet``, ``drivers.parquet`` | Parquet |
| ``at_risk``, ``at_risk_xlsx``, ``win_back``, ``report``, ``model_card`` | ``scored/<as_of>/`` | CSV, XLSX, HTML, MD |

Which stage writes and reads each is declared once, in ``pipeline.graph``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Optional

import pandas as pd

from pipeline.bundle import ModelBundle, Verdict
from pipeline.config import Config
from pipeline.errors import StaleArtefact
from pipeline.infra import bundles, io
from pipeline.infra.publish import WeekPublisher
from pipeline.infra.tables import TABLES as TABLES  # re-exported: the catalog names every table
from pipeline.infra.tables import MissingArtefact as MissingArtefact
from pipeline.infra.tables import TableStore
from pipeline.plan import Plan


def _labelled_provenance(plan: Plan) -> dict:
    """A labelled cutoff's rows depend on the horizon and the tables, not on the as_of of the plan."""
    return {k: v for k, v in plan.provenance.items() if k != "as_of"}


def check_provenance(path: Path, expected: dict, rebuild: str) -> None:
    """Stop when the file at ``path`` was not made for ``expected`` (as_of, horizon, tables): it is stale."""
    found = io.parquet_provenance(path)
    if found is None or any(found.get(k) != v for k, v in expected.items()):
        made = ", ".join(f"{k} {found.get(k)}" for k in expected) if found else "an earlier version, unstamped"
        want = ", ".join(f"{k} {v}" for k, v in expected.items())
        raise StaleArtefact(
            f"{path} was built for {made}, not for this run's {want} (the data or the settings changed since, or a "
            f"run stopped half way): run {rebuild} again"
        )


@dataclass(frozen=True)
class Catalog(TableStore, WeekPublisher):
    """The artefacts of one project, under its configured folders."""

    raw: Path
    interim: Path
    quarantine: Path
    scored: Path
    models: Path
    mlruns: Path

    @classmethod
    def from_config(cls, cfg: Config) -> Catalog:
        return cls(**{k: Path(v) for k, v in asdict(cfg.paths).items() if k != "root"})

    @classmethod
    def of_project(cls, root: Path) -> Catalog:
        """The artefacts of the project folder ``root`` in the default layout (``paths.root=root``)."""
        root = Path(root)
        return cls(
            *(root / p for p in ("data/raw", "data/interim", "data/quarantine", "data/scored", "models", "mlruns"))
        )

    # ------------------------------------------------------------------ ingest
    def quarantined(self, name: str) -> Path:
        return self.quarantine / name / "quarantined.csv"

    @property
    def ingest_summary(self) -> Path:
        return self.interim / "ingest_summary.csv"

    @property
    def engine_tmp(self) -> Path:
        """Where the feature engine spills what does not fit in its memory limit."""
        return self.interim / ".engine_tmp"

    # ------------------------------------------------------------------ features and plan
    @property
    def features(self) -> Path:
        return self.interim / "features"

    def labelled(self, cutoff: pd.Timestamp) -> Path:
        """The labelled feature rows of one training cutoff (one Parquet file per cutoff)."""
        return self.features / "labelled" / f"cutoff={cutoff:%Y-%m-%d}.parquet"

    @property
    def scoring_features(self) -> Path:
        return self.features / "scoring.parquet"

    def write_labelled(self, frame: pd.DataFrame, cutoff: pd.Timestamp, plan: Plan) -> Path:
        return io.write_parquet(frame, self.labelled(cutoff), _labelled_provenance(plan))

    def read_labelled(self, cutoffs, plan: Plan) -> list[pd.DataFrame]:
        """The labelled feature rows of ``cutoffs``, one frame per cutoff in time order, checked against the plan."""
        files = [self.labelled(c) for c in sorted(set(cutoffs))]
        missing = [f.name for f in files if not f.exists()]
        if missing:
            raise MissingArtefact(
                f"no labelled features for {', '.join(missing[:3])} in {self.features / 'labelled'}: "
                f"run stage=features first (or stage=all)"
            )
        for f in files:
            check_provenance(f, _labelled_provenance(plan), "stage=features")
        return [io.read_parquet(f) for f in files]

    def write_scoring_features(self, frame: pd.DataFrame, plan: Plan) -> Path:
        return io.write_parquet(frame, self.scoring_features, plan.provenance)

    def read_scoring_features(self, plan: Plan) -> pd.DataFrame:
        """The as_of feature rows, checked to be the ones the plan built."""
        if not self.scoring_features.exists():
            raise MissingArtefact(f"no features to score at {self.scoring_features}: run stage=features first")
        check_provenance(self.scoring_features, plan.provenance, "stage=features (or stage=weekly)")
        return io.read_parquet(self.scoring_features)

    def remove_labelled_except(self, cutoffs) -> None:
        """Delete labelled files of cutoffs no longer in the plan."""
        keep = {self.labelled(c).name for c in cutoffs}
        for stale in (self.features / "labelled").glob("cutoff=*.parquet"):
            if stale.name not in keep:
                stale.unlink()

    @property
    def plan(self) -> Path:
        return self.features / "plan.json"

    def write_plan(self, plan: Plan) -> Path:
        return io.write_text(json.dumps(plan.to_dict(), indent=1), self.plan)

    def read_plan(self) -> Plan:
        if not self.plan.exists():
            raise MissingArtefact(f"no features at {self.features}: run stage=features first (or stage=all)")
        return Plan.from_dict(json.loads(self.plan.read_text()))

    # ------------------------------------------------------------------ training and evaluation
    @property
    def explain(self) -> Path:
        return self.interim / "explain"

    @property
    def feature_importance(self) -> Path:
        return self.explain / "feature_importance.csv"

    @property
    def shap_summary(self) -> Path:
        return self.explain / "shap_summary.csv"

    @property
    def shap_summary_plot(self) -> Path:
        return self.explain / "shap_summary.png"

    @property
    def evaluation(self) -> Path:
        return self.interim / "evaluation"

    @property
    def metrics(self) -> Path:
        return self.evaluation / "metrics.csv"

    @property
    def latest_fold(self) -> Path:
        return self.evaluation / "latest_fold.parquet"

    def plot(self, name: str) -> Path:
        return self.evaluation / f"{name}.png"

    # ------------------------------------------------------------------ models
    @property
    def candidate(self) -> Path:
        return self.models / "candidate.joblib"

    @property
    def champion(self) -> Path:
        return self.models / "champion.joblib"

    @property
    def promotions(self) -> Path:
        return self.models / "promotions.jsonl"

    def uplift_model(self, as_of: pd.Timestamp) -> Path:
        """The uplift model learnt for as_of's list (one per week: a backfill never replaces a later week's)."""
        return self.models / "uplift" / f"{as_of:%Y-%m-%d}" / "uplift.joblib"

    def uplift_backtest(self, as_of: pd.Timestamp) -> Path:
        """Its out-of-time test and the effects measured for that week (``stages.uplift``)."""
        return self.models / "uplift" / f"{as_of:%Y-%m-%d}" / "uplift.json"

    def read_uplift_summary(self, as_of: pd.Timestamp) -> Optional[dict]:
        """The uplift model's out-of-time test for as_of; None when the stage has not run for it."""
        path = self.uplift_backtest(as_of)
        return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None

    def read_uplift(self, as_of: pd.Timestamp) -> tuple[Optional[dict], Any]:
        """The uplift backtest summary and the model for as_of (None, None before any)."""
        summary = self.read_uplift_summary(as_of)
        if summary is None or not self.uplift_model(as_of).exists():
            return summary, None
        import joblib

        return summary, joblib.load(self.uplift_model(as_of))

    @property
    def effects(self) -> Path:
        return self.models / "action_effects.json"

    def read_effects(self) -> Optional[list[dict]]:
        """Each action's effect as the last weekly run measured it (``pipeline.effects``); None before any."""
        return json.loads(self.effects.read_text(encoding="utf-8")) if self.effects.exists() else None

    def write_effects(self, found: list[dict]) -> Path:
        """Written as strict JSON: a figure that could not be measured is null, not NaN."""
        clean = [{k: None if isinstance(v, float) and v != v else v for k, v in e.items()} for e in found]
        return io.write_text(json.dumps(clean, indent=1, default=float, allow_nan=False), self.effects)

    @property
    def verdict(self) -> Path:
        return self.evaluation / "verdict.json"

    def read_bundle(self, path: Path) -> Optional[ModelBundle]:
        return bundles.read_bundle(path)

    def write_bundle(self, bundle: ModelBundle, path: Path) -> Path:
        return bundles.write_bundle(bundle, path)

    def read_verdict(self) -> Optional[Verdict]:
        return bundles.read_verdict(self.verdict)

    def write_verdict(self, verdict: Verdict) -> Path:
        return bundles.write_verdict(verdict, self.verdict)

    def read_promotions(self) -> list[dict]:
        return bundles.read_promotions(self.promotions)

    def append_promotion(self, record: dict) -> Path:
        return bundles.append_promotion(record, self.promotions)

    # ------------------------------------------------------------------ scored outputs
    def customers(self, as_of: pd.Timestamp) -> Path:
        return self.scored_dir(as_of) / "customers.parquet"

    def drivers(self, as_of: pd.Timestamp) -> Path:
        return self.scored_dir(as_of) / "drivers.parquet"

    def at_risk(self, as_of: pd.Timestamp) -> Path:
        return self.scored_dir(as_of) / "at_risk.csv"

    def at_risk_xlsx(self, as_of: pd.Timestamp) -> Path:
        return self.scored_dir(as_of) / "at_risk.xlsx"

    def win_back(self, as_of: pd.Timestamp) -> Path:
        return self.scored_dir(as_of) / "win_back.csv"

    def report(self, as_of: pd.Timestamp) -> Path:
        return self.scored_dir(as_of) / "report.html"

    def model_card(self, as_of: pd.Timestamp) -> Path:
        return self.scored_dir(as_of) / "model_card.md"

    @property
    def run_lock(self) -> Path:
        """The project's run lock (beside its data folders): one run at a time."""
        return self.interim.parent / ".pipeline.lock"

    # ------------------------------------------------------------------ tracking
    @property
    def mlflow_db(self) -> Path:
        return self.mlruns / "mlflow.db"

    @property
    def mlflow_artifacts(self) -> Path:
        return self.mlruns / "artifacts"
