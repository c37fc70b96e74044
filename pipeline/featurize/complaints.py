"""Complaint features per (customer, cutoff): counts, recency, what is still open, how fast they were resolved.

A complaint counts as resolved at a cutoff only if its resolution happened strictly before it; a resolution recorded
later is the future, so the complaint is open as of that cutoff.
"""

from __future__ import annotations

import ibis

from pipeline.featurize.transactions import _days_between, _flag

SLOW_RESOLUTION_DAYS = 14


def _days(later: ibis.Value, earlier: ibis.Value) -> ibis.Value:
    """Fractional days between two timestamps, in float64 on every engine (Spark would otherwise narrow it)."""
    return (later.epoch_seconds() - earlier.epoch_seconds()).cast("float64") / ibis.literal(86400.0, "float64")


def complaint_features(c: ibis.Table, has: set[str], windows: list[int]) -> ibis.Table:
    """Aggregate complaints opened strictly before each cutoff."""
    resolved = c.resolved_at.notnull() & (c.resolved_at < c.cutoff) if "resolved_at" in has else ibis.literal(False)
    resolution_days = (
        ibis.ifelse(resolved, _days(c.resolved_at, c.opened_at), ibis.null("float64"))
        if "resolved_at" in has
        else ibis.null("float64")
    )
    age_days = _days(c.cutoff, c.opened_at)
    # whole seconds, summed exactly: the mean is the same whatever the row order or thread count
    resolution_seconds = (
        ibis.ifelse(resolved, (c.resolved_at.epoch_seconds() - c.opened_at.epoch_seconds()).cast("int64"), ibis.null())
        if "resolved_at" in has
        else ibis.null("int64")
    )
    metrics = dict(
        n_complaints=c.count(),
        **{f"complaints_{w}d": (c.opened_at >= c.cutoff - ibis.interval(days=w)).sum() for w in windows},
        last_complaint=c.opened_at.max(),
        open_complaints=(~resolved).sum(),
        oldest_open_complaint_days=ibis.ifelse(~resolved, age_days, ibis.literal(0.0, "float64")).max(),
        mean_resolution_days=resolution_seconds.sum().cast("float64")
        / resolution_seconds.count().nullif(0).cast("float64")
        / ibis.literal(86400.0, "float64"),
        max_resolution_days=resolution_days.max(),
        slow_resolutions_365d=(
            (resolution_days > SLOW_RESOLUTION_DAYS) & (c.opened_at >= c.cutoff - ibis.interval(days=365))
        ).sum(),
    )
    if "severity" in has:
        metrics["max_severity"] = c.severity.max()
    if "satisfaction" in has:
        metrics["mean_satisfaction"] = ibis.ifelse(resolved, c.satisfaction, ibis.null()).mean()
    if "category" in has:
        for cat in ("delivery", "quality", "billing", "service", "other"):
            metrics[f"complaints_{cat}"] = (c.category == cat).sum()
    agg = c.group_by(["customer_id", "cutoff"]).aggregate(**metrics)
    return agg.mutate(days_since_complaint=_days_between(agg.cutoff, agg.last_complaint.truncate("D"))).drop(
        "last_complaint"
    )


def survey_features(s: ibis.Table) -> ibis.Table:
    """The last NPS answer strictly before each cutoff and how long ago it was given."""
    agg = s.group_by(["customer_id", "cutoff"]).aggregate(
        nps_last=s.score.argmax(s.answered_at),
        last_answer=s.answered_at.max(),
        n_surveys=s.count(),
    )
    return agg.mutate(
        days_since_nps=_days_between(agg.cutoff, agg.last_answer.truncate("D")),
        nps_detractor=_flag(agg.nps_last <= 6),
        nps_promoter=_flag(agg.nps_last >= 9),
    ).drop("last_answer")
