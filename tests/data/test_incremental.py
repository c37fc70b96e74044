"""Idempotent, incremental loads: re-runs and overlapping weekly files never double a row; crashes lose nothing."""

from __future__ import annotations

import pandas as pd
import pytest

from pipeline import sources, stages
from pipeline.config import Config, DataConfig, PathsConfig
from pipeline.infra.catalog import Catalog

TX = "customer_id,timestamp,amount\n"
COMPLAINTS = "complaint_id,customer_id,opened_at,resolved_at,category,severity\n"


def _config(tmp_path, mode="merge", **tables) -> Config:
    files = {}
    for name, text in tables.items():
        path = tmp_path / "in" / f"{name}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        files[name] = str(path)
    paths = PathsConfig(
        **{k: str(tmp_path / k) for k in ("raw", "interim", "quarantine", "scored", "models", "mlruns")}
    )
    return Config(data=DataConfig(source="files", mode=mode, **files), paths=paths)


def _load(cfg: Config) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    catalog = Catalog.from_config(cfg)
    summary = stages.run_ingest(cfg, catalog).set_index("table")
    return summary, {n: catalog.read_table(n) for n in catalog.existing_tables()}


def test_loading_the_same_files_twice_adds_nothing(tmp_path):
    tx = TX + "a,2024-01-01,10\na,2024-01-01,10\nb,2024-01-02,5\n"  # no IDs; two identical purchases are two rows
    cfg = _config(tmp_path, transactions=tx, complaints=COMPLAINTS + "k1,a,2024-01-03,,billing,1\n")
    first, tables = _load(cfg)
    assert first.loc["transactions", "rows_new"] == 3
    again, tables_again = _load(cfg)
    assert tuple(again.loc["transactions", ["rows_new", "rows_updated", "rows_unchanged", "rows_in_table"]]) == (
        0,
        0,
        3,
        3,
    )
    assert tuple(again.loc["complaints", ["rows_new", "rows_unchanged", "rows_in_table"]]) == (0, 1, 1)
    for name in tables:
        pd.testing.assert_frame_equal(tables[name], tables_again[name])


def test_an_overlapping_weekly_increment_with_late_rows_and_a_resolution(tmp_path):
    week1 = _config(
        tmp_path / "w1",
        transactions=TX + "a,2024-01-01,10\nb,2024-01-02,5\nc,2024-01-06,7\n",
        complaints=COMPLAINTS + "k1,a,2024-01-03,,billing,1\nk2,b,2024-01-04,,delivery,2\n",
    )
    week2 = _config(
        tmp_path / "w2",
        transactions=TX + "c,2024-01-06,7\nb,2024-01-05,3\nd,2024-01-09,8\n",  # overlap, late row, new row
        complaints=COMPLAINTS + "k1,a,2024-01-03,2024-01-08,billing,1\nk3,d,2024-01-10,,quality,1\n",
    )
    week2.paths = week1.paths
    _load(week1)
    summary, tables = _load(week2)
    tx = tables["transactions"]
    assert len(tx) == 5 and not tx.duplicated(["customer_id", "timestamp", "amount"]).any()
    assert tuple(summary.loc["transactions", ["rows_new", "rows_unchanged", "rows_in_table"]]) == (2, 1, 5)
    complaints = tables["complaints"].set_index("complaint_id")
    assert complaints.loc["k1", "resolved_at"] == pd.Timestamp("2024-01-08")  # the open record took its resolution
    assert pd.isna(complaints.loc["k2", "resolved_at"]) and "k3" in complaints.index  # k3's customer d is known now
    assert tuple(summary.loc["complaints", ["rows_new", "rows_updated", "rows_in_table"]]) == (1, 1, 3)


def test_replace_mode_makes_the_interim_tables_exactly_this_load(tmp_path):
    cfg = _config(tmp_path, mode="replace", transactions=TX + "a,2024-01-01,10\n")
    _load(cfg)
    (tmp_path / "in" / "transactions.csv").write_text(TX + "b,2024-02-01,3\n")
    _, tables = _load(cfg)
    assert list(tables["transactions"]["customer_id"]) == ["b"]


