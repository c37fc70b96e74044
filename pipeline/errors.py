"""The errors a person can act on. Each message names the key, file, table or stage concerned and what to do.

The entry point turns these into one line on stderr and exit code 2; anything else is a bug and keeps its
traceback. Each stage raises the subclass that says what went wrong.
"""

from __future__ import annotations


class PipelineError(Exception):
    """A failure the user can fix: bad input, a missing or stale artefact, a setting out of range, a busy project."""


class StaleArtefact(PipelineError):
    """An artefact on disk was made for another as_of, horizon, data or model than this run asks for."""


class OutputError(PipelineError):
    """An output could not be written (permissions, a full disk, a missing folder)."""
