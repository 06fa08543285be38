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
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, TypeVar

from ivr.errors import IvrError
from ivr.flow.caller import Digits, Speech, as_text, from_text
from ivr.flow.nodes import DEFAULT_OUTCOME
from ivr.speech.audio import CALLER_CHANNEL, FORMATS
from ivr.speech.split import Utterance, recording
from ivr.speech.transcript import UNKNOWN, Transcriber
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

    def to_json(self) -> dict[str, Any]:
        return {**self._json(), "said": self.said._json() if self.said else None,
                "heard": self.heard._json() if self.heard else None, "blame": self.blame}

    def _json(self) -> dict[str, Any]:
        return {"recording": self.recording, "outcome": self.outcome, "turns": self.turns, "ok": self.ok,
                "reasons": self.reasons, "errors": self.errors, "notes": self.notes,
                "events": [asdict(e) for e in self.events]}

    def report(self) -> str:
        """The call as `ivr replay` prints it: the verdict with its reasons, then each turn (what was heard, with
        the recogniser's confidence, how the line understood it, where the call went), notes and errors. A call
        judged twice shows each judgement, and beside each turn what was said and how the line took that."""
        lines = [f"{'ok  ' if self.ok else 'FAIL'} {self.recording}: outcome {self.outcome}, {self.turns} turn(s)"
                 + (f" — {'; '.join(self.reasons)}" if self.reasons else "")]
        if self.said is not None and self.heard is not None:
            for name, judged in (("said: ", self.said), ("heard:", self.heard)):
                lines.append(f"     {name} {'ok  ' if judged.ok else 'FAIL'} outcome {judged.outcome}, "
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
    heard = f"#{e.digits}" if e.kind == "dtmf" else repr(e.heard) if e.heard else "(silence)"
    conf = f" ({e.confidence:.2f})" if e.confidence is not None else ""
    return f"heard {heard}{conf} -> {e.intent or '?'} -> {e.node}"


def phrases(hints: str) -> list[str]:
    """The phrases a `<Gather hints="...">` announces (Twilio separates them with commas). Class tokens such as
    `$OOV_CLASS_DIGIT_SEQUENCE` stay: the recognisers take them as "digits expected here" (Vosk then listens
    freely, so a spoken account number can be heard)."""
    return [h.strip() for h in hints.split(",") if h.strip()]


def answer(call: Call, turn: Utterance, transcriber: Transcriber, language: str | None) -> Answer:
    """Answer the waiting `<Gather>` with one recorded turn."""
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
        heard = transcriber.transcribe(turn.audio, phrases=phrases(gather.hints), language=language)
        text = " ".join(w for w in heard.text.split() if w != UNKNOWN) or heard.text.strip()
        if text:
            call.say(text, heard.confidence if heard.confidence is not None else 0.5)
        else:
            call.silence()
        event = Answer(number, prompt, "speech", text, heard.confidence)
    return replace(event, start=turn.start, end=turn.end, intent=call.headers.get("x-ivr-intent", ""),
                   node=call.node or "")


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
           said: Sequence[str] | None = None) -> Verdict:
    """Replay one recording against the line at `path`; `expect` and `within` make the verdict. The line is a
    black box here: a caller that knows the flow passes its guarantee's outcome as `expect` (`within` alone
    falls back to the default guarantee's, `cancelled`). With `said` (what the caller said at each turn), the
    call is judged twice, and the verdict says whose failure it is."""
    verdict = Verdict(str(source))
    try:
        turns = recording(source, channel)
    except IvrError as exc:  # a corrupt or unsupported file: reported, the batch goes on
        verdict.errors.append(str(exc))
        verdict.reasons.append("the recording could not be read")
        turns = None
    if turns is not None:
        _place(sim, path, caller, verdict, turns, "recorded",
               lambda call, turn: answer(call, turn, transcriber, language))
        _judge(verdict, within, expect)
    if said is None:
        return verdict
    spoken = Verdict(str(source))
    _place(sim, path, caller, spoken, said, "said", answer_said)
    _judge(spoken, within, expect)
    return judged_twice(spoken, verdict, said_turns=len(said), recorded=None if turns is None else len(turns))


def _place(sim: Simulator, path: str, caller: str, verdict: Verdict, turns: Sequence[T], what: str,
           answering: Callable[[Call, T], Answer]) -> None:
    """Place a call and answer each `<Gather>` with the next turn; the caller hangs up when they run out."""
    call = sim.call(path, caller=caller)
    for i, turn in enumerate(turns):
        if call.waiting is None:  # the line hung up or transferred the caller: the rest was never heard
            verdict.notes.append(f"the call ended with {len(turns) - i} {what} turn(s) left over")
            break
        verdict.events.append(answering(call, turn))
    call.hang_up()
    verdict.outcome, verdict.turns, verdict.transcript = call.outcome, call.turns, call.conversation()
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


def _judge(verdict: Verdict, within: int | None, expect: str | None) -> None:
    wanted = expect or (DEFAULT_OUTCOME if within is not None else None)
    if wanted is not None and verdict.outcome != wanted:
        verdict.reasons.append(f"expected outcome {wanted!r}, got {verdict.outcome!r}")
    if within is not None and verdict.turns > within:
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
