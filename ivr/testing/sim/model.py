"""The simulator's values: what a test configures (how dialled parties, queues, payments and transfers answer),
what Twilio saw of a call (events, dials, recordings, requests), what waits for the caller (a `<Gather>`, a
`<Record>`, an `<Echo>`), and the scope a document runs in (the call itself, or a queue's wait music)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from ivr.testing.sim.call import Call

#: Twilio's limit for a webhook to answer; slower is error 11200 and the caller hears an application error
TWILIO_TIMEOUT = 15.0
APPLICATION_ERROR = "We are sorry, an application error has occurred. Goodbye."
#: documents a call may fetch between two actions of the caller: the limit Twilio documents for a message
#: session (error 14106, "document retrieval limit reached": a self-referencing <Redirect> or action URL). A call
#: would loop until its 4-hour limit, which a test cannot wait out
MAX_DOCUMENTS = 50
#: Twilio's limit on a TwiML response body (error 11750, "TwiML response body too large": over 64 kB)
MAX_BODY = 64 * 1024
AgentAnswer = Literal["completed", "no-answer", "busy", "failed"]
Kind = Literal["number", "client", "sip", "conference", "queue", "application", "whatsapp", "sim"]
Source = Literal["silence", "keys", "speech", "audio", "dial"]
#: Twilio's QueueResult values for an <Enqueue> (what the configured queue does with the caller)
QUEUE_RESULTS = ("bridged", "bridging-in-process", "error", "hangup", "leave", "redirected",
                 "redirected-from-bridged", "queue-full", "system-error")
#: Twilio's <Pay> Result values
PAY_RESULTS = ("success", "too-many-failed-attempts", "payment-connector-error", "caller-interrupted-with-star",
               "caller-hung-up", "validation-error", "internal-error")
#: what the SIP endpoint does with a <Refer>: (ReferCallStatus, ReferSipResponseCode, NotifySipResponseCode)
REFER_RESULTS: dict[str, tuple[str, str, str]] = {
    "accepted": ("in-progress", "202", "200"), "busy": ("busy", "202", "486"), "failed": ("failed", "405", ""),
    "canceled": ("canceled", "202", "180"),
}


@dataclass(frozen=True)
class Event:
    """One line of a conversation: what the IVR said or played, what the caller did, what Twilio did, or what
    the agent's leg of a `<Dial>` heard (a `<Number url>` whisper, which the caller does not hear)."""

    who: Literal["ivr", "caller", "twilio", "agent"]
    text: str

    def __str__(self) -> str:
        return f"{self.who.upper():>6}: {self.text}"


@dataclass(frozen=True)
class DialResult:
    """What happens to one leg Twilio dials (a number, client, SIP address, the caller at the front of a dialled
    `<Queue>`, the other participants of a `<Conference>`): its DialCallStatus, how long it talks when answered
    (seconds, before `timeLimit`), whether the caller hangs up at the end of that time (else the agent does), and
    the keys the agent presses at a whisper's `<Gather>` (`<Number url>`)."""

    status: AgentAnswer = "completed"
    duration: int = 42
    caller_hangs_up: bool = False
    keys: str = ""


@dataclass(frozen=True)
class QueueOutcome:
    """What happens to a caller an `<Enqueue>` puts in a queue: how many times its `waitUrl` document runs,
    the seconds spent waiting, then Twilio's QueueResult (`bridged`: an agent dequeues the caller and they talk
    `duration` seconds; `hangup`: the caller gives up; `queue-full`: never enqueued; `error`, `system-error`...)."""

    result: str = "bridged"
    waits: int = 1
    seconds: int = 30
    duration: int = 42


@dataclass(frozen=True)
class Dialled:
    """One thing a `<Dial>` (or `<Enqueue>`) connected the caller to, or tried to, and how it went."""

    kind: Kind
    target: str  # the number, client identity, SIP URI, conference or queue name
    status: str  # DialCallStatus, or QueueResult for an <Enqueue>
    duration: int = 0


@dataclass(frozen=True)
class Recording:
    """What a `<Record>` (or a `<Dial record>`) stored: Twilio's RecordingUrl and duration, how it ended (`digits`:
    the finish key pressed, 'hangup', or '' on timeout / maxLength), what the caller did, and its transcription."""

    url: str
    sid: str
    duration: int
    digits: str
    source: Source
    said: str = ""  # the words (speech), the keys, or the audio file recorded
    transcription: str | None = None


@dataclass(frozen=True)
class Request:
    """One request the simulator made for the call: a TwiML fetch, a status or recording callback, a media file."""

    method: str
    url: str
    fields: tuple[tuple[str, str], ...]
    purpose: Literal["twiml", "callback", "media"] = "twiml"


class Scope:
    """Where a document runs: the call itself. A queue's wait music (`ivr.testing.sim.rooms`) is another scope:
    there a document that runs out of verbs returns to the queue instead of ending the call."""

    name = "the call"
    allowed: frozenset[str] | None = None  # the verbs a document may use here (None: all)
    plays_audio = False  # whether an audio file is a document here (a queue's waitUrl may answer one)

    def end(self, call: Call) -> None:
        """The document ran out of verbs: Twilio hangs up."""
        call._finish("completed", "app")

    def fail(self, call: Call) -> None:
        """A document could not be fetched or run: the caller hears the application error."""
        call.transcript.append(Event("ivr", APPLICATION_ERROR))
        call._finish("failed", "twilio")

    def leave(self, call: Call, url: str) -> bool:
        """A `<Leave>`: True when it took the call out of a queue (and elsewhere)."""
        call.transcript.append(Event("twilio", "<Leave> outside a queue: nothing to leave"))
        return False

    def hang_up(self, call: Call) -> None:
        """The caller hangs up while a document of this scope runs."""


MAIN = Scope()


@dataclass
class Waiting:
    """A verb waiting for the caller: the attributes a test or replay reads, and where the call goes on."""

    action: str
    method: str
    rest: list[ET.Element]  # the verbs after it in the document
    url: str  # the document's URL
    scope: Scope = MAIN
    input: frozenset[str] = frozenset({"dtmf", "speech"})
    hints: str = ""
    num_digits: int | None = None
    finish_on_key: str = ""
    timeout: int = 5
    action_on_empty_result: bool = False
    kind: Literal["gather", "record", "echo"] = "gather"


@dataclass
class Gather(Waiting):
    """A `<Gather>` waiting for the caller's keys or speech."""

    language: str = "en-US"


@dataclass
class Recorder(Waiting):
    """A `<Record>` recording the caller: what it was told (maxLength, playBeep, trim, callbacks) and what the
    caller did so far (`parts`: words said, keys pressed, audio files spoken, each with its seconds)."""

    max_length: int = 3600
    trim: str = "trim-silence"
    transcribe: bool = False
    transcribe_callback: str | None = None
    status_callback: str | None = None
    status_method: str = "POST"
    status_events: frozenset[str] = frozenset({"completed"})
    sid: str = ""  # the recording's, known from the start (its in-progress callback has it)
    parts: list[tuple[str, str, int]] = field(default_factory=list)  # (source, what, seconds)


@dataclass
class Echo(Waiting):
    """An `<Echo>`: the caller hears their own voice until they hang up."""
