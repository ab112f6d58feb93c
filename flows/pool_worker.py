"""`letterbridge pool worker`: a work pool's worker that, told to stop, hands its runs back.

Prefect's own `prefect worker start`, on SIGTERM, stops taking runs and waits for the ones in
flight to finish — however long a batch takes, and in Prefect 3.8.8 it may not exit even then —
until systemd's stop timeout kills it and its runs show "Running" until the server's
silent-run automation crashes them (10 minutes). This runs that same worker as a child and,
on SIGTERM or SIGINT:

1. freezes the worker (SIGSTOP), so it takes no new run — not even the one just handed back;
2. sends SIGTERM to each flow-run process the worker started: one holding leases hands its run
   back to the pool (`flows.shutdown`) and ends; any other ends as Prefect ends it (Crashed);
3. once they are gone (at most `grace_seconds`, then SIGKILL), ends the worker, which holds
   nothing of its own.

Its letters go on at once on the next free worker, or on recovery's next pass.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with contextlib.suppress(OSError):  # a zombie has exited; only its parent's wait is due
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    return True


def _kill(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def stop_worker(worker: subprocess.Popen, grace_seconds: float) -> None:
    """Freeze the worker (it takes no new run, not even the one handed back, and kills none of
    its runs on its way out), hand back its runs (SIGTERM to each), then end it."""
    _kill(worker.pid, signal.SIGSTOP)
    runs = children(worker.pid)
    for pid in runs:
        _kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_seconds
    while any(_alive(pid) for pid in runs) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid in runs:  # the grace is over: whatever is left is killed (its leases go with it)
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
            _kill(pid, signal.SIGKILL)
    worker.kill()  # it holds nothing: the server sees its heartbeats stop
    worker.wait()


def run_pool_worker(pool: str, *, limit: int = 1, name: str = "",
                    grace_seconds: float = 20.0) -> int:
    """Run `prefect worker start --pool POOL --limit N` until it ends or we are told to stop.

    Returns the exit code: 0 when stopped by a signal, the worker's own otherwise.
    """
    command = [str(Path(sys.executable).with_name("prefect")), "worker", "start",
               "--pool", pool, "--limit", str(limit), *(["--name", name] if name else [])]
    worker = subprocess.Popen(command, stdin=subprocess.DEVNULL)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    while not stop.wait(0.5):
        if worker.poll() is not None:
            return worker.returncode
    print(f"stopping: handing back the runs of worker pid {worker.pid}",  # noqa: T201
          file=sys.stderr, flush=True)
    stop_worker(worker, grace_seconds)
    return 0
