"""The lists a retention team acts on: the save list and the win-back group, in columns a manager understands."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd

from pipeline.targeting import SAVE, WIN_BACK

CHANGE = "Change since <the last list> (pts)"  # its header names the list it compares with
# What each column of the lists means (the README's table says the same); the workbook has it as a sheet.
COLUMN_HELP = {
    "Rank": "position on this week's save list (1 = call first): ranked by the value a contact can save",
    "Customer ID": "the customer's ID in your data",
    "Risk band": "high, medium or low churn risk (retention.medium_risk / retention.high_risk)",
    "Churn risk (%)": "calibrated probability that the customer makes no purchase in the next horizon_days",
    CHANGE: "change in churn risk since the last list, in percentage points; the header names that list's date "
    "(and how long ago it was, when more than a week); new = not on that list",
    "Last order date": "the customer's last day with a purchase",
    "Last order amount": "what they spent that day",
    "Avg days between orders": "the customer's average gap between purchase days (empty: one purchase day so far)",
    "Expected next order": "one usual gap after the last order: a date already passed means the customer is overdue "
    "(their churn risk says how likely the order is to come at all); empty for a customer with one purchase day",
    "Historic spend": "what the customer has spent so far (returns deducted)",
    "Predicted spend": "what they are expected to spend in the horizon (their risk of not buying included)",
    "Historic + predicted": "the two together",
    "Value at risk": "churn risk x what the customer is expected to spend in the horizon if they stay",
    "Value a contact can save": "value at risk x the suggested action's save rate - its cost (with the uplift "
    "model: the action's learned uplift x value if retained - its cost)",
    "Segment": "RFM segment (recency, frequency, spend), consistent with how long ago they bought",
    "Loyalty stage": "first-time buyer, repeat buyer, loyal, advocate, or lapsed",
    "Reason 1": "the strongest reason the customer's risk is higher than a typical active customer's, with the "
    "probability points it adds",
    "Reason 2": "the second reason",
    "Reason 3": "the third reason",
    "Suggested action": "the kind of contact expected to save most (learned from past lists when the uplift model "
    "ranks the list), else the one that fits the main reason",
    "Drawn at random": "yes: the action was drawn at random to keep every action's effect measurable; use it as given",
    "Data warning": "something in the data to check before calling (e.g. a complaint open for a year)",
    "Loyalty member": "yes / no",
    "As of": "the date the list was made for",
}


@dataclass(frozen=True)
class ListContext:
    """What every list states beside its rows: the currency, the horizon, the typical active customer's risk the
    reasons' points are measured from, and the last list the change column compares with."""

    currency: str
    horizon_days: int
    reference_risk: Optional[float] = None
    change: Optional[pd.Series] = None  # each customer's risk change in points since the last list
    since: Optional[pd.Timestamp] = None  # the date of that list
    as_of: Optional[pd.Timestamp] = None

    @property
    def change_header(self) -> str:
        weeks = (self.as_of - self.since).days // 7 if self.as_of is not None and self.since is not None else 1
        older = f", {weeks} weeks earlier" if weeks > 1 else ""
        return f"Change since {self.since:%Y-%m-%d}{older} (pts)"


def _money_columns(ctx: ListContext) -> dict[str, str]:
    c = ctx.currency
    return {
        "last_order_amount": f"Last order amount ({c})",
        "historic_spend": f"Historic spend ({c})",
        "predicted_spend": f"Predicted spend, next {ctx.horizon_days} days ({c})",
        "total_value": f"Historic + predicted ({c})",
        "value_at_risk": f"Value at risk ({c})",
        "saveable_value": f"Value a contact can save ({c})",
    }


