"""Recorded calls, replayed: a caller's recorded turns answer the `<Gather>`s of the line, and a verdict per call.

Each recording (a file, or a directory of per-turn clips) is split into the caller's turns (`ivr.speech.audio`). The
simulator places a call to the app (in-process, or a live URL) and every time the line waits for the caller the
next turn answers: key tones are pressed, speech is recognised offline and said with the recogniser's confidence,
an empty clip is silence. Like Twilio's own recogniser, replay listens for what the `<Gather>` announces — its
`hints` become the grammar or hotwords, its `input` says whether speech is heard at all — so it needs no access to
the flow and tests the line as deployed. Turns left when the call ends are reported; a caller who runs out of
turns hangs up.

Given what the caller *said* at each turn (a sidecar's `said` list, in `ivr.flow.caller`'s text form), the call is
judged twice: once on what was said (the same call placed again, each turn said with full confidence, pressed or
left silent) and once on what was heard (the recording through the recogniser). When the first passes and the
second fails, the recogniser is to blame, and the verdict names the first turn the line understood otherwise
(by the meaning it reported, `X-Ivr-Intent`); when the first fails, the flow is, whatever was heard.

Any Twilio voice app can be replayed, with no flow (`ivr replay --url URL [--entry PATH]`): cancellation is then
what `cancel_when` says (`ivr.testing.cancel_when`: a prompt, a number dialled, a URL reached), `within` counts
the turns to it; the outcome-based verdict (`expect`, `within` alone) reads ivr's X-Ivr-Outcome header, which only
a line built with ivr sends.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, TypeVar

from ivr.errors import IvrError
from ivr.flow.caller import Digits, Speech, as_text, from_text
from ivr.flow.intents import interpret
from ivr.flow.model import Flow
from ivr.flow.nodes import DEFAULT_OUTCOME
from ivr.speech.audio import CALLER_CHANNEL, FORMATS
from ivr.speech.split import Utterance, recording, trouble
from ivr.speech.transcript import UNKNOWN, Transcriber, Wrapper
from ivr.testing.cancel_when import CancelWhen, met
from ivr.testing.sim import Call, Simulator

T = TypeVar("T")


@dataclass(frozen=True)
class Answer:
    """One turn of a replayed call: what the line had just said, what the recording held, what was sent."""

    turn: int
    prompt: str
    kind: str  # speech | dtmf | silence
    heard: str = ""
    confidence: float | None = None
    digits: str = ""
    intent: str = ""  # how the app understood it (X-Ivr-Intent), when the app says
    node: str = ""  # where the call went next (X-Ivr-Node)
    start: float = 0.0
    end: float = 0.0
    #: the recogniser's decision among what the prompt accepts (`ivr.speech.decide`), when it weighed texts:
    #: the meaning chosen and the runner-up, each as (meaning, probability, its text; meaning "" is none of the
    #: phrases), and why the turn is uncertain ("" when it is not)
    chosen: tuple[str, float, str] | None = None
    runner_up: tuple[str, float, str] | None = None
    doubt: str = ""
    trouble: tuple[str, ...] = ()  # what is wrong with the turn's audio (clipped, near-silent, overlong)

    @property
    def uncertain(self) -> bool:
        return bool(self.doubt)

    @property
    def text(self) -> str:
        """What was answered, in `ivr.flow.caller`'s text form: `#1234`, `(silence)` or the words."""
        if self.kind == "dtmf":
            return as_text(Digits(self.digits))
        return as_text(from_text(self.heard))


#: whose failure a call judged twice is: the flow's (it fails on what was said) or the recogniser's
Blame = Literal["flow", "recogniser"]