def test_a_crash_while_writing_leaves_the_previous_tables_and_a_rerun_completes(tmp_path, monkeypatch):
    cfg = _config(
        tmp_path, transactions=TX + "a,2024-01-01,10\n", complaints=COMPLAINTS + "k1,a,2024-01-03,,billing,1\n"
    )
    _, before = _load(cfg)
    interim = tmp_path / "interim"
    listing = sorted(str(p.relative_to(interim)) for p in interim.rglob("*"))
    (tmp_path / "in" / "transactions.csv").write_text(TX + "a,2024-01-01,10\nb,2024-01-05,4\n")
    (tmp_path / "in" / "complaints.csv").write_text(COMPLAINTS + "k1,a,2024-01-03,2024-01-04,billing,1\n")
    calls = []

    def dies_on_second_table(real):
        def write(self, *args, **kwargs):
            calls.append(1)
            if len(calls) == 2:
                raise KeyboardInterrupt("killed")
            return real(self, *args, **kwargs)

        return write

    # a merged table's new part and its rewritten parts are written by pyarrow: kill whichever part is written second
    monkeypatch.setattr(sources.MergedTable, "write_new", dies_on_second_table(sources.MergedTable.write_new))
    monkeypatch.setattr(
        sources.MergedTable, "without_replaced", dies_on_second_table(sources.MergedTable.without_replaced)
    )
    with pytest.raises(KeyboardInterrupt):
        _load(cfg)
    monkeypatch.undo()
    assert sorted(str(p.relative_to(interim)) for p in interim.rglob("*")) == listing  # no temporary file left
    catalog = Catalog.from_config(cfg)
    for name, frame in before.items():
        pd.testing.assert_frame_equal(catalog.read_table(name), frame)
    summary, after = _load(cfg)
    assert len(after["transactions"]) == 2
    assert after["complaints"].loc[0, "resolved_at"] == pd.Timestamp("2024-01-04")


def test_a_weekly_load_of_new_rows_adds_one_part_and_leaves_the_history_untouched(tmp_path):
    cfg = _config(tmp_path, transactions=TX + "a,2024-01-01,10\nb,2024-01-02,5\n")
    catalog = Catalog.from_config(cfg)
    _load(cfg)
    (history,) = catalog.table_files("transactions")
    before = history.stat()
    (tmp_path / "in" / "transactions.csv").write_text(TX + "c,2024-01-09,8\n")
    _load(cfg)
    files = catalog.table_files("transactions")
    assert files[0] == history and len(files) == 2
    assert (history.stat().st_ino, history.stat().st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    # a load that carries an old row again rewrites only the part holding it
    (tmp_path / "in" / "transactions.csv").write_text(TX + "c,2024-01-09,8\nd,2024-01-10,1\n")
    summary, tables = _load(cfg)
    assert catalog.table_files("transactions")[0] == history and len(catalog.table_files("transactions")) == 3
    assert sorted(tables["transactions"]["customer_id"]) == ["a", "b", "c", "d"]
    assert tuple(summary.loc["transactions", ["rows_new", "rows_unchanged", "rows_in_table"]]) == (1, 1, 4)
    on_disk = sorted(p.name for p in catalog.table_dir("transactions").iterdir())
    assert on_disk == sorted(p.name for p in catalog.table_files("transactions"))  # replaced parts are gone


def test_many_weekly_parts_are_folded_and_an_older_single_file_layout_is_still_read(tmp_path, monkeypatch):
    from pipeline.stages import ingest as ingest_stage

    monkeypatch.setattr(ingest_stage, "MAX_PARTS", 3)
    cfg = _config(tmp_path, transactions=TX + "a,2024-01-01,10\n")
    catalog = Catalog.from_config(cfg)
    for day in range(1, 7):
        (tmp_path / "in" / "transactions.csv").write_text(TX + f"a,2024-02-0{day},{day}\n")
        _, tables = _load(cfg)
        assert len(catalog.table_files("transactions")) <= 3
    assert len(tables["transactions"]) == 6 and tables["transactions"]["_key"].is_unique
    # a project written before tables had parts: its single files are read, and replaced by parts on the next load
    legacy = tmp_path / "legacy"
    old_cfg = _config(legacy, transactions=TX + "z,2024-01-01,3\n")
    old = Catalog.from_config(old_cfg)
    old.interim.mkdir(parents=True)
    tables["transactions"].to_parquet(old.interim / "transactions.parquet", index=False)
    assert len(old.read_table("transactions")) == 6
    _, merged = _load(old_cfg)
    assert len(merged["transactions"]) == 7 and not (old.interim / "transactions.parquet").exists()
