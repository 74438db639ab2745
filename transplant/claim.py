"""Claiming a grid point, so that two sweeps (on one host or many sharing a filesystem) never
run the same point at once.

A claim is a file created with O_EXCL in the run directory (atomic, on NFS too), holding the
host and pid. While the run lives, a thread touches it every HEARTBEAT_S seconds. A claim is
stale when its process is gone (same host: the pid is dead) or its heartbeat stopped (any
host: not touched for STALE_S seconds); a stale claim is renamed away atomically, so of two
processes that find it stale only one takes over.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
from pathlib import Path

from transplant.layout import RunLayout

HEARTBEAT_S = 30.0
STALE_S = 300.0


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Claim:
    """Held while a run is under way; `release()` (or leaving the `with` block) gives it up."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            try:
                os.utime(self.path)
            except FileNotFoundError:
                return

    def release(self) -> None:
        self._stop.set()
        self.path.unlink(missing_ok=True)

    def __enter__(self) -> Claim:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def holder(path: Path) -> dict | None:
    """Who holds the claim at `path` ({host, pid, since}), or None if nobody does."""
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return None


def is_stale(path: Path, now: float | None = None) -> bool:
    info = holder(path)
    try:
        age = (now or time.time()) - path.stat().st_mtime
    except FileNotFoundError:
        return False  # released meanwhile: not stale, just gone
    if info and info.get("host") == socket.gethostname() and "pid" in info:
        return not _pid_alive(int(info["pid"])) or age > STALE_S
    return age > STALE_S


def claim(run_dir: Path) -> Claim | None:
    """Claim the run directory for this process; None if a live process holds it."""
    path = RunLayout(run_dir).claim
    run_dir.mkdir(parents=True, exist_ok=True)
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
        except FileExistsError:
            seen = holder(path)
            if not is_stale(path):
                return None
            private = path.with_name(f".claim.stale-{os.getpid()}")
            try:  # only one of the processes that found it stale wins this rename
                os.rename(path, private)
            except FileNotFoundError:
                continue
            if holder(private) != seen:  # a fresh claim replaced the stale one: give it back
                with contextlib.suppress(FileExistsError):
                    os.link(private, path)
                private.unlink(missing_ok=True)
                return None
            private.unlink(missing_ok=True)
            continue
        with os.fdopen(fd, "w") as f:
            json.dump({"host": socket.gethostname(), "pid": os.getpid(),
                       "since": time.time()}, f)
        return Claim(path)
    return None
