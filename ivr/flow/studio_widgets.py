"""What a Twilio Studio flow is made of: the catalogue of widgets as data (for each widget type, its events and
its property keys, and the condition types of a split) and the frozen values a definition is read into
(`StudioFlow`, `Widget`, `Transition`, `Condition`).

`ivr.flow.studio_read` checks a Studio flow definition against this table and nothing else, so a widget type,
event or key Twilio adds is one line here.

Sources. The widget list follows Twilio's Widget Library (https://www.twilio.com/docs/studio/widget-library) and
its page per widget (trigger-start, split-based-on, set-variables, sayplay, gather-input-call, connect-call,
make-outgoing-call, record-voicemail, call-recording, enqueue-call, capture-payments, fork-stream,
connect-virtual-agent, send-message, send-wait-reply, http-request, run-function, run-subflow, twiml-redirect,
send-flex). Those pages name the fields as the canvas shows them ("Number of Digits", "Stop Gather"); the JSON key
of each field, the events and which keys are required follow the Studio Flow Definition page and the official
JSON Schemas it points to (https://www.twilio.com/docs/studio/rest-api/v2/flow-definition,
https://www.twilio.com/docs/studio/rest-api/v2/schemas, `https://schemas.twilio.com/studio/draft/2019-09/...`), as
generated into the widget structs of RJPearson94/twilio-sdk-go (`studio/widgets/*.go`), cross-checked against
public exports. What no widget page documents but every export has:

- `offset` ({x, y}): the widget's position on the canvas, on every widget;
- gather-input-on-call's `stop_gather`, `speech_model`, `profanity_filter` and `gather_language` (the page shows
  them only as canvas labels: "Stop gather", "Speech recognition model", "Profanity filter", "Speech recognition
  language");
- trigger's `incomingConversationMessage` and `incomingParent` events (the page calls them "Incoming Conversation"
  and "Subflow"); the generated structs predate the first.

`send-to-flex`'s `waitUrl` and `waitUrlMethod` really are camelCase (every other key is snake_case; enqueue-call's
are `wait_url`, `wait_url_method`). `send-to-auto-pilot` is kept so that older exports read: Autopilot reached end
of life in 2023 and the widget is gone from the library. `record-call` is the JSON type of the "Call Recording"
widget.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

from ivr.errors import nearest_line
from ivr.flow.values import FrozenDict

KeyPath = tuple[str, ...]


@dataclass(frozen=True)
class WidgetSpec:
    """One widget type: its events (in Studio's order) and the keys its `properties` may and must hold."""

    type: str
    events: tuple[str, ...]
    required: frozenset[str]
    optional: frozenset[str]
    doc: str  # the widget's page under https://www.twilio.com/docs/studio/widget-library/

    @property
    def keys(self) -> frozenset[str]:
        return self.required | self.optional


def _spec(type_: str, doc: str, events: str, required: str = "", optional: str = "") -> WidgetSpec:
    # `offset` (the canvas position) is allowed on every widget
    return WidgetSpec(type_, tuple(events.split()), frozenset(required.split()),
                      frozenset(optional.split()) | {"offset"}, doc)


#: widget type -> its spec, in the order of Twilio's widget library
WIDGETS: dict[str, WidgetSpec] = {s.type: s for s in (
    _spec("trigger", "trigger-start",
          "incomingMessage incomingCall incomingConversationMessage incomingRequest incomingParent"),
    _spec("split-based-on", "split-based-on", "noMatch match", "input"),
    _spec("set-variables", "set-variables", "next", "", "variables"),
    _spec("say-play", "sayplay", "audioComplete", "", "say play digits loop voice language"),
    _spec("gather-input-on-call", "gather-input-call", "keypress speech timeout", "",
          "say play voice language loop number_of_digits finish_on_key timeout stop_gather hints gather_language "
          "speech_timeout speech_model profanity_filter"),
    _spec("connect-call-to", "connect-call", "callCompleted hangup", "noun caller_id",
          "to record timeout sip_endpoint sip_username sip_password"),
    _spec("make-outgoing-call-v2", "make-outgoing-call", "answered busy noAnswer failed", "from to",
          "record recording_channels recording_status_callback timeout trim send_digits sip_auth_username "
          "sip_auth_password detect_answering_machine machine_detection machine_detection_timeout "
          "machine_detection_speech_threshold machine_detection_speech_end_threshold "
          "machine_detection_silence_timeout"),
    _spec("record-voicemail", "record-voicemail", "recordingComplete noAudio hangup", "",
          "max_length timeout finish_on_key play_beep trim transcribe transcription_callback_url "
          "recording_status_callback_url"),
    _spec("record-call", "call-recording", "success failed", "record_call",
          "recording_channels recording_status_callback recording_status_callback_method "
          "recording_status_callback_events trim"),
    _spec("enqueue-call", "enqueue-call", "callComplete failedToEnqueue callFailure", "",
          "queue_name workflow_sid task_attributes priority timeout wait_url wait_url_method"),
    _spec("capture-payments", "capture-payments",
          "success maxFailedAttempts providerError payInterrupted hangup validationError", "",
          "payment_connector payment_amount currency description payment_method payment_token_type "
          "valid_card_types security_code postal_code min_postal_code_length max_attempts timeout language "
          "parameters"),
    _spec("fork-stream", "fork-stream", "next", "stream_action",
          "stream_name stream_url stream_track stream_transport_type stream_connector stream_parameters"),
    _spec("connect-virtual-agent", "connect-virtual-agent", "return hangup", "connector",
          "language sentiment_analysis status_callback"),
    _spec("send-message", "send-message", "sent failed", "body from to",
          "service channel media_url attributes"),
    _spec("send-and-wait-for-reply", "send-wait-reply", "incomingMessage timeout deliveryFailure",
          "body from timeout", "service channel media_url attributes"),
    _spec("make-http-request", "http-request", "success failed", "method content_type url",
          "body parameters"),
    _spec("run-function", "run-function", "success fail", "url",
          "service_sid environment_sid function_sid parameters"),
    _spec("run-subflow", "run-subflow", "completed failed", "flow_sid flow_revision", "parameters"),
    _spec("add-twiml-redirect", "twiml-redirect", "return timeout fail", "url", "method timeout"),
    _spec("send-to-flex", "send-flex", "callComplete failedToEnqueue callFailure", "workflow channel",
          "attributes priority timeout waitUrl waitUrlMethod"),
    _spec("send-to-auto-pilot", "(retired with Autopilot in 2023)", "sessionEnded failure timeout",
          "autopilot_assistant_sid body from timeout",
          "chat_channel chat_service chat_attributes memory_parameters target_task"),
)}

#: a split-based-on's events: each `match` transition carries its own conditions; `noMatch` is the default
MATCH, NO_MATCH = "match", "noMatch"

#: every condition type of a split-based-on, in the order the canvas lists them (split-based-on page; the same
#: list as the JSON Schema's enum)
CONDITION_TYPES: tuple[str, ...] = (
    "equal_to", "not_equal_to", "matches_any_of", "does_not_match_any_of", "is_blank", "is_not_blank", "regex",
    "contains", "does_not_contain", "starts_with", "does_not_start_with", "less_than", "greater_than",
    "is_before_time", "is_after_time", "is_before_date", "is_after_date",
)

#: the condition types that compare nothing: their `value` is ignored (exports still write one, e.g. "Is Blank")
VALUELESS_CONDITIONS = frozenset({"is_blank", "is_not_blank"})

#: the keys of a condition (`friendly_name` is the label on the canvas)
CONDITION_KEYS = ("friendly_name", "arguments", "type", "value")
REQUIRED_CONDITION_KEYS = ("arguments", "type", "value")

#: the keys of a definition, of a state, of a transition
DEFINITION_KEYS = ("description", "flags", "initial_state", "states", "$schema")
STATE_KEYS = ("name", "type", "transitions", "properties")
TRANSITION_KEYS = ("event", "next", "conditions")


@dataclass(frozen=True)
class Condition:
    """One condition of a split-based-on's `match` transition: `type` applied to `arguments` and `value`."""

    type: str
    arguments: tuple[str, ...]
    value: str
    friendly_name: str = ""


class Transition(NamedTuple):
    """Where a widget goes on one event; `next` None is an unconnected transition: the execution ends there."""

    event: str
    next: str | None
    conditions: tuple[Condition, ...] = ()


@dataclass(frozen=True)
class Widget:
    """One state of a Studio flow, in the order of its transitions as written (added events last)."""

    name: str
    type: str
    transitions: tuple[Transition, ...]
    properties: FrozenDict[str, Any]
    line: int = 0

    @property
    def edges(self) -> tuple[tuple[str, str | None], ...]:
        """The (event, next-or-None) pairs."""
        return tuple((t.event, t.next) for t in self.transitions)

    def next_of(self, event: str) -> str | None:
        """Where the first transition on `event` goes (None: unconnected, or no such event)."""
        return next((t.next for t in self.transitions if t.event == event), None)


@dataclass(frozen=True)
class StudioFlow:
    """A checked Studio flow definition. `lines` maps key paths as messages show them (`("states", "menu")`,
    `("states", "menu", "properties", "say")`) to their line in `file`."""

    file: str
    description: str
    initial_state: str
    flags: FrozenDict[str, Any]
    states: FrozenDict[str, Widget]
    #: (state, event) of each documented event the definition lacked, added as an unconnected transition
    added_events: tuple[tuple[str, str], ...] = ()
    lines: FrozenDict[KeyPath, int] = field(default_factory=FrozenDict, hash=False, compare=False)

    def line(self, state: str, *path: str) -> int | None:
        """The line of a state (or of a key path inside it), or of its nearest ancestor that has one."""
        return nearest_line(("states", state, *path), self.lines)
