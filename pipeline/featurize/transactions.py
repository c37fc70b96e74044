"""RFM and behavioural-loyalty features from transactions, per customer as of a cutoff, from events strictly before it.

A purchase day is a calendar day with at least one line of positive amount: several purchases on one day count once
for frequency and gaps, while spend sums every line (returns are negative lines and reduce spend).

The events before the cutoff are read three times, each with only the columns it needs: into purchase days (and the
gaps between them), into spend per customer, and into one row per (customer, category, brand) for breadth and brand
loyalty. No intermediate result is used twice, so an engine never has to hold one in memory; a one-row-per-day table
carrying the spend was measured slower (its hash table and the window over it are wide).
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


def before(events: ibis.Table, cutoff: ibis.Scalar, time_col: str, columns: list[str]) -> ibis.Table:
    """The events that happened strictly before ``cutoff``, with only ``columns`` (and the time column)."""
    selected = events.select(list(dict.fromkeys(["customer_id", time_col, *columns])))
    return selected.filter(selected[time_col] < cutoff)


def purchase_days(transactions: ibis.Table, cutoff: ibis.Scalar) -> ibis.Table:
    """One row per (customer, purchase day before ``cutoff``) with the gap in whole days since the previous one."""
    bought = transactions.filter((transactions.timestamp < cutoff) & (transactions.amount > 0))
    days = bought.select("customer_id", day=bought.timestamp.truncate("D")).distinct()
    w = ibis.window(group_by="customer_id", order_by="day")
    return days.mutate(gap_days=_days_between(days.day, days.day.lag().over(w)))


def gap_histogram(transactions: ibis.Table, cutoff: ibis.Scalar) -> ibis.Table:
    """How many repeat purchases came how many days after the purchase day before them (``gap_days``, ``n``)."""
    gaps = purchase_days(transactions, cutoff)
    gaps = gaps.filter(gaps.gap_days.notnull())
    return gaps.group_by("gap_days").aggregate(n=gaps.count()).order_by("gap_days")


SEASON_LAG_DAYS = 364  # a year back, in whole weeks (the same weekdays)


def season_activity(transactions: ibis.Table, cutoff: ibis.Scalar, horizon_days: int) -> ibis.Table:
    """The base's purchase days a year before the cutoff: in the horizon-long window that followed that date
    (``after``) and in the one before it (``before``), with the first purchase day of the data (``first``)."""
    days = purchase_days(transactions, cutoff)
    then = cutoff - ibis.interval(days=SEASON_LAG_DAYS)
    span = ibis.interval(days=horizon_days)
    return days.aggregate(
        before=((days.day >= then - span) & (days.day < then)).sum(),
        after=((days.day >= then) & (days.day < then + span)).sum(),
        first=days.day.min(),
    )


def _trend(recent: ibis.Value, previous: ibis.Value) -> ibis.Value:
    """Symmetric change from ``previous`` to ``recent`` in [-1, 1]: -1 stopped spending, +1 started; null if both 0."""
    return (recent - previous) / (recent.abs() + previous.abs()).nullif(0)


def rfm(transactions: ibis.Table, cutoff: ibis.Scalar, windows: list[int], has: set[str]) -> ibis.Table:
    """Recency, frequency, spend over windows, tenure, regularity, trend, returns, discount share, breadth, brand.

    Only transactions strictly before ``cutoff`` are used. Every customer with a line before it is in: one whose lines
    all had a zero (or negative) amount has no purchase day, and their recency and tenure count from their lines.
    """
    days = purchase_days(transactions, cutoff)
    regular = days.group_by("customer_id").aggregate(
        n_purchase_days=days.count(),
        first_purchase=days.day.min(),
        last_purchase=days.day.max(),
        **_gap_sums(days.gap_days),
        **{f"purchase_days_{w}d": (days.day >= cutoff - ibis.interval(days=w)).sum() for w in windows},
    )
    spend = spending(transactions, cutoff, windows, has)
    out = spend.left_join(regular, "customer_id").select(spend, *[c for c in regular.columns if c != "customer_id"])
    counts = ["n_purchase_days", "_gaps", "_gap_sum", "_gap_squares", *[f"purchase_days_{w}d" for w in windows]]
    out = out.mutate(**{c: out[c].fill_null(0) for c in counts})  # lines but no purchase day: zero purchases
    out = _derive(out.mutate(cutoff=cutoff), windows, has)
    if "category" in has or "brand" in has:
        columns = ["amount", *[c for c in ("category", "brand") if c in has]]
        assortment = assortment_features(before(transactions, cutoff, "timestamp", columns), has)
        out = out.left_join(assortment, "customer_id").select(out, *assortment.columns[1:])
    return out.select(*_column_order(windows, has))


def spending(transactions: ibis.Table, cutoff: ibis.Scalar, windows: list[int], has: set[str]) -> ibis.Table:
    """Lines, returns and net spend (overall, per window, the 90 days before the last 90, discounted) per customer.

    Money is summed as DECIMAL: exact, so every engine and every thread count gives the same bits (float sums depend
    on the order rows are added in, and the Gamma-Gamma fit downstream magnifies such differences).
    """
    tx = before(transactions, cutoff, "timestamp", ["amount", *(["discount"] if "discount" in has else [])])
    money = tx.amount.cast(MONEY)

    def total(condition: ibis.Value) -> ibis.Value:
        return ibis.ifelse(condition, money, ibis.literal(0, MONEY)).sum().cast("float64")

    def since(days: int) -> ibis.Value:
        return tx.timestamp >= cutoff - ibis.interval(days=days)

    metrics = dict(
        n_lines=tx.count(),
        _first_line=tx.timestamp.truncate("D").min(),
        _last_line=tx.timestamp.truncate("D").max(),
        spend_total=money.sum().cast("float64"),
        gross_spend=total(tx.amount > 0),
        n_return_lines=(tx.amount < 0).sum(),
        spend_prev_90d=total(since(180) & ~since(90)),
        **{f"spend_{w}d": total(since(w)) for w in windows},
    )
    if "discount" in has:
        metrics["discounted_spend"] = total((tx.discount > 0) & (tx.amount > 0))
    return tx.group_by("customer_id").aggregate(**metrics)


def _gap_sums(gap: ibis.Value) -> dict[str, ibis.Value]:
    """Count, sum and sum of squares of the gaps: whole numbers, so the mean and deviation are exact and repeatable."""
    return dict(_gaps=gap.count(), _gap_sum=gap.sum(), _gap_squares=(gap * gap).sum())


def assortment_features(tx: ibis.Table, has: set[str]) -> ibis.Table:
    """Category breadth and brand loyalty, from one row per (customer, category, brand).

    Brand loyalty in a category = purchases of the customer's most-bought brand ÷ purchases in that category; the
    feature pools categories (sum of main-brand purchase lines ÷ sum of purchase lines with a brand). Without a category
    column the whole assortment is one category. Category breadth counts the distinct categories of all lines.
    """
    keys = ["customer_id", *(["category"] if "category" in has else [])]
    if "brand" not in has:
        per_category = tx.select(keys).distinct()
        return per_category.group_by("customer_id").aggregate(category_breadth=per_category.category.count())
    per_brand = tx.group_by([*keys, "brand"]).aggregate(n=((tx.amount > 0) & tx.brand.notnull()).sum())
    per_category = per_brand.group_by(keys).aggregate(top=_.n.max(), total=_.n.sum())
    metrics = {"brand_loyalty": per_category.top.sum().cast("float64") / per_category.total.sum().nullif(0)}
    if "category" in has:
        metrics["category_breadth"] = per_category.category.count()
    return per_category.group_by("customer_id").aggregate(**metrics)


def _derive(t: ibis.Table, windows: list[int], has: set[str]) -> ibis.Table:
    """Ratios and day counts from the aggregates."""
    recency = _days_between(t.cutoff, t.last_purchase.fill_null(t._last_line))
    n, total, squares = t._gaps, t._gap_sum, t._gap_squares
    gap_mean = total.cast("float64") / n.nullif(0).cast("float64")
    # sample variance from integer sums: exact up to one division (a streaming float variance depends on row order)
    gap_var = (n * squares - total * total).cast("float64") / (n * (n - 1)).nullif(0).cast("float64")
    t = t.mutate(gap_mean_days=gap_mean, gap_std_days=gap_var.sqrt())
    derived = dict(
        recency_days=recency,
        tenure_days=_days_between(t.cutoff, t.first_purchase.fill_null(t._first_line)),
        repeat_buyer=_flag(t.n_purchase_days > 1),
        avg_basket=t.gross_spend / t.n_purchase_days.nullif(0),
        gap_cv=t.gap_std_days / t.gap_mean_days.nullif(0),
        overdue_ratio=recency / t.gap_mean_days.nullif(0),
        spend_trend=_trend(t.spend_90d, t.spend_prev_90d) if 90 in windows else ibis.null("float64"),
        returns_rate=t.n_return_lines / t.n_lines,
    )
    if "discount" in has:
        derived["discount_share"] = t.discounted_spend / t.gross_spend.nullif(0)
    return t.mutate(**derived).drop(
        "_gaps",
        "_gap_sum",
        "_gap_squares",
        "first_purchase",
        "last_purchase",
        "_first_line",
        "_last_line",
        "spend_prev_90d",
        "gross_spend",
        *(["discounted_spend"] if "discount" in has else []),
    )


def _column_order(windows: list[int], has: set[str]) -> list[str]:
    """The features in a fixed order (a model's column sampling depends on the order of its inputs)."""
    return [
        "customer_id",
        "cutoff",
        "n_purchase_days",
        "gap_mean_days",
        "gap_std_days",
        *[f"purchase_days_{w}d" for w in windows],
        "n_lines",
        "spend_total",
        "n_return_lines",
        *[f"spend_{w}d" for w in windows],
        *(["category_breadth"] if "category" in has else []),
        "recency_days",
        "tenure_days",
        "repeat_buyer",
        "avg_basket",
        "gap_cv",
        "overdue_ratio",
        "spend_trend",
        "returns_rate",
        *(["discount_share"] if "discount" in has else []),
        *(["brand_loyalty"] if "brand" in has else []),
    ]


def last_orders(transactions: ibis.Table, cutoff: ibis.Scalar) -> ibis.Table:
    """Each customer's last purchase day before ``cutoff`` and their net spend that day (shown in the list)."""
    lines = before(transactions, cutoff, "timestamp", ["amount"])
    lines = lines.select("customer_id", "amount", day=lines.timestamp.truncate("D"))
    last = lines.filter(lines.amount > 0).group_by("customer_id").aggregate(last_order_date=_.day.max())
    that_day = lines.join(last, [lines.customer_id == last.customer_id, lines.day == last.last_order_date])
    return that_day.group_by(["customer_id", "last_order_date"]).aggregate(
        last_order_amount=that_day.amount.cast(MONEY).sum().cast("float64")
    )
