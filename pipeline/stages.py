"""The stages as plain functions over a run's folders: each reads what the stage before it wrote and writes its own.

``pipeline/__main__.py`` turns the Hydra config into calls of these; tests can call them directly.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional

import pandas as pd

from pipeline import demo, evaluate, explain, ingest, io, labels, registry, report, score, threads, train
from pipeline.config import Config, ConfigError
from pipeline.features import engine, sampling
from pipeline.features.build import build_on, concat_cutoffs, excluded
from pipeline.tracking import NullTracker

log = logging.getLogger(__name__)
TABLES = ("transactions", "complaints", "customers", "surveys")


@dataclass(frozen=True)
class Paths:
    """Where a run reads and writes."""

    raw: Path
    interim: Path
    quarantine: Path
    scored: Path
    models: Path
    mlruns: Path

    @classmethod
    def from_config(cls, cfg: Config) -> "Paths":
        return cls(**{k: Path(v) for k, v in asdict(cfg.paths).items()})

    @property
    def features(self) -> Path:
        return self.interim / "features"

    def scored_dir(self, as_of: pd.Timestamp) -> Path:
        return self.scored / f"{as_of:%Y-%m-%d}"


def _as_of(cfg: Config) -> Optional[pd.Timestamp]:
    return pd.Timestamp(cfg.as_of).normalize() if cfg.as_of else None


def ensure_demo_data(cfg: Config) -> None:
    """Generate the demo tables when the demo source is selected and they are not there yet."""
    if cfg.data.source != "demo" or all(Path(getattr(cfg.data, t)).exists() for t in TABLES):
        return
    d = cfg.data.demo
    log.info("generating demo data: %d customers over %.1f years", d.n_customers, d.years)
    demo.write(demo.generate(d.n_customers, d.years, d.end_date, cfg.seed), Path(cfg.data.transactions).parent)


def run_ingest(cfg: Config, paths: Paths, tracker=NullTracker()) -> pd.DataFrame:
    """Validate the raw tables into interim Parquet; quarantine bad rows; return the per-table summary.

    ``data.mode=merge`` adds this load to the previous interim tables (see ``ingest.merge``). All interim tables are
    written together at the end, so a crash mid-way leaves the previous ones intact.
    """
    ensure_demo_data(cfg)
    previous = None
    if cfg.data.mode == "merge":
        previous = {n: ingest.PreviousTable(p) for n in TABLES if (p := paths.interim / f"{n}.parquet").exists()}
    tables = ingest.run(cfg.data, _as_of(cfg), previous)
    out: dict[Path, object] = {}
    for name in TABLES:
        table = getattr(tables, name)
        if not isinstance(table, ingest.PreviousTable):  # a table this load did not touch stays as it is
            out[paths.interim / f"{name}.parquet"] = (
                table.write_parquet if isinstance(table, ingest.MergedTable) else table
            )
        if name in tables.quarantine:
            out[paths.quarantine / name / "quarantined.csv"] = tables.quarantine[name]
    out[paths.interim / "ingest_summary.csv"] = tables.summary
    io.write_together(out)
    for name in TABLES:
        table = getattr(tables, name)
        if isinstance(table, ingest.MergedTable):  # this load's rows; the merged table is too big to hash each week
            tracker.log_dataset(table.new, f"{name} (this load)", "ingest", paths.interim / f"{name}.parquet")
        elif isinstance(table, pd.DataFrame):
            tracker.log_dataset(table, name, "ingest", paths.interim / f"{name}.parquet")
    tracker.log_artifact(paths.interim / "ingest_summary.csv", "ingest")
    return tables.summary


def interim_tables(con, paths: Paths) -> dict:
    """The validated tables as tables of the feature engine, read from their Parquet files where they lie."""
    found = {name: p for name in TABLES if (p := paths.interim / f"{name}.parquet").exists()}
    if "transactions" not in found:
        raise ingest.IngestError(f"no validated transactions at {paths.interim}; run stage=ingest first")
    return {name: engine.read_parquet(con, name, p) for name, p in found.items()}


def resolve_as_of(cfg: Config, last_transaction: pd.Timestamp) -> pd.Timestamp:
    """The configured as_of, or the day after the last transaction."""
    return _as_of(cfg) or last_transaction.normalize() + pd.Timedelta(days=1)


def sample_customers(con, tables: dict, max_customers: int, seed: int) -> dict:
    """The tables restricted to at most ``max_customers`` customers, sampled by customer (0 = all).

    Training uses at most this many customers per cutoff, so the labelled cutoffs are built from the sample alone:
    their cost stays bounded however large the base grows. Scoring always uses every customer.
    """
    tx = tables["transactions"]
    ids = engine.execute(con, tx.select("customer_id").distinct().order_by("customer_id"))["customer_id"]
    if max_customers <= 0 or len(ids) <= max_customers:
        return tables
    keep = ids.iloc[sampling.by_customer(ids, max_customers, seed)].astype("string").to_frame()
    sample = engine.load(con, "customer_sample", keep)
    log.info(
        "features: training cutoffs use %s of %s customers (model.max_rows_per_cutoff)",
        f"{len(keep):,}",
        f"{len(ids):,}",
    )
    return {name: t.semi_join(sample, "customer_id") for name, t in tables.items()}


def check_as_of(as_of: pd.Timestamp, first: pd.Timestamp, last: pd.Timestamp, horizon_days: int) -> None:
    """Stop when as_of lies outside the data: before its first transaction, or more than a horizon after its last."""
    if as_of <= first.normalize():
        raise ConfigError(
            f"as_of={as_of:%Y-%m-%d} is {(first.normalize() - as_of).days:,} days before the first "
            f"transaction ({first:%Y-%m-%d}): there is no history before it to score. "
            f"Choose an as_of after {first:%Y-%m-%d}"
        )
    gap = (as_of - last.normalize()).days
    if gap > horizon_days:
        raise ConfigError(
            f"as_of={as_of:%Y-%m-%d} is {gap:,} days after the last transaction ({last:%Y-%m-%d}), more than "
            f"horizon_days={horizon_days}: every customer would look gone. Load newer transactions, or "
            f"choose an as_of up to {last.normalize() + pd.Timedelta(days=horizon_days):%Y-%m-%d}"
        )


def labelled_path(paths: Paths, cutoff: pd.Timestamp) -> Path:
    """The labelled feature rows of one training cutoff (one Parquet file per cutoff)."""
    return paths.features / "labelled" / f"cutoff={cutoff:%Y-%m-%d}.parquet"


def load_labelled(paths: Paths, cutoffs) -> pd.DataFrame:
    """The labelled feature rows of ``cutoffs``, read from their per-cutoff files."""
    files = [labelled_path(paths, c) for c in sorted(set(cutoffs))]
    missing = [f.name for f in files if not f.exists()]
    if missing:
        raise ValueError(
            f"no labelled features for {', '.join(missing[:3])} in {paths.features / 'labelled'}: "
            f"run stage=features first (or stage=all)"
        )
    return concat_cutoffs([io.read_parquet(f) for f in files])


def run_features(cfg: Config, paths: Paths, training: bool = True) -> dict:
    """Features for every planned cutoff (labelled, one file per cutoff) and for as_of (to score); returns the plan.

    Cutoffs are built one at a time from the interim Parquet files, so memory stays at one pass over the events.
    ``training=False`` (the weekly run) builds only as_of.
    """
    con = engine.connect(
        cfg.features.engine,
        threads.count(),
        cfg.features.spark_master,
        cfg.features.memory_limit,
        paths.interim / ".engine_tmp",
    )
    tables = interim_tables(con, paths)
    tx = tables["transactions"]
    span = engine.execute(con, tx.aggregate(first=tx.timestamp.min(), last=tx.timestamp.max()))
    first, last = pd.Timestamp(span["first"].iloc[0]), pd.Timestamp(span["last"].iloc[0])
    as_of = resolve_as_of(cfg, last)
    check_as_of(as_of, first, last, cfg.horizon_days)
    observed = cfg.horizon_days + cfg.model.label_gap_days  # a label is known this long after its cutoff
    production, folds = train.plan(as_of, first, observed, cfg.model)
    fallback_reason = None if production else train.too_short_message(as_of, first, observed, cfg.model)
    if production is None:
        log.warning("%s: scoring with BG/NBD x Gamma-Gamma, which needs no labels", fallback_reason)
    cutoffs = sorted({c for f in [production, *folds] if f for c in (*f.train, f.validation, f.test) if c is not None})
    started = time.monotonic()
    todo = [*cutoffs, as_of] if training else [as_of]
    sampled = sample_customers(con, tables, cfg.model.max_rows_per_cutoff, cfg.seed) if training and cutoffs else tables
    for k, cutoff in enumerate(todo, 1):
        labelled = cutoff < as_of
        frame = build_on(con, sampled if labelled else tables, [cutoff], cfg.features, cfg.horizon_days)
        frame = frame.drop(columns=excluded(frame.columns, cfg.features.exclude))
        if labelled:
            outcome = labels.build_on(con, tx, frame, cfg.horizon_days, cfg.model.label_gap_days)
            frame = frame.assign(churned=outcome["churned"], future_spend=outcome["future_spend"])
            io.write_parquet(frame, labelled_path(paths, cutoff))
        else:
            io.write_parquet(frame, paths.features / "scoring.parquet")
        log.info(
            "features: cutoff %d of %d (%s): %s customers, %.0f s elapsed",
            k,
            len(todo),
            f"{cutoff:%Y-%m-%d}",
            f"{len(frame):,}",
            time.monotonic() - started,
        )
    if training:
        keep = {labelled_path(paths, c).name for c in cutoffs}
        for stale in (paths.features / "labelled").glob("cutoff=*.parquet"):
            if stale.name not in keep:
                stale.unlink()
    plan = {
        "as_of": as_of.isoformat(),
        "production": _fold_json(production) if production else None,
        "folds": [_fold_json(f) for f in folds],
        "fallback_reason": fallback_reason,
    }
    io.write_text(json.dumps(plan, indent=1), paths.features / "plan.json")
    return plan


def _fold_json(f: train.Fold) -> dict:
    return {
        "train": [c.isoformat() for c in f.train],
        "validation": f.validation.isoformat(),
        "test": f.test.isoformat() if f.test is not None else None,
    }


def _fold(d: dict) -> train.Fold:
    ts = pd.Timestamp
    return train.Fold(tuple(ts(c) for c in d["train"]), ts(d["validation"]), ts(d["test"]) if d["test"] else None)


def _fold_cutoffs(folds: list[train.Fold]) -> list[pd.Timestamp]:
    return [c for f in folds for c in (*f.train, f.validation, f.test)]


def _plan_json(paths: Paths) -> dict:
    path = paths.features / "plan.json"
    if not path.exists():
        raise ValueError(f"no features at {paths.features}: run stage=features first (or stage=all)")
    return json.loads(path.read_text())


def load_plan(paths: Paths) -> tuple[pd.Timestamp, train.Fold, list[train.Fold]]:
    plan = _plan_json(paths)
    production = _fold(plan["production"]) if plan["production"] else None
    return pd.Timestamp(plan["as_of"]), production, [_fold(f) for f in plan["folds"]]


def run_train(cfg: Config, paths: Paths, tracker) -> str:
    """Fit the candidate models on the latest fully observed cutoffs; export and log them; return the version.

    The candidate scores nothing until evaluate promotes it to champion (see ``pipeline.registry``).
    """
    as_of, production, _ = load_plan(paths)
    common = {"recipe": registry.recipe(cfg), "as_of": as_of.isoformat()}
    if production is None:
        bundle = {"kind": "bgnbd", "version": score.FALLBACK_VERSION, "versions": {}, "features": [], **common}
        tracker.log_params({"train.model": "bgnbd_gamma_gamma (no labelled history)"})
    else:
        labelled = load_labelled(paths, [*production.train, production.validation])
        train_rows = labelled[labelled["cutoff"].isin(production.train)]
        validation_rows = labelled[labelled["cutoff"] == production.validation]
        trained = train.fit(train_rows, validation_rows, cfg.model, cfg.seed, cfg.horizon_days)
        tracker.log_params(
            {
                "train.calibration": trained.calibration,
                "train.churn_iterations": trained.churn_iterations,
                "train.value_iterations": trained.value_iterations,
                "train.n_features": len(trained.features),
            }
        )
        tracker.log_dataset(train_rows, "training", "training", paths.features / "labelled")
        for path in _explain_artifacts(trained, validation_rows, paths.interim / "explain"):
            tracker.log_artifact(path, "explain")
        version, versions = tracker.log_models(
            trained, labelled, (cfg.tracking.churn_model_name, cfg.tracking.value_model_name)
        )
        bundle = {
            "kind": "lightgbm",
            "trained": trained,
            "version": version,
            "versions": versions,
            "features": list(trained.features),
            "calibration": trained.calibration,
            "train_cutoffs": [f"{c:%Y-%m-%d}" for c in production.train],
            "validation_cutoff": f"{production.validation:%Y-%m-%d}",
            **common,
        }
    registry.save(bundle, paths.models / "candidate.joblib")
    return bundle["version"]


def _explain_artifacts(trained: train.TrainedModels, rows: pd.DataFrame, folder: Path) -> list[Path]:
    """Feature importance (gain) of both models and the churn model's mean |SHAP| per feature on the validation rows."""
    churn_gain = trained.churn.classifier.booster_.feature_importance("gain")
    value_gain = trained.value.regressor.booster_.feature_importance("gain")
    importance = pd.DataFrame({"feature": trained.features, "churn_gain": churn_gain, "value_gain": value_gain})
    shap_mean = explain.contributions(trained.churn, rows).abs().mean().rename("mean_abs_shap")
    summary = shap_mean.sort_values(ascending=False).rename_axis("feature").reset_index()
    return [
        io.write_csv(importance.sort_values("churn_gain", ascending=False), folder / "feature_importance.csv"),
        io.write_csv(summary, folder / "shap_summary.csv"),
        io.write_bytes(report.shap_summary_plot(shap_mean), folder / "shap_summary.png"),
    ]


