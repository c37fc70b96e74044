"""Stage report: the week's lists, the report and the model card, with what changed, how past lists turned out and
whether the model still fits the data."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

import pandas as pd

from pipeline import backtest, effects, history, labels, monitor, plan, population, scoring, views
from pipeline.config import Config
from pipeline.featurize import engine
from pipeline.infra import io, threads
from pipeline.infra.catalog import Catalog
from pipeline.stages.features import interim_tables
from pipeline.stages.score import Scored, read_scored

log = logging.getLogger(__name__)
PAST_LIST_COLUMNS = [
    "customer_id",
    "as_of",
    "churn_probability",
    "value_if_retained",
    "group",
    "on_list",
    "holdout",
    "saveable_value",
    "action",
]


def run_report(
    cfg: Config, catalog: Catalog, tracker, scored: Optional[Scored] = None, published: Optional[Catalog] = None
) -> tuple[Path, Path]:
    """Write the lists, report.html and model_card.md beside the scored list (from ``scored`` when given).

    ``published`` is the project's catalog when ``catalog`` stages this week's outputs: earlier weeks are read there.
    """
    published = published or catalog
    the_plan = catalog.read_plan()
    as_of = the_plan.as_of
    scored = scored or read_scored(catalog, as_of)
    customers, champion = scored.customers, scored.champion
    currency = cfg.report.currency
    previous = previous_week(published, as_of)
    changes = monitor.changes(customers, previous, cfg.retention) if previous is not None else None
    past, listed = past_lists(cfg, published, as_of)
    found = published.read_uplift_summary(as_of) or {}
    measured = [effects.Effect(**e) for e in found.get("effects") or []] or action_effects(cfg, listed)
    labels_of = driver_labels(cfg)
    health = check_health(cfg, catalog, the_plan, customers, champion, labels_of)
    newest = the_plan.last_transaction
    if newest is not None and (as_of - newest).days > cfg.health.max_data_age_days:
        health.warnings.insert(
            0,
            f"No transaction in the {cfg.health.max_data_age_days} days before {as_of:%Y-%m-%d} (the newest is from "
            f"{newest:%Y-%m-%d}): has this week's data arrived? The list is made from the data "
            f"loaded so far.",
        )
    for warning in health.warnings:
        log.warning("report: %s", warning)
    ctx = views.ListContext(
        currency,
        cfg.horizon_days,
        reference_risk(customers),
        changes.change_points if changes else None,
        changes.previous_as_of if changes else None,
        as_of,
    )
    save = views.save_list(customers, ctx)
    win_back = views.win_back_list(customers, ctx)
    csv_path = io.write_csv(save, catalog.at_risk(as_of))
    io.write_csv(win_back, catalog.win_back(as_of))
    with io.atomic_path(catalog.at_risk_xlsx(as_of)) as tmp:  # the win-back sheet: its most valuable customers
        views.write_xlsx({"Save list": save, "Win-back": win_back.head(cfg.report.top_n)}, tmp, ctx)
    page = views.render(
        views.PageInputs(
            customers=customers,
            drivers=scored.drivers,
            previous_drivers=previous_drivers(published, previous),
            save=save,
            win_back=win_back,
            changes=changes,
            past=past,
            effects=[
                effects.sentence(e, cfg.reasons.actions[e.action].label) for e in measured if e.contacted or e.held_out
            ],
            contact_log=catalog.table_files("contacts") != [] or published.table_files("contacts") != [],
            uplift=found or None,
            health=health,
            driver_labels=labels_of,
            context={
                "as_of": f"{as_of:%Y-%m-%d}",
                "horizon_days": cfg.horizon_days,
                "model_version": customers["model_version"].iloc[0] if len(customers) else "",
                "currency": currency,
                "fallback_reason": the_plan.fallback_reason,
                "scorer_reason": getattr(champion, "scorer_reason", None),
                "backtest_note": getattr(champion, "backtest_note", None),
                "extended": (the_plan.trained_horizon_days, cfg.horizon_days) if the_plan.extended else None,
                "left_out": the_plan.left_out,
                "reference_risk": ctx.reference_risk,
                "active_rule": active_rule(customers, cfg),
            },
        )
    )
    html_path = io.write_text(page, catalog.report(as_of))
    card_path = write_model_card(cfg, catalog, the_plan, customers, champion)
    if catalog.latest_fold.exists():  # the backtest's plots, for the data scientists, in MLflow
        for name, png in views.figures(io.read_parquet(catalog.latest_fold), cfg.campaign).items():
            tracker.log_artifact(io.write_bytes(png, catalog.plot(name)), "plots")
    for path in (html_path, card_path, csv_path, catalog.at_risk_xlsx(as_of)):
        tracker.log_artifact(path, "report")
    log_loop(tracker, customers, changes, past, health)
    return csv_path, html_path


def reference_risk(customers: pd.DataFrame) -> Optional[float]:
    """The risk of the typical active customer the reasons' points are measured from (None without points)."""
    if "reference_probability" not in customers or customers["reference_probability"].isna().all():
        return None
    return float(customers["reference_probability"].median())