@dataclass
class Verdict:
    recording: str
    outcome: str | None = None
    turns: int = 0
    ok: bool = False
    reasons: list[str] = field(default_factory=list)
    events: list[Answer] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    transcript: str = ""
    #: with a `said` list: the call judged on what was said, and on what was heard (the events above)
    said: Verdict | None = None
    heard: Verdict | None = None
    blame: Blame | None = None  # whose failure it is, when judged twice and failed
    #: the turns the call depended on where the recogniser could not tell what was said, with the competing
    #: meanings and each turn's time span
    doubts: list[str] = field(default_factory=list)
    #: the turns it took to meet the replay's cancel_when (None: not met, or none given)
    cancelled_at: int | None = None
    #: whether the app sent ivr's X-Ivr-* headers (None: no call was placed), and Twilio's CallStatus at the end
    ivr_headers: bool | None = None
    call_status: str = ""

    @property
    def inconclusive(self) -> bool:
        """Whether the verdict (ok or not) is not to be trusted: the recogniser has `doubts` that matter."""
        return bool(self.doubts)

    @property
    def status(self) -> str:
        """`ok`, `FAIL` or `INCONCLUSIVE` (the recogniser cannot tell; an error or a flow's failure on what was
        said is a failure all the same)."""
        if self.inconclusive and self.blame != "flow" and not self.errors:
            return "INCONCLUSIVE"
        return "ok" if self.ok else "FAIL"

    def to_json(self) -> dict[str, Any]:
        return {**self._json(), "said": self.said._json() if self.said else None,
                "heard": self.heard._json() if self.heard else None, "blame": self.blame}

    def _json(self) -> dict[str, Any]:
        return {"recording": self.recording, "status": self.status, "outcome": self.outcome, "turns": self.turns,
                "ok": self.ok, "inconclusive": self.inconclusive, "doubts": self.doubts, "reasons": self.reasons,
                "cancelled_at": self.cancelled_at, "call_status": self.call_status,
                "errors": self.errors, "notes": self.notes, "events": [asdict(e) for e in self.events]}

    def ended(self) -> str:
        """How the call ended in words: its outcome on a line built with ivr, else its status (and when the
        replay's cancel_when was met)."""
        ended = f"outcome {self.outcome}" if self.ivr_headers is not False else f"status {self.call_status}"
        return ended + (f", cancelled at turn {self.cancelled_at}" if self.cancelled_at is not None else "")

    def report(self) -> str:
        """The call as `ivr replay` prints it: the verdict with its reasons, then each turn (what was heard, with
        the recogniser's confidence, how the line understood it, where the call went), notes and errors. A call
        judged twice shows each judgement, and beside each turn what was said and how the line took that."""
        status = {"ok": "ok  ", "FAIL": "FAIL", "INCONCLUSIVE": "????"}[self.status]
        lines = [f"{status} {self.recording}: {self.ended()}, {self.turns} turn(s)"
                 + (f" — {'; '.join(self.reasons)}" if self.reasons else "")]
        if self.status == "INCONCLUSIVE":
            lines.append(f"     inconclusive (the verdict would be {'ok' if self.ok else 'FAIL'}): "
                         + "; ".join(self.doubts))
        if self.said is not None and self.heard is not None:
            for name, judged in (("said: ", self.said), ("heard:", self.heard)):
                lines.append(f"     {name} {'ok  ' if judged.ok else 'FAIL'} {judged.ended()}, "
                             f"{judged.turns} turn(s)" + (f" — {'; '.join(judged.reasons)}" if judged.reasons else ""))
        said = self.said.events if self.said is not None else []
        for i in range(max(len(self.events), len(said))):
            line = f"     {i + 1}. " + (_heard_line(self.events[i]) if i < len(self.events) else "not heard")
            if i < len(said):
                line += f"; said {said[i].text!r} -> {said[i].intent or '?'} -> {said[i].node}"
            lines.append(line)
        lines += [f"     note: {n}" for n in self.notes] + [f"     error: {x}" for x in self.errors]
        return "\n".join(lines)


def _heard_line(e: Answer) -> str:
    heard = repr(e.heard) if e.kind == "speech" and e.heard else e.text  # keys and silence in their text form
    conf = f" ({e.confidence:.2f})" if e.confidence is not None else ""
    line = f"heard {heard}{conf} -> {e.intent or '?'} -> {e.node}" + "".join(f" [{t}]" for t in e.trouble)
    if e.runner_up is not None:
        line += f" [runner-up {_meaning(e.runner_up)}]"
    return line + (f" UNCERTAIN: {e.doubt}" if e.doubt else "")


def _meaning(choice: tuple[str, float, str]) -> str:
    meaning, probability, text = choice
    return f"{meaning or 'none of the phrases'} {probability:.2f}" + (f" ({text!r})" if text else "")


