"""What the call store keeps, as frozen values: a call, one of its turns, a cancellation record, an apology a caller
heard when the app could not carry on; and `CommitUnknown`, a write whose outcome nobody knows yet.

store.py reads and writes them (and is where the rest of the line imports them from).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ivr.errors import StoreError


@dataclass(frozen=True)
class CallRecord:
    call_sid: str
    flow: str
    account_sid: str
    caller: str
    called: str
    started_at: datetime
    updated_at: datetime
    seq: int
    state: dict[str, Any]
    node: str
    turns: int
    outcome: str | None
    ended: bool
    status: str
    said: str = ""


@dataclass(frozen=True)
class Turn:
    """One webhook request of a call and the response it got (`seq` 0 is the call coming in)."""

    seq: int
    kind: str
    node: str = ""
    prompt: str = ""
    heard: str = ""
    confidence: float | None = None
    digits: str = ""
    intent: str = ""
    next_node: str = ""
    said: str = ""
    twiml: str = ""
    turns: int = 0
    outcome: str | None = None
    at: datetime | None = None


@dataclass(frozen=True)
class Cancellation:
    confirmation: str
    call_sid: str
    node: str
    flow: str
    caller: str
    account: str
    account_sid: str
    created_at: datetime


def now() -> datetime:
    return datetime.now(UTC)


def aware(value: datetime) -> datetime:
    """SQLite hands datetimes back without their zone; everything is stored in UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


class CommitUnknown(StoreError):
    """A request's commit failed in a way that leaves its outcome unknown, and the store could not be asked
    afterwards: whether the caller's turn was stored is not known (`key` finds out later)."""

    def __init__(self, message: str, key: str) -> None:
        super().__init__(message)
        self.key = key


@dataclass(frozen=True)
class Apology:
    """An apology a caller heard because the app could not carry on (the store failed, or a bug): kept in
    `ivr_apologies`, or spooled on disk while the store is down. `key` is the failed request's (see
    `CommitUnknown`) or a new one."""

    key: str
    call_sid: str
    seq: int | None
    at: datetime
    flow: str
    said: str
    reason: str
    committed: bool = False
