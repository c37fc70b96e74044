"""Table specifications: our column names, their kinds, and the pandera row checks for each table."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pandera.pandas as pa

COMPLAINT_CATEGORIES = ("delivery", "quality", "billing", "service", "other")


@dataclass(frozen=True)
class TableSpec:
    """What one table holds: column kinds (id, timestamp, number, int, bool, category, text), which are required."""

    name: str
    kinds: dict[str, str]
    required: tuple[str, ...]
    record_id: Optional[str]
    time_column: Optional[str]


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
        },
        ("customer_id", "timestamp", "amount"),
        "transaction_id",
        "timestamp",
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
    ),
}


def row_schema(spec: TableSpec, present: list[str]) -> pa.DataFrameSchema:
    """The pandera schema of row-level checks for the columns present in this table."""
    checks: dict[str, list[pa.Check]] = {c: [] for c in present}
    if spec.name == "complaints":
        checks.get("severity", []).append(pa.Check.isin([1, 2, 3], error="severity must be 1, 2 or 3"))
        checks.get("satisfaction", []).append(pa.Check.in_range(1, 5, error="satisfaction must be 1-5"))
    if spec.name == "surveys":
        checks["score"].append(pa.Check.in_range(0, 10, error="NPS score must be 0-10"))
    columns = {c: pa.Column(checks=checks[c], nullable=c not in spec.required, coerce=False) for c in present}
    frame_checks = []
    if spec.name == "complaints" and "resolved_at" in present:
        frame_checks.append(
            pa.Check(lambda df: ~(df["resolved_at"] < df["opened_at"]), error="resolved_at is before opened_at")
        )
    return pa.DataFrameSchema(columns, checks=frame_checks, strict=False)