def doubt(event: Answer) -> str:
    """An uncertain turn in words: which, when in the recording, and the competing meanings."""
    competing = " vs ".join(_meaning(c) for c in (event.chosen, event.runner_up) if c is not None)
    return f"turn {event.turn} ({event.start:.2f}-{event.end:.2f} s): {competing or event.doubt}" + (
        f" — {event.doubt}" if competing and "repeats" in event.doubt else "")


def phrases(hints: str) -> list[str]:
    """The phrases a `<Gather hints="...">` announces (Twilio separates them with commas). Class tokens such as
    `$OOV_CLASS_DIGIT_SEQUENCE` stay: the recognisers take them as "digits expected here" (Vosk then listens
    freely, so a spoken account number can be heard)."""
    return [h.strip() for h in hints.split(",") if h.strip()]


#: what a text means at the node a call waits at (None: a line whose flow is unknown), given the prompt's phrases
Meanings = Callable[[str | None, Sequence[str]], Callable[[str], str]]


def by_flow(flow: Flow | None) -> Meanings:
    """Meanings as the flow's own `interpret` gives them at the waiting node (an intent's name, spoken data, or
    none); for a node the flow does not have, or no flow, the phrase a text holds (`ivr.speech.decide.by_phrase`)."""
    from ivr.speech.decide import NONE, by_phrase

    def at(node: str | None, phrases: Sequence[str]) -> Callable[[str], str]:
        if flow is None or node is None or node not in flow.nodes:
            return by_phrase(phrases)

        def meaning(text: str) -> str:
            found = interpret(flow, node, Speech(text, 1.0))
            if found.kind in ("no_match", "no_input"):
                return NONE
            return found.value if found.kind == "intent" else f"{found.kind}:{found.value}"

        return meaning

    return at


def answer(call: Call, turn: Utterance, transcriber: Transcriber, language: str | None,
           meanings: Meanings | None = None, risk: float | None = None) -> Answer:
    """Answer the waiting `<Gather>` with one recorded turn. A recogniser that weighed texts (Whisper) has its
    decision made among what the prompt accepts (`ivr.speech.decide`), meanings by `meanings` (default: by the
    phrase a text holds): the most likely meaning's best text is said, with its calibrated probability; the turn
    is uncertain under the margin for `risk` (default: the decision model's)."""
    gather = call.waiting
    assert gather is not None
    prompt, number = call.prompt, call.turns + 1
    if turn.kind == "dtmf":
        call.press(turn.digits or "")
        event = Answer(number, prompt, "dtmf", digits=turn.digits or "")
    elif turn.kind == "silence" or "speech" not in gather.input:
        call.silence()  # a keypad-only prompt does not listen: speech there is no input, as on Twilio
        event = Answer(number, prompt, "silence" if turn.kind == "silence" else "speech")
    else:
        accepted = phrases(gather.hints)
        troubled = trouble(turn, allowed(accepted))
        heard = transcriber.transcribe(turn.audio, phrases=accepted, language=language)
        text = " ".join(w for w in heard.text.split() if w != UNKNOWN) or heard.text.strip()
        confidence, decided = heard.confidence, None
        if heard.alternatives and text:
            from ivr.speech.decide import decide

            decided = decide(heard.alternatives, (meanings or by_flow(None))(call.node, accepted), risk=risk)
            text, confidence = decided.choice.text or text, decided.choice.probability
        if text:
            call.say(text, confidence if confidence is not None else 0.5)
        else:
            call.silence()
        event = Answer(number, prompt, "speech", text, confidence, trouble=tuple(troubled))
        if decided is not None:
            c, r = decided.choice, decided.runner_up
            event = replace(event, chosen=(c.meaning, c.probability, c.text),
                            runner_up=(r.meaning, r.probability, r.text) if r is not None else None,
                            doubt=decided.why)
    return replace(event, start=turn.start, end=turn.end, intent=call.headers.get("x-ivr-intent", ""),
                   node=call.node or "")


#: seconds a caller may take per word of the prompt's longest phrase, and at least, before a turn is overlong
SECONDS_PER_WORD, LEAST_ALLOWED = 1.5, 10.0


