"""How well `ivr.speech.audio` finds a caller's turns and keys, by line condition (the "Recorded calls" figures).

1. Synthesised calls (`ivr.speech.synth`: 6 voices x 4 scripts of speech and key presses, 0.8-2 s between turns) through
   each condition: clean 16 kHz, phone (300-3400 Hz, 8 kHz mu-law), phone + white or pink noise at 10 and 5 dB.
   A call is right when `split` finds exactly its turns (speech where it spoke, the very keys where it pressed),
   each padded clip holding the whole turn.
2. DTMF alone: random strings over all 16 keys, tones of 50 and 100 ms, through the phone line at each SNR.
3. The labelled dev clips (../shared/audio-dev/, when present): one utterance per clip, keys exact, and no digit
   found in any speech clip (talk-off).

    python bench/audio_robustness.py
"""

from __future__ import annotations

import csv
import os
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from ivr.speech import dtmf, synth
from ivr.speech.audio import Audio, load
from ivr.speech.split import Splitting, detect_dtmf, split

ROOT = Path(__file__).resolve().parent.parent
DEV = Path(os.environ.get("IVR_AUDIO_DEV", ROOT.parent / "shared" / "audio-dev"))
VOICES = ["espeak", "espeak:en-us+f3", "espeak:en-gb", "flite:slt", "flite:kal", "flite:rms"]
SCRIPTS = [
    [("say", "I want to cancel my service"), ("press", "12345678#"), ("say", "cancel"), ("say", "yes")],
    [("say", "billing"), ("say", "no thanks, just cancel it"), ("press", "9"), ("say", "yes please")],
    [("press", "0"), ("say", "can I speak to a representative"), ("press", "4411"), ("say", "no")],
    [("say", "my account number is four five six seven"), ("say", "cancel my account"), ("press", "*1#")],
]
CONDITIONS = {
    "clean": {}, "phone": {"phone": True},
    "phone + white 10 dB": {"phone": True, "noise_snr": 10.0},
    "phone + pink 10 dB": {"phone": True, "noise_snr": 10.0, "noise": "pink"},
    "phone + white 5 dB": {"phone": True, "noise_snr": 5.0},
    "phone + pink 5 dB": {"phone": True, "noise_snr": 5.0, "noise": "pink"},
    "phone + white 0 dB": {"phone": True, "noise_snr": 0.0},
}


class Instruction:
    def __init__(self, kind: str, value: str) -> None:
        self.kind, self.value = kind, value


def calls() -> None:
    pad = Splitting().padding
    right: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])  # calls right, calls, turns right, turns
    for v, voice in enumerate(VOICES):
        for s, script in enumerate(SCRIPTS):
            gap = (0.8, 1.2, 1.5, 2.0)[(v + s) % 4]
            rendering = synth.synthesise([Instruction(*step) for step in script], synth.Voice.parse(voice), gap=gap)
            for name, options in CONDITIONS.items():
                audio = synth.line(rendering, seed=v * 10 + s, **options)  # type: ignore[arg-type]
                found = split(audio)
                good = 0
                for u, t in zip(found, rendering.turns, strict=False):
                    kind_ok = (u.digits is None) if t.kind == "say" else (u.digits == t.value)
                    good += kind_ok and u.start - pad <= t.start and u.end + pad >= t.end
                tally = right[name]
                tally[0] += len(found) == len(rendering.turns) == good
                tally[1] += 1
                tally[2] += good if len(found) == len(rendering.turns) else 0
                tally[3] += len(rendering.turns)
    print(f"Synthesised calls ({len(VOICES)} voices x {len(SCRIPTS)} scripts):")
    print(f"  {'condition':<22} {'calls exactly right':>20} {'turns right':>14}")
    for name, (ok, n, turns_ok, turns) in right.items():
        print(f"  {name:<22} {f'{ok}/{n}':>20} {f'{turns_ok}/{turns}':>14}")


def keys() -> None:
    rng = np.random.default_rng(11)
    print("DTMF: 20 random 12-key strings over all 16 keys per cell, 8 kHz mu-law, white/pink noise alternating:")
    snrs = [None, 20.0, 10.0, 5.0, 3.0, 0.0]
    print(f"  {'tone/gap':<12}" + "".join(f"{'clean' if s is None else f'{s:g} dB':>9}" for s in snrs))
    for tone, gap in [(0.05, 0.05), (0.1, 0.1)]:
        row = []
        for snr in snrs:
            ok = 0
            for trial in range(20):
                want = "".join(rng.choice(list(dtmf.ALL_KEYS), 12))
                x = np.pad(dtmf.synthesize(want, 16000, tone, gap), 4000)
                line = synth.line(Audio.mono(x, 16000), phone=True, noise_snr=snr, seed=trial,
                                  noise="pink" if trial % 2 else "white")
                ok += dtmf.digits(detect_dtmf(line)) == want
            row.append(f"{ok}/20")
        print(f"  {f'{tone * 1000:g}/{gap * 1000:g} ms':<12}" + "".join(f"{c:>9}" for c in row))


def dev() -> None:
    if not (DEV / "labels.csv").exists():
        print(f"Dev clips: none at {DEV}")
        return
    with (DEV / "labels.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    one: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    talk_off = keys_exact = 0
    for row in rows:
        audio = load(DEV / row["file"])
        found = split(audio)
        condition = row["condition"] + (f" {row['snr_db']} dB" if row["snr_db"] else "")
        if row["intent"] == "dtmf":
            ok = [(u.kind, u.digits) for u in found] == [("dtmf", row["digits"])]
            keys_exact += [u.digits for u in found if u.digits] == [row["digits"]]
            key = f"keys, {condition}"
        else:
            ok = [u.kind for u in found] == ["speech"]
            talk_off += bool(detect_dtmf(audio))
            key = f"speech, {condition}"
        one[key][0] += ok
        one[key][1] += 1
    print(f"Dev clips ({len(rows)}): one utterance of the right kind (keys: exactly those keys)")
    for key in sorted(one):
        print(f"  {key:<28} {one[key][0]:>4}/{one[key][1]}")
    print(f"  keys read exactly (other utterances aside): {keys_exact} of {sum(r['intent'] == 'dtmf' for r in rows)}")
    print(f"  talk-off: digits found in {talk_off} of {sum(r['intent'] != 'dtmf' for r in rows)} speech clips")


if __name__ == "__main__":
    for part in (calls, keys, dev):
        started = time.perf_counter()
        part()
        print(f"  ({time.perf_counter() - started:.1f} s)\n")
