"""RFM and behavioural-loyalty features from transactions, per (customer, cutoff), from events strictly before it.

A purchase day is a calendar day with at least one line of positive amount: several purchases on one day count once
for frequency and gaps, while spend sums every line (returns are negative lines and reduce spend).
"""

from __future__ import annotations

import ibis
from ibis import _

MONEY = "decimal(18, 4)"  # amounts to a hundredth of a cent


def _days_between(later: ibis.Value, earlier: ibis.Value) -> ibis.Value:
    """Whole calendar days from ``earlier`` to ``later``."""
    return later.delta(earlier, unit="day")


def _flag(condition: ibis.Value) -> ibis.Value:
    """1/0 (null stays null) from a boolean; portable where a boolean cannot be cast to a number (PostgreSQL)."""
    return condition.cases((True, 1), (False, 0)).cast("int8")


def before_cutoff(events: ibis.Table, cutoffs: ibis.Table, time_col: str) -> ibis.Table:
    """Every (event, cutoff) pair where the event happened strictly before the cutoff."""
    joined = events.cross_join(cutoffs)
    return joined.filter(joined[time_col] < joined.cutoff)


def purchase_days(tx: ibis.Table) -> ibis.Table:
    """One row per (customer, cutoff, purchase day) with the gap in days since the previous purchase day."""
    days = tx.filter(tx.amount > 0).select("customer_id", "cutoff", day=tx.timestamp.truncate("D")).distinct()
    w = ibis.window(group_by=["customer_id", "cutoff"], order_by="day")
    return days.mutate(gap_days=_days_between(days.day, days.day.lag().over(w)))


def _trend(recent: ibis.Value, previous: ibis.Value) -> ibis.Value:
    """Symmetric change from ``previous`` to ``recent`` in [-1, 1]: -1 stopped spending, +1 started; null if both 0."""
    return (recent - previous) / (recent.abs() + previous.abs()).nullif(0)


def rfm(tx: ibis.Table, windows: list[int], has: set[str]) -> ibis.Table:
    """Recency, frequency, spend over windows, tenure, regularity, trend, returns, discount share, breadth."""
    days = purchase_days(tx)
    regular = days.group_by(["customer_id", "cutoff"]).aggregate(
        n_purchase_days=_.day.count(),
        first_purchase=_.day.min(),
        last_purchase=_.day.max(),
        gap_mean_days=_.gap_days.mean(),
        gap_std_days=_.gap_days.std(),
        **{f"purchase_days_{w}d": (_.day >= (_.cutoff - ibis.interval(days=w))).sum() for w in windows},
    )
    in_window = {w: tx.timestamp >= (tx.cutoff - ibis.interval(days=w)) for w in windows}
    prev_90 = (tx.timestamp >= tx.cutoff - ibis.interval(days=180)) & (
        tx.timestamp < tx.cutoff - ibis.interval(days=90)
    )
    # Money is summed as DECIMAL: exact, so every engine and every thread count gives the same bits (float sums
    # depend on the order rows are added in, and the Gamma-Gamma fit downstream magnifies such differences).
    money = tx.amount.cast(MONEY)
    zero = ibis.literal(0, MONEY)

    def total(condition: ibis.Value) -> ibis.Value:
        return ibis.ifelse(condition, money, zero).sum().cast("float64")

    metrics = dict(
        n_lines=tx.count(),
        spend_total=money.sum().cast("float64"),
        gross_spend=total(tx.amount > 0),
        n_return_lines=(tx.amount < 0).sum(),
        spend_prev_90d=total(prev_90),
        **{f"spend_{w}d": total(in_window[w]) for w in windows},
    )
    if "discount" in has:
        metrics["discounted_spend"] = total((tx.discount > 0) & (tx.amount > 0))
    if "category" in has:
        metrics["category_breadth"] = tx.category.nunique()
    spend = tx.group_by(["customer_id", "cutoff"]).aggregate(**metrics)
    out = _derive(regular.join(spend, ["customer_id", "cutoff"]), windows, has)
    if "brand" in has:
        brands = brand_loyalty(tx, has)
        out = out.left_join(brands, ["customer_id", "cutoff"]).select(out, "brand_loyalty")
    return out


def brand_loyalty(tx: ibis.Table, has: set[str]) -> ibis.Table:
    """Share of a customer's purchase lines in each category that went to their main brand there, over categories.

    Brand loyalty in a category = purchases of the customer's most-bought brand ÷ purchases in that category; the
    feature pools categories (sum of main-brand purchases ÷ sum of purchases). Without a category column the whole
    assortment is one category.
    """
    bought = tx.filter((tx.amount > 0) & tx.brand.notnull())
    category = bought.category.fill_null("(none)") if "category" in has else ibis.literal("(all)")
    bought = bought.mutate(_category=category)
    per_brand = bought.group_by(["customer_id", "cutoff", "_category", "brand"]).aggregate(n=_.count())
    per_category = per_brand.group_by(["customer_id", "cutoff", "_category"]).aggregate(top=_.n.max(), total=_.n.sum())
    return per_category.group_by(["customer_id", "cutoff"]).aggregate(
        brand_loyalty=_.top.sum().cast("float64") / _.total.sum(),
    )


def _derive(t: ibis.Table, windows: list[int], has: set[str]) -> ibis.Table:
    """Ratios and day counts from the aggregates."""
    recency = _days_between(t.cutoff, t.last_purchase)
    derived = dict(
        recency_days=recency,
        tenure_days=_days_between(t.cutoff, t.first_purchase),
        repeat_buyer=_flag(t.n_purchase_days > 1),
        avg_basket=t.gross_spend / t.n_purchase_days,
        gap_cv=t.gap_std_days / t.gap_mean_days.nullif(0),
        overdue_ratio=recency / t.gap_mean_days.nullif(0),
        spend_trend=_trend(t.spend_90d, t.spend_prev_90d) if 90 in windows else ibis.null("float64"),
        returns_rate=t.n_return_lines / t.n_lines,
    )
    if "discount" in has:
        derived["discount_share"] = t.discounted_spend / t.gross_spend.nullif(0)
    return t.mutate(**derived).drop(
        "first_purchase",
        "last_purchase",
        "spend_prev_90d",
        "gross_spend",
        *(["discounted_spend"] if "discount" in has else []),
    )