def active_rule(customers: pd.DataFrame, cfg: Config) -> Optional[str]:
    """Who is in the active base this week, in words (None for lists made without one)."""
    if "return_window_days" not in customers or not len(customers):
        return None
    return population.describe(float(customers["return_window_days"].iloc[0]), cfg.population)


def previous_week(published: Catalog, as_of: pd.Timestamp) -> Optional[pd.DataFrame]:
    """Last week's scored customers (the latest published week before as_of), if it was made by this release."""
    earlier = [w for w in published.published_weeks() if w < as_of]
    if not earlier:
        return None
    frame = io.read_parquet(published.customers(earlier[-1]))
    return frame if "on_list" in frame else None


def previous_drivers(published: Catalog, previous: Optional[pd.DataFrame]) -> Optional[pd.DataFrame]:
    """Last week's driver points (for how the drivers moved), when last week's list was made by this release."""
    if previous is None:
        return None
    path = published.drivers(pd.Timestamp(previous["as_of"].iloc[0]))
    return io.read_parquet(path).drop(columns="customer_id") if path.exists() else None


def past_lists(cfg: Config, published: Catalog, as_of: pd.Timestamp) -> tuple[pd.DataFrame, pd.DataFrame]:
    """How every earlier list of this tool whose horizon has passed by as_of turned out (one row per list, newest
    first), and the listed customers of every past list (this tool's and the ``lists`` table's) one by one, with the
    action used, hold-out, contact and outcome (``pipeline.history``: for ``pipeline.effects``)."""
    con = engine.connect(threads=threads.count())
    tables = interim_tables(con, published) if published.existing_tables() else {}
    rows = history.listed(published, cfg, as_of)
    listed = history.with_outcomes(rows, published, tables, cfg, con) if len(rows) else rows
    if not len(listed):
        listed = pd.DataFrame(columns=list(effects.OUTCOME_COLUMNS))
    horizon = history.horizon(cfg)
    weeks = [w for w in published.published_weeks() if w + horizon <= as_of]
    frames = [io.read_parquet(published.customers(w)) for w in weeks]
    frames = [f[[c for c in PAST_LIST_COLUMNS if c in f]] for f in frames if "on_list" in f]
    if not frames:
        return pd.DataFrame(), listed
    population = pd.concat(frames, ignore_index=True)
    outcome = labels.outcomes_on(
        con,
        tables["transactions"],
        population.rename(columns={"as_of": "cutoff"}),
        cfg.horizon_days,
        cfg.model.label_gap_days,
    )
    contacts = published.read_table("contacts") if "contacts" in published.existing_tables() else None
    rows_out = []
    for week, part in population.groupby("as_of", sort=True):
        reached = None
        if contacts is not None:  # contacted in the list's horizon, by the team's own record
            when = contacts["contacted_at"]
            reached = contacts[(when >= week) & (when < week + horizon)]
        rows_out.append(monitor.list_outcome(part, outcome.loc[part.index, "churned"], reached))
    table = pd.DataFrame(rows_out).sort_values("as_of", ascending=False).reset_index(drop=True)
    return table, listed


def action_effects(cfg: Config, listed: pd.DataFrame) -> list[effects.Effect]:
    """Each kind of contact's effect on the past lists' customers (``pipeline.effects``)."""
    priors = {k: a.save_rate for k, a in cfg.reasons.actions.items()}
    return effects.measure(listed, priors, cfg.retention.effects)


def driver_labels(cfg: Config) -> dict[str, str]:
    """Plain words for each driver, and for each feature its driver's words (drift warnings name features)."""
    drivers = cfg.reasons.drivers
    return {**{f: d.label for d in drivers.values() for f in d.features}, **{n: d.label for n, d in drivers.items()}}


