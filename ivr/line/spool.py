"""What callers heard while the store was down: apologies kept on the app's disk until the store takes them back.

When a webhook cannot use the store, the caller hears an apology (and a transfer); the call log should say so,
but the log is in the store. The apology is written here instead, one JSON line per apology, in one file per
process (`<pid>.jsonl`, appended and synced: no locking between workers), and moved to the store's
`ivr_apologies` table by the first request that finds the store working again (`Spool.drain`). A file being
drained is first renamed (`.draining`), so two workers never drain the same lines; an apology lands once (its
key is unique), even if a drain is cut short and runs again.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from ivr.line.records import Apology

log = logging.getLogger("ivr.line.spool")


class Spool:
    """Apologies waiting for the store, in `directory` (created when first needed)."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self._lock = threading.Lock()

    def add(self, apology: Apology) -> None:
        """Keep one apology on disk (synced: it outlives the process)."""
        line = json.dumps({"key": apology.key, "call_sid": apology.call_sid, "seq": apology.seq,
                           "at": apology.at.isoformat(), "flow": apology.flow, "said": apology.said,
                           "reason": apology.reason, "committed": apology.committed}) + "\n"
        with self._lock:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.directory / f"{os.getpid()}.jsonl", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                os.write(fd, line.encode())
                os.fsync(fd)
            finally:
                os.close(fd)

    def pending(self) -> int:
        """How many apologies wait (for /healthz)."""
        count = 0
        for path in self._files():
            try:
                with path.open("rb") as handle:
                    count += sum(1 for _ in handle)
            except OSError:
                continue
        return count

    def drain(self, keep: Callable[[Apology], None]) -> int:
        """Hand every spooled apology to `keep` (the store's `record_apology`); a file is deleted once all its
        apologies are kept. Returns how many were kept. A failure of `keep` leaves the rest on disk for the next
        drain. Called after every request the store answered: when nothing waits, it costs one look at the
        directory."""
        kept = 0
        for path in self._files():
            claimed = path if path.suffix == ".draining" else path.with_suffix(f".{os.getpid()}.draining")
            if claimed != path:
                try:
                    path.rename(claimed)
                except OSError:  # another worker claimed it first
                    continue
            for apology in _read(claimed):
                keep(apology)
                kept += 1
            claimed.unlink(missing_ok=True)
        if kept:
            log.info("%d apologies said while the store was down are now in its call log", kept)
        return kept

    def _files(self) -> list[Path]:
        if not self.directory.is_dir():
            return []
        return sorted(p for p in self.directory.iterdir() if p.suffix in (".jsonl", ".draining"))


def _read(path: Path) -> list[Apology]:
    found = []
    with path.open(encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, 1):
            try:
                data = json.loads(line)
                found.append(Apology(key=str(data["key"]), call_sid=str(data["call_sid"]), seq=data.get("seq"),
                                     at=datetime.fromisoformat(data["at"]), flow=str(data.get("flow", "")),
                                     said=str(data.get("said", "")), reason=str(data.get("reason", "")),
                                     committed=bool(data.get("committed", False))))
            except (ValueError, KeyError, TypeError):  # a line cut short by a crash: nothing to keep
                log.warning("%s:%d: not a spooled apology; skipped", path, number)
    return found
