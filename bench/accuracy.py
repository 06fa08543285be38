"""Does a caller who means "cancel" reach cancellation, on real phone audio? Cancel recall and false cancels at
acme's main menu, by line condition and recogniser (the README's "Accuracy" figures).

Each labelled utterance of ../shared/audio-dev/ (labels.csv: intent, condition, SNR; rows marked ambiguous are
left out) is heard as the main menu's `<Gather>` would hear it, with its hints as phrases, and the text goes
through the flow's own `interpret` at main_menu. **Recall**: utterances meaning cancel that route to the cancel
intent. **False cancel**: every other utterance (billing, agent, tech, yes/no, digits, and near-misses such as
"council tax", "can't tell", "Cancun") routed to cancel. Key-press clips are left out (keys are not speech).

Recognisers, one column each:
- **baseline**: plain Whisper tiny.en (no phrases), its transcript searched for the word "cancel";
- **hotwords**: Whisper biased toward the prompt's phrases (faster-whisper `hotwords`), then the flow;
- **ivr** (what `ivr replay` uses, `ivr.speech.whisper.hear`): the 30 s window decoded with the phrases as hotwords;
  when that transcript holds no phrase the prompt accepts, `ivr.speech.whisper.listen` weighs the phrases against
  what was heard, with the decoder's own scores.
- vosk: no English Vosk model can be installed here (see DESIGN.md), so it has no English column; the Korean
  flow's recorded calls in audio/ are replayed with it instead.

Then each recorded call of audio/ with a sidecar is replayed as `pytest audio` would, per flow and engine.
Transcripts are cached (`IVR_CACHE_DIR`), so a second run takes seconds; `--no-cache` hears everything again.
Nothing here reads a file's name or label to decide anything: labels only score.

    python bench/accuracy.py [--limit N] [--no-cache]
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from ivr.flow import engine
from ivr.flow.caller import Speech
from ivr.flow.intents import interpret
from ivr.flow.loader import load_flow
from ivr.speech.audio import load
from ivr.speech.cache import CachedTranscriber, default_cache_dir
from ivr.speech.split import clip_utterance
from ivr.speech.transcript import Transcriber
from ivr.speech.whisper import WhisperTranscriber

ROOT = Path(__file__).resolve().parent.parent
DEV = Path(os.environ.get("IVR_AUDIO_DEV", ROOT.parent / "shared" / "audio-dev"))
CONDITIONS = ["clean", "phone", "phone+noise 20 dB", "phone+noise 10 dB", "phone+noise 5 dB"]
TARGETS = {"phone": 0.99, "phone+noise 20 dB": 0.99, "phone+noise 10 dB": 0.99, "phone+noise 5 dB": 0.95}
MAX_FALSE_CANCEL = 0.01


def condition(row: dict[str, str]) -> str:
    return row["condition"] + (f" {row['snr_db']} dB" if row["snr_db"] else "")


def recognisers(cache: bool) -> dict[str, tuple[Transcriber, bool]]:
    """name -> (transcriber, whether it hears with the prompt's phrases)."""
    def cached(inner: Transcriber) -> Transcriber:
        return CachedTranscriber(inner, default_cache_dir()) if cache else inner

    return {"baseline": (cached(WhisperTranscriber(rescue=False)), False),
            "hotwords": (cached(WhisperTranscriber(rescue=False)), True),
            "ivr": (cached(WhisperTranscriber()), True)}


def dev_corpus(limit: int | None, cache: bool) -> None:
    rows = [r for r in csv.DictReader((DEV / "labels.csv").open(encoding="utf-8"))
            if r["ambiguous"] != "1" and r["intent"] != "dtmf"]
    rows = rows[:limit] if limit else rows
    flow = load_flow(ROOT / "flows" / "acme.yaml")[0]
    phrases = list(engine.gather_for(flow, "main_menu").hints)
    routes: dict[str, Callable[[str], bool]] = {
        "baseline": lambda text: re.search(r"\bcancel", text.lower()) is not None,
        "hotwords": lambda text: _cancels(flow, text), "ivr": lambda text: _cancels(flow, text)}
    # condition -> recogniser -> [cancel utterances, routed to cancel, other utterances, routed to cancel]
    counts: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0, 0, 0]))
    missed: dict[str, list[str]] = defaultdict(list)
    times: dict[str, float] = defaultdict(float)
    audio_seconds = 0.0
    engines = recognisers(cache)
    print(f"{len(rows)} utterances of {DEV} at acme's main_menu ({len(phrases)} phrases)", file=sys.stderr)
    for i, row in enumerate(rows):
        turn = clip_utterance(load(DEV / row["file"])).audio
        audio_seconds += turn.duration
        for name, (transcriber, with_phrases) in engines.items():
            started = time.perf_counter()
            text = transcriber.transcribe(turn, phrases=phrases if with_phrases else ()).text
            times[name] += time.perf_counter() - started
            cancelled, meant = routes[name](text), row["intent"] == "cancel"
            for key in (condition(row), "all"):
                c = counts[key][name]
                c[0 if meant else 2] += 1
                c[1 if meant else 3] += cancelled
            if name == "ivr" and cancelled != meant:
                missed[condition(row)].append(f"{row['intent']:8} {row['text']!r} -> {text!r} ({row['voice']})")
        if (i + 1) % 25 == 0:
            print(f"  {i + 1}/{len(rows)}", file=sys.stderr)
    print("\ncancel recall (utterances meaning cancel routed to cancel) | false cancels (others routed to cancel)")
    print(f"{'condition':20} {'n':>4} | " + " | ".join(f"{n:^21}" for n in engines) + " | target")
    for key in [*CONDITIONS, "all"]:
        row_counts = counts.get(key)
        if not row_counts:
            continue
        cells = []
        for name in engines:
            meant, hit, other, false = row_counts[name]
            cells.append(f"{hit:3}/{meant:<3} {_pct(hit, meant):>4}  fc {false}/{other}")
        target = TARGETS.get(key)
        ours = row_counts["ivr"]
        verdict = "" if target is None else (f"recall >= {target:.0%}: " + (
            "met" if ours[1] >= target * ours[0] else "MISSED"))
        print(f"{key:20} {row_counts['ivr'][0] + row_counts['ivr'][2]:>4} | " + " | ".join(cells) + f" | {verdict}")
    total = counts["all"]["ivr"]
    print(f"false cancels overall: {total[3]}/{total[2]} = {_pct(total[3], total[2])} (target <= "
          f"{MAX_FALSE_CANCEL:.0%}: {'met' if total[3] <= MAX_FALSE_CANCEL * total[2] else 'MISSED'})")
    base = counts["all"]["baseline"]
    print(f"recall, ivr vs baseline: {_pct(total[1], total[0])} vs {_pct(base[1], base[0])}")
    print("recognition time per second of audio (incl. cache hits): " + ", ".join(
        f"{n} {times[n] / max(audio_seconds, 1e-9):.3f}" for n in engines))
    print("\nwhat ivr got wrong, by condition:")
    for key in CONDITIONS:
        for line in missed.get(key, []):
            print(f"  {key:18} {line}")


