"""Whisper hearing a caller against what the prompt accepts: candidates from the decoder, judged by the decoder.

Free transcription searched for a word is the weak way to run an IVR on Whisper: tiny.en hears a synthetic
"cancel" as "council" or "candle" on a phone line, and biasing it toward the prompt's phrases (hotwords) turns
"council tax" and "console" into "cancel". Recognisers built for IVRs decide *among what the prompt accepts*, with
a garbage alternative for anything else. `listen` does that with Whisper's own decoder:

1. **Hypotheses.** The audio is encoded once and decoded twice with beam search: freely (what was said,
   unbiased; the garbage alternative) and with the prompt's phrases as hotwords (what was said, if it was one of
   them). Each gives its n best.
2. **Candidates.** Besides those hypotheses, every span of one that *sounds like* an accepted phrase (a crude
   phonetic key: "council", "can sell" and "cancel" share one) is replaced by the phrase: "Council, my clan,
   please" gives "cancel my clan, please".
3. **Scores.** Each candidate's log-probability given the audio is read from the decoder, unbiased, with teacher
   forcing: the sum over its tokens and the end of text, so a truncated or padded transcript pays for it.
4. **Choice.** The best free hypothesis wins unless a candidate holding an accepted phrase scores within
   `BONUS` nats of it. The bonus is a grammar's prior (the prompt expects these phrases); how large it may be
   before near-misses ("console", "cancer research") are taken for the phrase was measured on the development
   corpus by `bench/accuracy.py`, over all conditions at once, never per file or label.

Confidence is the chosen text's mean per-token probability, exp(score / tokens). The encoder sees the speech
(found by faster-whisper's voice activity filter) plus a second, not Whisper's fixed 30 s window: an utterance
is a few seconds, and encoding 30 s cost most of the time.

The only home of `ctranslate2` calls besides faster-whisper's own; `ivr.stt.WhisperTranscriber` calls `listen`.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

#: nats a candidate holding an accepted phrase may score below the best free hypothesis and still be chosen:
#: 0, plain maximum likelihood (on the development corpus 1 and 2 took near-misses for "cancel"; see README)
BONUS = 0.0
#: the most substituted candidates scored per utterance (the closest-sounding first)
MAX_SUBSTITUTIONS = 24
#: how alike a span and a phrase must sound (0..1, on their phonetic keys) to be tried as that phrase
ALIKE = 0.65
#: hypotheses per beam search, and tokens each may have beyond its prompt (against runaway repetition)
N_BEST, MAX_NEW_TOKENS = 5, 40
#: encoder frames per second of audio (10 ms hops), and the margin encoded after the speech
FRAMES_PER_SECOND, MARGIN_FRAMES = 100, 100

_SOUNDS = [(r"ph", "f"), (r"ck", "k"), (r"c(?=[eiy])", "s"), (r"c", "k"), (r"q", "k"), (r"x", "ks"), (r"z", "s"),
           (r"dg", "j"), (r"gh", ""), (r"^wr", "r"), (r"^kn", "n"), (r"[aeiouy]+", "a"), (r"(.)\1+", r"\1")]
_WORD = re.compile(r"[a-z0-9']+")


def sound_key(text: str) -> str:
    """A crude English phonetic key: consonants by sound, each run of vowels as one 'a' ("council", "counsel",
    "can sell" and "cancel" are all "kansal")."""
    key = re.sub(r"[^a-z]", "", text.lower())
    for pattern, replacement in _SOUNDS:
        key = re.sub(pattern, replacement, key)
    return key


def words(text: str) -> tuple[str, ...]:
    return tuple(_WORD.findall(text.lower().replace("\u2019", "'")))


def holds_phrase(text: str, phrases: Sequence[tuple[str, ...]]) -> bool:
    """Whether `text` holds one of the accepted `phrases` (as word tuples), word for word and in a row."""
    said = words(text)
    return any(said[i:i + len(p)] == p for p in phrases if p for i in range(len(said) - len(p) + 1))


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
class Heard:
    """What `listen` chose: the text, its log-probability given the audio, its tokens, how many candidates were
    weighed, and the encoder's output (for word timings)."""

    text: str
    score: float
    tokens: list[int]
    considered: int
    encoded: Any = None

    @property
    def confidence(self) -> float:
        """The chosen text's mean token probability (its end-of-text token included)."""
        return math.exp(self.score / (len(self.tokens) + 1))


