"""Stage ingest: the raw tables validated into the interim tables; bad rows to quarantine."""

from __future__ import annotations

import dataclasses
import json
import logging
import tempfile
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline import demo, sources
from pipeline.config import Config, as_of_date
from pipeline.infra import io
from pipeline.infra.catalog import TABLES, Catalog
from pipeline.infra.tracking import NullTracker

log = logging.getLogger(__name__)


def demo_data_config(cfg: Config):
    """The data settings to load: a demo without the team's history (``data.demo.past_lists=0``, or the retail
    regime) has no lists or contacts to read, whatever the data config names."""
    d = cfg.data.demo
    if cfg.data.source == "demo" and (d.past_lists <= 0 or str(d.regime) != "mixed"):
        return dataclasses.replace(cfg.data, lists=None, contacts=None)
    return cfg.data


def ensure_demo_data(cfg: Config) -> None:
    """Generate the demo tables when the demo source is selected and they are not there yet."""
    wanted = tuple(t for t in demo.TABLES if getattr(demo_data_config(cfg), t))
    if cfg.data.source != "demo" or all(Path(getattr(cfg.data, t)).exists() for t in wanted):
        return
    d = cfg.data.demo
    log.info("generating demo data (%s): %d customers over %.1f years", d.regime, d.n_customers, d.years)
    tables = demo.generate(d.n_customers, d.years, d.end_date, cfg.seed, d.weeks_ahead, str(d.regime), d.past_lists)
    demo.write(tables, Path(str(cfg.data.transactions)).parent, wanted)


MAX_PARTS = 16  # past this many parts a table's small parts are folded into one


def run_ingest(cfg: Config, catalog: Catalog, tracker=NullTracker()) -> pd.DataFrame:
    """Validate the raw tables into interim Parquet; quarantine bad rows; return the per-table summary.

    Each table is a list of Parquet parts. ``data.mode=merge`` adds this load to the previous tables (see
    ``sources.merge``) as one new part, rewriting only the parts holding a row it replaces, so a weekly load writes
    its own rows and not the whole history again. The parts, the quarantine and the summary are staged together and
    the manifest naming the parts is renamed into place last: a crash at any point leaves the previous tables whole.
    """
    ensure_demo_data(cfg)
    catalog.adopt_single_file_tables()
    for stale in catalog.stale_table_files():  # parts of a load that crashed before its manifest, older layouts
        stale.unlink()
    manifest = catalog.read_tables_manifest()
    load = manifest["load"] + 1
    previous = None
    if cfg.data.mode == "merge":
        previous = {n: sources.PreviousTable(p) for n, p in catalog.existing_tables().items()}
    tables = sources.load_tables(demo_data_config(cfg), as_of_date(cfg), previous)
    out: dict[Path, object] = {}
    parts: dict[str, list[Path]] = {}
    for name in TABLES:
        table = getattr(tables, name)
        if isinstance(table, sources.PreviousTable):  # a table this load did not touch stays as it is
            parts[name] = table.parts
        elif isinstance(table, sources.MergedTable):
            written = [catalog.new_part(name, load, k) for k in range(len(table.touched) + 1)]
            out.update({path: table.without_replaced(old) for path, old in zip(written, table.touched, strict=False)})
            out[written[-1]] = table.write_new
            parts[name] = _folded(catalog, name, load, [*table.kept, *written], out)
        elif table is not None:
            out[catalog.new_part(name, load)] = table
            parts[name] = [catalog.new_part(name, load)]
        if name in tables.quarantine:
            out[catalog.quarantined(name)] = tables.quarantine[name]
    out[catalog.ingest_summary] = tables.summary
    listed = {"load": load, "tables": {n: [p.name for p in files] for n, files in parts.items()}}
    out[catalog.tables_manifest] = lambda path: path.write_text(json.dumps(listed, indent=1))  # renamed last
    io.write_together(out)
    for stale in catalog.stale_table_files():  # the parts this load replaced
        stale.unlink()
    for name in TABLES:
        table = getattr(tables, name)
        if isinstance(table, sources.MergedTable):  # this load's rows; the merged table is too big to hash each week
            tracker.log_dataset(table.new, f"{name} (this load)", "ingest", parts[name][-1])
        elif isinstance(table, pd.DataFrame):
            tracker.log_dataset(table, name, "ingest", parts[name][0])
    tracker.log_artifact(catalog.ingest_summary, "ingest")
    return tables.summary


def _folded(catalog: Catalog, name: str, load: int, parts: list[Path], out: dict) -> list[Path]:
    """The parts of a table, its smaller parts folded into one when there are more than ``MAX_PARTS``.

    Weekly loads add one small part each; folding all but the largest (the first load's history, usually) keeps the
    count bounded while rewriting only the small ones.
    """
    if len(parts) <= MAX_PARTS:
        return parts
    staged = {p: out.pop(p) for p in parts if p in out}  # parts of this load, not on disk yet: fold them in memory
    on_disk = [p for p in parts if p not in staged]
    largest = max(on_disk, key=lambda p: p.stat().st_size)
    folded = catalog.new_part(name, load, len(parts))

    def write(path: Path) -> None:
        frames = []
        for part in parts:
            if part == largest:
                continue
            if part in staged:
                with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
                    staged[part](Path(tmp) / "part.parquet")
                    frames.append(pq.read_table(Path(tmp) / "part.parquet"))
            else:
                frames.append(pq.read_table(part))
        pq.write_table(pa.concat_tables(frames), path)

    out[folded] = write
    return [largest, folded]
