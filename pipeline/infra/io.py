"""Every read and write of files: atomic writes (temp file in the same folder, then rename)."""

from __future__ import annotations

import contextlib
import functools
import getpass
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd

from pipeline.errors import OutputError
from pipeline.infra import faults


@functools.cache
def _file_mode() -> int:
    """The mode a plain ``open`` would give a new file under the process umask (e.g. 0644 for umask 022)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` in one rename, on error it vanishes.

    The file gets the umask's permissions (a temporary file is private while it is written), so another account
    (a BI tool, a cron user) can read the outputs as it could any file this process creates.
    """
    path = Path(path)
    tmp = None
    try:
        with _naming(path):
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
            os.close(fd)
            yield Path(tmp)
            os.chmod(tmp, _file_mode())
            os.replace(tmp, path)
    finally:
        if tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)


def _account() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container): the number says enough
        return f"uid {os.getuid()}"


@contextlib.contextmanager
def _naming(path: Path) -> Iterator[None]:
    """An OS failure while writing ``path`` as an ``OutputError`` naming the output (not its temporary file)."""
    try:
        yield
    except OSError as err:
        raise OutputError(
            f"could not write {path}: {err.strerror or err}. Check that {path.parent} exists, has free space, "
            f"and that this account ({_account()}) may write to it"
        ) from None


def write_together(frames: dict[Path, pd.DataFrame | Callable[[Path], None] | None]) -> None:
    """Write several files as one step: all are staged as temporary files first, then renamed in the given order.

    A failure while staging leaves every previous file as it was, so the last file can be a manifest that names the
    others (it is renamed only once they are in place). ``None`` removes that file; a callable writes the file
    itself, given the temporary path (e.g. a table streamed from disk).
    """
    staged: list[tuple[Path, Path]] = []
    try:
        for path, frame in frames.items():
            if frame is None:
                continue
            path = Path(path)
            with _naming(path):
                path.parent.mkdir(parents=True, exist_ok=True)
                fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
                os.close(fd)
                staged.append((Path(name), path))
                if callable(frame):
                    frame(Path(name))
                elif path.suffix == ".parquet":
                    frame.to_parquet(name, index=False)
                else:
                    frame.to_csv(name, index=False)
        for k, (tmp, path) in enumerate(staged):
            with _naming(path):
                os.chmod(tmp, _file_mode())
                os.replace(tmp, path)
            if k == 0:
                faults.point("write_together:renaming")
    finally:
        for tmp, _ in staged:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
    for path, frame in frames.items():
        if frame is None:
            Path(path).unlink(missing_ok=True)


PROVENANCE_KEY = b"pipeline.provenance"


def write_parquet(frame: pd.DataFrame, path: Path, provenance: dict | None = None) -> Path:
    """Write ``frame`` to Parquet atomically; ``provenance`` (what made it) is stored in the file's metadata."""
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    with atomic_path(path) as tmp:
        if provenance is None:
            frame.to_parquet(tmp, index=False)
        else:
            table = pa.Table.from_pandas(frame, preserve_index=False)
            meta = {**(table.schema.metadata or {}), PROVENANCE_KEY: json.dumps(provenance, sort_keys=True).encode()}
            pq.write_table(table.replace_schema_metadata(meta), tmp)
    return Path(path)


def parquet_provenance(path: Path) -> dict | None:
    """What made a Parquet file written with ``provenance`` (None for a file without it), from its footer."""
    import json

    import pyarrow.parquet as pq

    raw = (pq.read_schema(path).metadata or {}).get(PROVENANCE_KEY)
    return json.loads(raw) if raw else None


def write_csv(frame: pd.DataFrame, path: Path) -> Path:
    """Write ``frame`` to CSV atomically."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)
    return Path(path)


def write_text(text: str, path: Path) -> Path:
    """Write UTF-8 text atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_bytes(data: bytes, path: Path) -> Path:
    """Write bytes (e.g. a PNG) atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def read_parquet(path: Path, columns: list[str] | None = None) -> pd.DataFrame:
    """Read a Parquet file (only ``columns``, when given)."""
    return pd.read_parquet(path, columns=columns)


def parquet_columns(path: Path) -> list[str]:
    """The column names of a Parquet file, from its footer (no data is read)."""
    import pyarrow.parquet as pq

    return pq.read_schema(path).names
