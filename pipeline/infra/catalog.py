"""Every artefact of a run by name: where it lives, its format, and how it is read and written.

No other module spells an artefact's file name. Stages ask the catalog for ``labelled(cutoff)`` or
``customers(as_of)``; every write goes through ``pipeline.infra.io``'s atomic writes (a temporary file, then one rename).

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
| ``customers``, ``drivers`` | ``scored/<as_of>/customers.parquet``, ``drivers.parquet`` | Parquet |
| ``at_risk``, ``at_risk_xlsx``, ``win_back``, ``report``, ``model_card`` | ``scored/<as_of>/`` | CSV, XLSX, HTML, MD |

Which stage writes and reads each is declared once, in ``pipeline.graph``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional

import pandas as pd

from pipeline.bundle import ModelBundle, Verdict
from pipeline.config import Config
from pipeline.errors import PipelineError, StaleArtefact
from pipeline.infra import bundles, faults, io
from pipeline.plan import Plan

TABLES = ("transactions", "complaints", "customers", "surveys", "contacts")


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


class MissingArtefact(PipelineError, ValueError):
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

    @classmethod
    def of_project(cls, root: Path) -> "Catalog":
        """The artefacts of the project folder ``root`` in the default layout (``paths.root=root``)."""
        root = Path(root)
        return cls(
            *(root / p for p in ("data/raw", "data/interim", "data/quarantine", "data/scored", "models", "mlruns"))
        )

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

    def tables_digest(self) -> str:
        """Names the validated tables as they are now: changes with every load (parts are never rewritten in place)."""
        manifest = self.read_tables_manifest()
        listed = json.dumps(manifest["tables"], sort_keys=True)
        if not self.tables_manifest.exists():  # the one-file layout: its files' sizes and times stand for them
            listed += "".join(
                f"{p.stat().st_size}:{p.stat().st_mtime_ns}" for ps in self.existing_tables().values() for p in ps
            )
        return hashlib.sha256(listed.encode()).hexdigest()[:16]

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

    @property
    def tables(self) -> Path:
        return self.interim / "tables"

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
    def scored_dir(self, as_of: pd.Timestamp) -> Path:
        """A week's outputs. Published weeks are a link to their complete set in ``scored/.versions/``."""
        return self.scored / f"{as_of:%Y-%m-%d}"

    @contextlib.contextmanager
    def staging_scored(self) -> Iterator["Catalog"]:
        """A catalog whose weekly outputs go to a private staging folder; each week is published on a clean exit.

        Publishing moves the staged folder to ``scored/.versions/`` and switches ``scored/<as_of>`` to it by
        renaming a symbolic link over the old one, so a reader (a BI tool, a person) sees last week's set or this
        one, never a mix; a run that fails publishes nothing.
        """
        root = self.scored / f".staging-{os.getpid()}"
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        try:
            yield dataclasses.replace(self, scored=root)
            for week in sorted(p for p in root.iterdir() if p.is_dir()):
                self._publish_week(week)
        finally:
            shutil.rmtree(root, ignore_errors=True)

    def carry_scored(self, published: "Catalog", as_of: pd.Timestamp) -> None:
        """Start a staged week from the published scored list (for a report made in a run of its own)."""
        folder = self.scored_dir(as_of)
        if folder.exists():
            return
        folder.mkdir(parents=True)
        for source in (published.customers(as_of), published.drivers(as_of)):
            if source.exists():
                os.link(source.resolve(), folder / source.name)

    def _publish_week(self, staged: Path) -> None:
        versions = self.scored / ".versions"
        versions.mkdir(parents=True, exist_ok=True)
        target = versions / f"{staged.name}.{time.time_ns()}"
        os.replace(staged, target)
        faults.point("publish:staged")
        link, tmp = self.scored / staged.name, self.scored / f".{staged.name}.link.tmp"
        tmp.unlink(missing_ok=True)
        os.symlink(os.path.relpath(target, self.scored), tmp)
        old = None
        if link.is_symlink():
            old = self.scored / os.readlink(link)
        elif link.is_dir():  # a week written before weeks were published as sets: set aside, then removed
            old = versions / f"{staged.name}.unversioned.{time.time_ns()}"
            os.replace(link, old)
        os.replace(tmp, link)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)

    def leftovers(self) -> list[Path]:
        """What a killed run left: temporary files, staging folders and week versions no link points to."""
        found = [p for root in (self.interim, self.models, self.scored) if root.exists() for p in root.rglob(".*.tmp")]
        found += [*self.scored.glob(".staging-*")] if self.scored.exists() else []
        live = {(self.scored / os.readlink(p)).resolve() for p in self.scored.glob("*") if p.is_symlink()}
        versions = self.scored / ".versions"
        found += [v for v in versions.glob("*")] if versions.exists() else []
        return [p for p in found if p.resolve() not in live]

    def remove_leftovers(self) -> list[Path]:
        """Remove what ``leftovers`` finds (the run lock is held, so no other run is writing them)."""
        found = self.leftovers()
        for path in found:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        return found

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

    def published_weeks(self) -> list[pd.Timestamp]:
        """Every week with a published scored list, oldest first."""
        if not self.scored.exists():
            return []
        weeks = []
        for p in self.scored.iterdir():
            if p.name[:1].isdigit() and (p / "customers.parquet").exists():
                try:
                    weeks.append(pd.Timestamp(p.name))
                except ValueError:
                    continue
        return sorted(weeks)

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
