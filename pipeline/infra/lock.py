"""One run at a time per project: a second run stops at once and says which run holds the project.

The lock is an advisory ``flock`` on a file in the project folder, so it is released by the system when its holder
ends, however it ends (a ``kill -9`` included): a crashed run never leaves the project locked.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from pipeline.errors import PipelineError


class ProjectBusy(PipelineError):
    """Another run of the pipeline is working in this project folder."""


@contextlib.contextmanager
def exclusive(path: Path, what: str) -> Iterator[None]:
    """Hold the project's lock at ``path`` while the block runs; ``what`` describes this run to anyone who waits."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "a run that has not said what it is"
            raise ProjectBusy(
                f"another run is working in this project ({holder}); two runs at once would overwrite each other's "
                f"features, models and lists. Wait for it to finish, or stop it, and run again (lock: {path})"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}, started {pd.Timestamp.now():%Y-%m-%d %H:%M:%S}: {what}\n")
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)
