"""The parts of a flow: nodes of each type, prompts, no-input and no-match handlers, intents, the guarantee, and
the constants they share (DTMF keys, reserved targets, built-in intents and variables). Frozen, validated values;
`ivr.flow.model.Flow` puts them together into one line.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cached_property
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from ivr.flow.values import FrozenDict, OneOrMany, freeze

DTMF_KEYS = "0123456789*#"
#: route targets that are not nodes: replay the current prompt; play the node's help then the prompt; or handle
#: the answer as not understood (it climbs the no-match ladder, so it cannot keep a caller at the node forever)
REPEAT, HELP, NO_MATCH = "@repeat", "@help", "@no_match"
RESERVED_TARGETS = (REPEAT, HELP, NO_MATCH)
BUILTIN_VARIABLES = ("caller", "called")
NODE_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
BUILTIN_INTENTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "yes": (("yes", "yeah", "yep", "yes please", "correct", "that's right", "sure", "right"), ("1",)),
    "no": (("no", "nope", "no thanks", "no thank you", "not really", "wrong"), ("2",)),
    "repeat": (("repeat", "repeat that", "say that again", "come again", "what was that"), ()),
    "help": (("help", "what are my options", "i need help", "options"), ()),
    "main_menu": (("main menu", "start over", "go back to the beginning", "back to the menu"), ()),
    "agent": (("agent", "representative", "operator", "a person", "a real person", "a human",
               "customer service", "talk to someone"), ("0",)),
    "cancel": (("cancel", "cancel my service", "cancel my account", "cancellation", "cancel service",
                "cancel my subscription", "i want to cancel"), ()),
}


def _as_list(value: object) -> object:
    """Let a designer write one item where a list is expected (`prompt: "Hi"`, `phrases: cancel`)."""
    return [value] if isinstance(value, str | dict) else value


def _dtmf(keys: str) -> str:
    if not keys or any(k not in DTMF_KEYS for k in keys):
        raise ValueError(f"{keys!r} is not a DTMF key; valid keys: {list(DTMF_KEYS)}")
    return keys


Map = Annotated[dict[str, str], AfterValidator(freeze)]
DtmfKey = Annotated[str, AfterValidator(_dtmf)]
KeyMap = Annotated[dict[DtmfKey, str], AfterValidator(freeze)]
Target = Annotated[str, Field(description="the id of a node (or @repeat / @help for input routes)")]


class Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class PromptPart(Model):
    """One piece of what the caller hears: text to speak (with `{variable}` templating) or an audio file."""

    say: str | None = Field(None, description="text spoken by the flow's voice; {variable} is replaced")
    play: str | None = Field(None, description="an audio file name under the project's audio/ directory")

    @model_validator(mode="after")
    def _one_of(self) -> PromptPart:
        if (self.say is None) == (self.play is None):
            raise ValueError("a prompt part needs exactly one of 'say' or 'play'")
        _check_audio(self.play)
        return self


def _check_audio(play: str | None) -> None:
    """An audio file is named relative to audio/ and may not climb out of it."""
    if play is not None and (not play or play.startswith(("/", "\\")) or ".." in re.split(r"[/\\]", play)):
        raise ValueError(f"audio file {play!r} must be a relative path inside audio/ (no '..')")


def _prompt_parts(value: object) -> object:
    value = _as_list(value)
    if isinstance(value, list):
        return [{"say": v} if isinstance(v, str) else v for v in value]
    return value


Prompt = Annotated[tuple[PromptPart, ...], BeforeValidator(_prompt_parts), OneOrMany(text_items=True)]
Strings = Annotated[tuple[str, ...], BeforeValidator(_as_list), OneOrMany()]


class Handler(Model):
    """One rung of a no-input / no-match ladder (VoiceXML's `<catch count=N>`): say something, then either
    prompt again or go somewhere else. The n-th silence (or mismatch) at a node uses the n-th rung; past the
    end, the last rung repeats — so a ladder whose last rung only reprompts never escalates."""

    say: str | None = None
    play: str | None = None
    reprompt: bool = Field(True, description="after the message, play the node's prompt again")
    goto: Target | None = Field(None, description="escalate: leave the node for this target")

    @model_validator(mode="after")
    def _say_or_play(self) -> Handler:
        if self.say is not None and self.play is not None:
            raise ValueError("a ladder rung takes 'say' or 'play', not both")
        _check_audio(self.play)
        return self

    @cached_property
    def message(self) -> tuple[PromptPart, ...]:
        if self.say is not None:
            return (PromptPart(say=self.say),)
        return (PromptPart(play=self.play),) if self.play is not None else ()


Ladder = Annotated[tuple[Handler, ...], BeforeValidator(_as_list), OneOrMany()]


class Intent(Model):
    """Something a caller can ask for: phrases (matched on normalised text) and, optionally, DTMF keys."""

    phrases: Strings = ()
    keys: Annotated[tuple[DtmfKey, ...], BeforeValidator(_as_list), OneOrMany()] = ()
    description: str = ""

    @model_validator(mode="after")
    def _not_empty(self) -> Intent:
        if not self.phrases and not self.keys:
            raise ValueError("an intent needs at least one phrase or key")
        return self


#: the outcome a cancellation ends in unless a flow's guarantee names another (`guarantee.outcome`)
DEFAULT_OUTCOME = "cancelled"


class Guarantee(Model):
    """What `ivr check` proves: a caller who keeps asking for `intent` reaches `outcome` within `within` turns."""

    intent: str = "cancel"
    outcome: str = DEFAULT_OUTCOME
    within: int | None = Field(None, ge=1, description="N, the most turns a persistent canceller may need")


class Defaults(Model):
    """Settings every input node inherits unless it sets its own."""

    no_input: Ladder = (Handler(say="Sorry, I didn't hear anything."),)
    no_match: Ladder = (Handler(say="Sorry, I didn't understand."),)
    timeout: int = Field(5, ge=1, le=60, description="seconds Twilio waits for the caller to start")
    speech_timeout: str = Field("auto", pattern=r"^(auto|\d+)$")
    min_confidence: float = Field(0.0, ge=0.0, le=1.0, description="speech below this counts as no match")


class Node(Model):
    prompt: Prompt = ()
    description: str = ""
    retention: bool = Field(False, description="this node makes a retention ('save') offer")

    def targets(self) -> Iterator[tuple[tuple[str, ...], str]]:
        """Every (key path inside the node, target) this node can go to."""
        return iter(())


class SayNode(Node):
    """Speak, then go on: waits for nothing, so it is not a turn."""

    type: Literal["say"]
    next: Target

    def targets(self) -> Iterator[tuple[tuple[str, ...], str]]:
        yield ("next",), self.next


class GatherNode(Node):
    """Shared by every node that waits for the caller (menu, collect, confirm)."""

    input: Literal["speech", "dtmf", "both"] = "both"
    routes: Map = Field(default_factory=FrozenDict, description="intent -> target; overrides global routes")
    keys: KeyMap = Field(default_factory=FrozenDict, description="DTMF key -> target, before intent keys")
    opt_out: Strings = Field((), description="global intents this node does not listen for")
    no_input: Ladder | None = None
    no_match: Ladder | None = None
    help: Prompt = ()
    hints: Strings = ()
    timeout: int | None = Field(None, ge=1, le=60)
    speech_timeout: str | None = Field(None, pattern=r"^(auto|\d+)$")
    min_confidence: float | None = Field(None, ge=0.0, le=1.0)

    @property
    def speech(self) -> bool:
        return self.input != "dtmf"

    @property
    def dtmf(self) -> bool:
        return self.input != "speech"

    def targets(self) -> Iterator[tuple[tuple[str, ...], str]]:
        for intent, target in self.routes.items():
            yield ("routes", intent), target
        for key, target in self.keys.items():
            yield ("keys", key), target
        for field in ("no_input", "no_match"):
            for i, rung in enumerate(getattr(self, field) or ()):
                if rung.goto is not None:
                    yield (field, str(i), "goto"), rung.goto


class MenuNode(GatherNode):
    """Ask, and route the answer by intent or key."""

    type: Literal["menu"]


class DigitSpec(Model):
    min: int = Field(1, ge=1, le=32)
    max: int = Field(32, ge=1, le=32)

    @model_validator(mode="after")
    def _ordered(self) -> DigitSpec:
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) is more than max ({self.max})")
        return self


class CollectNode(GatherNode):
    """Collect digits (pressed or spoken) into a variable; invalid data follows the no-match ladder."""

    type: Literal["collect"]
    var: str
    digits: DigitSpec = DigitSpec()
    finish_on_key: Literal["#", "*", ""] = "#"
    validate_: Literal["none", "luhn"] = Field("none", alias="validate")
    next: Target

    def targets(self) -> Iterator[tuple[tuple[str, ...], str]]:
        yield ("next",), self.next
        yield from super().targets()


class ConfirmNode(GatherNode):
    """A yes/no question."""

    type: Literal["confirm"]
    yes: Target
    no: Target

    def targets(self) -> Iterator[tuple[tuple[str, ...], str]]:
        yield ("yes",), self.yes
        yield ("no",), self.no
        yield from super().targets()


class BranchNode(Node):
    """Go one way or another on a variable's value (the checker explores every way)."""

    type: Literal["branch"]
    var: str
    cases: Map
    default: Target

    def targets(self) -> Iterator[tuple[tuple[str, ...], str]]:
        for value, target in self.cases.items():
            yield ("cases", value), target
        yield ("default",), self.default


class SetNode(Node):
    """Set variables (values may use `{variable}` templates), then go on."""

    type: Literal["set"]
    values: Map = Field(alias="set")
    next: Target

    def targets(self) -> Iterator[tuple[tuple[str, ...], str]]:
        yield ("next",), self.next


class ActionNode(Node):
    """Ask the application to do something (e.g. `record_cancellation`). The engine emits the effect as a value
    and waits for its result; the app executes it. Results land in the `result` variable."""

    type: Literal["action"]
    effect: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    args: Map = Field(default_factory=FrozenDict)
    result: str | None = Field(None, description="variable that receives the effect's result value")
    next: Target
    on_error: Target | None = None

    def targets(self) -> Iterator[tuple[tuple[str, ...], str]]:
        yield ("next",), self.next
        if self.on_error is not None:
            yield ("on_error",), self.on_error


class TransferNode(Node):
    """End the call by transferring it to a number."""

    type: Literal["transfer"]
    number: str = Field(pattern=r"^(\+?[0-9]{3,15}|sip:.+|client:.+)$")
    outcome: str = "transferred"


class EndNode(Node):
    """Say goodbye and hang up with an outcome label."""

    type: Literal["end"]
    outcome: str


AnyNode = Annotated[
    SayNode | MenuNode | CollectNode | ConfirmNode | BranchNode | SetNode | ActionNode | TransferNode | EndNode,
    Field(discriminator="type"),
]
NODE_TYPES = ("say", "menu", "collect", "confirm", "branch", "set", "action", "transfer", "end")
TERMINALS = (TransferNode, EndNode)
