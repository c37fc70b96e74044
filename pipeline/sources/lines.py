"""Invoice-line exports: credit notes matched to the purchase lines they reverse, free lines set aside, and the
remaining lines grouped into one transaction per invoice (``data.lines``).

Many shop systems export one row per invoice line, write a cancellation as a credit note (an invoice number with a
marker, negative quantities), and give free items a zero price. Taken as they are, a cancelled order still looks
like a purchase day and a credit note like a return of goods never bought. The rules (the careful user's cleaning of
the UCI Online Retail log, documented in docs/data.md):

1. A credit-note line (its transaction ID matches ``lines.credit_note_pattern``) **reverses** an earlier purchase
   line of the same customer with the same absolute amount (to the cent), bought at or before the credit note, of
   the same product (or of any product, for the codes in ``lines.any_product``, e.g. ``M`` for a manual line).
   Credit notes are taken in time order; each reverses the latest purchase line not reversed yet. Both lines are set
   aside with the reason. Credit notes that reverse nothing (a partial return, a discount, a purchase before the
   data starts) are set aside too: they are not a purchase and reverse no known one.
2. With ``lines.drop_unpriced``, purchase lines with a unit price of zero or less are set aside.
3. With ``lines.group``, the lines left are grouped into one transaction per transaction ID (and category and brand,
   where those are mapped, so breadth and brand loyalty keep their detail): the earliest line's time, the amounts
   summed to the cent. A line of another customer than the transaction's first line is set aside.

Only the rows of this run's history take part (rows held for a later as_of do not), so a credit note issued after
as_of never changes what the pipeline knew at as_of.
"""

from __future__ import annotations

import bisect
import re
from collections import defaultdict

import numpy as np
import pandas as pd

from pipeline.config import LinesConfig
from pipeline.sources.read import IngestError

GROUPED_BY = ("category", "brand")  # mapped columns that keep their own row within a grouped transaction


def active(cfg: LinesConfig) -> bool:
    """Whether any line rule is switched on."""
    return bool(cfg.group or cfg.credit_note_pattern or cfg.drop_unpriced)


def check_columns(cfg: LinesConfig, columns: set[str], path: str) -> None:
    """Stop when a rule needs a column the export does not map."""
    needs = {
        "transaction_id": cfg.group or bool(cfg.credit_note_pattern),
        "unit_price": cfg.drop_unpriced,
    }
    for column, needed in needs.items():
        if needed and column not in columns:
            raise IngestError(
                f"transactions: {path}: data.lines needs the {column} column (map it with "
                f"data.columns.transactions.{column}=YOUR_COLUMN), or switch the rule off"
            )


def set_aside(frame: pd.DataFrame, usable: pd.Series, cfg: LinesConfig) -> pd.Series:
    """A reason for every usable line the rules set aside ("" for the lines kept); ``frame`` has our columns."""
    reasons = pd.Series("", index=frame.index, dtype=object)
    if cfg.credit_note_pattern:
        reasons = _reverse_credit_notes(frame, usable, cfg, reasons)
    if cfg.drop_unpriced:
        free = usable & reasons.eq("") & (frame["unit_price"].fillna(0) <= 0)
        reasons[free] = "unit_price: zero or less (a free item or an adjustment); set aside (data.lines.drop_unpriced)"
    if cfg.group:
        reasons = _other_customers(frame, usable & reasons.eq(""), reasons)
    return reasons


