"""Samples of customers by a seeded hash of their ID: the same customers are chosen wherever the same IDs appear."""

from __future__ import annotations

import numpy as np
import pandas as pd


def by_customer(customer_ids: pd.Series, max_rows: int, seed: int) -> np.ndarray:
    """Positions (in order) of at most ``max_rows`` rows, chosen by a seeded hash of the customer ID (0 = all rows).

    A customer's hash is fixed, so a customer kept at one cutoff is kept at every cutoff they appear in (as long as
    the cutoffs are about the same size): the sample holds whole customer histories, as the full data does.
    """
    if max_rows <= 0 or len(customer_ids) <= max_rows:
        return np.arange(len(customer_ids))
    u = pd.util.hash_array(customer_ids.astype(str).to_numpy(dtype=object), hash_key=f"{seed:016d}"[-16:])
    return np.sort(np.argsort(u, kind="stable")[:max_rows])
