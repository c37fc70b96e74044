"""A throwaway PostgreSQL server for the tests, from the machine's own PostgreSQL binaries.

`.ci/run` installs Debian's `postgresql` package when no server binaries are found. The server listens on loopback
only, on a free port, with password (SCRAM) authentication, and is removed when the tests end.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Server:
    host: str
    port: int
    user: str
    password: str
    dbname: str = "postgres"


def find_bin(name: str) -> str | None:
    """A PostgreSQL server program from PATH or Debian's versioned folder (newest version first)."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(
        glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=lambda p: int(Path(p).parts[4]), reverse=True
    )
    return candidates[0] if candidates else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running(password: str = "s3cret-Passw0rd!") -> Iterator[Server]:
    """Start a server (raises RuntimeError when that is impossible here) and stop it afterwards."""
    initdb, pg_ctl = find_bin("initdb"), find_bin("pg_ctl")
    if not (initdb and pg_ctl):
        raise RuntimeError("no PostgreSQL server programs (initdb, pg_ctl) on this machine")
    user = None
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        try:
            user = pwd.getpwnam("postgres")
        except KeyError as err:
            raise RuntimeError("running as root and there is no 'postgres' user to run the server") from err
    root = Path(tempfile.mkdtemp(prefix="churn-clv-pg-"))
    run_as = {"user": user.pw_uid, "group": user.pw_gid} if user else {}
    try:
        (root / "pwfile").write_text(password + "\n")
        if user:
            for p in (root, root / "pwfile"):
                os.chown(p, user.pw_uid, user.pw_gid)
        data, port = root / "data", _free_port()
        subprocess.run(
            [
                initdb,
                "-D",
                str(data),
                "-U",
                "tester",
                "--auth=scram-sha-256",
                f"--pwfile={root / 'pwfile'}",
                "-E",
                "UTF8",
                "--no-sync",
            ],
            check=True,
            capture_output=True,
            cwd=root,
            **run_as,
        )
        options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
        subprocess.run(
            [pg_ctl, "-D", str(data), "-o", options, "-l", str(root / "log"), "-w", "-t", "60", "start"],
            check=True,
            capture_output=True,
            cwd=root,
            **run_as,
        )
        try:
            yield Server("127.0.0.1", port, "tester", password)
        finally:
            subprocess.run(
                [pg_ctl, "-D", str(data), "-m", "immediate", "stop"], capture_output=True, cwd=root, **run_as
            )
    except subprocess.CalledProcessError as err:
        log = (root / "log").read_text() if (root / "log").exists() else ""
        raise RuntimeError(f"could not start PostgreSQL: {err.stderr.decode(errors='replace')} {log}") from err
    finally:
        shutil.rmtree(root, ignore_errors=True)
