"""The week publisher: a run's weekly outputs are staged privately and each week is published whole, by renaming
a symbolic link, so a reader sees last week's complete set or this one, never a mix; and what a killed run left is
found and removed. Weeks written before weeks were published as sets (a plain folder, before 0.3.0) are replaced on
their next publication; that shim is removed in 0.6.0."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pandas as pd

from pipeline.infra import faults


class WeekPublisher:
    """The scored weeks of a project (mixed into ``Catalog``, which holds the folders)."""

    interim: Path
    models: Path
    scored: Path

    def scored_dir(self, as_of: pd.Timestamp) -> Path:
        """A week's outputs. Published weeks are a link to their complete set in ``scored/.versions/``."""
        return self.scored / f"{as_of:%Y-%m-%d}"

    @contextlib.contextmanager
    def staging_scored(self) -> Iterator[Any]:
        """A catalog whose weekly outputs go to a private staging folder; each week is published on a clean exit.

        Publishing moves the staged folder to ``scored/.versions/`` and switches ``scored/<as_of>`` to it by
        renaming a symbolic link over the old one, so a reader (a BI tool, a person) sees last week's set or this
        one, never a mix; a run that fails publishes nothing.
        """
        root = self.scored / f".staging-{os.getpid()}"
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        try:
            yield dataclasses.replace(cast(Any, self), scored=root)  # the catalog this publisher is mixed into
            for week in sorted(p for p in root.iterdir() if p.is_dir()):
                self._publish_week(week)
        finally:
            shutil.rmtree(root, ignore_errors=True)

    def carry_scored(self, published: Any, as_of: pd.Timestamp) -> None:
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
