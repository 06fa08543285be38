"""How the call store uses SQLite: the pragmas of each connection, reading a file without ever writing it, BEGIN
IMMEDIATE for a webhook's transaction, and the locks writers queue on (each waits a bounded time).

SQLAlchemy's events call these (store.py registers them); nothing here imports SQLAlchemy.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any

from ivr.errors import StoreError

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: SQLite's own busy handler queues the writers
    fcntl = None  # type: ignore[assignment]
#: whether writers across processes can queue on a file lock here (POSIX)
HAS_FILE_LOCKS = fcntl is not None


class TimedLock:
    """A thread lock that a request waits for at most `timeout` seconds (then `StoreError`: the caller hears the
    apology instead of waiting behind a request that never ends)."""

    def __init__(self, lock: threading.Lock, timeout: float) -> None:
        self.lock, self.timeout = lock, timeout

    def __enter__(self) -> None:
        if not self.lock.acquire(timeout=self.timeout):
            raise StoreError(f"the call store stayed busy for {self.timeout:g} s (another request holds it)")

    def __exit__(self, *_: object) -> None:
        self.lock.release()


class FileLock:
    """One writer at a time across the processes (flock) and threads (a mutex) that share a SQLite file, each
    waiting at most `timeout` seconds. The flock is polled (every 0.1 ms at first, then up to every 2 ms): a
    blocking flock cannot time out, and a request must never wait unbounded behind one that hangs."""

    def __init__(self, path: str, timeout: float) -> None:
        self.path, self.mutex, self.fd, self.pid, self.timeout = path, threading.Lock(), -1, 0, timeout

    def __enter__(self) -> None:
        deadline = time.monotonic() + self.timeout
        if not self.mutex.acquire(timeout=self.timeout):
            raise StoreError(f"the call store stayed busy for {self.timeout:g} s (another request holds it)")
        try:
            if self.pid != os.getpid():  # opened per process: a forked worker must not share its parent's lock
                self.fd, self.pid = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600), os.getpid()
            pause = 0.0001
            while True:
                try:
                    fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise StoreError(f"the call store stayed busy for {self.timeout:g} s (another worker "
                                         "holds its lock)") from None
                    time.sleep(pause)
                    pause = min(pause * 2, 0.002)
        except OSError as exc:
            self.mutex.release()
            raise StoreError(f"cannot lock the call store ({self.path}): {exc.strerror or exc}") from exc
        except BaseException:
            self.mutex.release()
            raise

    def __exit__(self, *_: object) -> None:
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        self.mutex.release()


def pragmas(read_only: bool, lock_timeout: float) -> Callable[[Any, Any], None]:
    def connected(dbapi_conn: Any, _record: Any) -> None:
        # let SQLAlchemy's begin event issue BEGIN itself, so that writers can take the lock up front
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        pragmas = [f"busy_timeout={int(lock_timeout * 1000)}", "foreign_keys=ON"]
        if not read_only:  # WAL is a property of the file: a reader finds it as the app left it
            pragmas[:0] = ["journal_mode=WAL", "synchronous=NORMAL"]
        for pragma in pragmas:
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    return connected


def read_only(path: str) -> Callable[[], Any]:
    """Connections to an existing SQLite file that never write to it: its directory may be read-only too (a
    store copied off a server, a backup). A missing file is an error, not a new empty store. `path` may be
    given as a `file:` URI (its query is ours to set)."""
    import sqlite3
    from urllib.parse import quote

    path = path.removeprefix("file:").partition("?")[0]

    def connect() -> Any:
        if not os.path.isfile(path):
            raise sqlite3.OperationalError(f"no database file at {path}")
        wal = f"{path}-wal"
        pending = os.path.isfile(wal) and os.path.getsize(wal) > 0  # commits not yet in the file itself
        writable_dir = os.access(os.path.dirname(os.path.abspath(path)) or ".", os.W_OK)
        if not pending and not writable_dir:  # the file is all there is: read it as it is, no shared memory made
            options = "immutable=1"
        elif writable_dir or os.path.isfile(f"{path}-shm"):  # SQLite reads the WAL through its shared memory
            options = "mode=ro"
        else:
            raise sqlite3.OperationalError(
                f"{path} has commits in {wal} that cannot be read in a read-only directory without its -shm "
                "file; copy the database and its -wal file somewhere writable, and read the copy")
        return sqlite3.connect(f"file:{quote(path)}?{options}", uri=True, check_same_thread=False)

    return connect


def begin(conn: Any) -> None:
    # a webhook's transaction writes: BEGIN IMMEDIATE takes the write lock before reading the call's state,
    # so two workers cannot both read seq N and both answer it
    immediate = conn.get_execution_options().get("ivr_immediate", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