def window(speech: int) -> int:
    """Encoder frames for `speech` frames of log-mel features: the speech and a margin, in whole seconds, at
    most Whisper's 30 s."""
    return min(30 * FRAMES_PER_SECOND, -(-(speech + MARGIN_FRAMES) // FRAMES_PER_SECOND) * FRAMES_PER_SECOND)


def listen(model: Any, tokenizer: Any, features: Any, phrases: Sequence[str], also: Sequence[str] = (),
           beam_size: int = 5) -> Heard:
    """Choose what was said in `features` (log-mel, shape (80, frames)) among what Whisper hears freely and what
    the prompt accepts (`phrases`); `also`: more hypotheses to weigh (another decoding's). See the module
    docstring. `model` is a faster-whisper `WhisperModel`, `tokenizer` its `Tokenizer` for the language."""
    padded = np.zeros((features.shape[0], window(features.shape[1])), np.float32)
    used = min(padded.shape[1], features.shape[1])
    padded[:, :used] = features[:, :used]
    encoded = model.encode(padded)
    plain = [*tokenizer.sot_sequence, tokenizer.no_timestamps]
    accepted = sorted({p.strip() for p in phrases if p.strip() and not p.startswith("$")})
    free = _decode(model, tokenizer, encoded, plain, beam_size)
    biased: list[str] = []
    if accepted:
        hint = tokenizer.encode(" " + ", ".join(accepted))[-(model.max_length // 2 - 1):]
        biased = _decode(model, tokenizer, encoded, [tokenizer.sot_prev, *hint, *plain], beam_size)
    others = [t.strip() for t in also if t.strip()]
    made: dict[str, float] = {}
    for hypothesis in free[:3] + biased[:1] + others:
        for text, alike in substitutions(hypothesis, accepted).items():
            made[text] = max(made.get(text, 0.0), alike)
    pool = list(dict.fromkeys(free + biased + others + sorted(made, key=lambda t: -made[t])[:MAX_SUBSTITUTIONS]))
    scored = _score(model, tokenizer, encoded, plain, pool)
    wanted = [words(p) for p in accepted]
    chosen = max(free, key=lambda t: scored[t][0], default=None)
    value = scored[chosen][0] if chosen is not None else -math.inf
    for text in pool:
        if text not in free and holds_phrase(text, wanted) and scored[text][0] + BONUS > value:
            chosen, value = text, scored[text][0] + BONUS
    if chosen is None:
        return Heard("", -math.inf, [], len(pool), encoded)
    return Heard(chosen, scored[chosen][0], scored[chosen][1], len(pool), encoded)


def _decode(model: Any, tokenizer: Any, encoded: Any, prompt: list[int], beam_size: int) -> list[str]:
    result = model.model.generate(encoded, [prompt], beam_size=beam_size, num_hypotheses=N_BEST,
                                  max_length=len(prompt) + MAX_NEW_TOKENS)[0]
    texts = (tokenizer.decode([t for t in ids if t < tokenizer.eot]).strip() for ids in result.sequences_ids)
    return list(dict.fromkeys(t for t in texts if t))


def _score(model: Any, tokenizer: Any, encoded: Any, plain: list[int],
           texts: Sequence[str]) -> dict[str, tuple[float, list[int]]]:
    """Each text's log-probability given the audio (its tokens, then the end of text), by teacher forcing: the
    text and the end token go in as the prompt, and the decoder's logits at each position are read back.
    Texts of one token length go in one batch (ctranslate2 returns logits for equal-length prompts only)."""
    import ctranslate2

    groups: dict[int, list[tuple[str, list[int]]]] = {}
    for text in texts:
        tokens = tokenizer.encode(" " + text)
        groups.setdefault(len(tokens), []).append((text, tokens))
    memory = np.asarray(encoded)
    scored: dict[str, tuple[float, list[int]]] = {}
    for length, group in groups.items():
        batch = ctranslate2.StorageView.from_array(np.repeat(memory, len(group), axis=0))
        # the decoder returns logits for about half of max_length positions: room for the text and its end
        results = model.model.generate(batch, [[*plain, *t, tokenizer.eot] for _, t in group],
                                       max_length=2 * (len(plain) + length + 2), beam_size=1,
                                       return_logits_vocab=True, suppress_blank=False, suppress_tokens=[])
        for (text, tokens), result in zip(group, results, strict=True):
            logits = np.asarray(result.logits[0], np.float64)[:length + 1]
            top = logits.max(axis=1, keepdims=True)
            logp = logits - top - np.log(np.exp(logits - top).sum(axis=1, keepdims=True))
            wanted = [*tokens, tokenizer.eot]
            scored[text] = (float(sum(logp[i, t] for i, t in enumerate(wanted[:len(logp)]))), tokens)
    return scored
