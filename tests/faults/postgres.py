"""A throwaway PostgreSQL server for the fault suite, and a TCP proxy that cuts the app's connection at COMMIT.

`Cluster` runs its own `postgres` (initdb in a temporary directory, a free port, its unix socket beside the data),
so that stopping it fast or immediately, as the faults do, disturbs none of the other tests that share the local
server on 5432. initdb refuses to run as root: as root the cluster belongs to the `postgres` user.

`CommitCutter` sits between the app and that server and reads the PostgreSQL wire protocol in both directions.
psycopg 3 sends `BEGIN` and `COMMIT` as simple queries (a 'Q' message), and the statements in between with the
extended protocol ('P'arse names a statement, 'B'ind runs it; psycopg prepares a statement it runs often, so later
transactions only Bind it by name). When the app commits a transaction that wrote, the proxy may:

- cut *after*: forward the COMMIT, let the server commit, read its reply ('C' COMMIT) and close the app's side
  without forwarding it: the commit happened, the app never learns it (an ambiguous commit);
- cut *before*: close both sides instead of forwarding the COMMIT: nothing was committed, the app cannot know.

The connection string must turn off SSL and GSS encryption (`?sslmode=disable&gssencmode=disable`), so that the
first message is the startup message and everything after it is framed as type byte + length.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import socket
import struct
import subprocess
import tempfile
import threading
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

#: where Debian keeps each major version's server binaries
DEBIAN_BINARIES = Path("/usr/lib/postgresql")
CALL_SID = re.compile(rb"CA[0-9a-f]{32}")


def binaries() -> Path | None:
    """The newest PostgreSQL's bin directory with `initdb`, `pg_ctl` and `postgres`, if installed."""
    versions = sorted((p for p in DEBIAN_BINARIES.glob("*/bin") if (p / "initdb").exists()),
                      key=lambda p: [int(x) for x in re.findall(r"\d+", p.parent.name)] or [0])
    found = versions[-1] if versions else None
    on_path = shutil.which("initdb")
    return found or (Path(on_path).parent if on_path else None)