def run_evaluate(cfg: Config, paths: Paths, tracker) -> pd.DataFrame:
    """Out-of-time backtest of model and baseline over the planned folds; returns mean/std per model."""
    _, _, folds = load_plan(paths)
    (paths.interim / "evaluation" / "latest_fold.parquet").unlink(missing_ok=True)
    if not folds:
        log.warning("no backtest fold fits in the history before as_of: the model is not evaluated out of time")
        empty = pd.DataFrame(columns=["fold", "test_cutoff", "model", *evaluate.CHURN_METRICS, *evaluate.VALUE_METRICS])
        io.write_csv(empty, paths.interim / "evaluation" / "metrics.csv")
        return evaluate.summarise(empty)
    labelled = load_labelled(paths, _fold_cutoffs(folds))
    bt = evaluate.backtest(labelled, folds, cfg.model, cfg.seed, cfg.horizon_days, cfg.campaign)
    io.write_csv(bt.metrics, paths.interim / "evaluation" / "metrics.csv")
    io.write_parquet(bt.latest, paths.interim / "evaluation" / "latest_fold.parquet")
    summary = evaluate.summarise(bt.metrics)
    for (fold, test_cutoff), rows in bt.metrics.groupby(["fold", "test_cutoff"], sort=True):
        with tracker.child(f"backtest fold {fold} (test cutoff {pd.Timestamp(test_cutoff):%Y-%m-%d})") as run:
            run.log_params({"fold": fold, "test_cutoff": f"{pd.Timestamp(test_cutoff):%Y-%m-%d}"})
            run.log_metrics(
                {
                    f"{r['model']}.{m}": r[m]
                    for r in rows.to_dict("records")
                    for m in (*evaluate.CHURN_METRICS, *evaluate.VALUE_METRICS)
                }
            )
    tracker.log_metrics({f"{m}.{metric}.{stat}": v for (metric, stat), col in summary.items() for m, v in col.items()})
    tracker.log_artifact(paths.interim / "evaluation" / "metrics.csv", "evaluation")
    return summary


