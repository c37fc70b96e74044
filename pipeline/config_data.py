"""The data settings (``data.*``): where the raw tables come from, their column names, CSV and invoice-line
options, PostgreSQL, and the demo generator. Re-exported by ``pipeline.config``, where the whole config is."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Optional


class Source(StrEnum):
    demo = "demo"
    files = "files"


class LoadMode(StrEnum):
    replace = "replace"  # type: ignore[assignment]  # a member named like str.replace, on purpose
    merge = "merge"


@dataclass
class TransactionColumns:
    """Our column name -> the column name in the user's file (null = the table has no such column)."""

    transaction_id: Optional[str] = "transaction_id"
    customer_id: str = "customer_id"
    timestamp: str = "timestamp"
    amount: Optional[str] = "amount"  # null: amount = quantity x unit_price (map those two)
    category: Optional[str] = "category"
    brand: Optional[str] = "brand"
    discount: Optional[str] = "discount"
    # Exports without a line amount: map amount=null and these two; amount = quantity x unit_price.
    quantity: Optional[str] = None
    unit_price: Optional[str] = None
    # The product of a line (e.g. a stock code): credit notes reverse a purchase of the same product (data.lines).
    product_id: Optional[str] = None


@dataclass
class ComplaintColumns:
    complaint_id: Optional[str] = "complaint_id"
    customer_id: str = "customer_id"
    opened_at: str = "opened_at"
    resolved_at: Optional[str] = "resolved_at"
    category: Optional[str] = "category"
    severity: Optional[str] = "severity"
    satisfaction: Optional[str] = "satisfaction"


@dataclass
class CustomerColumns:
    customer_id: str = "customer_id"
    signup_date: Optional[str] = "signup_date"
    region: Optional[str] = "region"
    acquisition_channel: Optional[str] = "acquisition_channel"
    loyalty_member: Optional[str] = "loyalty_member"


@dataclass
class SurveyColumns:
    customer_id: str = "customer_id"
    answered_at: str = "answered_at"
    score: str = "score"


@dataclass
class ContactColumns:
    """The retention team's contacts: who was contacted when, how, and what came of it (for how past lists did)."""

    customer_id: str = "customer_id"
    contacted_at: str = "contacted_at"
    action: Optional[str] = "action"
    channel: Optional[str] = "channel"
    outcome: Optional[str] = "outcome"


@dataclass
class ListColumns:
    """The team's earlier save lists, from this tool or any other: who was listed when, with which action, and who
    was held out at random (for what contacting saves, and the uplift model)."""

    customer_id: str = "customer_id"
    list_date: str = "list_date"
    holdout: str = "holdout"
    action: Optional[str] = "action"
    explored: Optional[str] = "explored"
    rank: Optional[str] = "rank"


@dataclass
class ColumnMaps:
    transactions: TransactionColumns = field(default_factory=TransactionColumns)
    complaints: ComplaintColumns = field(default_factory=ComplaintColumns)
    customers: CustomerColumns = field(default_factory=CustomerColumns)
    surveys: SurveyColumns = field(default_factory=SurveyColumns)
    contacts: ContactColumns = field(default_factory=ContactColumns)
    lists: ListColumns = field(default_factory=ListColumns)


@dataclass
class CsvOptions:
    """How to read CSV files (applies to every CSV source)."""

    delimiter: str = ","  # field separator
    encoding: str = "utf-8"  # file encoding, e.g. latin-1
    decimal: str = "."  # decimal mark, e.g. ','
    date_format: Optional[str] = None  # e.g. "%d/%m/%Y"; null = infer ISO-like dates
    thousands: Optional[str] = None  # thousands separator inside numbers, e.g. "," for 1,234.50; null = none


@dataclass
class LinesConfig:
    """Exports with one row per invoice line (see pipeline.sources.lines and docs/data.md); all off by default."""

    group: bool = False  # rows sharing a transaction_id are lines of one transaction: grouped into one
    credit_note_pattern: Optional[str] = None  # transaction IDs matching this regex are credit notes, e.g. "^C"
    any_product: list[str] = field(default_factory=list)  # credit-note product codes that reverse any product
    drop_unpriced: bool = False  # purchase lines with a unit price of zero or less are set aside


@dataclass
class PostgresConfig:
    """Connection to a PostgreSQL server, for tables given as ``postgresql:SCHEMA.TABLE`` or ``postgresql:SELECT ...``.

    The password is never part of the config: it is read from the environment variable named by ``password_env``.
    """

    host: str = "localhost"  # server (no password in it)
    port: int = 5432  # server port
    dbname: str = "postgres"  # database
    user: str = "postgres"  # user
    password_env: Optional[str] = "PGPASSWORD"  # the environment variable holding the password
    sslmode: str = "prefer"  # libpq sslmode
    connect_timeout: int = 10  # seconds
    fetch_rows: int = 50_000  # rows per round trip of the server-side cursor


class DemoRegime(StrEnum):
    """What the demo data looks like: see ``pipeline.demo``."""

    mixed = "mixed"  # many acquisition cohorts, attributes, complaints and NPS surveys
    retail = "retail"  # a real retail log's shape: one cohort, ~60% one-time buyers, transactions only


@dataclass
class DemoConfig:
    regime: DemoRegime = DemoRegime.mixed  # mixed | retail (the data=demo_retail preset)
    n_customers: int = 20_000  # customers the demo generates
    years: float = 3.0  # years of history before end_date
    end_date: str = "2026-10-31"  # the demo's "today": the default as_of of a demo run
    weeks_ahead: int = 4  # weeks of data after end_date, loaded by weekly runs with a later as_of (make score AS_OF=)
    past_lists: int = 52  # weeks before end_date in which the demo's team sent lists and contacted them (mixed regime)


@dataclass
class DataConfig:
    """Where the raw tables come from. ``source=demo`` generates them first; ``files`` reads the given paths.

    Each table is a CSV or Parquet path, or ``postgresql:SCHEMA.TABLE`` / ``postgresql:SELECT ...`` read through
    ``postgres``. ``mode=replace`` makes the interim tables exactly this load; ``mode=merge`` adds this load to the
    previous interim tables by record key (record ID, else a content hash), so overlapping weekly increments and
    re-runs never double a row and a later version of a record (e.g. a resolved complaint) replaces the earlier one.
    """

    source: Source = Source.demo  # demo: generated tables; files: the paths below
    mode: LoadMode = LoadMode.replace  # replace: the tables are this load; merge: add it to them
    transactions: Optional[str] = None  # CSV/Parquet path or postgresql:SCHEMA.TABLE / postgresql:SELECT ...
    complaints: Optional[str] = None  # optional, like transactions
    customers: Optional[str] = None  # optional: attributes and signup dates
    surveys: Optional[str] = None  # optional: NPS answers
    contacts: Optional[str] = None  # optional: the team's contacts, to show what contacting changed
    lists: Optional[str] = None  # optional: the team's earlier lists with their hold-outs (see docs/weekly.md)
    columns: ColumnMaps = field(default_factory=ColumnMaps)
    csv: CsvOptions = field(default_factory=CsvOptions)
    lines: LinesConfig = field(default_factory=LinesConfig)
    postgres: PostgresConfig = field(default_factory=PostgresConfig)
    timezone: str = "UTC"  # every timestamp is converted to this zone, then stored without zone
    max_bad_row_share: float = 0.05  # more bad rows than this in a table stops the run
    demo: DemoConfig = field(default_factory=DemoConfig)
