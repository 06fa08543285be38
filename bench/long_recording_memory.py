"""How memory grows with a recording's length: peak RSS of reading a long call and splitting it into turns.

`ivr replay` reads each recording and splits it into the caller's turns (`ivr.speech.split.recording`) before the
recogniser hears anything; that path must not grow with the call's length (issue 12: a 2-hour recording peaked
at 5.8 GB, about 100 bytes a sample). Target: a 2-hour 8 kHz recording under 300 MB peak RSS.

1. Synthesised calls of 10, 60 and 120 minutes as Twilio records them (8 kHz mu-law; `--format pcm16-stereo`:
   16-bit PCM, two channels, the caller in channel 0): a repeating 30 s pattern of a caller's speech-like burst
   (a voiced buzz with syllable-rate amplitude modulation), key presses every third cycle, and line noise at
   -50 dBFS in between. Written a part at a time, so this process stays small.
2. Each size is read and split in a fresh process (`--child`), which prints its peak RSS
   (`resource.getrusage(...).ru_maxrss`), the turns found and the seconds it took. A first child only imports
   the modules ("import"): the floor every run pays.
3. Per size: peak MB, MB above the import floor, bytes per sample above it (the figure that must not grow with
   the length), and the ratio of each peak to the 10-minute run's (1.0 means length costs nothing).

    python bench/long_recording_memory.py                       # 10, 60, 120 minutes, mu-law
    python bench/long_recording_memory.py --minutes 10 30 --format pcm16-stereo
    python bench/long_recording_memory.py --trace 10            # where the memory of a 10-minute run goes
"""

from __future__ import annotations

import argparse
import json
import resource
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

RATE = 8000
CYCLE = 30.0  # seconds: one turn of the caller and the prompt's length of line noise
TARGET_MB = 300.0


def _cycle(index: int, rng: np.random.Generator) -> np.ndarray:
    """One 30 s cycle at 8 kHz: 1 s of noise, 2.5 s of speech-like sound, key presses every third cycle."""
    from ivr.speech import dtmf

    n = round(CYCLE * RATE)
    x = rng.normal(0, 10 ** (-50 / 20), n)  # line noise at -50 dBFS
    t = np.arange(round(2.5 * RATE)) / RATE
    f0 = 110 + 40 * rng.random()
    voiced = sum(np.sin(2 * np.pi * f0 * k * t + rng.random() * 6.28) / k for k in range(1, 25))
    syllables = 0.5 - 0.5 * np.cos(2 * np.pi * 4 * t)  # four syllables a second
    start = RATE
    x[start:start + len(t)] += 0.15 * voiced * syllables
    if index % 3 == 2:
        keys = dtmf.synthesize("1234#", RATE, 0.1, 0.1, 0.5)
        x[8 * RATE:8 * RATE + len(keys)] += keys
    return x.astype(np.float32)


def write_call(path: Path, minutes: float, fmt: str) -> int:
    """A `minutes`-long call as a WAV file, written a cycle at a time; the number of samples a channel holds."""
    from ivr.speech.wav import mu_law_codes

    rng = np.random.default_rng(12)
    cycles = max(1, round(minutes * 60 / CYCLE))
    frames = cycles * round(CYCLE * RATE)
    stereo = fmt == "pcm16-stereo"
    channels, width, tag = (2, 2, 1) if stereo else (1, 1, 7)
    size = frames * channels * width
    fmt_chunk = struct.pack("<HHIIHH", tag, channels, RATE, RATE * channels * width, channels * width, 8 * width)
    with path.open("wb") as f:
        f.write(b"RIFF" + struct.pack("<I", 4 + 8 + len(fmt_chunk) + 8 + size) + b"WAVE")
        f.write(b"fmt " + struct.pack("<I", len(fmt_chunk)) + fmt_chunk + b"data" + struct.pack("<I", size))
        for i in range(cycles):
            x = _cycle(i, rng)
            if stereo:  # the IVR's side: a quieter tone where the caller is quiet
                other = (0.1 * np.sin(2 * np.pi * 440 * np.arange(len(x)) / RATE)).astype(np.float32)
                pcm = (np.clip(np.stack([x, other], axis=1), -1, 32767 / 32768) * 32768).astype("<i2")
                f.write(pcm.tobytes())
            else:
                f.write(mu_law_codes(np.clip(x, -1.0, 1.0)).tobytes())
    return frames


def child(path: str | None, trace: bool) -> None:
    """Read and split `path` (None: only import), print the peak RSS and what was found as JSON."""
    started = time.perf_counter()
    if trace:
        import tracemalloc

        tracemalloc.start(12)
    from ivr.speech.split import recording
    from ivr.testing import replay  # noqa: F401  (what `ivr replay` has imported when it reads a recording)

    turns = recording(path, 0) if path else []
    out = {"peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "turns": len(turns),
           "kinds": {k: sum(u.kind == k for u in turns) for k in ("speech", "dtmf")},
           "seconds": time.perf_counter() - started}
    if trace:
        import tracemalloc

        out["traced_peak_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
        top = tracemalloc.take_snapshot().statistics("traceback")[:5]
        out["held_at_end"] = [f"{s.size / 2**20:.1f} MB: {s.traceback.format()[-2:]}" for s in top]
    print(json.dumps(out))


def run_child(path: Path | None, trace: bool = False) -> dict[str, float]:
    command = [sys.executable, __file__, "--child", str(path) if path else ""] + (["--trace-child"] if trace else [])
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"the child failed:\n{done.stderr}")
    return json.loads(done.stdout.splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[10, 60, 120])
    parser.add_argument("--format", choices=["mulaw", "pcm16-stereo"], default="mulaw")
    parser.add_argument("--trace", type=float, metavar="MINUTES", help="tracemalloc one run of this length")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--trace-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(args.child or None, args.trace_child)
        return
    with tempfile.TemporaryDirectory(prefix="ivr-bench-") as tmp:
        if args.trace:
            path = Path(tmp) / "call.wav"
            write_call(path, args.trace, args.format)
            print(json.dumps(run_child(path, trace=True), indent=2))
            return
        floor = run_child(None)["peak_mb"]
        print(f"Reading and splitting a long call ({args.format}, 8 kHz), each in a fresh process; "
              f"import floor {floor:.0f} MB")
        print(f"  {'minutes':>7} {'samples':>11} {'peak MB':>8} {'above floor':>11} {'B/sample':>9} "
              f"{'vs first':>8} {'turns':>6} {'seconds':>8}")
        first = None
        for minutes in args.minutes:
            path = Path(tmp) / f"call-{minutes:g}.wav"
            samples = write_call(path, minutes, args.format)
            got = run_child(path)
            path.unlink()
            peak = got["peak_mb"]
            first = first or peak
            above = max(0.0, peak - floor)
            print(f"  {minutes:>7g} {samples:>11,} {peak:>8.0f} {above:>11.0f} {above * 2**20 / samples:>9.2f} "
                  f"{peak / first:>8.2f} {got['turns']:>6} {got['seconds']:>8.1f}")
        print(f"  target: 120 minutes under {TARGET_MB:.0f} MB peak")


if __name__ == "__main__":
    main()