def run_tune(cfg: Config, paths: Paths, tracker) -> float:
    """One tuning trial: fit the churn model with this config's LightGBM parameters on the production training cutoffs
    and return its log loss on the validation cutoff, the only data a sweep may select on (never the backtest's tests).
    """
    _, production, _ = load_plan(paths)
    if production is None:
        raise ValueError("nothing to tune: the history holds no labelled training cutoff (see stage=features)")
    labelled = load_labelled(paths, [*production.train, production.validation])
    loss = train.validation_log_loss(
        labelled[labelled["cutoff"].isin(production.train)],
        labelled[labelled["cutoff"] == production.validation],
        cfg.model,
        cfg.seed,
    )
    tracker.log_metrics({"validation.log_loss": loss})
    return loss


def run_promotion(cfg: Config, paths: Paths, tracker, summary: pd.DataFrame) -> Optional[registry.Decision]:
    """Decide whether the candidate from train becomes the champion that scores the list; record why."""
    as_of, _, folds = load_plan(paths)
    candidate = registry.load(paths.models / "candidate.joblib")
    if candidate is None or candidate.get("as_of") != as_of.isoformat():
        log.warning("no candidate trained for as_of %s: the champion is unchanged", f"{as_of:%Y-%m-%d}")
        return None
    champion = registry.load(paths.models / "champion.joblib")
    scoring_columns = io.parquet_columns(paths.features / "scoring.parquet")
    ll = float(summary.loc["lightgbm", ("log_loss", "mean")]) if "lightgbm" in summary.index else None
    decision = registry.decide(
        candidate,
        champion,
        scoring_columns,
        lambda: load_labelled(paths, _fold_cutoffs(folds)),
        folds,
        ll,
        cfg.model.promotion_margin,
        cfg.horizon_days,
    )
    if decision.promoted:
        registry.save(candidate, paths.models / "champion.joblib")
        tracker.set_champion(candidate.get("versions", {}))
    registry.record(decision, paths.models / "promotions.jsonl")
    tracker.set_tags({"promotion": ("promoted: " if decision.promoted else "not promoted: ") + decision.reason})
    return decision


