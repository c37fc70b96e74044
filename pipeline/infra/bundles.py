"""The model store's formats and failures: bundles (candidate, champion), the backtest's verdict, the promotion log.

A damaged or foreign file is never half-read: it stops the run with a message naming the file and how to restore it.
The MLflow registry keeps every registered churn and value model (``models:/<name>@champion``), and ``make train``
refits a bundle from the data in minutes, so a lost bundle costs a retraining, never a list.
"""

from __future__ import annotations

import json
import pickle
from dataclasses import asdict
from pathlib import Path
from typing import Optional

import joblib

from pipeline.bundle import FORMAT, ModelBundle, Verdict
from pipeline.errors import PipelineError
from pipeline.infra import io

RESTORE = (
    "restore it by retraining (`make train`, or `python -m pipeline stage=all`); every champion's churn and value "
    "models stay in the MLflow registry as models:/<name>@champion"
)


class DamagedArtefact(PipelineError):
    """A file the pipeline wrote cannot be read back (truncated, overwritten, or from another release)."""


def read_bundle(path: Path) -> Optional[ModelBundle]:
    """The candidate or champion at ``path`` (None when there is none)."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        saved = joblib.load(path)
    except (EOFError, pickle.UnpicklingError, ValueError, OSError, IndexError, KeyError) as err:
        raise DamagedArtefact(f"{path} is damaged and cannot be read ({type(err).__name__}: {err}); {RESTORE}") from err
    except (ModuleNotFoundError, AttributeError, ImportError) as err:
        raise DamagedArtefact(
            f"{path} was saved by another release of the pipeline (its classes have moved: {err}); {RESTORE}"
        ) from err
    if not isinstance(saved, ModelBundle):
        raise DamagedArtefact(f"{path} holds a {type(saved).__name__}, not a model bundle; {RESTORE}")
    found = getattr(saved, "format", None)
    if found != FORMAT:
        raise DamagedArtefact(
            f"{path} is in save format {found}, this release reads format {FORMAT} (formats are not converted); "
            f"{RESTORE}"
        )
    return saved


def write_bundle(bundle: ModelBundle, path: Path) -> Path:
    with io.atomic_path(path) as tmp:
        joblib.dump(bundle, tmp)
    return Path(path)


def read_verdict(path: Path) -> Optional[Verdict]:
    if not Path(path).exists():
        return None
    try:
        return Verdict(**json.loads(Path(path).read_text(encoding="utf-8")))
    except (ValueError, TypeError) as err:
        raise DamagedArtefact(f"{path} is damaged ({err}): run stage=evaluate again (or stage=all)") from err


def write_verdict(verdict: Verdict, path: Path) -> Path:
    return io.write_text(json.dumps(asdict(verdict), indent=1), path)


def read_promotions(path: Path) -> list[dict]:
    """Every promotion decision so far, oldest first."""
    if not Path(path).exists():
        return []
    records = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except ValueError as err:
            raise DamagedArtefact(
                f"{path} line {number} is not a JSON record ({err}): the promotion log is a record for people; "
                f"remove or repair that line"
            ) from err
    return records


def append_promotion(record: dict, path: Path) -> Path:
    """Append one decision to the promotion log (one JSON line each)."""
    previous = Path(path).read_text(encoding="utf-8") if Path(path).exists() else ""
    return io.write_text(previous + json.dumps(record) + "\n", path)