def _reverse_credit_notes(frame: pd.DataFrame, usable: pd.Series, cfg: LinesConfig, reasons: pd.Series) -> pd.Series:
    """Match each credit-note line to the purchase line it reverses (module docstring, rule 1)."""
    try:
        marked = frame["transaction_id"].astype("string").str.contains(cfg.credit_note_pattern, regex=True)
    except re.error as err:
        raise IngestError(f"data.lines.credit_note_pattern={cfg.credit_note_pattern!r} is not a regex: {err}") from None
    credit = usable & marked.fillna(False).astype(bool)
    purchase = usable & ~credit & (frame["amount"] > 0)
    cents = np.round(frame["amount"].abs().to_numpy(float) * 100).astype(np.int64)
    product = frame["product_id"].astype("string") if "product_id" in frame else pd.Series(pd.NA, index=frame.index)
    times = frame["timestamp"].to_numpy("datetime64[us]").astype(np.int64)
    customers = frame["customer_id"].to_numpy(object)
    exact, anything = defaultdict(list), defaultdict(list)  # key -> [(time, row)] of purchase lines, in time order
    for row in sorted(np.flatnonzero(purchase.to_numpy()), key=lambda r: (times[r], r)):
        exact[(customers[row], cents[row], product.iloc[row])].append((times[row], row))
        anything[(customers[row], cents[row])].append((times[row], row))
    any_product = set(cfg.any_product)
    reversed_rows: set[int] = set()
    rows = frame.index.to_numpy()
    for row in sorted(np.flatnonzero(credit.to_numpy()), key=lambda r: (times[r], r)):
        code = product.iloc[row]
        if pd.notna(code) and str(code) in any_product:
            candidates = anything[(customers[row], cents[row])]
        else:
            candidates = exact[(customers[row], cents[row], code)]
        match = _latest_unreversed(candidates, times[row], reversed_rows)
        if match is None:
            reasons.iloc[row] = (
                "credit note that reverses no purchase line of this customer (a partial return, a discount or a "
                "purchase before the data starts); set aside"
            )
            continue
        reversed_rows.add(match)
        reasons.iloc[row] = f"credit note reversing row {rows[match] + 1}; both set aside"
        reasons.iloc[match] = f"purchase reversed by the credit note on row {rows[row] + 1}; both set aside"
    return reasons


def _latest_unreversed(candidates: list, at: int, taken: set[int]) -> int | None:
    """The latest purchase line at or before ``at`` that no credit note has reversed yet (None if there is none)."""
    k = bisect.bisect_right(candidates, (at, np.iinfo(np.int64).max))
    while k > 0:
        k -= 1
        row = candidates[k][1]
        if row not in taken:
            return row
    return None


def _other_customers(frame: pd.DataFrame, usable: pd.Series, reasons: pd.Series) -> pd.Series:
    """Lines whose customer differs from their transaction's first line's: they cannot be grouped with it."""
    kept = frame.loc[usable, ["transaction_id", "customer_id"]]
    first = kept.groupby("transaction_id", sort=False)["customer_id"].transform("first")
    other = kept.index[kept["customer_id"].ne(first).to_numpy() & kept["transaction_id"].notna().to_numpy()]
    reasons[other] = (
        "transaction_id: "
        + kept.loc[other, "transaction_id"].astype(str)
        + " belongs to customer "
        + first[other].astype(str)
        + " on its first line; this line names another customer; set aside"
    )
    return reasons


def group(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per transaction ID (and mapped category and brand): the earliest time, amounts summed to the cent.

    Lines without a transaction ID stay transactions of their own.
    """
    keys = ["transaction_id", *[c for c in GROUPED_BY if c in frame]]
    with_id = frame[frame["transaction_id"].notna()]
    cents = np.round(with_id["amount"].to_numpy(float) * 100).astype(np.int64)
    sums = {"timestamp": ("timestamp", "min"), "customer_id": ("customer_id", "first"), "_cents": ("_cents", "sum")}
    if "discount" in frame:
        sums["discount"] = ("discount", "sum")
    grouped = (
        with_id.assign(_cents=cents).groupby(keys, sort=False, dropna=False, observed=True).agg(**sums).reset_index()
    )
    grouped = grouped.assign(amount=grouped.pop("_cents").to_numpy() / 100.0)
    alone = frame[frame["transaction_id"].isna()]
    out = pd.concat([grouped, alone[grouped.columns]], ignore_index=True) if len(alone) else grouped
    return out[[c for c in frame.columns if c in out.columns]]