def allowed(accepted: Sequence[str]) -> float:
    """Seconds of speech beyond which a turn is much longer than the prompt allows (`trouble`)."""
    longest = max((len(p.split()) for p in accepted if not p.startswith("$")), default=0)
    return max(LEAST_ALLOWED, SECONDS_PER_WORD * longest * 2)


def answer_said(call: Call, text: str) -> Answer:
    """Answer the waiting `<Gather>` with what the caller said, in `ivr.flow.caller`'s text form: words as
    speech heard with full confidence, `#` and keys pressed, `(silence)` as nothing."""
    prompt, number, heard = call.prompt, call.turns + 1, from_text(text)
    if isinstance(heard, Digits):
        call.press(heard.keys)
        event = Answer(number, prompt, "dtmf", digits=heard.keys)
    elif isinstance(heard, Speech):
        call.say(heard.text, 1.0)
        event = Answer(number, prompt, "speech", heard.text, 1.0)
    else:
        call.silence()
        event = Answer(number, prompt, "silence")
    return replace(event, intent=call.headers.get("x-ivr-intent", ""), node=call.node or "")


def replay(source: str | Path, sim: Simulator, path: str, transcriber: Transcriber, *,
           language: str | None = None, within: int | None = None, expect: str | None = None,
           channel: int | None = CALLER_CHANNEL, caller: str = "+15551230000",
           said: Sequence[str] | None = None, flow: Flow | None = None, risk: float | None = None,
           again: bool = True, method: str = "POST", cancel_when: Sequence[CancelWhen] = ()) -> Verdict:
    """Replay one recording against the line at `path`; `expect` and `within` make the verdict. The line is a
    black box here: a caller that knows the flow passes its guarantee's outcome as `expect` (`within` alone
    falls back to the default guarantee's, `cancelled`), and the flow itself as `flow`, so that the recogniser's
    decisions are by the flow's meanings (else by the phrase a text holds). With `said` (what the caller said at
    each turn), the call is judged twice, and the verdict says whose failure it is. A turn the recogniser cannot
    tell (at `risk`, the largest share of wrong decisions accepted; default: the decision model's) makes the call
    inconclusive when the runner-up would change the verdict; `again=False` (a live line, where another call
    would be a real one) does not place the call again to find out, and every uncertain turn counts. `method` is
    the entry request's; with `cancel_when` (any app), the call must meet one of the conditions (within `within`
    turns), and `expect` alone still reads the outcome."""
    entry = _Entry(path, method, tuple(cancel_when))
    verdict = Verdict(str(source))
    try:
        turns = recording(source, channel)
    except IvrError as exc:  # a corrupt or unsupported file: reported, the batch goes on
        verdict.errors.append(str(exc))
        verdict.reasons.append("the recording could not be read")
        turns = None
    if turns is not None:
        meanings, heard = by_flow(flow), _Remembered(transcriber)
        _place(sim, entry, caller, verdict, turns, "recorded",
               lambda call, turn: answer(call, turn, heard, language, meanings, risk))
        _judge(verdict, within, expect, entry.cancel_when)

        def again_with(answering: Callable[[Call, Utterance], Answer], judged: Verdict) -> None:
            _place(sim, entry, caller, judged, turns, "recorded", answering)
            _judge(judged, within, expect, entry.cancel_when)

        _weigh_doubts(verdict, again_with if again else None, heard, language, meanings)
    if said is None:
        return verdict
    spoken = Verdict(str(source))
    _place(sim, entry, caller, spoken, said, "said", answer_said)
    _judge(spoken, within, expect, entry.cancel_when)
    return judged_twice(spoken, verdict, said_turns=len(said), recorded=None if turns is None else len(turns))


class _Remembered(Wrapper):
    """A transcriber that hears each turn of one recording once (a call placed again hears the same audio)."""

    def __init__(self, inner: Transcriber) -> None:
        super().__init__(inner)
        self.heard: dict[tuple[int, tuple[str, ...], str | None], Any] = {}

    def transcribe(self, audio: Any, *, phrases: Sequence[str] = (), language: str | None = None) -> Any:
        key = (id(audio), tuple(phrases), language)
        if key not in self.heard:
            self.heard[key] = self.inner.transcribe(audio, phrases=phrases, language=language)
        return self.heard[key]


