"""Table specifications: our column names, their kinds, and the pandera row checks for each table."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Optional

with warnings.catch_warnings():  # pandera imports pyspark.pandas when pyspark is installed, which warns about pandas 3
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)
    import pandera.pandas as pa

COMPLAINT_CATEGORIES = ("delivery", "quality", "billing", "service", "other")


@dataclass(frozen=True)
class TableSpec:
    """What one table holds and the rules its rows follow.

    ``kinds``: each column's kind (id, timestamp, number, int, bool, category, text); ``required``: columns a row
    cannot do without; ``record_id``: the column identifying a record across loads; ``time_column``: when it happened
    (rows on or after as_of are held back). ``checks``: pandera checks per column; ``row_checks``: (columns needed,
    check) over whole rows. ``categories``: the allowed values of ``category`` (others become ``other``).
    ``keep_on_duplicate``: which version of a repeated record ID is kept. ``needs_rows``: a load whose rows are all
    unusable stops. ``known_customers_only``: rows of customers with no transactions and no customer record are set
    aside.
    """

    name: str
    kinds: dict[str, str]
    required: tuple[str, ...]
    record_id: Optional[str]
    time_column: Optional[str]
    checks: dict[str, tuple[pa.Check, ...]] = field(default_factory=dict)
    row_checks: tuple[tuple[tuple[str, ...], pa.Check], ...] = ()
    categories: Optional[tuple[str, ...]] = None
    keep_on_duplicate: str = "first"
    needs_rows: bool = False
    known_customers_only: bool = False


SPECS = {
    "transactions": TableSpec(
        "transactions",
        {
            "transaction_id": "id",
            "customer_id": "id",
            "timestamp": "timestamp",
            "amount": "number",
            "category": "category",
            "brand": "category",
            "discount": "number",
            "quantity": "number",
            "unit_price": "number",
            "product_id": "id",
        },
        ("customer_id", "timestamp", "amount"),
        "transaction_id",
        "timestamp",
        needs_rows=True,
    ),
    "complaints": TableSpec(
        "complaints",
        {
            "complaint_id": "id",
            "customer_id": "id",
            "opened_at": "timestamp",
            "resolved_at": "timestamp",
            "category": "category",
            "severity": "int",
            "satisfaction": "int",
        },
        ("customer_id", "opened_at"),
        "complaint_id",
        "opened_at",
        checks={
            "severity": (pa.Check.isin([1, 2, 3], error="severity must be 1, 2 or 3"),),
            "satisfaction": (pa.Check.in_range(1, 5, error="satisfaction must be 1-5"),),
        },
        row_checks=(
            (
                ("opened_at", "resolved_at"),
                pa.Check(lambda df: ~(df["resolved_at"] < df["opened_at"]), error="resolved_at is before opened_at"),
            ),
        ),
        categories=COMPLAINT_CATEGORIES,
        keep_on_duplicate="last",  # a later version of a complaint carries its resolution
        known_customers_only=True,
    ),
    "customers": TableSpec(
        "customers",
        {
            "customer_id": "id",
            "signup_date": "timestamp",
            "region": "category",
            "acquisition_channel": "category",
            "loyalty_member": "bool",
        },
        ("customer_id",),
        "customer_id",
        None,
    ),
    "surveys": TableSpec(
        "surveys",
        {"customer_id": "id", "answered_at": "timestamp", "score": "int"},
        ("customer_id", "answered_at", "score"),
        None,
        "answered_at",
        checks={"score": (pa.Check.in_range(0, 10, error="NPS score must be 0-10"),)},
        known_customers_only=True,
    ),
}


SPECS["contacts"] = TableSpec(
    "contacts",
    {
        "customer_id": "id",
        "contacted_at": "timestamp",
        "action": "category",
        "channel": "category",
        "outcome": "category",
    },
    ("customer_id", "contacted_at"),
    None,
    "contacted_at",
    known_customers_only=True,
)


SPECS["lists"] = TableSpec(
    "lists",
    {
        "customer_id": "id",
        "list_date": "timestamp",
        "holdout": "bool",
        "action": "category",
        "explored": "bool",
        "rank": "int",
    },
    ("customer_id", "list_date", "holdout"),
    None,
    "list_date",
    checks={"rank": (pa.Check.ge(1, error="rank must be 1 or more"),)},
    known_customers_only=True,
)


def row_schema(spec: TableSpec, present: list[str]) -> pa.DataFrameSchema:
    """The pandera schema of row-level checks for the columns present in this table."""
    columns = {
        c: pa.Column(checks=list(spec.checks.get(c, ())), nullable=c not in spec.required, coerce=False)
        for c in present
    }
    frame_checks = [check for needed, check in spec.row_checks if set(needed) <= set(present)]
    return pa.DataFrameSchema(columns, checks=frame_checks, strict=False)
