"""Incremental loads: each row's key across loads, and this load merged into the previous table (streamed from disk)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline.sources.schemas import TableSpec


def record_keys(frame: pd.DataFrame, spec: TableSpec) -> pd.Series:
    """Each row's identity across loads: ``id:<record ID>``, or for rows without one ``h:<content hash>:<n>``.

    ``n`` numbers identical rows within one load, so two genuinely identical purchases stay two rows, while loading
    the same rows again (a re-run, or an overlapping increment) gives the same keys and adds nothing.
    """
    content = pd.util.hash_pandas_object(frame[sorted(frame.columns)], index=False)
    nth = content.groupby(content.to_numpy()).cumcount().astype("string")
    hashed = "h:" + pd.Series(content.to_numpy().astype("U20"), index=frame.index, dtype="string") + ":" + nth
    if spec.record_id and spec.record_id in frame:
        ids = frame[spec.record_id].astype("string")
        return ("id:" + ids).where(ids.notna(), hashed)
    return hashed


class PreviousTable:
    """An interim table of earlier loads, left on disk as its Parquet parts: merging reads only what a load touches.

    A weekly load at a million customers adds thousands of rows to tens of millions; the previous parts are streamed
    batch by batch and never held in memory, and a load rewrites only the parts holding a row it replaces.
    """

    def __init__(self, parts: Path | list[Path]):
        self.parts = [Path(p) for p in ([parts] if isinstance(parts, (str, Path)) else parts)]
        files = [pq.ParquetFile(p) for p in self.parts]
        self.schema = files[0].schema_arrow if files else pa.schema([])
        self.n_rows = sum(f.metadata.num_rows for f in files)
        self.uniform = all(f.schema_arrow.equals(self.schema) for f in files)

    def batches(
        self, columns: Optional[list[str]] = None, parts: Optional[list[Path]] = None
    ) -> Iterator[pa.RecordBatch]:
        for part in self.parts if parts is None else parts:
            yield from pq.ParquetFile(part).iter_batches(batch_size=1 << 20, columns=columns)

    def parts_with_keys(self, keys: pa.Array) -> list[Path]:
        """The parts holding a row whose ``_key`` is one of ``keys``."""
        return [
            part
            for part in self.parts
            if any(pc.any(pc.is_in(b.column(0), value_set=keys)).as_py() for b in self.batches(["_key"], [part]))
        ]

    def rows_with_keys(self, keys: pd.Series, parts: Optional[list[Path]] = None) -> pd.DataFrame:
        """The previous rows whose ``_key`` is one of ``keys`` (with their pandas types)."""
        wanted = pa.array(keys.astype(str).unique())
        parts = self.parts_with_keys(wanted) if parts is None else parts
        hits = [b.filter(pc.is_in(b.column("_key"), value_set=wanted)) for b in self.batches(parts=parts)]
        return pa.Table.from_batches(hits, schema=self.schema).to_pandas()

    @functools.cached_property
    def _customer_ids(self) -> pd.Index:
        ids = [pc.unique(b.column(0)) for b in self.batches(["customer_id"])]
        unique = pc.unique(pa.chunked_array(ids)).to_pandas() if ids else []
        return pd.Index(unique, dtype="string")

    def customer_ids(self) -> pd.Index:
        """The distinct customers of the table (read once)."""
        return self._customer_ids

    def to_pandas(self) -> pd.DataFrame:
        return pa.concat_tables([pq.read_table(p) for p in self.parts], promote_options="permissive").to_pandas()


@dataclass(frozen=True)
class MergedTable:
    """The previous parts, less the rows this load replaces, plus one new part with this load's rows.

    Parts without a replaced row are kept as they are (the file is not touched); a part holding one is rewritten
    without it. A weekly load of new rows therefore writes only its own part.
    """

    previous: PreviousTable
    new: pd.DataFrame
    n_replaced: int  # previous rows whose key this load carries again
    touched: tuple[Path, ...] = ()  # previous parts holding such a row

    def __len__(self) -> int:
        return self.previous.n_rows - self.n_replaced + len(self.new)

    @property
    def kept(self) -> list[Path]:
        """Previous parts this load leaves as they are."""
        return [p for p in self.previous.parts if p not in self.touched]

    def without_replaced(self, part: Path) -> Callable[[Path], None]:
        """A writer of ``part`` less the rows this load replaces."""
        new_keys = pa.array(self.new["_key"].astype(str).unique())

        def write(path: Path) -> None:
            with pq.ParquetWriter(path, self.previous.schema) as writer:
                for batch in self.previous.batches(parts=[part]):
                    writer.write_batch(batch.filter(pc.invert(pc.is_in(batch.column("_key"), value_set=new_keys))))

        return write

    def write_new(self, path: Path) -> None:
        """This load's rows as a part with the previous parts' schema."""
        pq.write_table(pa.Table.from_pandas(self.new, schema=self.previous.schema, preserve_index=False), path)

    def customer_ids(self) -> pd.Index:
        return self.previous.customer_ids().union(pd.Index(self.new["customer_id"].astype("string").unique()))


def _streamable(previous: PreviousTable, new: pd.DataFrame) -> bool:
    """Whether this load has the previous table's columns, so its rows can be appended to the previous file."""
    if not previous.uniform or list(new.columns) != [c for c in previous.schema.names if not c.startswith("__index")]:
        return False
    try:
        pa.Table.from_pandas(new.head(0), schema=previous.schema, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError, TypeError):
        return False
    return True


