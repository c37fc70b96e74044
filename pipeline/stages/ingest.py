"""Stage ingest: the raw tables validated into the interim tables; bad rows to quarantine."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from pipeline import demo, ingest, io
from pipeline.catalog import TABLES, Catalog
from pipeline.config import Config, as_of_date
from pipeline.tracking import NullTracker

log = logging.getLogger(__name__)


def ensure_demo_data(cfg: Config) -> None:
    """Generate the demo tables when the demo source is selected and they are not there yet."""
    if cfg.data.source != "demo" or all(Path(getattr(cfg.data, t)).exists() for t in TABLES):
        return
    d = cfg.data.demo
    log.info("generating demo data: %d customers over %.1f years", d.n_customers, d.years)
    demo.write(demo.generate(d.n_customers, d.years, d.end_date, cfg.seed), Path(cfg.data.transactions).parent)


def run_ingest(cfg: Config, catalog: Catalog, tracker=NullTracker()) -> pd.DataFrame:
    """Validate the raw tables into interim Parquet; quarantine bad rows; return the per-table summary.

    ``data.mode=merge`` adds this load to the previous interim tables (see ``ingest.merge``). All interim tables are
    written together at the end, so a crash mid-way leaves the previous ones intact.
    """
    ensure_demo_data(cfg)
    previous = None
    if cfg.data.mode == "merge":
        previous = {n: ingest.PreviousTable(p) for n, p in catalog.existing_tables().items()}
    tables = ingest.load_tables(cfg.data, as_of_date(cfg), previous)
    out: dict[Path, object] = {}
    for name in TABLES:
        table = getattr(tables, name)
        if not isinstance(table, ingest.PreviousTable):  # a table this load did not touch stays as it is
            out[catalog.table(name)] = table.write_parquet if isinstance(table, ingest.MergedTable) else table
        if name in tables.quarantine:
            out[catalog.quarantined(name)] = tables.quarantine[name]
    out[catalog.ingest_summary] = tables.summary
    io.write_together(out)
    for name in TABLES:
        table = getattr(tables, name)
        if isinstance(table, ingest.MergedTable):  # this load's rows; the merged table is too big to hash each week
            tracker.log_dataset(table.new, f"{name} (this load)", "ingest", catalog.table(name))
        elif isinstance(table, pd.DataFrame):
            tracker.log_dataset(table, name, "ingest", catalog.table(name))
    tracker.log_artifact(catalog.ingest_summary, "ingest")
    return tables.summary
