"""The lists a retention team acts on: the save list and the win-back group, in columns a manager understands."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.targeting import SAVE, WIN_BACK

# What each column of the lists means (the README's table says the same); the workbook has it as a sheet.
COLUMN_HELP = {
    "Rank": "position on this week's save list (1 = call first): ranked by the value a contact can save",
    "Customer ID": "the customer's ID in your data",
    "Risk band": "high, medium or low churn risk (retention.medium_risk / retention.high_risk)",
    "Churn risk (%)": "calibrated probability that the customer makes no purchase in the next horizon_days",
    "Change since last week (pts)": "change in churn risk since last week's list, in percentage points; new = not "
    "on last week's list",
    "Last order date": "the customer's last day with a purchase",
    "Last order amount": "what they spent that day",
    "Value at risk": "churn risk x what the customer is expected to spend in the horizon if they stay",
    "Value a contact can save": "value at risk x the suggested action's save rate - its cost",
    "Segment": "RFM segment (recency, frequency, spend), consistent with how long ago they bought",
    "Loyalty stage": "first-time buyer, repeat buyer, loyal, advocate, or lapsed",
    "Reason 1": "the strongest reason the customer's risk is high, with its probability points",
    "Reason 2": "the second reason",
    "Reason 3": "the third reason",
    "Suggested action": "the kind of contact that fits the main reason",
    "Data warning": "something in the data to check before calling (e.g. a complaint open for a year)",
    "Loyalty member": "yes / no",
    "As of": "the date the list was made for",
}


def _money_columns(currency: str) -> dict[str, str]:
    return {
        "last_order_amount": f"Last order amount ({currency})",
        "value_at_risk": f"Value at risk ({currency})",
        "saveable_value": f"Value a contact can save ({currency})",
    }


def _readable(customers: pd.DataFrame, currency: str, change: pd.Series | None) -> pd.DataFrame:
    """The columns of a list, renamed and rounded for people: percents, whole money, yes/no, dates."""
    money = _money_columns(currency)
    out = pd.DataFrame(index=customers.index)
    out["Customer ID"] = customers["customer_id"].astype(str)
    out["Risk band"] = customers["risk_band"].astype(str)
    out["Churn risk (%)"] = (100 * customers["churn_probability"]).round().astype(int)
    if change is not None:
        points = change.reindex(customers.index)
        out["Change since last week (pts)"] = np.where(points.isna(), "new", points.round().map("{:+.0f}".format))
    if "last_order_date" in customers:
        out["Last order date"] = pd.to_datetime(customers["last_order_date"]).dt.strftime("%Y-%m-%d").fillna("")
    for col, name in money.items():
        if col in customers:
            out[name] = customers[col].round(0)
    for col, name in (("rfm_segment", "Segment"), ("loyalty_stage", "Loyalty stage")):
        if col in customers:
            out[name] = customers[col].astype(str)
    for k in (1, 2, 3):
        if f"reason_{k}" in customers:
            out[f"Reason {k}"] = customers[f"reason_{k}"]
    out["Suggested action"] = customers["suggested_action"]
    out["Data warning"] = customers["data_warning"]
    if "loyalty_member" in customers:
        out["Loyalty member"] = customers["loyalty_member"].map({1.0: "yes", 0.0: "no"}).fillna("")
    out["As of"] = pd.to_datetime(customers["as_of"]).dt.strftime("%Y-%m-%d")
    return out


def save_list(customers: pd.DataFrame, currency: str, change: pd.Series | None = None) -> pd.DataFrame:
    """The customers to contact this week (hold-outs left out), in list order, with readable columns."""
    listed = customers[(customers["group"] == SAVE) & ~customers["holdout"].astype(bool)]
    listed = listed.sort_values("list_rank")
    return pd.concat([listed["list_rank"].astype(int).rename("Rank"), _readable(listed, currency, change)], axis=1)


def win_back_list(customers: pd.DataFrame, currency: str) -> pd.DataFrame:
    """Customers past the point of no return, most valuable first: for a separate, cheaper win-back campaign."""
    gone = customers[customers["group"] == WIN_BACK].sort_values(
        ["value_at_risk", "customer_id"], ascending=[False, True]
    )
    out = _readable(gone, currency, None).drop(columns=[f"Value a contact can save ({currency})"], errors="ignore")
    out.insert(0, "Rank", np.arange(1, len(out) + 1))
    return out.assign(**{"Suggested action": "Win-back offer"})


def write_xlsx(sheets: dict[str, pd.DataFrame], path: Path, currency: str) -> None:
    """The lists as one workbook: a sheet per list, frozen header, widths that fit, money with the currency."""
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
        help_frame = pd.DataFrame({"Column": list(COLUMN_HELP), "Meaning": list(COLUMN_HELP.values())})
        help_frame.to_excel(writer, sheet_name="Columns explained", index=False)
        writer.sheets["Columns explained"].set_column(0, 0, 30)
        writer.sheets["Columns explained"].set_column(1, 1, 100)
