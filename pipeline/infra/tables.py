"""The table store: each validated table as Parquet parts named by a manifest (``interim/tables.json``), written
last by ingest so it always names a complete set; parts are never rewritten in place.

The older one-file layout (``interim/<table>.parquet``, before 0.3.0) is still read and adopted as parts on the next
load (``adopt_single_file_tables``); that shim is removed in 0.6.0 (docs/operations.md).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Optional

import pandas as pd

from pipeline.errors import PipelineError
from pipeline.infra import io

TABLES = ("transactions", "complaints", "customers", "surveys", "contacts", "lists")
FEATURE_TABLES = TABLES[:4]  # what the features read (the contacts and past lists are the report's and uplift's)


class MissingArtefact(PipelineError, ValueError):
    """A stage needs something an earlier stage has not written: the message names the stage to run."""


class TableStore:
    """The validated tables of a project (mixed into ``Catalog``, which holds ``interim``)."""

    interim: Path

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

    @property
    def tables(self) -> Path:
        """Where the validated tables' parts live, one folder per table."""
        return self.interim / "tables"

    def table_dir(self, name: str) -> Path:
        return self.tables / name

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

    def tables_digest(self) -> str:
        """Names the validated tables as they are now: changes with every load (parts are never rewritten in place)."""
        manifest = self.read_tables_manifest()
        listed = json.dumps(manifest["tables"], sort_keys=True)
        if not self.tables_manifest.exists():  # the one-file layout: its files' sizes and times stand for them
            listed += "".join(
                f"{p.stat().st_size}:{p.stat().st_mtime_ns}" for ps in self.existing_tables().values() for p in ps
            )
        return hashlib.sha256(listed.encode()).hexdigest()[:16]
