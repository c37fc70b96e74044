"""Every artefact of a run by name: where it lives, its format, and how it is read and written.

No other module spells an artefact's file name. Stages ask the catalog for ``labelled(cutoff)`` or
``customers(as_of)``; every write goes through ``pipeline.io``'s atomic writes (a temporary file, then one rename).

| artefact | path | format | written by | read by |
|---|---|---|---|---|
| validated tables | ``interim/tables/<table>/part-*.parquet``, ``tables.json`` | Parquet | ingest | features, report |
| quarantined rows | ``quarantine/<table>/quarantined.csv`` | CSV | ingest | people |
| ingest summary | ``interim/ingest_summary.csv`` | CSV | ingest | MLflow |
| labelled features | ``interim/features/labelled/cutoff=<date>.parquet`` | Parquet | features | train, evaluate, tune |
| scoring features | ``interim/features/scoring.parquet`` | Parquet | features | promote, score |
| plan | ``interim/features/plan.json`` | JSON | features | train, evaluate, promote, score, report |
| explanations | ``interim/explain/*`` | CSV, PNG | train | MLflow |
| backtest metrics | ``interim/evaluation/metrics.csv`` | CSV | evaluate | report |
| latest fold | ``interim/evaluation/latest_fold.parquet`` | Parquet | evaluate | report |
| plots | ``interim/evaluation/<plot>.png`` | PNG | report | MLflow |
| candidate, champion | ``models/{candidate,champion}.joblib`` | joblib | train, promote | evaluate, promote, score |
| promotion log | ``models/promotions.jsonl`` | JSON lines | promote | people |
| scored list, drivers | ``scored/<as_of>/customers.parquet``, ``drivers.parquet`` | Parquet | score | report |
| list, report, card | ``scored/<as_of>/{at_risk.csv,report.html,model_card.md}`` | CSV, HTML, MD | report | people |
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional

import joblib
import pandas as pd

from pipeline import io
from pipeline.bundle import ModelBundle
from pipeline.config import Config
from pipeline.plan import Plan

TABLES = ("transactions", "complaints", "customers", "surveys")


class MissingArtefact(ValueError):
    """A stage needs something an earlier stage has not written: the message names the stage to run."""


@dataclass(frozen=True)
class Catalog:
    """The artefacts of one project, under its configured folders."""

    raw: Path
    interim: Path
    quarantine: Path
    scored: Path
    models: Path
    mlruns: Path

    @classmethod
    def from_config(cls, cfg: Config) -> "Catalog":
        return cls(**{k: Path(v) for k, v in asdict(cfg.paths).items() if k != "root"})

    # ------------------------------------------------------------------ ingest
    @property
    def tables_manifest(self) -> Path:
        """The list of each validated table's parts: written last by ingest, so it names a complete set."""
        return self.interim / "tables.json"

    def read_tables_manifest(self) -> dict:
        """``{"load": n, "tables": {name: [part file names]}}``; tables of an older layout count as one part each."""
        if self.tables_manifest.exists():
            return json.loads(self.tables_manifest.read_text())
        legacy = {name: [f"../../{name}.parquet"] for name in TABLES if (self.interim / f"{name}.parquet").exists()}
        return {"load": 0, "tables": legacy}

    def table_dir(self, name: str) -> Path:
        return self.interim / "tables" / name

    def new_part(self, name: str, load: int, k: int = 0) -> Path:
        """A part file written by load number ``load`` (part names are never reused, so no reader sees one change)."""
        return self.table_dir(name) / f"part-{load:05d}-{k}.parquet"

    def table_files(self, name: str) -> list[Path]:
        """The Parquet parts that make up a validated table now (empty when there is none)."""
        return [(self.table_dir(name) / f).resolve() for f in self.read_tables_manifest()["tables"].get(name, [])]

    def existing_tables(self) -> dict[str, list[Path]]:
        """The validated tables there are, by name, each as its list of parts."""
        return {name: files for name in TABLES if (files := self.table_files(name))}

    def read_table(self, name: str, columns: Optional[list[str]] = None) -> pd.DataFrame:
        """A validated table in pandas (only ``columns``, when given)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        files = self.table_files(name)
        if not files:
            raise MissingArtefact(f"no validated {name} in {self.interim}: run stage=ingest first")
        return pa.concat_tables([pq.read_table(f, columns=columns) for f in files]).to_pandas()

    def adopt_single_file_tables(self) -> None:
        """Tables of the older one-file layout as parts named by a manifest (once, before a load).

        Each file is hard-linked as a part and the manifest written after, so a crash on the way leaves the old
        layout in place; the old files are removed with the other stale files.
        """
        if self.tables_manifest.exists():
            return
        manifest = self.read_tables_manifest()
        for name in manifest["tables"]:
            self.table_dir(name).mkdir(parents=True, exist_ok=True)
            self.new_part(name, 0).unlink(missing_ok=True)
            os.link(self.interim / f"{name}.parquet", self.new_part(name, 0))
            manifest["tables"][name] = [self.new_part(name, 0).name]
        if manifest["tables"]:
            io.write_text(json.dumps(manifest, indent=1), self.tables_manifest)

    def stale_table_files(self) -> list[Path]:
        """Part files and older-layout tables no manifest names (left by a crash or an earlier version)."""
        live = {f for files in self.existing_tables().values() for f in files}
        found = [*self.interim.glob("tables/*/part-*.parquet"), *(self.interim / f"{n}.parquet" for n in TABLES)]
        return [f for f in found if f.exists() and f.resolve() not in live]

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

    def write_labelled(self, frame: pd.DataFrame, cutoff: pd.Timestamp) -> Path:
        return io.write_parquet(frame, self.labelled(cutoff))

    def read_labelled(self, cutoffs) -> list[pd.DataFrame]:
        """The labelled feature rows of ``cutoffs``, one frame per cutoff in time order."""
        files = [self.labelled(c) for c in sorted(set(cutoffs))]
        missing = [f.name for f in files if not f.exists()]
        if missing:
            raise MissingArtefact(
                f"no labelled features for {', '.join(missing[:3])} in {self.features / 'labelled'}: "
                f"run stage=features first (or stage=all)"
            )
        return [io.read_parquet(f) for f in files]

    def remove_labelled_except(self, cutoffs) -> None:
        """Delete labelled files of cutoffs no longer in the plan."""
        keep = {self.labelled(c).name for c in cutoffs}
        for stale in (self.features / "labelled").glob("cutoff=*.parquet"):
            if stale.name not in keep:
                stale.unlink()

    @property
    def plan_path(self) -> Path:
        return self.features / "plan.json"

    def write_plan(self, plan: Plan) -> Path:
        return io.write_text(json.dumps(plan.to_dict(), indent=1), self.plan_path)

    def read_plan(self) -> Plan:
        if not self.plan_path.exists():
            raise MissingArtefact(f"no features at {self.features}: run stage=features first (or stage=all)")
        return Plan.from_dict(json.loads(self.plan_path.read_text()))

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

    def read_bundle(self, path: Path) -> Optional[ModelBundle]:
        """The candidate or champion at ``path`` (None when there is none)."""
        return ModelBundle.from_saved(joblib.load(path)) if Path(path).exists() else None

    def write_bundle(self, bundle: ModelBundle, path: Path) -> Path:
        with io.atomic_path(path) as tmp:
            joblib.dump(bundle, tmp)
        return Path(path)

    def append_promotion(self, record: dict) -> Path:
        """Append one decision to the promotion log (one JSON line each)."""
        previous = self.promotions.read_text() if self.promotions.exists() else ""
        return io.write_text(previous + json.dumps(record) + "\n", self.promotions)

    # ------------------------------------------------------------------ scored outputs
    def scored_dir(self, as_of: pd.Timestamp) -> Path:
        return self.scored / f"{as_of:%Y-%m-%d}"

    def customers(self, as_of: pd.Timestamp) -> Path:
        return self.scored_dir(as_of) / "customers.parquet"

    def drivers(self, as_of: pd.Timestamp) -> Path:
        return self.scored_dir(as_of) / "drivers.parquet"

    def at_risk(self, as_of: pd.Timestamp) -> Path:
        return self.scored_dir(as_of) / "at_risk.csv"

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