def _readable(customers: pd.DataFrame, ctx: ListContext, with_change: bool) -> pd.DataFrame:
    """The columns of a list, renamed and rounded for people: percents, whole money, yes/no, dates."""
    out = pd.DataFrame(index=customers.index)
    out["Customer ID"] = customers["customer_id"].astype(str)
    out["Risk band"] = customers["risk_band"].astype(str)
    out["Churn risk (%)"] = (100 * customers["churn_probability"]).round().astype(int)
    if with_change and ctx.change is not None and ctx.since is not None:
        points = ctx.change.reindex(customers.index)
        out[ctx.change_header] = np.where(points.isna(), "new", points.round().map("{:+.0f}".format))
    if "last_order_date" in customers:
        out["Last order date"] = _dates(customers["last_order_date"])
    if "days_between_orders" in customers:
        out["Avg days between orders"] = customers["days_between_orders"].round().astype("Int64").astype(str)
        out["Avg days between orders"] = out["Avg days between orders"].replace("<NA>", "")
    if "expected_next_order" in customers:
        out["Expected next order"] = _dates(customers["expected_next_order"])
    for col, name in _money_columns(ctx).items():
        if col in customers:
            out[name] = customers[col].round(0)
    for col, name in (("rfm_segment", "Segment"), ("loyalty_stage", "Loyalty stage")):
        if col in customers:
            out[name] = customers[col].astype(str)
    for k in (1, 2, 3):
        if f"reason_{k}" in customers:
            out[f"Reason {k}"] = customers[f"reason_{k}"]
    out["Suggested action"] = customers["suggested_action"]
    if "explored" in customers:
        out["Drawn at random"] = customers["explored"].map({True: "yes", False: ""}).fillna("")
    out["Data warning"] = customers["data_warning"]
    if "loyalty_member" in customers:
        out["Loyalty member"] = customers["loyalty_member"].map({1.0: "yes", 0.0: "no"}).fillna("")
    out["As of"] = _dates(customers["as_of"])
    return out


def _dates(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values).dt.strftime("%Y-%m-%d").fillna("")


def save_list(customers: pd.DataFrame, ctx: ListContext) -> pd.DataFrame:
    """The customers to contact this week (hold-outs left out), in list order, with readable columns."""
    listed = customers[(customers["group"] == SAVE) & ~customers["holdout"].astype(bool)]
    listed = listed.sort_values("list_rank")
    return pd.concat([listed["list_rank"].astype(int).rename("Rank"), _readable(listed, ctx, True)], axis=1)


def win_back_list(customers: pd.DataFrame, ctx: ListContext) -> pd.DataFrame:
    """The win-back group (outside the active base), most valuable first: for a separate, cheaper campaign."""
    gone = customers[customers["group"] == WIN_BACK].sort_values(
        ["value_at_risk", "customer_id"], ascending=[False, True]
    )
    out = _readable(gone, ctx, False).drop(columns=[f"Value a contact can save ({ctx.currency})"], errors="ignore")
    out.insert(0, "Rank", np.arange(1, len(out) + 1))
    return out.assign(**{"Suggested action": "Win-back offer"})


def column_help(ctx: ListContext) -> dict[str, str]:
    """The meaning of every column, the reference of the reasons' points stated."""
    found = dict(COLUMN_HELP)
    if ctx.reference_risk is not None and np.isfinite(ctx.reference_risk):
        found["Reason 1"] += (
            f"; points are measured from a typical active customer, whose risk is {100 * ctx.reference_risk:.0f}%"
        )
    return found


def write_xlsx(sheets: dict[str, pd.DataFrame], path: Path, ctx: ListContext) -> None:
    """The lists as one workbook: a sheet per list, frozen header, widths that fit, money with the currency, and a
    sheet explaining every column (with the typical active customer the reasons are measured from)."""
    currency = ctx.currency
    with pd.ExcelWriter(path, engine="xlsxwriter") as writer:
        book = writer.book
        money = book.add_format({"num_format": f'#,##0 "{currency}"'})
        for name, frame in sheets.items():
            frame.to_excel(writer, sheet_name=name, index=False)
            sheet = writer.sheets[name]
            sheet.freeze_panes(1, 2)
            for j, col in enumerate(frame.columns):
                width = min(60, max(len(col), *(len(str(v)) for v in frame[col].head(200)), 8) + 2)
                sheet.set_column(j, j, width, money if f"({currency})" in col else None)
        meaning = column_help(ctx)
        help_frame = pd.DataFrame({"Column": list(meaning), "Meaning": list(meaning.values())})
        help_frame.to_excel(writer, sheet_name="Columns explained", index=False)
        writer.sheets["Columns explained"].set_column(0, 0, 30)
        writer.sheets["Columns explained"].set_column(1, 1, 100)
