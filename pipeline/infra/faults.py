"""Named points where the fault-injection tests kill the process: ``PIPELINE_FAULT=<point>`` sends it SIGKILL there.

Unset (always, outside those tests) a point costs one dictionary look-up. The points sit at stage boundaries and
inside the multi-file writes, where a crash could otherwise leave a mix of old and new files.
"""

from __future__ import annotations

import os
import signal


def point(name: str) -> None:
    """Die here, as ``kill -9`` would, when the fault-injection tests ask for ``name``."""
    if os.environ.get("PIPELINE_FAULT") == name:
        os.kill(os.getpid(), signal.SIGKILL)
