"""Advisory file locks that die with their process (a SIGKILLed worker frees its claims)."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


def try_flock(path: Path, *, retry_if_replaced: bool = False) -> int | None:
    """An exclusive, non-blocking lock on `path` (created if missing): its descriptor, or None
    when another process holds it.

    The holder may finish and unlink the file between our open and our lock, leaving us a lock
    on a file nobody else can see. Then: with `retry_if_replaced`, lock the file now at `path`;
    without, None (the thing the lock guarded is gone).
    """
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        try:
            same = os.fstat(fd).st_ino == path.stat().st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)
        if not retry_if_replaced:
            return None