#: placing a call again, answered by the given function, into the given verdict (None: not to be done)
PlaceAgain = Callable[[Callable[[Call, Utterance], Answer], Verdict], None]


def _weigh_doubts(verdict: Verdict, place: PlaceAgain | None, transcriber: Transcriber, language: str | None,
                  meanings: Meanings) -> None:
    """Make the verdict inconclusive where the recogniser's doubt matters: for each uncertain turn, the call is
    placed again with the runner-up's meaning said there (the turns before it answered as they were, the turns
    after it heard from the recording); a turn whose runner-up gives the same verdict is only noted."""
    for event in (e for e in verdict.events if e.uncertain):
        index = event.turn - 1
        runner = event.runner_up
        if runner is None or place is None:  # nothing else to try, or not to be tried: it matters
            verdict.doubts.append(doubt(event))
            continue
        events = verdict.events

        def answering(call: Call, turn: Utterance, _events: list[Answer] = events, _at: int = index,
                      _text: str = runner[2]) -> Answer:
            at = call.turns
            if at < _at:
                return _again(call, _events[at])
            if at == _at:
                return answer_said(call, _text) if _text else answer_said(call, "(silence)")
            return answer(call, turn, transcriber, language, meanings)

        other = Verdict(verdict.recording)
        place(answering, other)
        if other.ok != verdict.ok:
            verdict.doubts.append(doubt(event) + f"; taken as {runner[0] or 'none of the phrases'}, the call "
                                  f"would {'pass' if other.ok else 'fail'} (outcome {other.outcome}, "
                                  f"{other.turns} turn(s))")
        else:
            verdict.notes.append(f"{doubt(event)}: uncertain, but the verdict is the same either way")


def _again(call: Call, event: Answer) -> Answer:
    """Answer as a turn of the call was answered before."""
    if event.kind == "dtmf":
        call.press(event.digits)
    elif event.kind == "speech" and event.heard and call.waiting is not None and "speech" in call.waiting.input:
        call.say(event.heard, event.confidence if event.confidence is not None else 0.5)
    else:
        call.silence()
    return replace(event, intent=call.headers.get("x-ivr-intent", ""), node=call.node or "")


@dataclass(frozen=True)
class _Entry:
    """Where a replayed call goes, with which method, and what cancellation looks like from outside the line."""

    path: str
    method: str = "POST"
    cancel_when: tuple[CancelWhen, ...] = ()


def _place(sim: Simulator, entry: _Entry, caller: str, verdict: Verdict, turns: Sequence[T], what: str,
           answering: Callable[[Call, T], Answer]) -> None:
    """Place a call and answer each `<Gather>` with the next turn; the caller hangs up when they run out. The
    turns it took to meet `entry.cancel_when` (if it is met) go in the verdict."""
    call = sim.call(entry.path, caller=caller, method=entry.method)

    def watch() -> None:
        if entry.cancel_when and verdict.cancelled_at is None and met(entry.cancel_when, call):
            verdict.cancelled_at = call.turns

    watch()
    for i, turn in enumerate(turns):
        if call.waiting is None:  # the line hung up or transferred the caller: the rest was never heard
            verdict.notes.append(f"the call ended with {len(turns) - i} {what} turn(s) left over")
            break
        event = answering(call, turn)
        verdict.events.append(event)
        verdict.notes += [f"turn {event.turn} ({event.start:.2f}-{event.end:.2f} s) is {t}" for t in event.trouble]
        watch()
    call.hang_up()
    watch()
    verdict.outcome, verdict.turns, verdict.transcript = call.outcome, call.turns, call.conversation()
    verdict.ivr_headers, verdict.call_status = call.ivr_headers, call.status
    verdict.errors += call.errors