def _cancels(flow: object, text: str) -> bool:
    meaning = interpret(flow, "main_menu", Speech(text, 0.9))  # type: ignore[arg-type]
    return meaning.kind == "intent" and meaning.value == "cancel"


def _pct(part: int, whole: int) -> str:
    return f"{part / whole:.0%}" if whole else "-"


def recorded_calls() -> None:
    """Every recording of audio/ with a sidecar, replayed as `pytest audio --ivr-flows flows` would."""
    import pytest

    print("\nrecorded calls in audio/ (pytest audio --ivr-flows flows):", flush=True)
    with tempfile.TemporaryDirectory() as empty:
        code = pytest.main([str(ROOT / "audio"), "--ivr-flows", str(ROOT / "flows"), "-q", "-p", "no:cacheprovider",
                            "--rootdir", empty, "-k", "expect"])
    print(f"(pytest exit status {int(code)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, help="only the first N utterances (a smoke run)")
    parser.add_argument("--no-cache", action="store_true", help="hear everything again")
    parser.add_argument("--skip-calls", action="store_true", help="leave out the audio/ recordings")
    args = parser.parse_args()
    if not (DEV / "labels.csv").is_file():
        print(f"no labelled corpus at {DEV} (set IVR_AUDIO_DEV): only audio/ is measured", file=sys.stderr)
    else:
        dev_corpus(args.limit, not args.no_cache)
    if not args.skip_calls:
        recorded_calls()


if __name__ == "__main__":
    main()