def check_health(
    cfg: Config, catalog: Catalog, the_plan: plan.Plan, customers: pd.DataFrame, champion, labels_of: dict[str, str]
) -> monitor.Health:
    """Drift of this week's features and scores from the champion's training data, and the champion's age."""
    if champion is None or champion.is_fallback:
        return monitor.Health(pd.Series(dtype=float), pd.Series(dtype=float), 0, [])
    features = catalog.read_scoring_features(the_plan)
    return monitor.health(
        champion.reference,
        features,
        customers["churn_probability"],
        pd.Timestamp(champion.as_of),
        the_plan.as_of,
        cfg.health,
        labels_of,
    )


def log_loop(tracker, customers: pd.DataFrame, changes, past: pd.DataFrame, health) -> None:
    """The weekly loop's numbers in MLflow: list sizes, changes, past lists' outcomes, drift and warnings."""
    metrics = {
        "list.save": float((customers["group"] == "save list").sum()),
        "list.held_out": float(customers["holdout"].sum()),
        "list.win_back": float((customers["group"] == "win-back").sum()),
        "list.saveable_value": float(customers.loc[customers["on_list"], "saveable_value"].sum()),
        "health.model_age_days": float(health.model_age_days),
    }
    if len(health.psi):
        metrics["health.max_psi"] = float(health.psi.max())
        metrics["health.score_psi"] = float(health.psi.get("churn score", float("nan")))
    if changes is not None:
        metrics.update({"changes.new": float(len(changes.new)), "changes.risen": float(len(changes.risen))})
        metrics["changes.left"] = float(len(changes.left))
    if len(past):
        latest = past.iloc[0]
        for key in ("churn_rate_listed", "churn_rate_base", "churn_rate_below_cut", "value_lost"):
            metrics[f"past_list.{key}"] = float(latest[key])
    tracker.log_metrics(metrics)
    tracker.set_tags({"health.warnings": " | ".join(health.warnings) or "none"})


def write_model_card(cfg: Config, catalog: Catalog, the_plan: plan.Plan, customers: pd.DataFrame, champion) -> Path:
    """The data scientists' page: the model, its data window and its backtest against the baselines."""
    as_of = the_plan.as_of
    summary = backtest.summarise(pd.read_csv(catalog.metrics)) if catalog.metrics.exists() else pd.DataFrame()
    card = views.model_card(
        {
            "model_version": customers["model_version"].iloc[0] if len(customers) else scoring.FALLBACK_VERSION,
            "as_of": f"{as_of:%Y-%m-%d}",
            "horizon_days": cfg.horizon_days,
            **_data_window(the_plan, catalog, as_of),
            "n_customers": len(customers),
            "train_cutoffs": ", ".join(champion.train_cutoffs) if champion else "",
            "features": list(champion.features) if champion else [],
            "calibration": champion.calibration if champion else None,
            "uplift": catalog.read_uplift_summary(as_of),
            **_model_shape(champion, the_plan),
        },
        summary,
    )
    return io.write_text(card, catalog.model_card(as_of))


def _model_shape(champion, the_plan: plan.Plan) -> dict:
    """How the scoring model is put together: the churn blend, the value blend, a baseline scoring, a short history."""
    trained = getattr(champion, "trained", None)
    if trained is None:
        return {}
    churn = trained.churn
    shape = {
        "churn_blend": churn.blend,
        "value_blend": trained.value.weights_,
        "scorer_reason": getattr(champion, "scorer_reason", None),
        "backtest_note": getattr(champion, "backtest_note", None),
    }
    if the_plan.extended:
        shape["extended"] = (the_plan.trained_horizon_days, the_plan.horizon_days)
    return shape


def _data_window(the_plan: plan.Plan, catalog: Catalog, as_of: pd.Timestamp) -> dict[str, str]:
    """The first and last transaction before as_of, from the plan (older plans: from the transactions table)."""
    first, last = the_plan.first_transaction, the_plan.last_transaction
    if first is None or last is None:
        tx = catalog.read_table("transactions", columns=["timestamp"])["timestamp"]
        first, last = tx.min(), tx[tx < as_of].max()
    return {"first_transaction": f"{first:%Y-%m-%d}", "last_transaction": f"{last:%Y-%m-%d}"}
