"""Compare two projects' demo outputs: the scored list, the backtest table and the promotion decisions.

    python bench/same_outputs.py BEFORE_ROOT AFTER_ROOT [AS_OF]

Each root is a project folder after ``make demo`` (``data/`` and ``models/`` under it). Exits 1 and says what differs;
used to check that a refactoring changed no result.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd


def differences(before: Path, after: Path, as_of: str) -> list[str]:
    found = []
    lists = [pd.read_parquet(root / "data" / "scored" / as_of / "customers.parquet") for root in (before, after)]
    try:
        pd.testing.assert_frame_equal(*lists, check_exact=True)
    except AssertionError as err:
        found.append(f"scored list: {str(err).splitlines()[0]}")
    metrics = [pd.read_csv(root / "data" / "interim" / "evaluation" / "metrics.csv") for root in (before, after)]
    try:
        pd.testing.assert_frame_equal(*metrics, check_exact=True)
    except AssertionError as err:
        found.append(f"backtest table: {str(err).splitlines()[0]}")
    decisions = []
    for root in (before, after):
        lines = (root / "models" / "promotions.jsonl").read_text().splitlines()
        decisions.append([{k: v for k, v in json.loads(line).items() if k != "at"} for line in lines])
    if decisions[0] != decisions[1]:
        found.append(f"promotion decisions: {decisions[0]} != {decisions[1]}")
    return found


def main() -> None:
    before, after = Path(sys.argv[1]), Path(sys.argv[2])
    as_of = sys.argv[3] if len(sys.argv) > 3 else "2026-10-31"
    found = differences(before, after, as_of)
    print("\n".join(found) if found else "the same list, backtest table and promotion decisions")
    sys.exit(1 if found else 0)


if __name__ == "__main__":
    main()
