"""Every MLflow call lives here. ``NullTracker`` does nothing, so stages and tests run without a tracking store."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import socket
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any, Optional

import pandas as pd

log = logging.getLogger(__name__)


@functools.cache
def pip_requirements() -> list[str]:
    """The models' pip requirements, given explicitly: inferring them costs ~4 s per logged model."""
    return [f"{p}=={version(p)}" for p in ("lightgbm", "scikit-learn", "pandas", "numpy", "mlflow")]


def flatten(config: dict, prefix: str = "") -> dict[str, Any]:
    """Nested config -> {"a.b.c": value}, for MLflow parameters."""
    out = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = value
    return out


class NullTracker:
    """Tracking switched off: nothing is recorded; model versions are local."""

    def __enter__(self) -> NullTracker:
        return self

    def __exit__(self, *exc) -> None:
        return None

    def log_params(self, params: dict) -> None: ...
    def log_metrics(self, metrics: dict[str, float]) -> None: ...
    def set_tags(self, tags: dict[str, str]) -> None: ...

    def child(self, name: str) -> NullTracker:
        """A nested run (e.g. one backtest fold) inside this one."""
        return NullTracker()

    def log_artifact(self, path: Path, folder: Optional[str] = None) -> None: ...
    def log_dataset(self, frame: pd.DataFrame, name: str, context: str, source: Optional[Path] = None) -> None: ...

    def log_models(self, trained, example: pd.DataFrame, names: tuple[str, str]) -> tuple[str, dict[str, str]]:
        """Log (and register) both models: (version label for the scored list, {registered name: version})."""
        return "local", {}

    def set_champion(self, versions: dict[str, str]) -> None:
        """Point the registered models' ``champion`` alias at these versions."""

    @property
    def ui_hint(self) -> str:
        return "tracking is off (tracking.enabled=false)"


class MlflowTracker(NullTracker):
    """One MLflow run in a local (or configured) store; models logged with signatures and registered."""

    def __init__(
        self, uri: str, experiment: str, artifact_root: Path, register: bool, run_name: str, project: str = ""
    ):
        import mlflow

        self.mlflow = mlflow
        self.uri, self.register, self.run_name, self.project = uri, register, run_name, project
        mlflow.set_tracking_uri(uri)
        if mlflow.get_experiment_by_name(experiment) is None:
            artifact_root.mkdir(parents=True, exist_ok=True)
            mlflow.create_experiment(experiment, artifact_location=artifact_root.resolve().as_uri())
        self.experiment_id = mlflow.set_experiment(experiment).experiment_id

    def __enter__(self) -> MlflowTracker:
        self.end_orphaned_runs()
        tags = {"pipeline.project": self.project, "pipeline.host": socket.gethostname(), "pipeline.pid": os.getpid()}
        self.run = self.mlflow.start_run(run_name=self.run_name, tags={k: str(v) for k, v in tags.items()})
        return self

    def end_orphaned_runs(self) -> list[str]:
        """Mark KILLED this project's runs left RUNNING on this machine by a process that died.

        Called with the project's run lock held, so no other run of this project on this machine is alive.
        """
        client = self.mlflow.tracking.MlflowClient()
        found = client.search_runs(
            [self.experiment_id],
            filter_string=f"attributes.status = 'RUNNING' and tags.`pipeline.project` = '{self.project}'",
        )
        ended = [r.info.run_id for r in found if r.data.tags.get("pipeline.host") == socket.gethostname()]
        for run_id in ended:
            client.set_terminated(run_id, status="KILLED")
            log.warning("MLflow run %s was left RUNNING by a run that died: marked KILLED", run_id)
        return ended

    def __exit__(self, exc_type, *exc) -> None:
        self.mlflow.end_run(status="FAILED" if exc_type else "FINISHED")

    def log_params(self, params: dict) -> None:
        clean = {k: ("null" if v is None else str(v))[:500] for k, v in params.items()}
        self.mlflow.log_params(clean)

    def log_metrics(self, metrics: dict[str, float]) -> None:
        self.mlflow.log_metrics({k: float(v) for k, v in metrics.items() if pd.notna(v)})

    def set_tags(self, tags: dict[str, str]) -> None:
        self.mlflow.set_tags({k: str(v)[:5000] for k, v in tags.items()})

    def child(self, name: str) -> _ChildRun:
        return _ChildRun(self, name)

    def log_artifact(self, path: Path, folder: Optional[str] = None) -> None:
        self.mlflow.log_artifact(str(path), artifact_path=folder)

    def log_dataset(self, frame: pd.DataFrame, name: str, context: str, source: Optional[Path] = None) -> None:
        """Record an input table with a digest of its full content (fast: a hash per row, not MLflow's profile)."""
        import warnings

        from mlflow.data.dataset_source_registry import resolve_dataset_source
        from mlflow.data.meta_dataset import MetaDataset
        from mlflow.models import infer_signature

        digest = f"{int(pd.util.hash_pandas_object(frame, index=False).to_numpy().sum(dtype='uint64')):016x}"
        with warnings.catch_warnings():
            # "integer columns cannot hold missing values": a sample's schema is a guide; "can be interpreted in
            # multiple ways": two registered local-file sources, both the same kind
            warnings.simplefilter("ignore")
            schema = infer_signature(frame.head(1000)).inputs
            origin = resolve_dataset_source(str(Path(source).resolve()) if source else self.uri)
        self.mlflow.log_input(
            MetaDataset(  # type: ignore[abstract]  # MLflow builds it so; profile is optional at run time
                origin, name=f"{name} ({len(frame):,} rows)", digest=digest, schema=schema
            ),
            context=context,
        )

    def log_models(self, trained, example: pd.DataFrame, names: tuple[str, str]) -> tuple[str, dict[str, str]]:
        """Log and register both models; label 'churn_name/vN' (or the run id when not registering)."""

        x = example[list(dict.fromkeys([*trained.scorer.inputs, *trained.features]))].head(20)
        with _quiet("mlflow.sklearn"):  # its caution about cloudpickle, which our model wrappers need: known
            return self._log_models(trained, x, names)

    def _log_models(self, trained, x: pd.DataFrame, names: tuple[str, str]) -> tuple[str, dict[str, str]]:
        from mlflow.models import infer_signature

        churn_info = self.mlflow.sklearn.log_model(
            trained.scorer,
            name="churn_model",
            signature=infer_signature(x, trained.scorer.predict_proba(x)[:, 1]),
            input_example=x.head(3),
            pip_requirements=pip_requirements(),
            serialization_format="cloudpickle",
            registered_model_name=names[0] if self.register else None,
        )
        value_info = self.mlflow.sklearn.log_model(
            trained.value,
            name="value_model",
            signature=infer_signature(x, trained.value.predict(x)),
            input_example=x.head(3),
            pip_requirements=pip_requirements(),
            serialization_format="cloudpickle",
            registered_model_name=names[1] if self.register else None,
        )
        if not self.register:
            return f"run-{self.run.info.run_id[:12]}", {}
        versions = {
            names[0]: str(churn_info.registered_model_version),
            names[1]: str(value_info.registered_model_version),
        }
        return f"{names[0]}/v{churn_info.registered_model_version}", versions

    def set_champion(self, versions: dict[str, str]) -> None:
        client = self.mlflow.MlflowClient()
        for name, number in versions.items():
            client.set_registered_model_alias(name, "champion", number)

    @property
    def ui_hint(self) -> str:
        return f"make mlflow-ui   (tracking store {self.uri}, run {self.run.info.run_id})"