def merge(
    previous: Optional[pd.DataFrame | PreviousTable], new: pd.DataFrame
) -> tuple[pd.DataFrame | MergedTable, dict[str, int]]:
    """Add this load to the previous table by ``_key``: a key seen before is replaced by its newer version."""
    if isinstance(previous, PreviousTable):
        if previous.n_rows == 0 or "_key" not in previous.schema.names:
            return new, {"rows_new": len(new), "rows_updated": 0, "rows_unchanged": 0}
        if not _streamable(previous, new):  # the columns changed between loads: merge in memory
            return merge(previous.to_pandas(), new)
        parts = previous.parts_with_keys(pa.array(new["_key"].astype(str).unique()))
        touched = previous.rows_with_keys(new["_key"], parts)
        return MergedTable(previous, new, len(touched), tuple(parts)), _merge_counts(touched, new)
    if previous is None or previous.empty or "_key" not in previous:
        return new, {"rows_new": len(new), "rows_updated": 0, "rows_unchanged": 0}
    kept = previous[~previous["_key"].isin(new["_key"])]
    merged = pd.concat([kept, new], ignore_index=True) if len(kept) else new
    return merged, _merge_counts(previous[previous["_key"].isin(new["_key"])], new)


def _merge_counts(touched: pd.DataFrame, new: pd.DataFrame) -> dict[str, int]:
    """New, updated and unchanged rows of this load, given the previous rows that share its keys."""
    seen = new["_key"].isin(touched["_key"])
    columns = [c for c in new.columns if c != "_key"]
    before = touched.drop_duplicates("_key", keep="last").set_index("_key").reindex(new.loc[seen, "_key"])
    unchanged = pd.Series(False, index=new.index)
    if set(columns) <= set(before.columns):
        try:
            old_hash = pd.util.hash_pandas_object(before[columns].astype(new[columns].dtypes.to_dict()), index=False)
        except (TypeError, ValueError):  # a column changed type between loads: count those rows as updated
            old_hash = None
        if old_hash is not None:
            new_hash = pd.util.hash_pandas_object(new.loc[seen, columns], index=False)
            unchanged.loc[seen] = old_hash.to_numpy() == new_hash.to_numpy()
    return {
        "rows_new": int((~seen).sum()),
        "rows_updated": int((seen & ~unchanged).sum()),
        "rows_unchanged": int(unchanged.sum()),
    }
