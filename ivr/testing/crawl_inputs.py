"""What the crawler tries where a call waits for the caller, read from the TwiML alone (`ivr crawl`).

At a `<Gather>`: every key it can take (a single key 0-9, * or #, the finish key alone being no input), a sample
number where it wants one, each of its hint phrases (Twilio's class tokens such as `$OOV_CLASS_DIGIT_SEQUENCE`
left out), the persistent canceller's phrasings, one utterance no line understands, and silence. At a `<Record>`:
silence, the finish key, and words recorded.

Among those, the *canceller's moves* are what a caller who keeps asking to cancel does there, as `ivr check`'s
canceller does it (`ivr.proof.canceller`):

- where the Gather wants a number (`numDigits` over 1 with a finish key, a digit class among its hints, or a
  prompt asking to enter a number; never where `numDigits` is 1), the caller gives one: a sample of the length
  it asks for (every length in `DATA_LENGTHS` when it does not say), and the caller, who knows their own number,
  gives whichever works best (`Plan.data`: the worst case takes the best sample, where every other move takes
  the worst);
- elsewhere, every cancel phrasing where it listens for speech (`CANCEL_PHRASINGS`, the line's own hints that
  ask to cancel: `CANCEL_WORDS` in several languages, and `--cancel-phrase`), and the keys its prompt offers for
  cancelling ("press 9 to cancel", "to cancel your service, ... press 9", "해지는 ... 9번") or `--cancel-key`;
- silence where none of that is possible (a keypad-only prompt that offers no cancel key).

Everything is bounded: `max_tries` per state, canceller moves first.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from ivr.proof.canceller import CANCEL_PHRASINGS

if TYPE_CHECKING:
    from ivr.testing.sim import Call

KEYS = "1234567890*#"
#: lengths of the sample numbers tried where a Gather wants a number but does not say how many digits
DATA_LENGTHS = (4, 6, 8, 10)
#: an utterance no line should understand: what a caller who mumbles says (it finds the no-match prompts)
JUNK = "purple monkey dishwasher"
#: what the canceller says where a <Record> records it
RECORDED = "I want to cancel"
#: a hint phrase containing one of these asks to cancel (Korean: 해지 terminate, 취소 cancel, 캔슬, 탈퇴 withdraw)
CANCEL_WORDS = ("cancel", "해지", "취소", "캔슬", "탈퇴", "annul", "résili", "resili", "cancela", "kündig",
                "stornier", "disdett", "解約", "キャンセル", "退会", "取消", "注销", "退订")
#: Twilio's hint class tokens that say a number is wanted
DIGIT_CLASSES = re.compile(r"\$OOV_CLASS_\w*(DIGIT|NUM|PHONE|ZIP|POSTAL)", re.IGNORECASE)

_KEY = r"(\d|star|pound|hash|\*|#|zero|one|two|three|four|five|six|seven|eight|nine)"
_WORD_KEYS = {"star": "*", "pound": "#", "hash": "#", "zero": "0", "one": "1", "two": "2", "three": "3",
              "four": "4", "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9"}
_WANT = r"(?:to|for|if you (?:want|wish|would like|'d like|need) to)"
#: "press 9 to cancel"
_KEY_THEN_CANCEL = re.compile(rf"\bpress(?:\s+the)?\s+{_KEY}(?:\s+key)?,?\s+{_WANT}\s+cancel", re.IGNORECASE)
#: "To cancel your service, say cancel or press 9": the sentence starts with what it is for
_CANCEL_THEN_KEY = re.compile(rf"(?:^|[.!?:]\s+){_WANT}\s+(?:continue\s+)?cancel\w*[^.!?]*?\bpress(?:\s+the)?"
                              rf"\s+{_KEY}(?!\w)", re.IGNORECASE)
#: "서비스 해지는 해지라고 말씀하시거나 9번을": a clause about cancelling that names a key
_KOREAN = re.compile(r"(?:해지|취소)[^.,?!]*?([0-9*#])\s*번")
_ASKS_NUMBER = re.compile(r"\b(?:enter|type|key in|input|say|tell me|give me)\b[^.!?]{0,80}?\b(?:number|digits|pin|"
                          r"code|zip|postcode|postal code|date of birth)\b|번호[^.!?]{0,30}?(?:누르|입력|말씀)",
                          re.IGNORECASE)
_NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
                 "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "sixteen": 16,
                 "한": 1, "두": 2, "세": 3, "네": 4, "다섯": 5, "여섯": 6, "일곱": 7, "여덟": 8, "아홉": 9, "열": 10}
_LENGTH = re.compile(r"\b(\d{1,2}|" + "|".join(k for k in _NUMBER_WORDS if k.isascii()) + r")[- ]digits?\b|"
                     r"(" + "|".join(k for k in _NUMBER_WORDS if not k.isascii()) + r")\s*자리", re.IGNORECASE)

Role = Literal["cancel", "data", "explore", "phrase"]


@dataclass(frozen=True, order=True)
class Try:
    """One thing a caller does at a waiting verb: say words, press keys, or stay silent."""

    kind: Literal["say", "press", "silence"]
    value: str = ""

    def apply(self, call: Call) -> None:
        if self.kind == "say":
            call.say(self.value)
        elif self.kind == "press":
            call.press(self.value)
        else:
            call.silence()

    def __str__(self) -> str:
        return f"say {self.value!r}" if self.kind == "say" else f"press {self.value}" if self.kind == "press" \
            else "silence"


SILENCE = Try("silence")


@dataclass(frozen=True)
class Inputs:
    """What the user adds to the crawler's tries: keys and phrasings that ask to cancel on this line, whether
    every hint phrase is tried at every state (else phrases that behaved alike once are tried once per class),
    and the most tries per state."""

    cancel_keys: tuple[str, ...] = ()
    cancel_phrases: tuple[str, ...] = ()
    every_phrase: bool = False
    max_tries: int = 200


@dataclass(frozen=True)
class Plan:
    """The tries at one waiting state, in the order they are made (the canceller's first), by role."""

    tries: tuple[tuple[Try, Role], ...]
    cancel: tuple[Try, ...]  # the canceller's moves: the worst of them counts
    data: tuple[Try, ...]  # sample numbers: the canceller gives the best of them
    hints: tuple[str, ...]  # the Gather's hint phrases (class tokens left out)
    dropped: int = 0  # tries left out by `Inputs.max_tries`
    wants_data: bool = False


def hint_phrases(hints: str) -> tuple[str, ...]:
    """A Gather's `hints` as phrases: split on commas, whitespace normalised, Twilio's `$CLASS` tokens left out."""
    phrases = (" ".join(h.split()) for h in hints.split(","))
    return tuple(dict.fromkeys(p for p in phrases if p and not p.startswith("$")))


def cancel_keys(prompt: str) -> tuple[str, ...]:
    """The keys a prompt offers for cancelling, in the order it names them."""
    found: list[str] = []
    for pattern in (_KEY_THEN_CANCEL, _CANCEL_THEN_KEY, _KOREAN):
        for match in pattern.finditer(prompt):
            word = match.group(1).lower()
            found.append(_WORD_KEYS.get(word, word))
    return tuple(dict.fromkeys(found))


def is_cancel_phrase(phrase: str, extra: Iterable[str] = ()) -> bool:
    text = phrase.lower()
    return any(word in text for word in (*CANCEL_WORDS, *(e.lower() for e in extra)))


def data_lengths(prompt: str, num_digits: int | None) -> tuple[int, ...]:
    """How many digits a number wanted here has: `numDigits`, else what the prompt says ("eight digit", "여덟
    자리"), else every length in DATA_LENGTHS."""
    if num_digits is not None and num_digits > 1:
        return (num_digits,)
    said = []
    for match in _LENGTH.finditer(prompt):
        word = (match.group(1) or match.group(2)).lower()
        length = int(word) if word.isdigit() else _NUMBER_WORDS[word]
        if 1 < length <= 20:
            said.append(length)
    return tuple(dict.fromkeys(said)) or DATA_LENGTHS


def sample(length: int) -> str:
    """A sample number of `length` digits, as `ivr check`'s canceller gives one: 1234567890..."""
    return ("1234567890" * (length // 10 + 1))[:length]


def wants_data(waiting: Any, prompt: str) -> bool:
    """Whether a Gather asks for a number rather than a menu choice."""
    num_digits, finish = getattr(waiting, "num_digits", None), getattr(waiting, "finish_on_key", "")
    if num_digits == 1:  # one key: a menu choice, whatever its hints expect of speech
        return False
    if DIGIT_CLASSES.search(getattr(waiting, "hints", "") or ""):
        return True
    if num_digits is not None and num_digits > 1 and finish:
        return True
    return (num_digits is None or num_digits > 1) and _ASKS_NUMBER.search(prompt) is not None


def plan(waiting: Any, prompt: str, inputs: Inputs) -> Plan:
    """Everything to try at a waiting verb (`call.waiting`, a Gather or a Record) whose prompt is `prompt`."""
    if getattr(waiting, "kind", "gather") == "record":
        return _record_plan(waiting, inputs)
    modes = getattr(waiting, "input", frozenset({"dtmf"}))
    speech, dtmf = "speech" in modes, "dtmf" in modes
    finish = getattr(waiting, "finish_on_key", "") or ""
    hints = hint_phrases(getattr(waiting, "hints", "") or "") if speech else ()
    data: list[Try] = []
    wanted = wants_data(waiting, prompt)
    if wanted and (speech or dtmf):
        num_digits = getattr(waiting, "num_digits", None)
        for length in data_lengths(prompt, num_digits):
            digits = sample(length)
            data.append(Try("press", digits + (finish if num_digits != length else "")) if dtmf
                        else Try("say", digits))
    # where a number is wanted the canceller gives it, as the proof's does; a cancel key it offers is pressed too
    offered = (*cancel_keys(prompt), *(() if wanted else inputs.cancel_keys))
    keys = tuple(k for k in dict.fromkeys(offered) if k != finish) if dtmf else ()
    cancel: list[Try] = [Try("press", k) for k in keys]
    if speech and not wanted:
        phrasings = [h for h in hints if is_cancel_phrase(h, inputs.cancel_phrases)]
        cancel = [Try("say", p) for p in _unique([*CANCEL_PHRASINGS, *inputs.cancel_phrases, *phrasings])] + cancel
    if not cancel and not data:
        cancel = [SILENCE]
    tries: list[tuple[Try, Role]] = [(t, "cancel") for t in cancel] + [(t, "data") for t in data]
    if dtmf:
        tries += [(Try("press", k), "explore") for k in KEYS if k != finish]
    tries.append((SILENCE, "explore"))
    if speech:
        tries += [(Try("say", h), "phrase") for h in hints]
        tries += [(Try("say", p), "explore") for p in CANCEL_PHRASINGS]
        tries.append((Try("say", JUNK), "explore"))
    kept = _first_each(tries)
    return Plan(tuple(kept[:inputs.max_tries]), tuple(cancel), tuple(data), hints,
                max(0, len(kept) - inputs.max_tries), wanted)


def _record_plan(waiting: Any, inputs: Inputs) -> Plan:
    finish = (getattr(waiting, "finish_on_key", "") or "")[:1]
    cancel = Try("say", RECORDED)
    tries: list[tuple[Try, Role]] = [(cancel, "cancel"), (SILENCE, "explore")]
    if finish:
        tries.append((Try("press", finish), "explore"))
    return Plan(tuple(tries[:inputs.max_tries]), (cancel,), (), (), max(0, len(tries) - inputs.max_tries))


def _unique(texts: Iterable[str]) -> list[str]:
    seen: dict[str, str] = {}
    for text in texts:
        seen.setdefault(" ".join(text.lower().split()), text)
    return list(seen.values())


def _first_each(tries: list[tuple[Try, Role]]) -> list[tuple[Try, Role]]:
    """Each try once, with the role it was first given (a cancel phrasing that is also a hint is the canceller's)."""
    seen: dict[Try, Role] = {}
    for t, role in tries:
        seen.setdefault(t, role)
    return list(seen.items())
