"""Operations: one run at a time per project, and outputs readable by other accounts as the umask allows."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from pipeline import io, lock


def test_a_second_run_in_the_same_project_stops_and_names_the_holder(tmp_path):
    path = tmp_path / ".pipeline.lock"
    with lock.exclusive(path, "stage=all as_of=2026-10-31"):
        with pytest.raises(lock.ProjectBusy, match=r"another run is working in this project \(pid \d+.*stage=all"):
            with lock.exclusive(path, "stage=score"):
                pass
    with lock.exclusive(path, "stage=score"):  # released when the first run ended
        pass


def test_a_killed_run_leaves_no_lock_behind(tmp_path):
    path = tmp_path / ".pipeline.lock"
    code = f"from pipeline import lock\nwith lock.exclusive({str(path)!r}, 'held'):\n    print('in', flush=True)\n"
    holder = subprocess.Popen([sys.executable, "-c", code + "    import time; time.sleep(60)"], stdout=subprocess.PIPE)
    assert holder.stdout.readline().strip() == b"in"
    with pytest.raises(lock.ProjectBusy, match="held"):
        with lock.exclusive(path, "second"):
            pass
    holder.kill()
    holder.wait()
    time.sleep(0.1)
    with lock.exclusive(path, "after the kill"):
        pass


def test_outputs_get_the_umasks_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        io._file_mode.cache_clear()
        written = io.write_text("x", tmp_path / "at_risk.csv")
        assert written.stat().st_mode & 0o777 == 0o644
    finally:
        os.umask(old)
        io._file_mode.cache_clear()