def judged_twice(said: Verdict, heard: Verdict, *, said_turns: int | None = None,
                 recorded: int | None = None) -> Verdict:
    """One verdict from the call judged on what was said and on what was heard: it passes when both do; when
    what was said fails, the flow is to blame (whatever was heard); when only what was heard fails, the
    recogniser is, and the reason names the first turn it misheard. `said_turns` and `recorded` count the turns
    said and found in the recording (None: the recording could not be read, so nothing was recognised)."""
    verdict = replace(heard, reasons=[], notes=list(heard.notes), said=said, heard=heard)
    if said_turns is not None and recorded is not None and said_turns != recorded:
        verdict.notes.append(f"the sidecar's said: gives {said_turns} turn(s), the recording has {recorded}")
    if not said.ok:
        verdict.blame = "flow"
        verdict.reasons.append(f"the flow is unfair: on what was said, {'; '.join(said.reasons)}")
        if heard.ok:
            verdict.notes.append("as heard, the call passes: the recogniser's mistakes hide the flow's failure")
    elif not heard.ok:
        if recorded is None:  # nothing was recognised: the recording could not be read
            verdict.reasons += heard.reasons
        else:
            verdict.blame = "recogniser"
            wrong = misheard(said.events, heard.events) or "every turn was understood as said, yet the call fails"
            verdict.reasons += [wrong, *(f"as heard, {r}" for r in heard.reasons)]
    else:
        unseen = misheard(said.events, heard.events)
        if unseen:  # a mistake that did not change the verdict is still worth knowing
            verdict.notes.append(f"{unseen}, without changing the verdict")
    verdict.ok = said.ok and heard.ok
    return verdict


def misheard(said: Sequence[Answer], heard: Sequence[Answer]) -> str | None:
    """The first turn the line understood otherwise than what was said (by the meaning it reported for each, or
    by the words where it reports none), with both texts; None when each turn was understood as said."""
    for i in range(max(len(said), len(heard))):
        if i >= len(heard):
            return f"the recogniser found no turn {i + 1} in the recording ({said[i].text!r} was said)"
        if i >= len(said):
            return f"the recogniser found a turn {i + 1} ({heard[i].text!r}) where nothing more was said"
        if _understood(said[i]) != _understood(heard[i]):
            return f"the recogniser misheard turn {i + 1} ({heard[i].text!r} for {said[i].text!r})"
    return None


def _understood(event: Answer) -> str:
    """How the line took an answer: the meaning it reported, else the words without case or punctuation."""
    return event.intent or " ".join(re.sub(r"[^\w\s#*()]", " ", event.text.lower()).split())


def _judge(verdict: Verdict, within: int | None, expect: str | None,
           cancel_when: Sequence[CancelWhen] = ()) -> None:
    wanted = expect or (DEFAULT_OUTCOME if within is not None and not cancel_when else None)
    if wanted is not None and verdict.ivr_headers is False and not verdict.errors:
        verdict.reasons.append(f"expected outcome {wanted!r}: this app does not send ivr's headers "
                               "(X-Ivr-Outcome); say what cancellation sounds like with --cancel-when (e.g. "
                               "'prompt:cancellation number')")
    elif wanted is not None and verdict.outcome != wanted:
        verdict.reasons.append(f"expected outcome {wanted!r}, got {verdict.outcome!r}")
    if cancel_when and verdict.cancelled_at is None:
        verdict.reasons.append(f"never cancelled: no {' or '.join(map(str, cancel_when))}")
    elif cancel_when and within is not None and verdict.cancelled_at is not None and verdict.cancelled_at > within:
        verdict.reasons.append(f"cancelled after {verdict.cancelled_at} turns, more than {within}")
    elif not cancel_when and within is not None and verdict.turns > within:
        verdict.reasons.append(f"took {verdict.turns} turns, more than {within}")
    if verdict.errors:
        verdict.reasons.append("Twilio would have reported an error")
    verdict.ok = not verdict.reasons


def recordings(paths: Sequence[str | Path]) -> list[Path]:
    """Recordings among the arguments: a file is one; a directory of per-turn clips (audio files whose names
    start with their turn number: `01.wav`, `2-cancel.wav`) is one; any other directory holds one recording per
    audio file, and each of its subdirectories is one recording of per-turn clips."""
    found: list[Path] = []
    for arg in map(Path, paths):
        if not arg.is_dir():
            found.append(arg)
            continue
        entries = sorted(arg.iterdir())
        subdirs = [e for e in entries if e.is_dir()]
        files = [e for e in entries if e.is_file() and e.suffix.lower() in FORMATS]
        if files and not subdirs and all(f.name[0].isdigit() for f in files):
            found.append(arg)  # numbered clips: the turns of one call
        else:
            found += files + subdirs if (files or subdirs) else [arg]
    return found
