"""Recorded calls, replayed: a caller's recorded turns answer the `<Gather>`s of the line, and a verdict per call.

Each recording (a file, or a directory of per-turn clips) is split into the caller's turns (`ivr.speech.audio`). The
simulator places a call to the app (in-process, or a live URL) and every time the line waits for the caller the
next turn answers: key tones are pressed, speech is recognised offline and said with the recogniser's confidence,
an empty clip is silence. Like Twilio's own recogniser, replay listens for what the `<Gather>` announces — its
`hints` become the grammar or hotwords, its `input` says whether speech is heard at all — so it needs no access to
the flow and tests the line as deployed. Turns left when the call ends are reported; a caller who runs out of
turns hangs up.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from ivr.errors import IvrError
from ivr.flow.nodes import DEFAULT_OUTCOME
from ivr.speech.audio import CALLER_CHANNEL, FORMATS
from ivr.speech.split import Utterance, recording
from ivr.speech.transcript import UNKNOWN, Transcriber
from ivr.testing.sim import Call, Simulator


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

    def to_json(self) -> dict[str, Any]:
        return {"recording": self.recording, "outcome": self.outcome, "turns": self.turns, "ok": self.ok,
                "reasons": self.reasons, "errors": self.errors, "notes": self.notes,
                "events": [asdict(e) for e in self.events]}

    def report(self) -> str:
        """The call as `ivr replay` prints it: the verdict with its reasons, then each turn (what was heard, with
        the recogniser's confidence, how the line understood it, where the call went), notes and errors."""
        lines = [f"{'ok  ' if self.ok else 'FAIL'} {self.recording}: outcome {self.outcome}, {self.turns} turn(s)"
                 + (f" — {'; '.join(self.reasons)}" if self.reasons else "")]
        for e in self.events:
            said = f"#{e.digits}" if e.kind == "dtmf" else repr(e.heard) if e.heard else "(silence)"
            conf = f" ({e.confidence:.2f})" if e.confidence is not None else ""
            lines.append(f"     {e.turn}. heard {said}{conf} -> {e.intent or '?'} -> {e.node}")
        lines += [f"     note: {n}" for n in self.notes] + [f"     error: {x}" for x in self.errors]
        return "\n".join(lines)


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


def replay(source: str | Path, sim: Simulator, path: str, transcriber: Transcriber, *,
           language: str | None = None, within: int | None = None, expect: str | None = None,
           channel: int | None = CALLER_CHANNEL, caller: str = "+15551230000") -> Verdict:
    """Replay one recording against the line at `path`; `expect` and `within` make the verdict. The line is a
    black box here: a caller that knows the flow passes its guarantee's outcome as `expect` (`within` alone
    falls back to the default guarantee's, `cancelled`)."""
    verdict = Verdict(str(source))
    try:
        turns = recording(source, channel)
    except IvrError as exc:  # a corrupt or unsupported file: reported, the batch goes on
        verdict.errors.append(str(exc))
        verdict.reasons.append("the recording could not be read")
        return verdict
    call = sim.call(path, caller=caller)
    for i, turn in enumerate(turns):
        if call.waiting is None:  # the line hung up or transferred the caller: the rest was never heard
            verdict.notes.append(f"the call ended with {len(turns) - i} recorded turn(s) left over")
            break
        verdict.events.append(answer(call, turn, transcriber, language))
    call.hang_up()
    verdict.outcome, verdict.turns, verdict.transcript = call.outcome, call.turns, call.conversation()
    verdict.errors += call.errors
    _judge(verdict, within, expect)
    return verdict


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
