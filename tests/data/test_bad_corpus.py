"""Every case of the bad-input corpus (tests/data/bad/*/case.yaml) gives exactly its expected outcome."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
import yaml

from pipeline import sources
from pipeline.config import ColumnMaps, CsvOptions, DataConfig, LinesConfig
from pipeline.sources import IngestError

CORPUS = Path(__file__).parent / "bad"
CASES = sorted(p.parent for p in CORPUS.glob("*/case.yaml"))


def test_the_corpus_has_at_least_twenty_cases():
    assert len(CASES) >= 20


def _config(folder: Path, case: dict) -> DataConfig:
    options = dict(case.get("config") or {})
    csv = CsvOptions(**options.pop("csv", {}))
    lines = LinesConfig(**options.pop("lines", {}))
    columns = ColumnMaps(
        **{name: type(getattr(ColumnMaps(), name))(**mapping) for name, mapping in options.pop("columns", {}).items()}
    )
    tables = {name: str(folder / file) for name, file in case["tables"].items()}
    return DataConfig(source="files", csv=csv, lines=lines, columns=columns, **tables, **options)


def _values(series: pd.Series) -> list:
    if pd.api.types.is_datetime64_any_dtype(series):
        return [None if pd.isna(v) else f"{v:%Y-%m-%d %H:%M:%S}" for v in series]
    return [None if pd.isna(v) else v for v in series]


@pytest.mark.parametrize("folder", CASES, ids=[c.name for c in CASES])
def test_bad_input_case(folder: Path):
    case = yaml.safe_load((folder / "case.yaml").read_text(encoding="utf-8"))
    expect = case["expect"]
    cfg = _config(folder, case)
    as_of = pd.Timestamp(case["as_of"]) if case.get("as_of") else None
    if "error" in expect:
        with pytest.raises(IngestError) as err:
            sources.load_tables(cfg, as_of)
        assert re.search(expect["error"], str(err.value)), str(err.value)
        assert "\n" not in str(err.value)
        return
    tables = sources.load_tables(cfg, as_of)
    summary = tables.summary.set_index("table")
    for name, row in summary.iterrows():  # nothing is lost, in every case
        assert row.rows_read == row.rows_loaded + row.rows_quarantined + row.rows_held, name
    for name, held in (expect.get("held") or {}).items():
        assert summary.loc[name, "rows_held"] == held, name
    for name, (read, loaded, quarantined) in (expect.get("counts") or {}).items():
        assert tuple(summary.loc[name, ["rows_read", "rows_loaded", "rows_quarantined"]]) == (
            read,
            loaded,
            quarantined,
        ), name
    for name, rows in (expect.get("quarantined") or {}).items():
        q = tables.quarantine[name].set_index("_source_row")["_reason"]
        assert sorted(q.index) == sorted(rows), f"{name}: quarantined rows {sorted(q.index)}, expected {sorted(rows)}"
        for row, pattern in rows.items():
            assert re.search(pattern, q[row]), f"{name} row {row}: {q[row]!r} does not match {pattern!r}"
    for name, columns in (expect.get("loaded") or {}).items():
        frame = getattr(tables, name)
        for column, values in columns.items():
            got = _values(frame[column])
            if all(isinstance(v, float) for v in values):
                assert got == pytest.approx(values), f"{name}.{column}"
            else:
                assert got == values, f"{name}.{column}"