def why_no_cluster() -> str | None:
    """Why a throwaway cluster cannot be started here, or None when it can."""
    if binaries() is None:
        return f"no PostgreSQL server binaries (initdb, pg_ctl) under {DEBIAN_BINARIES}/<version>/bin or on PATH"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root, and there is no `postgres` user to run a throwaway cluster as"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Cluster:
    """A PostgreSQL server of its own in a temporary directory: `start`, `stop("fast" | "immediate")`, databases."""

    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="ivr-faults-pg-")))
    port: int = field(default_factory=free_port)
    bin: Path = field(default_factory=lambda: binaries() or Path("/nonexistent"))

    def __post_init__(self) -> None:
        self.user = "postgres" if os.geteuid() == 0 else None
        if self.user:  # the server's files belong to the user it runs as
            entry = pwd.getpwnam(self.user)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        self.data, self.log = self.root / "data", self.root / "server.log"

    def _run(self, *command: str) -> None:
        done = subprocess.run([str(self.bin / command[0]), *command[1:]], user=self.user, cwd=self.root,
                              capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
        if done.returncode:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{command[0]} {' '.join(command[1:3])} failed ({done.returncode}):\n"
                               f"{done.stdout}{done.stderr}{log}")

    def init(self) -> Cluster:
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C",
                  "--no-sync", "--no-instructions")
        # fsync off: the faults kill processes, never the machine, so the OS keeps what was written
        settings = {"port": self.port, "unix_socket_directories": self.root, "listen_addresses": "127.0.0.1",
                    "fsync": "off", "full_page_writes": "off", "max_connections": 60, "shared_buffers": "16MB"}
        with (self.data / "postgresql.auto.conf").open("a") as conf:
            conf.write("".join(f"{k} = '{v}'\n" for k, v in settings.items()))
        return self

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists() and subprocess.run(
            [str(self.bin / "pg_ctl"), "-D", str(self.data), "status"], user=self.user,
            capture_output=True).returncode == 0

    def ensure_running(self) -> None:
        if not self.running():
            self.start()

    def dsn(self, database: str = "postgres", port: int | None = None) -> str:
        return f"host=127.0.0.1 port={port or self.port} user=postgres dbname={database} connect_timeout=5"

    def url(self, database: str, port: int | None = None) -> str:
        """A URL for the app, to this server or (`port`) to a proxy in front of it: plain TCP, no SSL or GSS."""
        return (f"postgresql+psycopg://postgres@127.0.0.1:{port or self.port}/{database}"
                "?sslmode=disable&gssencmode=disable&connect_timeout=5")

    def create_database(self, name: str) -> None:
        import psycopg

        with psycopg.connect(self.dsn(), autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')

    def destroy(self) -> None:
        with suppress(Exception):
            if self.running():
                self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


# -- the COMMIT-cutting proxy ----------------------------------------------------------------------------------

#: what to do with a transaction's COMMIT: let it through, or cut the app's connection before or after it
PASS, BEFORE, AFTER = "pass", "before", "after"


@dataclass
class Transaction:
    """What the proxy saw of one transaction on one connection."""

    writes: bool = False
    cancellation: bool = False
    sids: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class Cut:
    """A COMMIT the proxy cut: `when` (before or after the server committed), and the calls it wrote for."""

    when: str
    cancellation: bool
    sids: frozenset[str]


Policy = Callable[[Transaction], str]


class Counter:
    """The default policy: of the transactions that record a cancellation, cut one in three after the server
    committed it and one in three before; of the other writing transactions, one in six after and one in twelve
    before (each of those ends its call with an apology). Read-only transactions always pass."""

    def __init__(self) -> None:
        self.lock, self.cancellations, self.others = threading.Lock(), 0, 0

    def __call__(self, tx: Transaction) -> str:
        with self.lock:
            if tx.cancellation:
                self.cancellations += 1
                return (AFTER, BEFORE, PASS)[(self.cancellations - 1) % 3]
            if not tx.writes:
                return PASS
            self.others += 1
            return {1: AFTER, 7: AFTER, 4: BEFORE}.get(self.others % 12, PASS)


def _frames(buffer: bytearray, typed: bool = True) -> list[bytes]:
    """Complete messages at the front of `buffer` (removed from it): type byte, int32 length (counting itself),
    payload. Not `typed`: the one startup message, which has no type byte."""
    out: list[bytes] = []
    head = 5 if typed else 4
    while len(buffer) >= head and (typed or not out):
        length = struct.unpack("!i", buffer[head - 4:head])[0]
        size = length + (1 if typed else 0)
        if len(buffer) < size:
            break
        out.append(bytes(buffer[:size]))
        del buffer[:size]
    return out


class CommitCutter:
    """A TCP proxy from 127.0.0.1:`port` to the server at `upstream`, cutting COMMITs as `policy` decides."""

    def __init__(self, upstream: int, policy: Policy | None = None, *, trace: bool = False) -> None:
        self.upstream, self.policy, self.trace = upstream, policy or Counter(), trace
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.cuts: list[Cut] = []
        self.commits = 0
        self.armed = True  # False: every COMMIT passes (while the app boots and creates its tables)
        self.messages: list[str] = []  # with `trace`: what the app sent, one line per message (for checking)
        self.lock = threading.Lock()
        self.sockets: set[socket.socket] = set()
        self.closed = False
        threading.Thread(target=self._accept, daemon=True, name="commit-cutter").start()

    def close(self) -> None:
        self.closed = True
        with suppress(OSError):
            self.listener.close()
        with self.lock:
            for s in list(self.sockets):
                _close(s)

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(("127.0.0.1", self.upstream), timeout=5)
            except OSError:  # the server is down: so is this connection, as it would be without the proxy
                _close(client)
                continue
            server.settimeout(None)
            with self.lock:
                self.sockets |= {client, server}
            _Link(self, client, server).start()


class _Link:
    """One app connection through the proxy: a thread each way."""

    def __init__(self, proxy: CommitCutter, client: socket.socket, server: socket.socket) -> None:
        self.proxy, self.client, self.server = proxy, client, server
        self.statements: dict[bytes, bytes] = {}  # prepared statement name -> query text
        self.tx = Transaction()
        self.pending: Cut | None = None  # a COMMIT went through; its reply will not

    def start(self) -> None:
        threading.Thread(target=self._upward, daemon=True).start()
        threading.Thread(target=self._downward, daemon=True).start()

    def cut(self) -> None:
        for s in (self.client, self.server):
            _close(s)
        with self.proxy.lock:
            self.proxy.sockets -= {self.client, self.server}

    def _upward(self) -> None:
        """App -> server: watch the statements; decide at each COMMIT."""
        buffer, started = bytearray(), False
        while True:
            try:
                data = self.client.recv(65536)
            except OSError:
                data = b""
            if not data:
                return self.cut()
            buffer += data
            if not started:  # the startup message has no type byte; every message after it has one
                startup = _frames(buffer, typed=False)
                if not startup:
                    continue
                started = True
                if not self._send(self.server, startup[0]):
                    return self.cut()
            out = b""
            for message in _frames(buffer, typed=True):
                if not self._from_app(message):
                    if out:
                        self._send(self.server, out)
                    return self.cut()
                out += message
            if out and not self._send(self.server, out):
                return self.cut()

    def _from_app(self, message: bytes) -> bool:
        """Note what a message does; False: cut the connection instead of forwarding it."""
        kind, payload = message[:1], message[5:]
        if self.proxy.trace:
            self.proxy.messages.append(f"{kind.decode()} {payload[:80]!r}")
        if kind == b"P":
            name, _, rest = payload.partition(b"\0")
            self.statements[name] = rest.partition(b"\0")[0]
        elif kind == b"B":
            _portal, _, rest = payload.partition(b"\0")
            name = rest.partition(b"\0")[0]
            self._statement(self.statements.get(name, b""), payload)
        elif kind == b"Q":
            text = payload.rstrip(b"\0").strip().upper()
            if text.startswith(b"COMMIT"):
                return self._commit()
            if text.startswith((b"BEGIN", b"ROLLBACK", b"START TRANSACTION")):
                self.tx = Transaction()
            else:
                self._statement(payload, payload)
        return True

    def _statement(self, query: bytes, payload: bytes) -> None:
        words = query.lstrip().split(None, 1)
        if words and words[0].upper() in (b"INSERT", b"UPDATE", b"DELETE"):
            self.tx.writes = True
            if b"ivr_cancellations" in query and words[0].upper() == b"INSERT":
                self.tx.cancellation = True
        self.tx.sids.update(s.decode() for s in CALL_SID.findall(payload))

    def _commit(self) -> bool:
        tx, self.tx = self.tx, Transaction()
        with self.proxy.lock:
            self.proxy.commits += 1
        when = self.proxy.policy(tx) if self.proxy.armed else PASS
        if when == PASS:
            return True
        cut = Cut(when, tx.cancellation, frozenset(tx.sids))
        if when == BEFORE:
            with self.proxy.lock:
                self.proxy.cuts.append(cut)
            return False
        self.pending = cut
        return True

    def _downward(self) -> None:
        """Server -> app: forward message by message, except the reply to a COMMIT that is to be cut."""
        buffer = bytearray()
        while True:
            try:
                data = self.server.recv(65536)
            except OSError:
                data = b""
            if not data:
                return self.cut()
            buffer += data
            out = b""
            for message in _frames(buffer, typed=True):
                pending = self.pending
                if pending is not None and message[:1] == b"C" and message[5:].startswith(b"COMMIT"):
                    if out:
                        self._send(self.client, out)
                    with self.proxy.lock:
                        self.proxy.cuts.append(pending)  # the server committed: now the app never hears it
                    self.pending = None
                    return self.cut()
                if pending is not None and message[:1] == b"E":  # the COMMIT failed: nothing to cut
                    self.pending = None
                out += message
            if out and not self._send(self.client, out):
                return self.cut()

    @staticmethod
    def _send(sock: socket.socket, data: bytes) -> bool:
        try:
            sock.sendall(data)
        except OSError:
            return False
        return True


def _close(sock: socket.socket) -> None:
    with suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with suppress(OSError):
        sock.close()