@contextlib.contextmanager
def _quiet(logger: str):
    """Only errors from ``logger`` while the block runs (a warning it repeats for every model we log on purpose)."""
    target = logging.getLogger(logger)
    level = target.level
    target.setLevel(logging.ERROR)
    try:
        yield
    finally:
        target.setLevel(level)


class _ChildRun(MlflowTracker):
    """A nested MLflow run under the active parent run; logs go to it while it is open."""

    def __init__(self, parent: MlflowTracker, name: str):
        self.mlflow, self.uri, self.register, self.run_name = parent.mlflow, parent.uri, False, name

    def __enter__(self) -> _ChildRun:
        self.run = self.mlflow.start_run(run_name=self.run_name, nested=True)
        return self


class GuardedTracker(NullTracker):
    """Tracking that never stops a run. The first failure of the tracking store (a damaged ``mlflow.db``, a server
    that does not answer) is reported once, naming the store and what to do, and the run goes on untracked: the
    weekly list needs no tracking. Tracking is a record of runs, not an input of any stage."""

    def __init__(self, make: Callable[[], NullTracker], store: str, parent: Optional[GuardedTracker] = None):
        self._make, self.store, self.parent = make, store, parent
        self.inner: Optional[NullTracker] = None
        self.failed: Optional[BaseException] = None

    def __enter__(self) -> GuardedTracker:
        try:
            inner = self._make()
            self.inner = inner.__enter__()
        except Exception as err:  # noqa: BLE001 (any tracking failure: the run must go on)
            self._fail(err)
        return self

    def __exit__(self, exc_type, *exc) -> None:
        if self.inner is not None:
            try:
                self.inner.__exit__(exc_type, *exc)
            except Exception as err:  # noqa: BLE001
                self._fail(err)

    def _fail(self, err: BaseException) -> None:
        if self.parent is not None:  # a nested run's failure is the store's: the parent reports it, once
            self.parent._fail(err)
        elif self.failed is None:
            log.warning(
                "tracking: the MLflow store %s failed (%s: %s). This run goes on untracked (its lists and models are "
                "written as usual). Repair the store, move a damaged mlflow.db aside (a new one is made on the next "
                "run), or set tracking.uri elsewhere / tracking.enabled=false",
                self.store,
                type(err).__name__,
                str(err).splitlines()[0][:300] if str(err) else "",
            )
        self.failed, self.inner = err, None

    def _call(self, method: str, *args, default=None):
        if self.inner is None:
            return default
        try:
            return getattr(self.inner, method)(*args)
        except Exception as err:  # noqa: BLE001
            self._fail(err)
            return default

    def log_params(self, params: dict) -> None:
        self._call("log_params", params)

    def log_metrics(self, metrics: dict[str, float]) -> None:
        self._call("log_metrics", metrics)

    def set_tags(self, tags: dict[str, str]) -> None:
        self._call("set_tags", tags)

    def child(self, name: str) -> GuardedTracker:
        parent = self

        def make() -> NullTracker:
            return parent.inner.child(name) if parent.inner is not None else NullTracker()

        return GuardedTracker(make, self.store, parent=self)

    def log_artifact(self, path: Path, folder: Optional[str] = None) -> None:
        self._call("log_artifact", path, folder)

    def log_dataset(self, frame: pd.DataFrame, name: str, context: str, source: Optional[Path] = None) -> None:
        self._call("log_dataset", frame, name, context, source)

    def log_models(self, trained, example: pd.DataFrame, names: tuple[str, str]) -> tuple[str, dict[str, str]]:
        return self._call("log_models", trained, example, names, default=("local", {}))

    def set_champion(self, versions: dict[str, str]) -> None:
        self._call("set_champion", versions)

    @property
    def ui_hint(self) -> str:
        if self.inner is None:
            return f"not tracked: the store {self.store} failed ({type(self.failed).__name__}); see the warning above"
        return self.inner.ui_hint
