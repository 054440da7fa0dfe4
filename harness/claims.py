"""Claims: many workers share one results folder, and no cell runs in two of them at once.

A claim is a small JSON file created with O_CREAT|O_EXCL (atomic on local disks and NFS), naming
its holder's host, pid and start time. The holder touches it every HEARTBEAT_S seconds, so a
claim is stale when its holder is a dead process on this host, or when nobody has touched it for
`stale_after` seconds (a holder on another host that died, e.g. a Slurm job killed at its time
limit). A stale claim is taken over by renaming it aside first, so two workers taking over the
same stale claim cannot both win.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.processes import pid_alive
from harness.provenance import now_utc

HEARTBEAT_S = 60.0
STALE_AFTER_S = 600.0  # ten missed heartbeats


def claim_path(out: Path, record: Path) -> Path:
    """The claim of a record under `out` sits beside the results, out of the way of `medbench results`."""
    return out / ".claims" / record.relative_to(out).with_suffix(".claim")


@dataclass
class Claim:
    """A claim this process holds; `release` it when the work is written (a context manager does)."""

    path: Path
    token: str
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)

    def release(self) -> None:
        self._stop.set()
        info = read_claim(self.path)
        if info is not None and info.get("token") == self.token:
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> "Claim":
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            try:
                os.utime(self.path)
            except OSError:  # taken over or removed: nothing left to keep alive
                return


def read_claim(path: Path) -> dict[str, Any] | None:
    """The holder recorded in a claim; None when it is gone or not yet (or no longer) readable."""
    try:
        info = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def is_stale(info: dict[str, Any] | None, age_s: float, stale_after: float = STALE_AFTER_S) -> bool:
    """Dead holder on this host, or no heartbeat for `stale_after` seconds."""
    if age_s > stale_after:
        return True
    return info is not None and info.get("host") == socket.gethostname() and not pid_alive(int(info.get("pid", -1)))


def claim_age(path: Path) -> float | None:
    """Seconds since the holder last touched the claim; None when there is no claim."""
    try:
        return time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return None


def try_claim(path: Path, stale_after: float = STALE_AFTER_S) -> Claim | None:
    """Claim `path` for this process, taking over a stale claim; None when a live worker holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(2):  # once, and once more after taking over a stale claim
        claim = _create(path)
        if claim is not None:
            return claim
        info, age = read_claim(path), claim_age(path)
        if age is not None and not is_stale(info, age, stale_after):
            return None
        if age is not None and not _take_over(path, info):
            return None
    return None


@contextlib.contextmanager
def waiting_claim(path: Path, poll_s: float = 2.0, stale_after: float = STALE_AFTER_S) -> Iterator[Claim]:
    """Hold `path`, waiting while a live worker holds it (e.g. pretraining the weights this worker needs too)."""
    while (claim := try_claim(path, stale_after)) is None:
        time.sleep(poll_s)
    with claim:
        yield claim


def _create(path: Path) -> Claim | None:
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return None
    token = uuid.uuid4().hex
    holder = {"host": socket.gethostname(), "pid": os.getpid(), "started_at": now_utc(), "token": token}
    with os.fdopen(fd, "w") as handle:
        json.dump(holder, handle)
        handle.flush()
        os.fsync(handle.fileno())
    claim = Claim(path, token)
    threading.Thread(target=claim._beat, name=f"claim-heartbeat {path.name}", daemon=True).start()
    return claim


def _take_over(path: Path, seen: dict[str, Any] | None) -> bool:
    """Move the stale claim aside; if what was moved is not the claim judged stale, put it back."""
    aside = path.with_name(f"{path.name}.{uuid.uuid4().hex}.stale")
    try:
        os.rename(path, aside)
    except FileNotFoundError:  # its holder released it meanwhile
        return True
    moved = read_claim(aside)
    try:
        if (moved or {}).get("token") == (seen or {}).get("token"):
            return True
        with contextlib.suppress(FileExistsError):
            os.link(aside, path)  # a fresh claim made after we looked: give it back
        return False
    finally:
        aside.unlink(missing_ok=True)