def run_score(cfg: Config, paths: Paths) -> Path:
    """Score as_of with the exported champion; write customers.parquet for the as_of date."""
    as_of, _, _ = load_plan(paths)
    bundle = registry.load(paths.models / "champion.joblib")
    if bundle is None:
        raise ValueError(
            f"no champion model in {paths.models}: run stage=train and stage=evaluate first (or stage=all)"
        )
    features = io.read_parquet(paths.features / "scoring.parquet")
    started = time.monotonic()
    if bundle.get("kind") == "bgnbd":
        scored, drivers = score.run_fallback(features, cfg.report.n_reasons)
    elif cfg.features.engine == "spark":  # predictions and exact reasons on the executors
        session = engine.spark_session(engine.connect("spark", threads.count(), cfg.features.spark_master))
        scored, drivers = score.run_on_spark(
            session, bundle["trained"], features, bundle["version"], cfg.report.n_reasons
        )
    else:
        scored, drivers = score.run(bundle["trained"], features, bundle["version"], cfg.report.n_reasons)
    log.info(
        "score: %s customers scored and explained in %.1f s (%s)",
        f"{len(scored):,}",
        time.monotonic() - started,
        cfg.features.engine,
    )
    out = paths.scored_dir(as_of)
    io.write_parquet(drivers.assign(customer_id=scored["customer_id"]), out / "drivers.parquet")
    return io.write_parquet(scored, out / "customers.parquet")


