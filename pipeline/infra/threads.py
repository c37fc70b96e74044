"""One thread count for every pool in the process: LightGBM, DuckDB, a local Spark session, BLAS and OpenMP.

Set once when the app starts (``configure(cfg.threads)``). Oversubscribed cores make OpenMP 10-100x slower, so the
count is never more than the machine's cores, and the BLAS/OpenMP pools of numpy, scipy and scikit-learn are capped
to it as well.
"""

from __future__ import annotations

import os

_configured: int | None = None


def cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def resolve(requested: int) -> int:
    """``requested`` threads (0 = all cores), never more than the cores."""
    return cores() if requested <= 0 else min(requested, cores())


def configure(requested: int) -> int:
    """Use ``requested`` threads (0 = all cores) for every pool from now on; returns the count."""
    from threadpoolctl import threadpool_limits

    global _configured
    _configured = resolve(requested)
    threadpool_limits(limits=_configured)
    return _configured


def count() -> int:
    """The configured thread count (all cores when nothing was configured)."""
    return _configured or cores()