def run_report(cfg: Config, paths: Paths, tracker) -> tuple[Path, Path]:
    """Write at_risk.csv and report.html beside the scored list."""
    as_of, _, folds = load_plan(paths)
    out = paths.scored_dir(as_of)
    scored = io.read_parquet(out / "customers.parquet")
    drivers = io.read_parquet(out / "drivers.parquet").drop(columns="customer_id")
    metrics = pd.read_csv(paths.interim / "evaluation" / "metrics.csv")
    summary = evaluate.summarise(metrics)
    latest_path = paths.interim / "evaluation" / "latest_fold.parquet"
    fallback = scored["model_version"].iloc[0] == score.FALLBACK_VERSION
    figs = report.figures(
        io.read_parquet(latest_path) if latest_path.exists() else None,
        drivers,
        "warning-sign priority (rules; no labelled model)" if fallback else "mean |SHAP| (log-odds)",
        cfg.campaign,
    )
    names = list(evaluate.CHURN_METRICS + evaluate.VALUE_METRICS)
    rows = {m: {k: (summary.loc[m, (k, "mean")], summary.loc[m, (k, "std")]) for k in names} for m in summary.index}
    html = report.render(
        scored,
        summary,
        figs,
        {
            "as_of": f"{as_of:%Y-%m-%d}",
            "horizon_days": cfg.horizon_days,
            "model_version": scored["model_version"].iloc[0],
            "metric_names": names,
            "metric_rows": rows,
            "n_folds": len(folds),
            "fallback_reason": _plan_json(paths).get("fallback_reason"),
        },
        cfg.report.top_n,
    )
    csv_path = io.write_csv(report.at_risk(scored, cfg.report.top_n), out / "at_risk.csv")
    html_path = io.write_text(html, out / "report.html")
    for name, png in (
        ("calibration.png", figs.calibration),
        ("gains.png", figs.gains),
        ("drivers.png", figs.drivers),
        ("profit_curve.png", figs.profit),
        ("value_deciles.png", figs.value_deciles),
    ):
        if png is None:
            continue
        tracker.log_artifact(io.write_bytes(png, paths.interim / "evaluation" / name), "plots")
    tracker.log_artifact(html_path, "report")
    champion = registry.load(paths.models / "champion.joblib") or {}
    tx = io.read_parquet(paths.interim / "transactions.parquet", columns=["timestamp"])["timestamp"]
    card = report.model_card(
        {
            "model_version": scored["model_version"].iloc[0],
            "as_of": f"{as_of:%Y-%m-%d}",
            "horizon_days": cfg.horizon_days,
            "first_transaction": f"{tx.min():%Y-%m-%d}",
            "last_transaction": f"{tx[tx < as_of].max():%Y-%m-%d}",
            "n_customers": len(scored),
            "train_cutoffs": ", ".join(champion.get("train_cutoffs", [])),
            "validation_cutoff": champion.get("validation_cutoff"),
            "features": champion.get("features", []),
            "calibration": champion.get("calibration"),
        },
        summary,
    )
    card_path = io.write_text(card, out / "model_card.md")
    tracker.log_artifact(card_path, "report")
    return csv_path, html_path
